/**
 * Secrets stay out of the repository (docs/install.md, "Secrets"): what the quickstart and
 * hand-driven provisioning write — data/, gate.json files, keys files, PEM keys — is ignored by
 * git, so `git add -A` in a checkout never picks up a token or the pepper. (That the commands
 * write them 0600 is tested beside each command: keys.integration.test.ts, gate.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

describe('.gitignore covers the secrets provisioning writes', () => {
  it.each([
    'data/keys.json',
    'data/gate.json',
    'data/cloud.db',
    'gate.json',
    'gate-north-in.json',
    'keys.json',
    'keys.public.json',
    'broker-key.pem',
    'release/anxin-gate-0.1.0-linux-x64.tar.gz',
  ])('%s', (path) => {
    const result = spawnSync('git', ['check-ignore', '--no-index', '-q', path], { cwd: REPO });
    expect(result.error, 'git is needed for this check').toBeUndefined();
    expect(result.status, `${path} is not ignored`).toBe(0);
  });

  it('but not the units, the docs and the test fixtures', () => {
    for (const path of ['deploy/systemd/anxin-cloud.service', 'docs/install.md', 'package.json']) {
      expect(spawnSync('git', ['check-ignore', '--no-index', '-q', path], { cwd: REPO }).status, path).toBe(1);
    }
  });
});
