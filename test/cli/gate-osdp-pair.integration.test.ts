/**
 * `anxin gate osdp-pair` (docs/hardware.md, "Pairing the turnstile"): pairing a factory-fresh PD
 * from the install key, rotating the key, the key file (0600, never printed), the gate then
 * driving the turnstile through the secure channel with it, and refusals — over real socat ptys,
 * once with the simulator as a separate `anxin sim turnstile --scbk-file` process.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runOsdpPair } from '../../cli/commands/gate-osdp-pair.ts';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createDevices } from '../../edge-agent/device-factory.ts';
import type { OsdpControlPanel } from '../../firmware-bridge/osdp/control-panel.ts';
import { OsdpSimulatorLine, OsdpTurnstileSimulator } from '../../firmware-bridge/osdp/simulator.ts';
import { silentLogger } from '../../shared/log.ts';
import { gateKeysFile } from '../edge-agent/fixtures.ts';
import { openPtyPair, type PtyPair } from '../../testkit/socat.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function captured() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { stream, text: () => text };
}

async function setup(turnstile: Record<string, unknown> = {}) {
  const pty: PtyPair = await openPtyPair();
  cleanups.push(() => pty.close());
  const dir = mkdtempSync(join(tmpdir(), 'anxin-osdp-pair-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const gate = {
    gateId: 'g-pair',
    compoundId: 'c1',
    mqtt: { url: 'mqtt://127.0.0.1:1' },
    keys: gateKeysFile(),
    dataDir: dir,
    devices: { turnstile: { path: pty.b, baudRate: 115200, ...turnstile } },
  };
  const configFile = join(dir, 'gate.json');
  writeFileSync(configFile, JSON.stringify(gate));
  return { pty, dir, configFile, gate };
}

async function pair(configFile: string) {
  const stdout = captured();
  const stderr = captured();
  const code = await runOsdpPair(['--config', configFile, '--timeout', '5000'], {
    stdout: stdout.stream,
    stderr: stderr.stream,
    logger: silentLogger,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

describe('anxin gate osdp-pair', () => {
  it('pairs a factory-fresh PD, rotates the key, and the gate then runs the turnstile on it', async () => {
    const { pty, dir, configFile, gate } = await setup();
    const pd = new OsdpTurnstileSimulator({ path: pty.a, baudRate: 115_200, installMode: true, passDelayMs: 10 });
    cleanups.push(() => pd.stop());
    const installed: Buffer[] = [];
    pd.on('keyset', (key) => installed.push(key));
    await pd.start();

    const first = await pair(configFile);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      /^paired: the PD at address 0 on .* holds a new key, saved in .*turnstile\.scbk \(mode 0600\)/,
    );
    expect(first.stdout).toMatch(/"scbkFile"/); // the line to add to gate.json
    const keyFile = join(dir, 'turnstile.scbk');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key1 = readFileSync(keyFile, 'utf8').trim();
    expect(key1).toBe(installed[0]!.toString('hex'));
    expect(first.stdout).not.toContain(key1);
    expect(existsSync(`${keyFile}.pending`)).toBe(false);

    const second = await pair(configFile);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^rotated:/);
    const key2 = readFileSync(keyFile, 'utf8').trim();
    expect(key2).not.toBe(key1);
    expect(key2).toBe(installed[1]!.toString('hex'));

    // The gate's device factory reads the key file and drives the PD through the secure channel.
    const config = parseEdgeConfig({
      ...gate,
      devices: { turnstile: { ...gate.devices.turnstile, scbkFile: 'turnstile.scbk' } },
    });
    const turnstile = createDevices(config, silentLogger).turnstile as OsdpControlPanel;
    turnstile.on('error', () => {});
    cleanups.push(() => turnstile.stop());
    await turnstile.start();
    await until(() => turnstile.status === 'ok', 'the gate online with the key');
    expect(turnstile.secure).toBe(true);
    await turnstile.unlock('in', 300);
    expect(pd.stats.unlocks).toBe(1);
  });

  it('pairs the OSDP reader at another address on the turnstile line (--address)', async () => {
    const { pty, dir, gate } = await setup();
    const line = new OsdpSimulatorLine({ path: pty.a, baudRate: 115_200 });
    const turnstilePd = new OsdpTurnstileSimulator({ path: pty.a, baudRate: 115_200, line, address: 0 });
    const readerPd = new OsdpTurnstileSimulator({
      path: pty.a,
      baudRate: 115_200,
      line,
      address: 3,
      installMode: true,
    });
    cleanups.push(
      () => turnstilePd.stop(),
      () => readerPd.stop(),
    );
    await turnstilePd.start();
    await readerPd.start();
    const configFile = join(dir, 'gate-with-reader.json');
    writeFileSync(
      configFile,
      JSON.stringify({ ...gate, devices: { ...gate.devices, readers: [{ kind: 'osdp', name: 'exit', address: 3 }] } }),
    );
    const stdout = captured();
    const stderr = captured();
    const code = await runOsdpPair(['--config', configFile, '--address', '3'], {
      stdout: stdout.stream,
      stderr: stderr.stream,
      logger: silentLogger,
    });
    expect(stderr.text()).toBe('');
    expect(code).toBe(0);
    expect(stdout.text()).toMatch(/^paired: the PD at address 3 .* saved in .*osdp-3\.scbk/);
    expect(readerPd.keyed).toBe(true);
    expect(turnstilePd.keyed).toBe(false);
    expect(statSync(join(dir, 'osdp-3.scbk')).mode & 0o777).toBe(0o600);
  });

  it('refuses a key file others can read, at pairing and at gate start', async () => {
    const { pty, dir, configFile, gate } = await setup({ scbkFile: 'lane.scbk' });
    const keyFile = join(dir, 'lane.scbk');
    writeFileSync(keyFile, `${'ab'.repeat(16)}\n`);
    chmodSync(keyFile, 0o644);
    const result = await pair(configFile);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/lane\.scbk: may be read by others \(mode 644\); chmod 600/);
    expect(result.stderr).not.toContain('abab');
    const config = parseEdgeConfig({
      ...gate,
      devices: { turnstile: { ...gate.devices.turnstile, scbkFile: 'lane.scbk' } },
    });
    expect(() => createDevices(config, silentLogger)).toThrow(/devices\.turnstile\.scbkFile: .*chmod 600/);
    void pty;
  });

  it('fails with the reason when the PD is already keyed with a key we do not hold', async () => {
    const { pty, configFile } = await setup();
    const pd = new OsdpTurnstileSimulator({ path: pty.a, baudRate: 115_200, scbk: Buffer.alloc(16, 7) });
    cleanups.push(() => pd.stop());
    await pd.start();
    const result = await pair(configFile);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/the install key \(SCBK-D\): .*(NAK 6|security)/);
    expect(pd.keyed).toBe(true);
  });

  it('pairs with a simulator running as its own process (anxin sim turnstile --scbk-file), which saves the key', {
    timeout: 60_000,
  }, async () => {
    const { pty, dir, configFile } = await setup();
    const simKeyFile = join(dir, 'pd-side.scbk');
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const child = spawn(
      process.execPath,
      ['bin/anxin.mjs', 'sim', 'turnstile', '--port', pty.a, '--scbk-file', simKeyFile],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ANXIN_LOG_LEVEL: 'info' } },
    );
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    await until(() => out.includes('turnstile simulator ready'), 'the simulator ready', 30_000);
    expect(out).toMatch(/"secure":"install-mode"/);
    const result = await pair(configFile);
    expect(result.code).toBe(0);
    await until(() => out.includes('new key installed and saved'), 'the simulator saved the key');
    const gateKey = readFileSync(join(dir, 'turnstile.scbk'), 'utf8').trim();
    expect(readFileSync(simKeyFile, 'utf8').trim()).toBe(gateKey);
    expect(statSync(simKeyFile).mode & 0o777).toBe(0o600);
    expect(out).not.toContain(gateKey); // the simulator never logs the key either
  });
});
