/**
 * Several PDs on one RS-485 line (docs/devices.md §5.3): one `OsdpBus`, one `OsdpControlPanel` per
 * address, one simulated PD per address behind one port (`OsdpSimulatorLine`). Polling is shared
 * fairly; an unlock for one PD goes out right after the exchange already on the wire, even while a
 * dead neighbour keeps timing out; keys and sessions are per PD. Virtual pairs, and a socat pty with
 * `anxin sim turnstile --address 0,1` as its own process.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { OsdpBus } from '../../../firmware-bridge/osdp/bus.ts';
import { OsdpCommand } from '../../../firmware-bridge/osdp/codes.ts';
import { OsdpControlPanel } from '../../../firmware-bridge/osdp/control-panel.ts';
import { OsdpFrame } from '../../../firmware-bridge/osdp/frame.ts';
import { OsdpSimulatorLine, OsdpTurnstileSimulator } from '../../../firmware-bridge/osdp/simulator.ts';
import type { BindingInterface } from '../../../firmware-bridge/serial/port-options.ts';
import { createVirtualSerialPair, VirtualBinding } from '../../../firmware-bridge/testing/virtual-binding.ts';
import { openPtyPair } from '../../../testkit/socat.ts';
import { until } from './mock-pd.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let pairs = 0;

/** VirtualBinding that reports every frame the control-panel side writes, as it is written. */
function recordingBinding(onWrite: (frame: OsdpFrame) => void): BindingInterface {
  return {
    list: () => VirtualBinding.list(),
    open: async (options) => {
      const port = await VirtualBinding.open(options);
      const write = port.write.bind(port);
      port.write = (buffer: Buffer) => {
        onWrite(OsdpFrame.fromBuffer(buffer));
        return write(buffer);
      };
      return port;
    },
  } as BindingInterface;
}

async function line(
  addresses: number[],
  keys: Record<number, Buffer> = {},
  onWrite: (f: OsdpFrame) => void = () => {},
) {
  pairs++;
  const { a, b } = createVirtualSerialPair(`osdp-bus-${pairs}`);
  const simLine = new OsdpSimulatorLine({ path: b, baudRate: 115_200, binding: VirtualBinding });
  const pds = new Map<number, OsdpTurnstileSimulator>();
  for (const address of addresses) {
    const pd = new OsdpTurnstileSimulator({
      path: b,
      baudRate: 115_200,
      line: simLine,
      address,
      passDelayMs: 10,
      ...(keys[address] ? { scbk: keys[address] } : {}),
    });
    cleanups.push(() => pd.stop());
    await pd.start();
    pds.set(address, pd);
  }
  const bus = new OsdpBus({ path: a, baudRate: 115_200, binding: recordingBinding(onWrite) });
  return { a, bus, pds };
}

function panel(bus: OsdpBus, address: number, extra: Partial<ConstructorParameters<typeof OsdpControlPanel>[0]> = {}) {
  const cp = new OsdpControlPanel({ bus, address, pollIntervalMs: 5, replyTimeoutMs: 60, ...extra });
  cp.on('error', () => {});
  cleanups.push(() => cp.stop());
  return cp;
}

