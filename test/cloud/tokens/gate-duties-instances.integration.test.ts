/**
 * Token renewal and the token / contract alarms with two cloud instances on one PostgreSQL
 * (cloud/tokens/gate-duties.ts; docs/deploy.md, "Scaling out"). Every instance subscribes the
 * gates' statuses itself, so both judge the same status at the same moment: the gate must get one
 * renewal and the console one alarm of each kind, not one per instance. A control shows what the
 * test catches: with each instance keeping its claims in its own memory (as before the claims
 * moved to the database), both renew and both alarm.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveHub } from '../../../cloud/live/live-hub.ts';
import { PostgresCloudStore } from '../../../cloud/store/postgres/postgres-store.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { type GateDuties, openGateDuties } from '../../../cloud/tokens/gate-duties.ts';
import { MemoryGateDuties } from '../../helpers/memory-gate-duties.ts';
import { GateTokenRenewal } from '../../../cloud/tokens/gate-token-renewal.ts';
import { createKeysFile, parseKeysFile } from '../../../shared/keys.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { GateStatus } from '../../../shared/schemas/mqtt.ts';
import { CONTRACT_VERSION } from '../../../shared/version.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);
const GATES = ['g-1', 'g-2', 'g-3', 'g-4', 'g-5'];
const signing = parseKeysFile(createKeysFile()).signing!;

/** A status due for everything at once: token in 20 days (renewal and alarm), a newer contract. */
const dueStatus: GateStatus = {
  online: true,
  mode: 'normal',
  rev: 1,
  journalDepth: 0,
  devices: { idreader: 'absent', qr: 'ok', turnstile: 'ok' },
  version: '0.1.0',
  ts: NOW,
  tokenExpiresAt: NOW + 20 * DAY,
  contract: CONTRACT_VERSION + 1,
};

let db: TestDatabase;
let a: PostgresCloudStore;
let b: PostgresCloudStore;

beforeAll(async () => {
  db = await createTestDatabase('gate_duties');
  [a, b] = await Promise.all([
    PostgresCloudStore.open({ url: db.url, max: 4 }),
    PostgresCloudStore.open({ url: db.url, max: 4 }),
  ]);
  await a.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
  for (const id of GATES) await a.createGate({ id, compoundId: 'c-1', name: id, antiPassback: false }, 1);
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await db?.drop();
});

/** One instance's renewal on `store`, with what it published (and set as broker passwords, with `accounts`). */
function instance(store: CloudStore, duties: GateDuties, now: () => number, accounts?: string[]) {
  const published: { topic: string; kind: string; cmdId: string; token: string }[] = [];
  const renewal = new GateTokenRenewal({
    store,
    signingKey: signing,
    publish: async (topic, message) =>
      void published.push({ topic, ...(message as { kind: string; cmdId: string; token: string }) }),
    live: new LiveHub(),
    logger: silentLogger,
    now,
    duties,
    ...(accounts ? { accounts: { putGate: async (_gate, token) => void accounts.push(token) } } : {}),
  });
  return { renewal, published };
}

/** Both instances judge the same status of every gate at the same moment, `rounds` times. */
async function judgeTogether(instances: ReturnType<typeof instance>[], rounds = 3): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    await Promise.all(GATES.flatMap((gateId) => instances.map((i) => i.renewal.onStatus(gateId, 'c-1', dueStatus))));
  }
}

async function alarmKinds(store: CloudStore, gateId: string): Promise<string[]> {
  return (await store.recentAlarms(gateId, 100)).map((x) => x.kind).sort();
}

