import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { COMMANDS, main } from '../../cli/main.ts';

let out: string;
let err: string;

beforeEach(() => {
  out = '';
  err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err += String(chunk);
    return true;
  });
});

afterEach(() => vi.restoreAllMocks());

describe('anxin', () => {
  it.each(Object.keys(COMMANDS))('%s --help prints its usage and exits 0', async (name) => {
    expect(await main([name, '--help'])).toBe(0);
    expect(out).toMatch(/Usage: anxin /);
  });

  it.each(Object.keys(COMMANDS))('%s with an unknown flag exits 2 with a one-line reason', async (name) => {
    expect(await main([name, '--no-such-flag'])).toBe(2);
    expect(err.trim().split('\n')[0]).toMatch(new RegExp(`^anxin ${name}: .+`));
  });

  // A value that starts with a dash: Node's parser explains it over three lines; one line it is.
  it.each([
    ['demo', '--rate'],
    ['broker', '--port'],
    ['cloud', '--retention-days'],
    ['edge', '--config'],
    ['gate', 'add', '--days'],
    ['user', 'add', '--password'],
    ['keys', 'init', '--keys'],
    ['sim', 'qr', '--baud'],
  ])('%s … %s -1 exits 2 with exactly one line', async (...args) => {
    expect(await main([...args, '-1'])).toBe(2);
    const lines = err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^anxin [a-z]+( [a-z]+)?: .*ambiguous.*=-XYZ/);
  });

  it('--version prints the package and contract versions', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(await main(['--version'])).toBe(0);
    expect(out).toBe(`anxin ${version} (contract v1, node ${process.versions.node})\n`);
  });

  it('lists the commands and exits 2 without one, and refuses an unknown command', async () => {
    expect(await main([])).toBe(2);
    for (const name of Object.keys(COMMANDS)) expect(out).toContain(name);
    expect(await main(['frobnicate'])).toBe(2);
    expect(err).toContain('unknown command "frobnicate"');
  });
});
