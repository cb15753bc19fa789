/**
 * The supply service (cloud/supply/supply-service.ts) on every store backend, through its store
 * (cloud/supply/open-supply-store.ts): the sleeping rule, rounds and their changes for the points,
 * asks and holds, claim records stored once with the cumulative ack from the database, an offline
 * double stored and raised as an alarm, a door delivery refused the second time, applicants, the
 * snapshot — and two supply services on one database, as two cloud instances behind one broker: however
 * asks, records and cloud claims race, each household has exactly one accepted claim per round,
 * every other hand-out is a double, and each double is alarmed. The database enforces the rule
 * itself: a second accepted claim written behind the supply service's back is refused.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { openAlarmAckStore } from '../../../cloud/alarms/open-alarm-ack-store.ts';
import type { LiveHub } from '../../../cloud/live/live-hub.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { SupplyService } from '../../../cloud/supply/supply-service.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { Change } from '../../../shared/schemas/mqtt.ts';
import type { ClaimAck, ClaimRecord, RoundCreate } from '../../../shared/schemas/supply.ts';
import { resident } from '../fixtures.ts';
import { storeBackends } from '../store/backends.ts';

const NOW = Date.UTC(2026, 11, 5, 2, 0, 0);
const HOUSEHOLDS = Array.from({ length: 12 }, (_, i) => `h-${i + 1}`);

interface Instance {
  supply: SupplyService;
  acks: { topic: string; payload: ClaimAck }[];
  changes: Change[];
  alarms: unknown[];
}

function instance(store: CloudStore): Instance {
  const acks: Instance['acks'] = [];
  const changes: Change[] = [];
  const alarms: unknown[] = [];
  const supply = new SupplyService({
    store,
    publish: async (topic, payload) => {
      acks.push({ topic, payload: payload as ClaimAck });
    },
    publishChanges: async (batches) => {
      for (const b of batches) changes.push(...b.changes);
    },
    live: { publish: (m: unknown) => alarms.push(m) } as unknown as LiveHub,
    logger: silentLogger,
    now: () => NOW,
  });
  return { supply, acks, changes, alarms };
}

const roundInput = (extra: Partial<RoundCreate> = {}): RoundCreate => ({
  compoundId: 'c-1',
  name: 'Vegetables, week 1',
  items: [
    { name: 'rice', unit: 'kg', perHousehold: 5, stock: 100 },
    { name: 'oil', unit: 'L', perHousehold: 1 },
  ],
  form: 'pickup',
  window: { from: NOW - 3_600_000, to: NOW + 3_600_000 },
  eligibility: 'all',
  providers: ['veg-co'],
  wake: true,
  ...extra,
});

const handedOut = (gateId: string, seq: number, roundId: string, householdId: string): ClaimRecord => ({
  gateId,
  seq,
  ts: NOW + seq,
  roundId,
  householdId,
  personId: `p-${householdId}`,
  method: 'idcard',
  outcome: 'handed-out',
  decidedBy: 'replica',
});

async function seed(store: CloudStore): Promise<void> {
  await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
  await store.createCompound({ id: 'c-2', name: 'Two', timeZone: 'Asia/Shanghai' }, 1);
  await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, 1);
  await store.createGate({ id: 'g-2', compoundId: 'c-1', name: 'East', antiPassback: false }, 1);
  await store.createGate({ id: 'g-9', compoundId: 'c-2', name: 'South', antiPassback: false }, 1);
  await store.upsertResidents([
    ...HOUSEHOLDS.map((h) => resident(`p-${h}`, 'c-1', { householdId: h })),
    resident('p-x', 'c-2', { householdId: 'h-x' }),
  ]);
}

describe.each(storeBackends())('supply service on the $name store', (backend) => {
  let store: CloudStore;
  let a: Instance;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
    await seed(store);
    a = instance(store);
  });

  it('sleeps in normal mode and wakes with a crisis mode or an explicit opening', async () => {
    expect(await a.supply.awake('c-1')).toMatchObject({ awake: false, mode: 'normal', openRounds: 0 });
    await expect(a.supply.createRound(roundInput({ wake: false }), 'mgr')).rejects.toMatchObject({
      status: 409,
      code: 'supply-asleep',
    });
    const woken = await a.supply.createRound(roundInput(), 'mgr');
    expect(woken).toMatchObject({
      status: 'open',
      woken: true,
      createdBy: 'mgr',
      stock: [{ stock: 100, left: 100 }, { stock: null }],
    });
    expect(await a.supply.awake('c-1')).toMatchObject({ awake: true, openRounds: 1 });
    await store.setMode('c-2', 'lockdown', 'drill', NOW);
    const inLockdown = await a.supply.createRound(roundInput({ compoundId: 'c-2', wake: false }), 'mgr');
    expect(inLockdown.woken).toBe(false);
    expect(a.changes.filter((c) => c.op === 'supply.round')).toHaveLength(2);
    // Logged for the gates in the compound's change log, in the round's own transaction.
    const read = await store.readChanges('c-1', 1, 100);
    expect(JSON.stringify(read)).toContain(woken.roundId);
  });

  it('asks hold a household for one point; records are stored once and acked cumulatively', async () => {
    const { roundId } = await a.supply.createRound(roundInput(), 'mgr');
    await a.supply.onAsk('g-1', 'c-1', { askId: 'ask-1', roundId, householdId: 'h-1', ts: NOW });
    await a.supply.onAsk('g-2', 'c-1', { askId: 'ask-2', roundId, householdId: 'h-1', ts: NOW });
    // A point of another compound is told the round is closed.
    await a.supply.onAsk('g-9', 'c-2', { askId: 'ask-3', roundId, householdId: 'h-x', ts: NOW });
    const answers = a.acks.map((x) => [x.topic.split('/')[3], x.payload.answer]);
    expect(answers).toEqual([
      ['g-1', { askId: 'ask-1', granted: true }],
      ['g-2', { askId: 'ask-2', granted: false, refusal: 'already-claimed', claimedAt: { ts: NOW, where: 'North' } }],
      ['g-9', { askId: 'ask-3', granted: false, refusal: 'round-closed' }],
    ]);
    a.acks.length = 0;
    const first = { ...handedOut('g-1', 1, roundId, 'h-1'), askId: 'ask-1', decidedBy: 'cloud' as const };
    // seq 3 before 2: the mark waits for the gap.
    await a.supply.onClaims('g-1', 'c-1', [first, handedOut('g-1', 3, roundId, 'h-3')]);
    await a.supply.onClaims('g-1', 'c-1', [first, handedOut('g-1', 2, roundId, 'h-2')]);
    expect(a.acks.map((x) => x.payload.upTo)).toEqual([1, 3]);
    expect(a.supply.counters).toMatchObject({ claimsStored: 3, duplicates: 1, doubles: 0 });
    expect(a.changes.filter((c) => c.op === 'supply.claim')).toHaveLength(3);
    // The hold went with the claim: h-1 is refused as claimed now, from North.
    await a.supply.onAsk('g-2', 'c-1', { askId: 'ask-4', roundId, householdId: 'h-1', ts: NOW });
    expect(a.acks.at(-1)?.payload.answer).toMatchObject({ granted: false, claimedAt: { ts: NOW + 1, where: 'North' } });
    expect((await a.supply.view(roundId)).progress).toEqual({
      households: 12,
      served: 3,
      remaining: 9,
      doubles: 0,
      refused: 0,
    });
  });

  it('stores an offline double, counts it and raises it as an alarm', async () => {
    const { roundId } = await a.supply.createRound(roundInput(), 'mgr');
    await a.supply.onClaims('g-1', 'c-1', [handedOut('g-1', 1, roundId, 'h-1')]);
    await a.supply.onClaims('g-2', 'c-1', [handedOut('g-2', 1, roundId, 'h-1')]);
    const claims = await a.supply.claims(roundId);
    expect(claims.map((c) => [c.claimId, c.standing, c.maskedName])).toEqual([
      ['g-1:1', 'accepted', '张*明'],
      ['g-2:1', 'double', '张*明'],
    ]);
    expect(a.supply.counters.doubles).toBe(1);
    const view = await a.supply.view(roundId);
    expect(view.progress).toMatchObject({ served: 1, doubles: 1 });
    expect(view.stock[0]).toMatchObject({ handedOut: 10, left: 90 });
    expect(a.alarms).toHaveLength(1);
    await expect
      .poll(
        async () =>
          (await openAlarmAckStore(store.engine).list({ compoundId: 'c-1', state: 'open', limit: 10 })).length,
      )
      .toBe(1);
    const [alarm] = await openAlarmAckStore(store.engine).list({ compoundId: 'c-1', state: 'open', limit: 10 });
    expect(alarm).toMatchObject({ kind: 'supply-double-claim', gateId: 'g-2' });
    expect(alarm?.detail).toMatch(/household h-1 claimed twice — North .* and East .* \(decided offline\)/);
  });

  it('records a door delivery once, refuses the second with where and when, and closes', async () => {
    const { roundId } = await a.supply.createRound(roundInput(), 'mgr');
    const claim = await a.supply.recordCloudClaim(
      roundId,
      { householdId: 'h-1', method: 'delivery', reason: 'door' },
      'mgr',
    );
    expect(claim).toMatchObject({ claimId: 'cloud:1', standing: 'accepted', gateId: null, guard: 'mgr' });
    await expect(
      a.supply.recordCloudClaim(roundId, { householdId: 'h-1', method: 'delivery', reason: 'again' }, 'mgr'),
    ).rejects.toMatchObject({
      status: 409,
      code: 'already-claimed',
      extra: { claimedAt: { ts: NOW, where: 'the office' } },
    });
    await expect(
      a.supply.recordCloudClaim(roundId, { householdId: 'h-none', method: 'delivery', reason: 'door' }, 'mgr'),
    ).rejects.toMatchObject({ status: 404 });
    const closed = await a.supply.close(roundId, 'mgr');
    expect(closed).toMatchObject({ status: 'closed', progress: { served: 1 } });
    await expect(a.supply.updateStock(roundId, [{ name: 'rice', stock: 5 }])).rejects.toMatchObject({ status: 409 });
    await a.supply.onAsk('g-1', 'c-1', { askId: 'late', roundId, householdId: 'h-2', ts: NOW });
    expect(a.acks.at(-1)?.payload.answer).toMatchObject({ granted: false, refusal: 'round-closed' });
  });

  it('hands out to applicants only in an applicants round; the snapshot carries rounds, applicants and claims', async () => {
    const { roundId } = await a.supply.createRound(roundInput({ eligibility: 'applicants' }), 'mgr');
    await a.supply.onAsk('g-1', 'c-1', { askId: 'x', roundId, householdId: 'h-2', ts: NOW });
    expect(a.acks.at(-1)?.payload.answer).toMatchObject({ granted: false, refusal: 'not-eligible' });
    expect(await a.supply.apply(roundId, 'h-2', 'resident')).toEqual({ applied: true });
    expect(await a.supply.apply(roundId, 'h-2', 'resident')).toEqual({ applied: true });
    expect(a.changes.filter((c) => c.op === 'supply.apply')).toHaveLength(1);
    await a.supply.onAsk('g-1', 'c-1', { askId: 'y', roundId, householdId: 'h-2', ts: NOW });
    expect(a.acks.at(-1)?.payload.answer).toEqual({ askId: 'y', granted: true });
    await a.supply.onClaims('g-1', 'c-1', [{ ...handedOut('g-1', 1, roundId, 'h-2'), askId: 'y' }]);
    const forResident = await a.supply.roundsForResident('c-1', 'h-2');
    expect(forResident).toMatchObject([{ roundId, applied: true, mustApply: false, claimed: { where: 'North' } }]);
    expect((await a.supply.view(roundId)).progress).toMatchObject({ households: 1, served: 1, remaining: 0 });
    const records = await a.supply.snapshotRecords((await store.getCompound('c-1'))!);
    expect(records.map((r) => r.op)).toEqual(['supply.round', 'supply.apply', 'supply.claim']);
    expect(await a.supply.snapshotRecords((await store.getCompound('c-2'))!)).toEqual([]);
  });

  it('two supply services on one database: one accepted claim per household whatever races, every double alarmed', async () => {
    const other = await backend.reopen();
    const b = instance(other);
    const { roundId } = await a.supply.createRound(roundInput(), 'mgr');
    // Both points ask for every household at once, each through its own instance: one hold each.
    await Promise.all(
      HOUSEHOLDS.flatMap((h, i) => [
        a.supply.onAsk('g-1', 'c-1', { askId: `a-${i}`, roundId, householdId: h, ts: NOW }),
        b.supply.onAsk('g-2', 'c-1', { askId: `b-${i}`, roundId, householdId: h, ts: NOW }),
      ]),
    );
    const granted = [...a.acks, ...b.acks].filter((x) => x.payload.answer?.granted);
    expect(granted).toHaveLength(HOUSEHOLDS.length);
    // Both points were cut off and handed out to every household; their records arrive at once.
    const g1 = HOUSEHOLDS.map((h, i) => handedOut('g-1', i + 1, roundId, h));
    const g2 = HOUSEHOLDS.map((h, i) => handedOut('g-2', i + 1, roundId, h));
    await Promise.all([
      a.supply.onClaims('g-1', 'c-1', g1.slice(0, 6)),
      b.supply.onClaims('g-2', 'c-1', g2.slice(0, 6)),
      b.supply.onClaims('g-1', 'c-1', g1.slice(6)),
      a.supply.onClaims('g-2', 'c-1', g2.slice(6)),
      // A redelivery through the other instance at the same time: stored once.
      b.supply.onClaims('g-1', 'c-1', g1.slice(0, 6)),
    ]);
    // …and the office records door deliveries for the same households through both instances.
    const office = await Promise.allSettled(
      HOUSEHOLDS.flatMap((householdId) =>
        [a, b].map((x) =>
          x.supply.recordCloudClaim(roundId, { householdId, method: 'delivery', reason: 'door' }, 'mgr'),
        ),
      ),
    );
    expect(office.filter((o) => o.status === 'fulfilled')).toEqual([]);
    const claims = await a.supply.claims(roundId);
    const accepted = claims.filter((c) => c.standing === 'accepted');
    expect(accepted.map((c) => c.householdId).sort()).toEqual([...HOUSEHOLDS].sort());
    expect(claims.filter((c) => c.standing === 'double')).toHaveLength(HOUSEHOLDS.length);
    expect(claims).toHaveLength(2 * HOUSEHOLDS.length);
    expect(a.supply.counters.doubles + b.supply.counters.doubles).toBe(HOUSEHOLDS.length);
    expect(a.alarms.length + b.alarms.length).toBe(HOUSEHOLDS.length);
    await expect
      .poll(
        async () =>
          (await openAlarmAckStore(store.engine).list({ compoundId: 'c-1', state: 'open', limit: 100 })).length,
      )
      .toBe(HOUSEHOLDS.length);
    // Each gate's last ack says every seq is stored, whichever instance sent it.
    const lastUpTo = (gate: string) =>
      Math.max(...[...a.acks, ...b.acks].filter((x) => x.topic.includes(`/${gate}/`)).map((x) => x.payload.upTo ?? 0));
    expect([lastUpTo('g-1'), lastUpTo('g-2')]).toEqual([HOUSEHOLDS.length, HOUSEHOLDS.length]);
    // Exactly one supply.claim change per household went to the points.
    const relayed = [...a.changes, ...b.changes].filter((c) => c.op === 'supply.claim');
    expect(relayed).toHaveLength(HOUSEHOLDS.length);
  });

  it('the database itself refuses a second accepted claim for a household in a round', async () => {
    const { roundId } = await a.supply.createRound(roundInput(), 'mgr');
    await a.supply.recordCloudClaim(roundId, { householdId: 'h-1', method: 'delivery', reason: 'door' }, 'mgr');
    const sql = `INSERT INTO supply_claims (claim_id, round_id, compound_id, household_id, ts, method, outcome,
      decided_by, standing, stored_at) VALUES ('sneak', '${roundId}', 'c-1', 'h-1', 1, 'qr', 'handed-out', 'cloud', 'accepted', 1)`;
    const write = () =>
      store.engine.kind === 'sqlite'
        ? Promise.resolve().then(() => store.engine.kind === 'sqlite' && store.engine.db.exec(sql))
        : store.engine.pool.query(sql);
    await expect(write()).rejects.toThrow(/unique|UNIQUE/);
  });
});