describe('two instances judging the same gate statuses', () => {
  it('renew each gate’s token once and raise each alarm once, whichever instance claims it', async () => {
    let now = NOW;
    const clock = () => now;
    const one = instance(a, openGateDuties(a.engine), clock);
    const two = instance(b, openGateDuties(b.engine), clock);
    await judgeTogether([one, two]);
    const renewals = [...one.published, ...two.published].filter((p) => p.kind === 'renew-token');
    expect(renewals.map((p) => p.topic).sort()).toEqual(GATES.map((g) => `anxin/v1/gates/${g}/cmd`));
    for (const gateId of GATES) {
      expect(await alarmKinds(b, gateId)).toEqual(['contract-mismatch', 'token-expiring']);
    }
    // Both instances worked: the claims are spread, not one instance doing everything by luck of order.
    expect(one.renewal.counters.renewed + two.renewal.counters.renewed).toBe(GATES.length);

    // An hour later the gate still reports the old expiry: one more renewal in all; a day later, one more alarm each.
    now = NOW + 3_600_000;
    await judgeTogether([one, two], 2);
    expect(one.renewal.counters.renewed + two.renewal.counters.renewed).toBe(2 * GATES.length);
    expect(await alarmKinds(a, 'g-1')).toEqual(['contract-mismatch', 'token-expiring']);
    now = NOW + DAY;
    await judgeTogether([one, two], 2);
    expect(await alarmKinds(a, 'g-1')).toEqual([
      'contract-mismatch',
      'contract-mismatch',
      'token-expiring',
      'token-expiring',
    ]);
  });

  it('sets the broker account from whichever instance the gate’s ok reaches (the shared cmd/result)', async () => {
    const passwords: string[] = [];
    const clock = () => NOW + 10 * DAY;
    const sender = instance(a, openGateDuties(a.engine), clock, passwords);
    const other = instance(b, openGateDuties(b.engine), clock, passwords);
    await sender.renewal.onStatus('g-5', 'c-1', { ...dueStatus, ts: NOW + 10 * DAY, contract: undefined });
    const sent = sender.published.find((p) => p.kind === 'renew-token')!;
    expect(sent).toBeDefined();
    await other.renewal.onCommandResult('g-4', sent.cmdId, true, 'renew-token'); // another gate cannot confirm it
    await other.renewal.onCommandResult('g-5', 'not-sent', true, 'renew-token');
    expect(passwords).toEqual([]);
    await other.renewal.onCommandResult('g-5', sent.cmdId, true, 'renew-token');
    expect(passwords).toEqual([sent.token]);
  });

  it('signs again only a gate’s claims from the note, whatever else the row holds', async () => {
    const passwords: string[] = [];
    const duties = new MemoryGateDuties();
    // A note is what a claim did: it is kept on the claim's row.
    expect(await duties.claim('g-5', 'token-renewal', 'exp', NOW, DAY)).toBe(true);
    const other = instance(a, duties, () => NOW, passwords);
    const claims = { sub: 'g-5', role: 'gate', compound: 'c-1', exp: NOW + DAY, iat: NOW, jti: 'j1' };
    const kid = signing.kid;
    for (const forged of [
      { cmdId: 'c1', kid, claims: { ...claims, role: 'cloud' } },
      { cmdId: 'c1', kid, claims: { ...claims, extra: 'admin' } },
      { cmdId: 'c1', kid, claims: { ...claims, compound: '../c-2' } },
      { cmdId: 'c1', kid, claims: { ...claims, sub: 'g-6' } },
      // A token id no token may carry (the note keeps the token's own rule).
      { cmdId: 'c1', kid, claims: { ...claims, jti: 'j'.repeat(65) } },
      { cmdId: 'c1', kid, claims: { ...claims, jti: 'j/1' } },
      // Sent by an instance on another signing key (a rolling key change): its token is not ours to rebuild.
      { cmdId: 'c1', kid: kid + 1, claims },
    ]) {
      await duties.note('g-5', 'token-renewal', JSON.stringify(forged));
      await other.renewal.onCommandResult('g-5', 'c1', true, 'renew-token');
    }
    expect(passwords).toEqual([]);
    // The other key's renewal is not dropped in silence: counted (and logged) as an account not updated.
    expect(other.renewal.counters.accountFailures).toBe(1);
    await duties.note('g-5', 'token-renewal', JSON.stringify({ cmdId: 'c1', kid, claims }));
    await other.renewal.onCommandResult('g-5', 'c1', true, 'renew-token');
    expect(passwords).toHaveLength(1);
  });

  it('control: with claims in each instance’s own memory both instances renew and alarm', async () => {
    const store = new SqliteCloudStore({ path: ':memory:' });
    await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
    for (const id of GATES) await store.createGate({ id, compoundId: 'c-1', name: id, antiPassback: false }, 1);
    const one = instance(store, new MemoryGateDuties(), () => NOW);
    const two = instance(store, new MemoryGateDuties(), () => NOW);
    await judgeTogether([one, two]);
    expect(one.renewal.counters.renewed + two.renewal.counters.renewed).toBe(2 * GATES.length);
    expect(await alarmKinds(store, 'g-1')).toEqual([
      'contract-mismatch',
      'contract-mismatch',
      'token-expiring',
      'token-expiring',
    ]);
    await store.close();
  });

  it('claims once on SQLite too (the embedded store’s table)', async () => {
    const store = new SqliteCloudStore({ path: ':memory:' });
    const duties = openGateDuties(store.engine);
    const claims = await Promise.all(Array.from({ length: 4 }, () => duties.claim('g-1', 'token-alarm', '', NOW, DAY)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await duties.claim('g-1', 'token-renewal', '1', NOW, DAY)).toBe(true);
    expect(await duties.claim('g-1', 'token-renewal', '2', NOW, DAY)).toBe(true); // a new key: claimed again
    expect(await duties.claim('g-1', 'token-renewal', '2', NOW + DAY - 1, DAY)).toBe(false);
    expect(await duties.claim('g-1', 'token-renewal', '2', NOW + DAY, DAY)).toBe(true);
    await store.close();
  });
});
