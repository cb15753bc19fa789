/**
 * Control panel ↔ simulated PD through the OSDP secure channel (docs/devices.md §8): the handshake,
 * traffic under MAC and encryption, pairing a factory-fresh PD (SCBK-D, then osdp_KEYSET), refusal
 * of plaintext and of the install key once keyed (no silent downgrade), a wrong key, a tampered MAC
 * in either direction, and a PD that restarts mid-session — each a `fault` with its reason that
 * heals by a new handshake. On in-process virtual serial pairs, and once over a real socat pty.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { OsdpCommand } from '../../../firmware-bridge/osdp/codes.ts';
import { OsdpControlPanel, type TurnstileInput } from '../../../firmware-bridge/osdp/control-panel.ts';
import { crc16 } from '../../../firmware-bridge/osdp/crc.ts';
import { OsdpFrame } from '../../../firmware-bridge/osdp/frame.ts';
import { Scs } from '../../../firmware-bridge/osdp/secure-channel.ts';
import { OsdpTurnstileSimulator } from '../../../firmware-bridge/osdp/simulator.ts';
import type { BindingInterface } from '../../../firmware-bridge/serial/port-options.ts';
import { createVirtualSerialPair, VirtualBinding } from '../../../firmware-bridge/testing/virtual-binding.ts';
import { openPtyPair } from '../../../testkit/socat.ts';
import { until } from './mock-pd.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let pairs = 0;
function pair() {
  pairs++;
  return createVirtualSerialPair(`osdp-sc-${pairs}`);
}

/** VirtualBinding whose writes pass through `tamper` (a man in the middle on the RS-485 pair). */
function tamperingBinding(tamper: (bytes: Buffer) => Buffer): BindingInterface {
  return {
    list: () => VirtualBinding.list(),
    open: async (options) => {
      const port = await VirtualBinding.open(options);
      const write = port.write.bind(port);
      port.write = (buffer: Buffer) => write(tamper(Buffer.from(buffer)));
      return port;
    },
  } as BindingInterface;
}

function sim(path: string, options: Partial<ConstructorParameters<typeof OsdpTurnstileSimulator>[0]> = {}) {
  const pd = new OsdpTurnstileSimulator({
    path,
    baudRate: 115_200,
    binding: VirtualBinding,
    passDelayMs: 10,
    ...options,
  });
  const commands: OsdpFrame[] = [];
  pd.on('command', (frame) => commands.push(frame));
  cleanups.push(() => pd.stop());
  return { pd, commands };
}

function panel(path: string, options: Partial<ConstructorParameters<typeof OsdpControlPanel>[0]> = {}) {
  const cp = new OsdpControlPanel({
    path,
    baudRate: 115_200,
    binding: VirtualBinding,
    pollIntervalMs: 5,
    replyTimeoutMs: 100,
    ...options,
  });
  const statuses: string[] = [];
  const inputs: Array<[TurnstileInput, boolean]> = [];
  const errors: Error[] = [];
  cp.on('status', (s) => statuses.push(s));
  cp.on('input', (name, active) => inputs.push([name, active]));
  cp.on('error', (err) => errors.push(err));
  cleanups.push(() => cp.stop());
  return { cp, statuses, inputs, errors };
}

const key = () => randomBytes(16);

