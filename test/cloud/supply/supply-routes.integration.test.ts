/**
 * Crisis supplies in the cloud (docs/supplies.md): the sleeping rule, rounds, a provider's stock,
 * asks and claim records of two points (a race for one household, a redelivered message, a double
 * claim made offline), the manager's export and close — all through the HTTP app and the MQTT router.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClaimAck, ClaimRecord } from '../../../shared/schemas/supply.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { residentCreate } from '../fixtures.ts';
import { createHarness, type Harness } from '../http/app-harness.ts';
import { storeBackends } from '../store/backends.ts';

const NOW = Date.UTC(2026, 11, 5, 2, 0, 0);
const ADMIN = { username: 'seed', role: 'admin' as const };

async function seed(h: Harness<CloudStore>) {
  await h.core.store.createGate({ id: 'g-1b', compoundId: 'c-1', name: 'East', antiPassback: false }, 1);
  for (const [personId, householdId, compoundId] of [
    ['p-1', 'h-1', 'c-1'],
    ['p-2', 'h-1', 'c-1'],
    ['p-3', 'h-2', 'c-1'],
    ['p-9', 'h-9', 'c-2'],
  ] as const) {
    await h.core.registry.createResident(residentCreate(personId, compoundId, householdId), ADMIN);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: answers are checked by the assertions that read them
type Json = any;
const json = async (res: Response | Promise<Response>): Promise<Json> => (await res).json();

const roundBody = (extra: Record<string, unknown> = {}) => ({
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
  ...extra,
});

function acksTo(h: Harness<CloudStore>, gateId: string): ClaimAck[] {
  return h.published.filter((p) => p.topic === `anxin/v1/gates/${gateId}/claims/ack`).map((p) => p.payload as ClaimAck);
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

describe.each(storeBackends())('supply rounds on the $name store', (backend) => {
  afterAll(() => backend.dispose());
  let h: Harness<CloudStore>;
  let manager: string;
  beforeEach(async () => {
    h = await createHarness({
      store: await backend.open(),
      now: () => NOW,
    });
    await seed(h);
    manager = await h.token('manager', 'c-1');
  });
  afterEach(async () => {
    await h.close();
  });

  it('sleeps in normal mode, says so, and wakes with the crisis modes or an explicit opening', async () => {
    const list = await json(h.request('GET', '/api/v1/supply/rounds', { token: manager }));
    expect(list).toMatchObject({ compoundId: 'c-1', awake: false, mode: 'normal', rounds: [] });
    expect(list.asleep).toMatch(/asleep/);
    const refused = await h.request('POST', '/api/v1/supply/rounds', { token: manager, body: roundBody() });
    expect(refused.status).toBe(409);
    expect((await json(refused)).error.code).toBe('supply-asleep');
    const woken = await h.request('POST', '/api/v1/supply/rounds', { token: manager, body: roundBody({ wake: true }) });
    expect(woken.status).toBe(201);
    expect(await json(woken)).toMatchObject({ woken: true, status: 'open' });
    const awake = await json(h.request('GET', '/api/v1/supply/rounds', { token: manager }));
    expect(awake).toMatchObject({ awake: true, mode: 'normal' });
    // In lockdown no explicit opening is needed.
    await h.core.registry.setMode('c-2', 'lockdown', 'case found', ADMIN);
    const m2 = await h.token('manager', 'c-2', 'mgr-2');
    const r2 = await h.request('POST', '/api/v1/supply/rounds', { token: m2, body: roundBody({ compoundId: 'c-2' }) });
    expect(r2.status).toBe(201);
    expect(await json(r2)).toMatchObject({ woken: false });
    // The change went to the compound's gates.
    const changes = h.published.filter((p) => p.topic === 'anxin/v1/compounds/c-2/changes');
    expect(JSON.stringify(changes)).toContain('"op":"supply.round"');
  });

  it('lets the provider keep stock of its rounds only, and shows it no household', async () => {
    const round = await json(
      h.request('POST', '/api/v1/supply/rounds', { token: manager, body: roundBody({ wake: true }) }),
    );
    const provider = await h.token('provider', undefined, 'veg-co');
    const other = await h.token('provider', undefined, 'other-co');
    const stocked = await h.request('PUT', `/api/v1/supply/rounds/${round.roundId}/stock`, {
      token: provider,
      body: { items: [{ name: 'oil', stock: 40 }] },
    });
    expect(stocked.status).toBe(200);
    const view = await json(stocked);
    expect(view.stock).toEqual([
      { name: 'rice', unit: 'kg', perHousehold: 5, stock: 100, handedOut: 0, left: 100 },
      { name: 'oil', unit: 'L', perHousehold: 1, stock: 40, handedOut: 0, left: 40 },
    ]);
    expect(Object.keys(view)).not.toContain('providers');
    expect(
      (
        await h.request('PUT', `/api/v1/supply/rounds/${round.roundId}/stock`, {
          token: other,
          body: { items: [{ name: 'oil', stock: 1 }] },
        })
      ).status,
    ).toBe(404);
    expect((await json(h.request('GET', '/api/v1/supply/rounds', { token: other }))).rounds).toEqual([]);
    expect((await h.request('GET', `/api/v1/supply/rounds/${round.roundId}/claims`, { token: provider })).status).toBe(
      403,
    );
    expect((await h.request('POST', '/api/v1/supply/rounds', { token: provider, body: roundBody() })).status).toBe(403);
    const unknownItem = await h.request('PUT', `/api/v1/supply/rounds/${round.roundId}/stock`, {
      token: provider,
      body: { items: [{ name: 'salt', stock: 1 }] },
    });
    expect(unknownItem.status).toBe(400);
    const audit = await json(h.request('GET', '/api/v1/audit?action=supply.stock', { token: manager }));
    expect(audit.entries.map((e: { actor: string }) => e.actor)).toEqual(['veg-co']);
  });

  it('two points racing for one household: one hold, one refusal; records stored once; an offline double is raised', async () => {
    const round = await json(
      h.request('POST', '/api/v1/supply/rounds', { token: manager, body: roundBody({ wake: true }) }),
    );
    const { roundId } = round;
    const ask = (gateId: string) => {
      const askId = randomUUID();
      return {
        askId,
        send: () =>
          h.core.router.route(
            `anxin/v1/gates/${gateId}/claims/ask`,
            Buffer.from(JSON.stringify({ askId, roundId, householdId: 'h-1', ts: NOW })),
          ),
      };
    };
    const a = ask('g-1');
    const b = ask('g-1b');
    await Promise.all([a.send(), b.send()]);
    await until(() => acksTo(h, 'g-1').length + acksTo(h, 'g-1b').length === 2);
    const answers = [...acksTo(h, 'g-1'), ...acksTo(h, 'g-1b')].map((x) => x.answer!);
    expect(answers.filter((x) => x.granted)).toHaveLength(1);
    const refusal = answers.find((x) => !x.granted)!;
    expect(refusal).toMatchObject({ refusal: 'already-claimed' });
    expect(['North', 'East']).toContain(refusal.claimedAt?.where);

    const winner = answers.find((x) => x.granted)!.askId === a.askId ? 'g-1' : 'g-1b';
    const loser = winner === 'g-1' ? 'g-1b' : 'g-1';
    const record = (gateId: string, seq: number, extra: Partial<ClaimRecord>): ClaimRecord => ({
      gateId,
      seq,
      ts: NOW + seq,
      roundId,
      householdId: 'h-1',
      personId: 'p-1',
      method: 'idcard',
      outcome: 'handed-out',
      decidedBy: 'cloud',
      ...extra,
    });
    const send = (gateId: string, claims: ClaimRecord[]) =>
      h.core.router.route(`anxin/v1/gates/${gateId}/claims`, Buffer.from(JSON.stringify({ claims })));
    await send(winner, [record(winner, 1, { askId: winner === 'g-1' ? a.askId : b.askId })]);
    await send(loser, [
      record(loser, 1, { outcome: 'refused', refusal: 'already-claimed', askId: loser === 'g-1' ? a.askId : b.askId }),
    ]);
    // Redelivered (a reconnect): stored once.
    await send(winner, [record(winner, 1, { askId: winner === 'g-1' ? a.askId : b.askId })]);
    await until(() => acksTo(h, winner).filter((x) => x.upTo !== undefined).length === 2);
    expect(acksTo(h, winner).at(-1)).toMatchObject({ upTo: 1 });

    // The loser was cut off later and handed out to p-2 of the same household from its replica.
    await send(loser, [record(loser, 2, { personId: 'p-2', decidedBy: 'replica', ts: NOW + 60_000 })]);
    await until(() => acksTo(h, loser).filter((x) => x.upTo === 2).length === 1);
    // Acked only once the double's alarm is stored: read at once, not waited for.
    const double = JSON.stringify(await h.core.store.recentAlarms(loser, 10));
    const progress = await json(h.request('GET', `/api/v1/supply/rounds/${roundId}`, { token: manager }));
    expect(progress.progress).toEqual({ households: 2, served: 1, remaining: 1, doubles: 1, refused: 1 });
    expect(progress.stock[0]).toMatchObject({ stock: 100, handedOut: 10, left: 90 });
    expect(double).toContain('supply-double-claim');
    expect(double).toContain('household h-1 claimed twice');
    expect(h.core.supply.counters).toMatchObject({ doubles: 1, duplicates: 1 });
    // The accepted claim was relayed to the compound's points; the double was not.
    const relayed = h.published
      .filter((p) => p.topic === 'anxin/v1/compounds/c-1/changes')
      .flatMap((p) => (p.payload as { changes: { op: string }[] }).changes);
    expect(relayed.filter((c) => c.op === 'supply.claim')).toHaveLength(1);

    // The manager's export names masked members only, and is audited.
    const csv = await h.request('GET', `/api/v1/supply/rounds/${roundId}/claims?format=csv`, { token: manager });
    expect(csv.status).toBe(200);
    const text = await csv.text();
    expect(text).toContain('double');
    expect(text).toContain('张*明');
    expect(text).not.toContain('张三明');
    const audit = await json(h.request('GET', '/api/v1/audit?action=supply.export', { token: manager }));
    expect(audit.entries).toHaveLength(1);
  });

  it('records a door delivery in the cloud once, refuses a second, and closes the round', async () => {
    const { roundId } = await json(
      h.request('POST', '/api/v1/supply/rounds', {
        token: manager,
        body: roundBody({ wake: true, form: 'delivery' }),
      }),
    );
    const first = await h.request('POST', `/api/v1/supply/rounds/${roundId}/claims`, {
      token: manager,
      body: { householdId: 'h-2', method: 'delivery', reason: 'delivered to the door, 3-2-301' },
    });
    expect(first.status).toBe(201);
    const again = await h.request('POST', `/api/v1/supply/rounds/${roundId}/claims`, {
      token: await h.token('guard', 'c-1'),
      body: { householdId: 'h-2', method: 'guard', reason: 'asked again' },
    });
    expect(again.status).toBe(409);
    expect((await json(again)).error.code).toBe('already-claimed');
    const foreign = await h.request('POST', `/api/v1/supply/rounds/${roundId}/claims`, {
      token: manager,
      body: { householdId: 'h-9', method: 'delivery', reason: 'x' },
    });
    expect(foreign.status).toBe(404);
    const closed = await h.request('POST', `/api/v1/supply/rounds/${roundId}/close`, { token: manager });
    expect(await json(closed)).toMatchObject({ status: 'closed', progress: { served: 1 } });
    const late = await h.request('POST', `/api/v1/supply/rounds/${roundId}/claims`, {
      token: manager,
      body: { householdId: 'h-1', method: 'delivery', reason: 'late' },
    });
    expect((await json(late)).error.code).toBe('round-closed');
    // Another compound's manager does not see the round at all.
    const m2 = await h.token('manager', 'c-2', 'mgr-2');
    expect((await h.request('GET', `/api/v1/supply/rounds/${roundId}`, { token: m2 })).status).toBe(404);
    // A snapshot carries the round and its claim to a point that starts empty.
    const records = await h.core.supply.snapshotRecords((await h.core.store.getCompound('c-1'))!);
    expect(records.map((r) => r.op)).toEqual(['supply.round', 'supply.claim']);
  });

  it('an applicants-only round hands out only to households that applied', async () => {
    const { roundId } = await json(
      h.request('POST', '/api/v1/supply/rounds', {
        token: manager,
        body: roundBody({ wake: true, eligibility: 'applicants' }),
      }),
    );
    const refused = await h.request('POST', `/api/v1/supply/rounds/${roundId}/claims`, {
      token: manager,
      body: { householdId: 'h-1', method: 'delivery', reason: 'r' },
    });
    expect((await json(refused)).error.code).toBe('not-eligible');
    expect(
      (
        await h.request('POST', `/api/v1/supply/rounds/${roundId}/applicants`, {
          token: manager,
          body: { householdId: 'h-1' },
        })
      ).status,
    ).toBe(201);
    const round = await json(h.request('GET', `/api/v1/supply/rounds/${roundId}`, { token: manager }));
    expect(round.progress).toMatchObject({ households: 1, remaining: 1 });
    expect(
      (
        await h.request('POST', `/api/v1/supply/rounds/${roundId}/claims`, {
          token: manager,
          body: { householdId: 'h-1', method: 'delivery', reason: 'r' },
        })
      ).status,
    ).toBe(201);
  });

  it('a resident sees the open rounds of its compound, applies for its own household, and sees its claim', async () => {
    const zhang = (await h.core.sessions.issue({ username: 'r:p-1', role: 'resident', compound: 'c-1' })).token;
    const other = (await h.core.sessions.issue({ username: 'r:p-9', role: 'resident', compound: 'c-2' })).token;
    expect(await json(h.request('GET', '/api/v1/me/supply', { token: zhang }))).toEqual({ awake: false, rounds: [] });
    const { roundId } = await json(
      h.request('POST', '/api/v1/supply/rounds', {
        token: manager,
        body: roundBody({ wake: true, eligibility: 'applicants' }),
      }),
    );
    const before = await json(h.request('GET', '/api/v1/me/supply', { token: zhang }));
    expect(before).toMatchObject({
      awake: true,
      householdId: 'h-1',
      rounds: [{ roundId, mustApply: true, applied: false, claimed: null }],
    });
    expect(before.rounds[0].items).toEqual([
      { name: 'rice', unit: 'kg', perHousehold: 5 },
      { name: 'oil', unit: 'L', perHousehold: 1 },
    ]);
    expect((await h.request('POST', `/api/v1/me/supply/${roundId}/apply`, { token: other })).status).toBe(404);
    const applied = await h.request('POST', `/api/v1/me/supply/${roundId}/apply`, { token: zhang });
    expect(applied.status).toBe(201);
    expect(await json(applied)).toMatchObject({ applied: true, round: { mustApply: false, applied: true } });
    // The application went to the points (supply.apply) and is audited.
    const changes = h.published.filter((p) => p.topic === 'anxin/v1/compounds/c-1/changes');
    expect(JSON.stringify(changes)).toContain('"op":"supply.apply"');
    const audit = await json(h.request('GET', '/api/v1/audit?action=supply.apply', { token: manager }));
    expect(audit.entries.map((e: { actor: string }) => e.actor)).toEqual(['r:p-1']);
    await h.request('POST', `/api/v1/supply/rounds/${roundId}/claims`, {
      token: manager,
      body: { householdId: 'h-1', method: 'delivery', reason: 'door' },
    });
    const after = await json(h.request('GET', '/api/v1/me/supply', { token: zhang }));
    expect(after.rounds[0].claimed).toMatchObject({ ts: NOW, where: 'the office' });
    // A resident reaches none of the manager's supply routes.
    expect((await h.request('GET', `/api/v1/supply/rounds/${roundId}/claims`, { token: zhang })).status).toBe(403);
    expect((await h.request('GET', '/api/v1/supply/rounds', { token: zhang })).status).toBe(403);
  });
});
