/**
 * docs/quickstart.md "Driving one gate by hand over socat", run as written: the `sh` block is taken
 * from the doc itself and run by Debian's `/bin/sh` (dash), non-interactive, without job control —
 * the conditions its wait loops and its stop line must work under. Only the variables the block
 * exposes at its top are set (free ports, a temp data directory and pty path), so the test never
 * meets a running demo. The block must end by itself, with the passages it prints stored, and
 * leave nothing running.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../testkit/mosquitto.ts';
import { eventually, ROOT, tcpOpen } from '../../testkit/deployment.ts';

/** The first ```sh block after the heading. */
function docBlock(markdown: string, heading: string): string {
  const at = markdown.indexOf(`## ${heading}`);
  if (at < 0) throw new Error(`no heading "${heading}"`);
  const open = markdown.indexOf('```sh\n', at);
  const close = markdown.indexOf('\n```', open + 6);
  if (open < 0 || close < 0) throw new Error(`no sh block under "${heading}"`);
  return markdown.slice(open + 6, close + 1);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the quickstart walk-through, run from the doc', () => {
  const dir = mkdtempSync(join(tmpdir(), 'anxin-quickstart-'));
  let group: number | undefined;

  afterAll(() => {
    // Only if the block failed to stop what it started.
    if (group !== undefined && alive(-group)) process.kill(-group, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs under /bin/sh, waits for what it needs, prints the stored passages and stops everything', {
    timeout: 240_000,
  }, async () => {
    const block = docBlock(
      readFileSync(join(ROOT, 'docs/quickstart.md'), 'utf8'),
      'Driving one gate by hand over socat',
    );
    expect(block).not.toMatch(/%\d|\bjobs\b|\bfg\b|\bbg\b/); // no job control
    const ports = { MQTT: await freePort(), HTTP: await freePort(), TERMINAL: await freePort() };
    const env = {
      ...process.env,
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      DATA: join(dir, 'data'),
      PTY: join(dir, 'qr'),
      ANXIN_LOG_LEVEL: 'warn',
    };
    const child = spawn('/bin/sh', ['-c', block], {
      cwd: ROOT,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    group = child.pid;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const output = `--- stdout\n${stdout}\n--- stderr\n${stderr.slice(-5000)}`;
    expect(code, output).toBe(0);

    // The pass was printed, and the passages the cloud stored: granted, for the resident, newest first.
    expect(stdout, output).toMatch(/^AX1:/m);
    const passages = stdout
      .split('\n')
      .filter((line) => line.startsWith('{"seq"'))
      .map((line) => JSON.parse(line) as { seq: number; result: string; reason: string; personId: string });
    expect(passages.length, output).toBeGreaterThanOrEqual(2);
    for (const p of passages) expect(p).toMatchObject({ result: 'granted', reason: 'ok', personId: 'p-000001' });
    expect(passages.map((p) => p.seq)).toEqual([...passages.map((p) => p.seq)].sort((a, b) => b - a));

    // The stop line stopped everything: no process of the block is left, no port is open.
    // tsx's esbuild helper goes a moment after the node process that owned it.
    await eventually(() => !alive(-group!), "the block's processes gone", 10_000).catch(() => {});
    const left = alive(-group!)
      ? execFileSync('ps', ['-o', 'pid,stat,args', '-g', String(group)], { encoding: 'utf8' })
      : '';
    expect(left, output).toBe('');
    for (const port of Object.values(ports)) expect(await tcpOpen(port), `port ${port}`).toBe(false);
  });
});