describe('the secure channel between control panel and PD', () => {
  it('handshakes with the PD key, then sends everything under MAC and encryption; the pass is reported', async () => {
    const { a, b } = pair();
    const scbk = key();
    const { pd, commands } = sim(b, { scbk });
    const { cp, inputs } = panel(a, { scbk });
    await pd.start();
    await cp.start();
    await until(() => cp.status === 'ok', 'online');
    expect(cp.secure).toBe(true);
    expect(pd.secure).toBe(true);
    await cp.unlock('in', 500);
    await until(() => inputs.some(([n, on]) => n === 'passed-in' && on), 'the pass, reported under the session');
    const kinds = commands.map((f) => [f.code, f.securityBlock?.type]);
    // Only discovery is plain; then the handshake; then nothing without a MAC.
    expect(kinds.slice(0, 4)).toEqual([
      [OsdpCommand.ID, undefined],
      [OsdpCommand.CAP, undefined],
      [OsdpCommand.CHLNG, Scs.CHLNG],
      [OsdpCommand.SCRYPT, Scs.SCRYPT],
    ]);
    expect(kinds.slice(4).every(([, type]) => type === Scs.COMMAND_MAC || type === Scs.COMMAND_ENCRYPTED)).toBe(true);
    const out = commands.find((f) => f.code === OsdpCommand.OUT)!;
    expect(out.securityBlock?.type).toBe(Scs.COMMAND_ENCRYPTED);
    expect(out.data).toHaveLength(16); // the 4-byte OUT record, encrypted and padded
  });

  it('pairs a factory-fresh PD: SCBK-D handshake, osdp_KEYSET, proven by a handshake with the new key', async () => {
    const { a, b } = pair();
    const { pd } = sim(b, { installMode: true });
    const installed: Buffer[] = [];
    pd.on('keyset', (k) => installed.push(k));
    const { cp } = panel(a, { installMode: true });
    await pd.start();
    await cp.start();
    await until(() => cp.status === 'ok' && cp.secure, 'online with SCBK-D');
    const newKey = key();
    await cp.setKey(newKey);
    expect(installed).toEqual([newKey]);
    expect(pd.keyed).toBe(true);
    expect(cp.secure).toBe(true);
    expect(pd.stats.handshakes).toBe(2);
    await cp.unlock('out', 300);
    await cp.stop();

    // Keyed now: the install key no longer works, and neither does plaintext.
    const install = panel(a, { installMode: true });
    await install.cp.start();
    await until(() => install.cp.status === 'fault', 'SCBK-D refused');
    expect(install.cp.faultReason).toMatch(/security|secure channel/);
    await install.cp.stop();
    const plain = panel(a);
    await plain.cp.start();
    await until(() => plain.cp.status === 'fault', 'plaintext refused');
    expect(plain.cp.faultReason).toMatch(/NAK 6/);
    await plain.cp.stop();

    // The new key works.
    const keyed = panel(a, { scbk: newKey });
    await keyed.cp.start();
    await until(() => keyed.cp.status === 'ok', 'online with the new key');
    await keyed.cp.unlock('in', 300);
  });

  it('a wrong key is a fault naming the key, retried with backoff, never a plaintext fallback', async () => {
    const { a, b } = pair();
    const { pd, commands } = sim(b, { scbk: key() });
    const { cp, errors } = panel(a, { scbk: key() });
    await pd.start();
    await cp.start();
    await until(() => cp.status === 'fault', 'the fault');
    expect(cp.faultReason).toMatch(/secure channel failed: PD 0 does not hold the configured key/);
    expect(cp.faultReason).not.toMatch(/[0-9a-f]{32}/i);
    await until(() => commands.filter((f) => f.code === OsdpCommand.CHLNG).length >= 3, 'two more tries');
    expect(commands.filter((f) => f.code === OsdpCommand.CHLNG).length).toBeLessThan(6);
    expect(commands.every((f) => f.securityBlock || f.code === OsdpCommand.ID || f.code === OsdpCommand.CAP)).toBe(
      true,
    );
    expect(errors).toHaveLength(1);
    await expect(cp.unlock('in', 300)).rejects.toMatchObject({ code: 'osdp-offline' });
  });

  it('a keyed control panel refuses a PD without the secure channel (NAK 5): no downgrade', async () => {
    const { a, b } = pair();
    const { pd, commands } = sim(b);
    const { cp } = panel(a, { scbk: key() });
    await pd.start();
    await cp.start();
    await until(() => cp.status === 'fault', 'the fault');
    expect(cp.faultReason).toMatch(/NAK 5/);
    expect(commands.some((f) => f.code === OsdpCommand.POLL || f.code === OsdpCommand.OUT)).toBe(false);
  });

  it('a command whose MAC was tampered with on the wire ends the session; the CP re-handshakes and recovers', async () => {
    const { a, b } = pair();
    const scbk = key();
    let tamperNextOut = false;
    const binding = tamperingBinding((bytes) => {
      const frame = OsdpFrame.fromBuffer(bytes);
      if (tamperNextOut && frame.code === OsdpCommand.OUT) {
        tamperNextOut = false;
        bytes[bytes.length - 3]! ^= 0x01; // a MAC bit; the CRC is recomputed as a forger would
        bytes.writeUInt16LE(crc16(bytes, 0, bytes.length - 2), bytes.length - 2);
      }
      return bytes;
    });
    const { pd } = sim(b, { scbk });
    const failures: string[] = [];
    pd.on('secure-failure', (why) => failures.push(why));
    const { cp, statuses } = panel(a, { scbk, binding });
    await pd.start();
    await cp.start();
    await until(() => cp.status === 'ok', 'online');
    tamperNextOut = true;
    await expect(cp.unlock('in', 300)).rejects.toThrow();
    expect(failures[0]).toMatch(/MAC does not verify/);
    expect(pd.stats.unlocks).toBe(0);
    await until(() => cp.status === 'ok' && cp.secure, 'back online after a new handshake', 10_000);
    expect(statuses).toEqual(['ok', 'fault', 'ok']);
    await cp.unlock('in', 300);
    expect(pd.stats.unlocks).toBe(1);
  });

  it('a reply whose MAC was tampered with is refused by the CP: fault with the reason, then a new handshake', async () => {
    const { a, b } = pair();
    const scbk = key();
    let tamperNextAck = false;
    const simBinding = tamperingBinding((bytes) => {
      const frame = OsdpFrame.fromBuffer(bytes);
      if (tamperNextAck && frame.isReply && frame.securityBlock?.type === Scs.REPLY_MAC && frame.code === 0x40) {
        tamperNextAck = false;
        bytes[bytes.length - 4]! ^= 0x80;
        bytes.writeUInt16LE(crc16(bytes, 0, bytes.length - 2), bytes.length - 2);
      }
      return bytes;
    });
    const { pd } = sim(b, { scbk, binding: simBinding });
    const { cp, errors } = panel(a, { scbk });
    await pd.start();
    await cp.start();
    await until(() => cp.status === 'ok', 'online');
    tamperNextAck = true;
    await until(() => cp.status === 'fault', 'the MAC failure');
    expect(cp.faultReason).toMatch(/secure channel failed: secure channel with PD 0: the reply's MAC does not verify/);
    expect(errors.some((e) => (e as { code?: string }).code === 'osdp-secure-channel')).toBe(true);
    await until(() => cp.status === 'ok' && cp.secure, 'back after a new handshake', 10_000);
    expect(cp.stats.secureFailures).toBe(1);
    expect(cp.stats.handshakes).toBe(2);
  });

  it('a PD that restarts mid-session answers in plaintext; the CP takes that as a lost session, not a downgrade', async () => {
    const { a, b } = pair();
    const scbk = key();
    const { pd } = sim(b, { scbk });
    const { cp, statuses } = panel(a, { scbk });
    await pd.start();
    await cp.start();
    await until(() => cp.status === 'ok', 'online');
    await pd.stop();
    await pd.start();
    await until(() => statuses.includes('fault'), 'the lost session');
    await until(() => cp.status === 'ok' && cp.secure && pd.secure, 'a new session', 10_000);
    await cp.unlock('in', 300);
  });
});

describe('the secure channel over a socat pty', () => {
  it('a keyed simulator and control panel, on the OS serial binding', async () => {
    const pty = await openPtyPair();
    cleanups.push(() => pty.close());
    const scbk = key();
    const pd = new OsdpTurnstileSimulator({ path: pty.a, baudRate: 115_200, passDelayMs: 10, scbk });
    cleanups.push(() => pd.stop());
    const cp = new OsdpControlPanel({ path: pty.b, baudRate: 115_200, scbk });
    cp.on('error', () => {});
    cleanups.push(() => cp.stop());
    const passes: boolean[] = [];
    cp.on('input', (name, active) => name === 'passed-out' && passes.push(active));
    await pd.start();
    await cp.start();
    await until(() => cp.status === 'ok', 'online');
    expect(cp.secure).toBe(true);
    await cp.unlock('out', 300);
    await until(() => passes.length >= 2, 'the pass');
  });
});
