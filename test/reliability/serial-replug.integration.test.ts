/**
 * Faults survived (docs/security.md, "Faults survived"): a serial device unplugged and replugged under a running gate. The QR scanner
 * is a simulator on the far end of a real socat pty pair; `kill()` makes both ends vanish (the
 * cable is pulled), `restart()` brings them back at the same paths. The gate (`anxin edge`, a
 * child process on the OS serial binding) reports the fault, keeps deciding (manual opens), and
 * takes scans again once the device is back — with no restart and no human.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QrScannerSimulator } from '../../firmware-bridge/qr/simulator.ts';
import { signPass } from '../../shared/pass.ts';
import { openPtyPair, type PtyPair } from '../../testkit/socat.ts';
import { COMPOUND, Deployment, eventually } from '../../testkit/deployment.ts';

const GATE = 'g-serial';
const SCANS = 15;
/** The compound's visitor every pass names (the cloud refuses passages of people it does not know). */
const VISITOR = 'visitor-1';

let d: Deployment;
let pair: PtyPair;
let scanner: QrScannerSimulator;

function passText(n: number): string {
  const now = Date.now();
  return signPass(
    {
      passId: n.toString(16).padStart(16, '0'),
      personId: VISITOR,
      compoundId: COMPOUND,
      kind: 'visitor',
      notBefore: Math.floor((now - 3_600_000) / 1000) * 1000,
      expiresAt: Math.floor((now + 3_600_000) / 1000) * 1000,
    },
    d.keys.signing!,
  );
}

/** Scans one after another, each waiting for its passage to be journaled. */
async function scanMany(from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n++) {
    const before = d.gateLastSeq(GATE);
    await scanner.scan(passText(n));
    await eventually(() => d.gateLastSeq(GATE) > before, `scan ${n} journaled`, 10_000);
  }
}

beforeAll(async () => {
  pair = await openPtyPair();
  d = await Deployment.create({ gates: [GATE], visitors: [VISITOR] });
  await d.startBroker();
  await d.startCloud();
  await d.startEdge(GATE, {
    config: { devices: { qr: { path: pair.a, baudRate: 115200, direction: 'in', terminator: 'cr' } } },
  });
  scanner = new QrScannerSimulator({ path: pair.b, baudRate: 115200, suffix: 'cr' });
  await scanner.start();
  await eventually(async () => (await d.gateState(GATE))?.devices.qr === 'ok', 'the scanner ok');
}, 60_000);

afterAll(async () => {
  await scanner?.stop();
  await d?.close();
  await pair?.close();
}, 30_000);

describe('a serial device unplugged and replugged', () => {
  it('reports the fault, keeps deciding, and reads scans again after the replug', { timeout: 90_000 }, async () => {
    await scanMany(1, SCANS);

    await pair.kill();
    await eventually(async () => (await d.gateState(GATE))?.devices.qr === 'fault', 'the scanner reported faulty');
    // The gate keeps deciding with what it has left.
    const { failed } = await d.burst(GATE, 10, 2);
    expect(failed).toBe(0);

    await pair.restart();
    await eventually(async () => (await d.gateState(GATE))?.devices.qr === 'ok', 'the scanner back', 20_000);
    // The simulator's own port comes back too; its first write after the replug may still fail.
    await eventually(
      async () => {
        try {
          await scanMany(100, 1);
          return true;
        } catch {
          return false;
        }
      },
      'a scan read after the replug',
      20_000,
    );
    await scanMany(200, SCANS);

    const { lastSeq } = await d.expectEveryPassageStoredOnce(GATE);
    expect(lastSeq).toBeGreaterThanOrEqual(2 * SCANS + 11);
    const state = await d.gateState(GATE);
    expect(state?.alarms.some((a) => a.kind === 'device-fault')).toBe(true);
  });
});
