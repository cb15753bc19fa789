/**
 * A grant waiting for the turnstile reserves what it consumes — a lockdown exit of the household's
 * quota, a use of a `useLimit` pass, the direction anti-passback compares with — from the moment it
 * is journaled as pending, and gives it back when the passage times out or a restart interrupts it
 * (journal-store.ts, replica-store.ts). First over the stores and `decideEntry` as the agent wires
 * them, then through the agent itself with a turnstile that has not reported the passage yet.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Credential, GateContext } from '../../edge-agent/decision.ts';
import type { EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { type GateDatabase, openGateDatabase } from '../../edge-agent/gate-database.ts';
import { JournalStore } from '../../edge-agent/journal-store.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { FakeTurnstile } from './fake-devices.ts';
import { type GateStores, openGateStores, scanPending } from './gate-stores.ts';
import { BASE_CHANGES, GATE, gateContext, HOUR, NOW, pass, person } from './fixtures.ts';
import { startOfflineGate } from './offline-gate.ts';

/** Carl lives with alice (household h1); the compound is in lockdown with one exit per household. */
const LOCKDOWN: Change[] = [
  ...BASE_CHANGES,
  { op: 'person.upsert', person: person('carl') },
  { op: 'health', personId: 'carl', colour: 'green', ts: NOW - HOUR },
  { op: 'mode', mode: 'lockdown', ts: NOW - HOUR },
  { op: 'quota.policy', exits: 1, periodHours: 48 },
];
const NORMAL: Change[] = [...BASE_CHANGES, { op: 'person.upsert', person: person('carl') }];

const qr = (text: string, direction: 'in' | 'out'): Credential => ({ method: 'qr', direction, text });

