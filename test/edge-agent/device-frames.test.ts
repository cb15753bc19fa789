/**
 * The replay rule of device passes over the gate's real stores (docs/passes.md, "Replays"): a
 * granted frame marks its pass from the moment it is journaled (pending), stays marked once the
 * turnstile confirms it and across a restart, and is given back when the passage times out. A
 * gate database made before device passes gains the reservation columns on open.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { type Credential, decideEntry } from '../../edge-agent/decision.ts';
import { createGateContext } from '../../edge-agent/gate-parts.ts';
import { GATE_DB_FILE, type GateDatabase } from '../../edge-agent/gate-database.ts';
import { VerifiedPassCache } from '../../edge-agent/pass-cache.ts';
import { parseKeysFile } from '../../shared/keys.ts';
import { type GateStores, openGateStores, scanPending } from './gate-stores.ts';
import {
  BASE_CHANGES,
  COMPOUND,
  deviceCertificate,
  deviceFrame,
  GATE,
  gateContext,
  gateKeysFile,
  NOW,
} from './fixtures.ts';

const qr = (text: string, direction: 'in' | 'out'): Credential => ({ method: 'qr', direction, text });

let dir: string;
let db: GateDatabase | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-frames-'));
});
afterEach(() => {
  if (db?.open) db.close();
  db = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function open(fresh = true): GateStores {
  const stores = openGateStores(dir, fresh ? BASE_CHANGES : undefined);
  db = stores.db;
  return stores;
}

/** Each scan with a pass cache of its own, as a fresh process would have. */
const scan = (stores: GateStores, credential: Credential) =>
  scanPending(stores, credential, gateContext({ passCache: new VerifiedPassCache() }));

describe('device pass frames over the gate stores', () => {
  const cert = deviceCertificate('alice');
  const frameA = deviceFrame(cert, { at: NOW - 8_000 });
  const frameB = deviceFrame(cert, { at: NOW - 3_000 });

  it('a pending grant marks its frame at once; a timeout gives it back; a confirmed one keeps it across a restart', () => {
    let stores = open();
    const first = scan(stores, qr(frameA, 'in'));
    expect(first.decision.reason).toBe('ok');
    // Still waiting for the turnstile: the same frame the other way is a replay already.
    expect(scan(stores, qr(frameA, 'out')).decision.reason).toBe('frame-replayed');
    // The turnstile never turned: the frame was not used.
    stores.journal.finalize(first.event.seq, false);
    const again = scan(stores, qr(frameA, 'in'));
    expect(again.decision.reason).toBe('ok');
    stores.journal.finalize(again.event.seq, true);
    expect(stores.replica.lastFrameAt(first.decision.passId!)).toBe(NOW - 8_000);

    db!.close();
    stores = open(false);
    expect(scan(stores, qr(frameA, 'out')).decision.reason).toBe('frame-replayed');
    const newer = scan(stores, qr(frameB, 'out'));
    expect(newer.decision.reason).toBe('ok');
    // The older frame is refused even though its window is still open.
    expect(scan(stores, qr(frameA, 'out')).decision.reason).toBe('frame-replayed');
    expect(stores.replica.lastFrameAt(first.decision.passId!)).toBe(NOW - 3_000);
  });

  it('opens a gate database made before device passes (no frame columns) and reserves frames in it', () => {
    const old = new Database(join(dir, GATE_DB_FILE));
    old.exec(`CREATE TABLE passage_reservations (
      seq INTEGER PRIMARY KEY, direction TEXT NOT NULL, at INTEGER NOT NULL,
      pass_use TEXT, household_exit TEXT, passage_of TEXT);
      INSERT INTO passage_reservations (seq, direction, at, passage_of) VALUES (99, 'in', 1, 'bob');`);
    old.close();
    const stores = open();
    const columns = db!
      .prepare<[], { name: string }>("SELECT name FROM pragma_table_info('passage_reservations')")
      .all()
      .map((c) => c.name);
    expect(columns).toEqual(expect.arrayContaining(['frame_pass', 'frame_at', 'passage_of']));
    expect(stores.replica.releasePassage(99)).toEqual({ passageOf: 'bob' });
    expect(scan(stores, qr(frameA, 'in')).decision.reason).toBe('ok');
    expect(scan(stores, qr(frameA, 'out')).decision.reason).toBe('frame-replayed');
  });
});

describe('the gate context of a configured gate', () => {
  it("takes the frame tolerance from the gate's clock.toleranceMs", () => {
    const stores = open();
    const config = (toleranceMs?: number) =>
      parseEdgeConfig({
        gateId: GATE,
        compoundId: COMPOUND,
        mqtt: { url: 'mqtt://127.0.0.1:1' },
        keys: gateKeysFile(),
        dataDir: dir,
        ...(toleranceMs ? { clock: { toleranceMs } } : {}),
      });
    const keys = parseKeysFile(gateKeysFile());
    const frame = qr(deviceFrame(deviceCertificate('alice'), { at: NOW - 41_000 }), 'in');
    const strict = createGateContext(config(10_000), keys);
    expect(strict.clockToleranceMs).toBe(10_000);
    expect(decideEntry(frame, strict, stores.replica, NOW).reason).toBe('frame-expired');
    const lenient = createGateContext(config(), keys);
    expect(lenient.clockToleranceMs).toBe(60_000);
    expect(decideEntry(frame, lenient, stores.replica, NOW).reason).toBe('ok');
  });
});