describe('several PDs on one line', () => {
  it('brings up every PD with its own key, shares the polls fairly and routes each unlock to its PD', async () => {
    const keys = { 0: randomBytes(16), 1: randomBytes(16) };
    const written: OsdpFrame[] = [];
    const { bus, pds } = await line([0, 1, 2], keys, (f) => written.push(f));
    const slow = { replyTimeoutMs: 200 };
    const cps = [
      panel(bus, 0, { scbk: keys[0], ...slow }),
      panel(bus, 1, { scbk: keys[1], ...slow }),
      panel(bus, 2, slow),
    ];
    await Promise.all(cps.map((cp) => cp.start()));
    await until(() => cps.every((cp) => cp.status === 'ok'), 'all three online');
    expect(cps.map((cp) => cp.secure)).toEqual([true, true, false]);

    const mark = written.length;
    await until(() => written.length >= mark + 90, 'ninety more polls');
    const counts = [0, 1, 2].map((address) => written.slice(mark).filter((f) => f.address === address).length);
    // Fair: each PD gets its share of the line (a third; at least two thirds of that on a busy machine).
    for (const count of counts) expect(count).toBeGreaterThanOrEqual(20);

    await cps[1]!.unlock('out', 300);
    await cps[2]!.unlock('in', 300);
    expect([0, 1, 2].map((address) => pds.get(address)!.stats.unlocks)).toEqual([0, 1, 1]);
    // Every reply reached the control panel of its own address.
    expect(cps.map((cp) => cp.stats.unexpectedReplies)).toEqual([0, 0, 0]);
  });

  it('an unlock goes out right after the exchange on the wire, even while a dead PD keeps timing out', {
    timeout: 60_000,
  }, async () => {
    let onWrite: (frame: OsdpFrame) => void = () => {};
    const { bus } = await line([0], {}, (f) => onWrite(f));
    const live = panel(bus, 0);
    const dead = panel(bus, 5, { replyTimeoutMs: 100 }); // nobody answers at 5
    await Promise.all([live.start(), dead.start()]);
    await until(() => live.status === 'ok' && dead.status === 'fault', 'one online, one dead');

    const trials: number[] = [];
    for (let trial = 0; trial < 5; trial++) {
      let unlock: Promise<void> | undefined;
      const after: OsdpFrame[] = [];
      onWrite = (frame) => {
        if (unlock) {
          after.push(frame);
          return;
        }
        if (frame.address === 5) {
          // The dead PD's probe has just gone on the wire: it will hold the line for its whole timeout.
          unlock = live.unlock('in', 300);
        }
      };
      await until(() => unlock !== undefined, 'a probe of the dead PD', 20_000);
      await unlock;
      onWrite = () => {};
      // The very next frame on the wire is the OUT: it waited for one exchange (the probe), no more.
      trials.push(after.findIndex((f) => f.address === 0 && f.code === OsdpCommand.OUT));
    }
    expect(trials).toEqual([0, 0, 0, 0, 0]);
    expect(dead.faultReason).toMatch(/not answering/);
  });

  it('a simulator process serving addresses 0 and 1 on one socat pty, two control panels on one bus', {
    timeout: 60_000,
  }, async () => {
    const pty = await openPtyPair();
    cleanups.push(() => pty.close());
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const child = spawn(
      process.execPath,
      ['bin/anxin.mjs', 'sim', 'turnstile', '--port', pty.a, '--address', '0,1', '--pass-delay', '10'],
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
    const bus = new OsdpBus({ path: pty.b, baudRate: 115_200 });
    const lane1 = panel(bus, 0, { replyTimeoutMs: 200, pollIntervalMs: 20 });
    const lane2 = panel(bus, 1, { replyTimeoutMs: 200, pollIntervalMs: 20 });
    const passes: string[] = [];
    lane1.on('input', (name, active) => active && passes.push(`0:${name}`));
    lane2.on('input', (name, active) => active && passes.push(`1:${name}`));
    await Promise.all([lane1.start(), lane2.start()]);
    await until(() => lane1.status === 'ok' && lane2.status === 'ok', 'both lanes online', 10_000);
    expect(lane1.identity?.serialNumber).not.toBe(lane2.identity?.serialNumber);
    await lane2.unlock('out', 300);
    await lane1.unlock('in', 300);
    await until(() => passes.includes('1:passed-out') && passes.includes('0:passed-in'), 'each lane its own pass');
    child.kill('SIGTERM');
    await until(() => out.includes('turnstile simulator stopped'), 'stopped', 10_000);
    expect(out).toMatch(/"addresses":\[0,1\]/);
  });
});