let dir: string;
let db: GateDatabase | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-reservations-'));
});
afterEach(() => {
  if (db?.open) db.close();
  db = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('reservations over the stores (decideEntry → pending journal row → finalize)', () => {
  const open = (changes?: readonly Change[]): GateStores => {
    const stores = openGateStores(dir, changes);
    db = stores.db;
    return stores;
  };
  const scan = (stores: GateStores, credential: Credential, gate: Partial<GateContext> = {}) =>
    scanPending(stores, credential, gateContext(gate));

  it('quota 1: a second exit of the household while the first is pending is denied; it counts once when confirmed', () => {
    const stores = open(LOCKDOWN);
    const first = scan(stores, qr(pass('alice'), 'out'));
    expect(first.decision).toMatchObject({ result: 'granted', reason: 'ok', effects: { householdExit: 'h1' } });
    expect(stores.replica.householdExitsSince('h1', 0)).toBe(1);
    expect(scan(stores, qr(pass('carl'), 'out')).decision).toMatchObject({ result: 'denied', reason: 'no-exit-quota' });

    expect(stores.journal.finalize(first.event.seq, true)?.passed).toBe(true);
    expect(stores.replica.householdExitsSince('h1', 0)).toBe(1);
    expect(scan(stores, qr(pass('carl'), 'out')).decision.reason).toBe('no-exit-quota');
  });

  it('a timed-out exit (passed: false) gives the quota back', () => {
    const stores = open(LOCKDOWN);
    const first = scan(stores, qr(pass('alice'), 'out'));
    expect(scan(stores, qr(pass('carl'), 'out')).decision.reason).toBe('no-exit-quota');
    expect(stores.journal.finalize(first.event.seq, false)?.passed).toBe(false);
    expect(stores.replica.householdExitsSince('h1', 0)).toBe(0);
    expect(scan(stores, qr(pass('carl'), 'out')).decision).toMatchObject({ result: 'granted', reason: 'ok' });
  });

  it('a single-use pass scanned again while its passage is pending is used up; a timeout gives the use back', () => {
    const stores = open(NORMAL);
    const text = pass('alice', { useLimit: 1 });
    const first = scan(stores, qr(text, 'in'));
    expect(first.decision).toMatchObject({ result: 'granted', effects: { passUse: first.decision.passId } });
    expect(scan(stores, qr(text, 'in')).decision).toMatchObject({ result: 'denied', reason: 'pass-used-up' });

    stores.journal.finalize(first.event.seq, false);
    expect(stores.replica.passUses(first.decision.passId!)).toBe(0);
    const again = scan(stores, qr(text, 'in'));
    expect(again.decision).toMatchObject({ result: 'granted', reason: 'ok' });
    stores.journal.finalize(again.event.seq, true);
    expect(stores.replica.passUses(first.decision.passId!)).toBe(1);
    expect(scan(stores, qr(text, 'in')).decision.reason).toBe('pass-used-up');
  });

  it('anti-passback: a pending entry counts as the last direction until it times out', () => {
    const stores = open(NORMAL);
    const gate = { antiPassback: true };
    const first = scan(stores, qr(pass('alice'), 'in'), gate);
    expect(first.decision.result).toBe('granted');
    expect(stores.replica.lastDirection('alice')).toBe('in');
    expect(scan(stores, qr(pass('alice'), 'in'), gate).decision).toMatchObject({
      result: 'denied',
      reason: 'anti-passback',
    });
    // Leaving is what a person who entered does next.
    const out = scan(stores, qr(pass('alice'), 'out'), gate);
    expect(out.decision.result).toBe('granted');
    expect(stores.replica.lastDirection('alice')).toBe('out');

    stores.journal.finalize(out.event.seq, false);
    stores.journal.finalize(first.event.seq, false);
    expect(stores.replica.lastDirection('alice')).toBeUndefined();
    expect(scan(stores, qr(pass('alice'), 'in'), gate).decision).toMatchObject({ result: 'granted', reason: 'ok' });
  });

  it('a pending passage interrupted by a restart holds its reservation until start-up finalises it as not passed', () => {
    let stores = open(LOCKDOWN);
    const text = pass('alice', { useLimit: 1 });
    const { decision } = scan(stores, qr(text, 'out'));
    expect(decision.effects).toMatchObject({ householdExit: 'h1', passUse: decision.passId, passageOf: 'alice' });
    db!.close();

    stores = open();
    // Persisted with the pending row, in its transaction.
    expect(stores.replica.householdExitsSince('h1', 0)).toBe(1);
    expect(stores.replica.passUses(decision.passId!)).toBe(1);
    expect(stores.journal.finalizeInterrupted()).toEqual([1]);
    expect(stores.replica.householdExitsSince('h1', 0)).toBe(0);
    expect(stores.replica.passUses(decision.passId!)).toBe(0);
    expect(stores.replica.lastDirection('alice')).toBeUndefined();
    expect(scan(stores, qr(text, 'out')).decision).toMatchObject({ result: 'granted', reason: 'ok' });
  });
});

describe('reservations through the agent (turnstile not yet passed)', () => {
  let agent: EdgeAgent | undefined;
  let turnstile: FakeTurnstile;

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  /** A gate provisioned earlier, offline (nothing listens on port 1): decisions are local anyway. */
  const startAgent = async (changes: readonly Change[], over: { antiPassback?: boolean; passageMs?: number } = {}) => {
    const gate = await startOfflineGate({
      dir,
      changes,
      config: { antiPassback: over.antiPassback ?? false, timeouts: { passageMs: over.passageMs ?? 10_000 } },
    });
    ({ agent, turnstile } = gate);
    return gate.agent;
  };

  it('lockdown, quota 1: two overlapping exits of one household — the second is denied with no-exit-quota', async () => {
    const a = await startAgent(LOCKDOWN);
    const first = a.present(qr(pass('alice'), 'out'));
    expect(first.event).toMatchObject({ result: 'granted', reason: 'ok', passed: null });
    const second = a.present(qr(pass('carl'), 'out'));
    expect(second.decision).toMatchObject({ result: 'denied', reason: 'no-exit-quota' });
    expect(turnstile.unlocks).toEqual(['out']);

    turnstile.pass('out');
    expect(await first.passage).toMatchObject({ seq: 1, passed: true });
    expect(a.present(qr(pass('carl'), 'out')).decision.reason).toBe('no-exit-quota');
  });

  it('a single-use pass scanned twice while the first passage is pending is denied the second time', async () => {
    const a = await startAgent(NORMAL);
    const text = pass('alice', { useLimit: 1 });
    const first = a.present(qr(text, 'in'));
    expect(first.decision.result).toBe('granted');
    expect(a.present(qr(text, 'in')).decision).toMatchObject({ result: 'denied', reason: 'pass-used-up' });
    turnstile.pass('in');
    expect(await first.passage).toMatchObject({ passed: true });
    expect(a.present(qr(text, 'in')).decision.reason).toBe('pass-used-up');
  });

  it('an exit that times out gives the household its quota back', async () => {
    const a = await startAgent(LOCKDOWN, { passageMs: 150 });
    const first = a.present(qr(pass('alice'), 'out'));
    expect(first.decision.result).toBe('granted');
    expect(a.present(qr(pass('carl'), 'out')).decision.reason).toBe('no-exit-quota');

    expect(await first.passage).toMatchObject({ passed: false });
    const retry = a.present(qr(pass('carl'), 'out'));
    expect(retry.decision).toMatchObject({ result: 'granted', reason: 'ok' });
    turnstile.pass('out');
    expect(await retry.passage).toMatchObject({ passed: true });
    expect(a.present(qr(pass('alice'), 'out')).decision.reason).toBe('no-exit-quota');
  });

  it('a single-use pass whose passage times out can be used again', async () => {
    const a = await startAgent(NORMAL, { passageMs: 150 });
    const text = pass('alice', { useLimit: 1 });
    const first = a.present(qr(text, 'in'));
    expect(first.decision.result).toBe('granted');
    expect(a.present(qr(text, 'in')).decision.reason).toBe('pass-used-up');

    expect(await first.passage).toMatchObject({ passed: false });
    const retry = a.present(qr(text, 'in'));
    expect(retry.decision).toMatchObject({ result: 'granted', reason: 'ok' });
    turnstile.pass('in');
    expect(await retry.passage).toMatchObject({ passed: true });
    expect(a.present(qr(text, 'in')).decision.reason).toBe('pass-used-up');
  });

  it('anti-passback: a second entry while the first is pending is denied; after its timeout it is granted', async () => {
    const a = await startAgent(NORMAL, { antiPassback: true, passageMs: 150 });
    const first = a.present({ method: 'card', direction: 'in', card: '90:324' });
    expect(first.decision).toMatchObject({ result: 'granted', personId: 'alice' });
    expect(a.present({ method: 'card', direction: 'in', card: '90:324' }).decision).toMatchObject({
      result: 'denied',
      reason: 'anti-passback',
    });
    expect(await first.passage).toMatchObject({ passed: false });
    expect(a.present({ method: 'card', direction: 'in', card: '90:324' }).decision).toMatchObject({
      result: 'granted',
      reason: 'ok',
    });
  });

  it('a passage a crash interrupted is given back at start-up', async () => {
    // A process that died with alice's exit pending: its row and reservation are on disk.
    const crashed = openGateDatabase(dir);
    const replica = new ReplicaStore(crashed);
    replica.applyDelta(LOCKDOWN, 5);
    new JournalStore(crashed, replica).append(
      {
        gateId: GATE,
        ts: NOW,
        direction: 'out',
        method: 'qr',
        result: 'granted',
        reason: 'ok',
        health: 'green',
        mode: 'lockdown',
        passed: null,
        decisionMs: 0,
        personId: 'alice',
      },
      { final: false, effects: { householdExit: 'h1', passageOf: 'alice' } },
    );
    expect(replica.householdExitsSince('h1', 0)).toBe(1);
    crashed.close();

    const a = await startAgent(LOCKDOWN);
    expect(a.present(qr(pass('carl'), 'out')).decision).toMatchObject({ result: 'granted', reason: 'ok' });
  });
});
