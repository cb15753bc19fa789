import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OsdpControlPanel } from '../../../firmware-bridge/osdp/control-panel.ts';
import { parseTurnstileSimFlags, runSimulatorCli } from '../../../cli/sim/turnstile-sim.ts';
import { silentLogger } from '../../../shared/log.ts';
import { openPtyPair } from '../../../testkit/socat.ts';
import { until } from '../../firmware-bridge/osdp/mock-pd.ts';

function captured() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { stream, text: () => text };
}

describe('anxin sim turnstile (runSimulatorCli)', () => {
  it('reads the flags with the contract defaults', () => {
    expect(parseTurnstileSimFlags(['--port', '/tmp/x'])).toEqual({
      flags: { path: '/tmp/x', baudRate: 115_200, address: 0, passDelayMs: 800, behaviour: 'pass' },
    });
    expect(
      parseTurnstileSimFlags([
        'turnstile',
        '--port=/tmp/y',
        '--baud',
        '9600',
        '--address',
        '3',
        '--pass-delay',
        '50',
        '--behaviour',
        'tailgate',
      ]),
    ).toEqual({ flags: { path: '/tmp/y', baudRate: 9600, address: 3, passDelayMs: 50, behaviour: 'tailgate' } });
    expect(
      parseTurnstileSimFlags(['--port', '/tmp/k', '--scbk', '00112233445566778899AABBCCDDEEFF', '--address', '0,1,5']),
    ).toMatchObject({
      flags: { scbk: Buffer.from('00112233445566778899aabbccddeeff', 'hex'), address: 0, addresses: [0, 1, 5] },
    });
    expect(parseTurnstileSimFlags(['--port', '/tmp/i', '--install-mode'])).toMatchObject({
      flags: { installMode: true },
    });
    expect(parseTurnstileSimFlags(['--port', '/tmp/z', '--nak', 'ISTAT,osdp_cap'])).toMatchObject({
      flags: { nakCommands: ['ISTAT', 'CAP'] },
    });
  });

  it.each([
    [['--baud', '115200'], /^anxin sim turnstile: port: required/],
    [['--port', 'p', '--bogus'], /^anxin sim turnstile: Unknown option '--bogus'/],
    [['--port', 'p', '--baud', '1234'], /^anxin sim turnstile: baud: must be one of 9600, 38400, 115200/],
    [['--port', 'p', '--address', '127'], /^anxin sim turnstile: address: must be an integer 0–126/],
    [['--port', 'p', '--pass-delay=-5'], /^anxin sim turnstile: pass-delay: must be an integer/],
    [['--port', 'p', '--behaviour', 'dance'], /^anxin sim turnstile: behaviour: must be one of pass, timeout/],
    [['--port', 'p', '--nak', 'ISTAT,DANCE'], /^anxin sim turnstile: nak: must list commands among POLL, ID/],
    [['--port', 'p', '--scbk', 'not-a-key'], /^anxin sim turnstile: scbk: must be 32 hex digits \(16 bytes\)/],
    [['--port', 'p', '--address', '1,1'], /^anxin sim turnstile: address: each address once/],
    [['--port', 'p', '--scbk', '00'.repeat(16), '--install-mode'], /^anxin sim turnstile: install-mode: a keyed PD/],
  ])('exits 2 with one line for %j', async (argv, message) => {
    const stderr = captured();
    await expect(runSimulatorCli(argv, { stderr: stderr.stream })).resolves.toBe(2);
    expect(stderr.text()).toMatch(message);
    expect(stderr.text().trim().split('\n')).toHaveLength(1);
  });

  it('serves a control panel on a pty until told to stop, then exits 0', async () => {
    const pty = await openPtyPair();
    let stop = () => {};
    const until$ = new Promise<void>((resolve) => {
      stop = resolve;
    });
    const cp = new OsdpControlPanel({ path: pty.b, baudRate: 115_200 });
    try {
      const exit = runSimulatorCli(['--port', pty.a, '--pass-delay', '10'], { logger: silentLogger, until: until$ });
      await cp.start();
      await until(() => cp.status === 'ok', 'the control panel online');
      const passes: boolean[] = [];
      cp.on('input', (name, active) => name === 'passed-in' && passes.push(active));
      await cp.unlock('in', 500);
      await until(() => passes.length >= 2, 'a pass');
      stop();
      await expect(exit).resolves.toBe(0);
    } finally {
      await cp.stop();
      await pty.close();
    }
  });

  it('stops on SIGTERM with exit code 0 as a real process', async () => {
    const pty = await openPtyPair();
    const dir = await mkdtemp(join(tmpdir(), 'anxin-osdp-cli-'));
    const cli = fileURLToPath(new URL('../../../cli/sim/turnstile-sim.ts', import.meta.url));
    // .mts: the temp dir has no package.json saying "type": "module".
    const script = join(dir, 'run.mts');
    await writeFile(
      script,
      `import { runSimulatorCli } from ${JSON.stringify(cli)};\nprocess.exitCode = await runSimulatorCli(process.argv.slice(2));\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script, '--port', pty.a], {
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ANXIN_LOG_LEVEL: 'info' },
    });
    try {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      await until(() => out.includes('turnstile simulator ready'), 'the ready line', 20_000);
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await pty.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
