/**
 * The mosquitto generator: `$7$` hashes that real `mosquitto_passwd` agrees with, and an ACL file
 * that grants exactly what `broker/acl.ts` grants (checked with a small evaluator of Mosquitto's
 * `user`/`topic` rules over every contract topic).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type BrokerIdentity, canPublish, canSubscribe } from '../../broker/acl.ts';
import {
  generateMosquittoConfig,
  hashMosquittoPassword,
  type MosquittoAccount,
  mosquittoAccounts,
  verifyMosquittoPassword,
} from '../../broker/mosquitto-config.ts';
import { GATE_TOPIC_KINDS, topics } from '../../shared/topics.ts';

const run = promisify(execFile);

const accounts: MosquittoAccount[] = mosquittoAccounts(
  {
    gates: [
      { id: 'g1', compound: 'c1' },
      { id: 'g2', compound: 'c2' },
    ],
    clouds: ['cloud'],
    observers: ['watcher'],
  },
  (claims) => `token-of-${claims.sub}`,
);

/** Mosquitto's rule evaluation for one user (mosquitto.conf(5), acl_file): any matching rule with the access. */
function mosquittoAllows(acl: string, user: string, topic: string, access: 'read' | 'write'): boolean {
  let current: string | undefined;
  for (const line of acl.split('\n')) {
    const [word, ...rest] = line.trim().split(/\s+/);
    if (word === 'user') current = rest[0];
    if (word !== 'topic' || current !== user) continue;
    const [mode, pattern] = rest.length === 2 ? rest : ['readwrite', rest[0]];
    if (mode !== access && mode !== 'readwrite') continue;
    const p = pattern!.split('/');
    const t = topic.split('/');
    if (p.length === t.length && p.every((level, i) => level === '+' || level === t[i])) return true;
  }
  return false;
}

describe('mosquitto password file', () => {
  it('writes PBKDF2-SHA512 `$7$` hashes with 101 rounds and a 12-byte salt', () => {
    const encoded = hashMosquittoPassword('secret', Buffer.alloc(12, 7));
    expect(encoded).toMatch(/^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    expect(verifyMosquittoPassword('secret', encoded)).toBe(true);
    expect(verifyMosquittoPassword('Secret', encoded)).toBe(false);
  });

  it('agrees with the real mosquitto_passwd', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anxin-passwd-'));
    try {
      const file = join(dir, 'passwd');
      await writeFile(file, '');
      await run('mosquitto_passwd', ['-b', file, 'g1', 'token-with.dots_and-dashes']);
      const line = (await readFile(file, 'utf8')).trim();
      const encoded = line.slice('g1:'.length);
      expect(verifyMosquittoPassword('token-with.dots_and-dashes', encoded)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('holds one line per account, never the token itself', () => {
    const files = generateMosquittoConfig({ dir: '/etc/anxin', port: 1883, accounts });
    const lines = files.passwd.trim().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual(['g1', 'g2', 'cloud', 'watcher']);
    expect(files.passwd).not.toContain('token-of');
    expect(verifyMosquittoPassword('token-of-g1', lines[0]!.slice(3))).toBe(true);
  });
});

describe('mosquitto.conf', () => {
  it('turns anonymous access off and names the generated files', () => {
    const conf = generateMosquittoConfig({
      dir: '/etc/anxin',
      port: 18830,
      host: '127.0.0.1',
      accounts,
      maxPayload: 2048,
      tls: { certFile: '/etc/anxin/cert.pem', keyFile: '/etc/anxin/key.pem' },
    })['mosquitto.conf'];
    for (const line of [
      'allow_anonymous false',
      'password_file /etc/anxin/passwd',
      'acl_file /etc/anxin/acl',
      'message_size_limit 2048',
      'listener 18830 127.0.0.1',
      'certfile /etc/anxin/cert.pem',
      'keyfile /etc/anxin/key.pem',
    ]) {
      expect(conf.split('\n')).toContain(line);
    }
  });

  it('refuses duplicate or unsafe usernames and wildcard gate ids', () => {
    const dup = [...accounts, accounts[0]!];
    expect(() => generateMosquittoConfig({ dir: '/d', port: 1, accounts: dup })).toThrow(/duplicate/);
    const colon: MosquittoAccount = { username: 'a:b', role: 'cloud', password: 'x' };
    expect(() => generateMosquittoConfig({ dir: '/d', port: 1, accounts: [colon] })).toThrow(/not safe/);
    expect(() => mosquittoAccounts({ gates: [{ id: '+', compound: 'c1' }] }, () => 't')).toThrow();
  });
});

describe('mosquitto ACL file', () => {
  const { acl } = generateMosquittoConfig({ dir: '/d', port: 1883, accounts });
  const identities: BrokerIdentity[] = [
    { clientId: 'g1', role: 'gate', compound: 'c1' },
    { clientId: 'g2', role: 'gate', compound: 'c2' },
    { clientId: 'cloud', role: 'cloud' },
    { clientId: 'watcher', role: 'observer' },
  ];
  const concrete = [
    ...GATE_TOPIC_KINDS.flatMap((kind) => ['g1', 'g2', 'g3'].map((g) => `anxin/v1/gates/${g}/${kind}`)),
    ...['c1', 'c2', 'c3'].map((c) => topics.compoundChanges(c)),
  ];

  it('grants exactly what broker/acl.ts grants, for every account and contract topic', () => {
    for (const identity of identities) {
      for (const topic of concrete) {
        const where = `${identity.clientId} ${topic}`;
        expect(mosquittoAllows(acl, identity.clientId, topic, 'write'), `write ${where}`).toBe(
          canPublish(identity, topic).allowed,
        );
        expect(mosquittoAllows(acl, identity.clientId, topic, 'read'), `read ${where}`).toBe(
          canSubscribe(identity, topic).allowed,
        );
      }
    }
  });

  it('is made of user and topic lines only', () => {
    for (const line of acl.split('\n')) expect(line).toMatch(/^(#.*|user [\w.-]+|topic (read|write) [\w/+-]+|)$/);
  });
});
