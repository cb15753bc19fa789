import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_QR_SIM_TEXT, parseQrSimFlags, run } from '../../../cli/commands/sim.ts';
import { QrScannerDriver } from '../../../firmware-bridge/qr/driver.ts';
import {
  createVirtualSerialPair,
  resetVirtualPorts,
  VirtualBinding,
} from '../../../firmware-bridge/testing/virtual-binding.ts';
import { silentLogger } from '../../../shared/log.ts';
import { openPtyPair, type PtyPair } from '../../../testkit/socat.ts';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { stream, text: () => text };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  resetVirtualPorts();
});

describe('anxin sim: flags', () => {
  it('parses the qr flags with the contract defaults', () => {
    expect(parseQrSimFlags(['--port', '/tmp/x'])).toEqual({
      flags: { path: '/tmp/x', baudRate: 9600, text: DEFAULT_QR_SIM_TEXT, suffix: 'cr', intervalMs: 3000 },
    });
    expect(parseQrSimFlags(['--port', '/tmp/x', '--baud', '115200', '--suffix', 'none', '--interval', '10'])).toEqual({
      flags: { path: '/tmp/x', baudRate: 115200, text: DEFAULT_QR_SIM_TEXT, suffix: 'none', intervalMs: 10 },
    });
  });

  it('reports every bad qr flag as one "flag: message" line and exits 2', async () => {
    const err = capture();
    const code = await run(['qr', '--baud', 'fast', '--suffix', 'nul', '--interval', '0'], { stderr: err.stream });
    expect(code).toBe(2);
    const lines = err.text().trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^anxin sim qr: port: required/);
    expect(err.text()).toMatch(/baud: must be an integer 1–4000000, got "fast"/);
    expect(err.text()).toMatch(/suffix: must be one of cr, lf, crlf, tab, none/);
    expect(err.text()).toMatch(/interval: must be an integer 1–86400000, got "0"/);
  });

  it('refuses unknown flags and unknown devices with exit 2', async () => {
    const err = capture();
    expect(await run(['qr', '--port', '/tmp/x', '--colour', 'red'], { stderr: err.stream })).toBe(2);
    expect(err.text()).toMatch(/colour/);
    expect(await run(['fax'], { stderr: err.stream })).toBe(2);
    expect(err.text()).toMatch(/unknown device "fax"/);
    expect(await run([], { stderr: err.stream })).toBe(2);
    expect(err.text()).toMatch(/missing device/);
  });
});

describe('anxin sim qr', () => {
  it('sends the text and suffix every interval until told to stop, then exits 0', async () => {
    const { a, b } = createVirtualSerialPair('sim-cli');
    const qr = new QrScannerDriver({ path: a, baudRate: 9600, binding: VirtualBinding, terminator: 'lf' });
    cleanups.push(() => qr.stop());
    const texts: string[] = [];
    qr.on('scan', (text) => texts.push(text));
    await qr.start();
    let stop!: () => void;
    const until_ = new Promise<void>((resolve) => {
      stop = resolve;
    });
    const exit = run(['qr', '--port', b, '--text', '通行-HELLO', '--suffix', 'lf', '--interval', '20'], {
      binding: VirtualBinding,
      logger: silentLogger,
      until: until_,
    });
    await until(() => texts.length >= 2, 'two scans from the simulator');
    stop();
    expect(await exit).toBe(0);
    expect(new Set(texts)).toEqual(new Set(['通行-HELLO']));
  });

  describe('as a process on a socat pty', () => {
    let pty: PtyPair | undefined;
    afterEach(async () => {
      await pty?.close();
      pty = undefined;
    });

    it('runs `anxin sim qr` until SIGTERM and exits 0', async () => {
      pty = await openPtyPair();
      const qr = new QrScannerDriver({ path: pty.a, baudRate: 9600 });
      cleanups.push(() => qr.stop());
      const texts: string[] = [];
      qr.on('scan', (text) => texts.push(text));
      await qr.start();
      const bin = fileURLToPath(new URL('../../../bin/anxin.mjs', import.meta.url));
      const child = spawn(process.execPath, [bin, 'sim', 'qr', '--port', pty.b, '--interval', '50'], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, ANXIN_LOG_LEVEL: 'warn' },
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      cleanups.push(async () => {
        if (child.exitCode === null) child.kill('SIGKILL');
        await exited;
      });
      await until(() => texts.length >= 1 || child.exitCode !== null, 'a scan from the simulator process');
      expect(stderr).toBe('');
      expect(texts[0]).toBe(DEFAULT_QR_SIM_TEXT);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    });
  });
});

describe('anxin sim qr default text', () => {
  it('is a valid pass of the demo resident, signed with the keys file', async () => {
    const { demoPassText } = await import('../../../cli/commands/sim.ts');
    const { createKeysFile, parseKeysFile } = await import('../../../shared/keys.ts');
    const { verifyPass } = await import('../../../shared/pass.ts');
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'anxin-simkeys-'));
    try {
      const keys = createKeysFile();
      writeFileSync(join(dir, 'keys.json'), JSON.stringify(keys));
      const text = demoPassText(join(dir, 'keys.json'));
      const check = verifyPass(text!, parseKeysFile(keys).ring, Date.now());
      expect(check.ok && check.pass).toMatchObject({
        personId: 'p-000001',
        compoundId: 'sunny-garden',
        kind: 'resident',
      });
      expect(demoPassText(join(dir, 'missing.json'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
