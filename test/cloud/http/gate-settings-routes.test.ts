/**
 * The routes and the exit quota service behind "Settings from the cloud" and "Exit quota across the compound"
 * (docs/edge-agent.md): PATCH /gates/:id and GET /compounds/:id/exit-quota reach only the caller's
 * compound; a quota use is relayed as an `exit.use` change once, a duplicate is not, and two uses
 * of a quota of one made at two gates are found as one over-use with its alarm.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntryEvent } from '../../../shared/schemas/mqtt.ts';
import { resident } from '../fixtures.ts';
import { createHarness, type Harness } from './app-harness.ts';
import { collectSnapshot } from '../../helpers/collect-snapshot.ts';

const HOUR = 3_600_000;

describe('gate settings and exit-quota routes', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
    await h.core.store.createGate({ id: 'g-3', compoundId: 'c-1', name: 'West', antiPassback: false }, 1);
    // The people the exits name are c-1's: ingest admits only a gate's own compound's people.
    await h.core.store.upsertResidents(
      ['p-g-1-1', 'p-g-1-2', 'p-g-3-1'].map((personId) => resident(personId, 'c-1', { householdId: 'house-9' })),
    );
  });
  afterAll(async () => {
    await h.close();
  });

  it('PATCH /gates/:id: only in the caller’s compound; the change goes to that compound’s gates', async () => {
    const other = await h.request('PATCH', '/api/v1/gates/g-2', {
      token: await h.token('manager', 'c-1'),
      body: { antiPassback: true },
    });
    expect(other.status).toBe(404);
    const own = await h.request('PATCH', '/api/v1/gates/g-2', {
      token: await h.token('manager', 'c-2'),
      body: { antiPassback: true, yellowPolicy: 'grant' },
    });
    expect(own.status).toBe(200);
    const changes = h.published.filter((p) => p.topic === 'anxin/v1/compounds/c-2/changes');
    expect(changes.at(-1)?.payload).toMatchObject({
      changes: [{ op: 'gate.settings', gateId: 'g-2', settings: { antiPassback: true, yellowPolicy: 'grant' } }],
    });
    expect(h.published.some((p) => p.topic === 'anxin/v1/compounds/c-1/changes')).toBe(false);
    // The next snapshot of c-2 carries it; c-1's gates never had settings set, so c-1's has none.
    expect((await collectSnapshot(h.core.store, 'c-2')).records).toContainEqual({
      op: 'gate.settings',
      gateId: 'g-2',
      settings: { antiPassback: true, yellowPolicy: 'grant' },
    });
    expect((await collectSnapshot(h.core.store, 'c-1')).records.some((r) => r.op === 'gate.settings')).toBe(false);
  });

  it('PATCH /gates/:id {role}: the cloud stamps roleSetAt itself (a guard’s later switch wins over it); a client may not', async () => {
    const token = await h.token('manager', 'c-2');
    const forged = await h.request('PATCH', '/api/v1/gates/g-2', { token, body: { role: 'entry', roleSetAt: 1 } });
    expect(forged.status).toBe(400);
    const labels = await h.request('PATCH', '/api/v1/gates/g-2', { token, body: { labels: { in: '进', out: '出' } } });
    type GateBody = { gate: { settings: { role?: string; roleSetAt?: number } } };
    expect(((await labels.json()) as GateBody).gate.settings.roleSetAt).toBeUndefined();
    const before = Date.now();
    const res = await h.request('PATCH', '/api/v1/gates/g-2', { token, body: { role: 'distribution' } });
    expect(res.status).toBe(200);
    const { settings } = ((await res.json()) as GateBody).gate;
    expect(settings).toMatchObject({ role: 'distribution' });
    expect(settings.roleSetAt).toBeGreaterThanOrEqual(before - 60_000);
    const changes = h.published.filter((p) => p.topic === 'anxin/v1/compounds/c-2/changes');
    expect(changes.at(-1)?.payload).toMatchObject({
      changes: [
        { op: 'gate.settings', gateId: 'g-2', settings: { role: 'distribution', roleSetAt: settings.roleSetAt } },
      ],
    });
  });

  it('GET /compounds/:id/exit-quota: only the caller’s compound', async () => {
    expect(
      (await h.request('GET', '/api/v1/compounds/c-2/exit-quota', { token: await h.token('manager', 'c-1') })).status,
    ).toBe(404);
    const res = await h.request('GET', '/api/v1/compounds/c-1/exit-quota', { token: await h.token('manager') });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ compoundId: 'c-1', overuse: [] });
  });

  it('relays each quota use once and finds two uses of a quota of one at two gates', async () => {
    const manager = await h.token('manager', 'c-1');
    expect(
      (await h.request('PUT', '/api/v1/compounds/c-1/quota', { token: manager, body: { exits: 1, periodHours: 24 } }))
        .status,
    ).toBe(200);
    const t = Date.now();
    const exit = (gateId: string, seq: number, ts: number, extra: Partial<EntryEvent> = {}): EntryEvent => ({
      gateId,
      seq,
      ts,
      direction: 'out',
      method: 'qr',
      result: 'granted',
      reason: 'ok',
      personId: `p-${gateId}-${seq}`,
      health: 'green',
      mode: 'lockdown',
      passed: true,
      decisionMs: 0.2,
      quotaHousehold: 'house-9',
      ...extra,
    });
    const send = (gateId: string, events: EntryEvent[]) =>
      h.core.ingest.accept(gateId, Buffer.from(JSON.stringify({ events })));
    const relayed = () =>
      h.published
        .filter((p) => p.topic === 'anxin/v1/compounds/c-1/changes')
        .flatMap((p) => (p.payload as { changes: { op: string }[] }).changes)
        .filter((c) => c.op === 'exit.use');

    // A timed-out grant (passed: false) used nothing; a use sent twice is relayed once.
    await send('g-1', [exit('g-1', 1, t - 2 * HOUR, { passed: false }), exit('g-1', 2, t - HOUR)]);
    await h.core.ingest.flush();
    await h.core.exitQuota.idle();
    await send('g-1', [exit('g-1', 2, t - HOUR)]);
    await h.core.ingest.flush();
    await h.core.exitQuota.idle();
    expect(relayed()).toEqual([{ op: 'exit.use', householdId: 'house-9', gateId: 'g-1', seq: 2, ts: t - HOUR }]);
    expect(await h.core.exitQuota.overuses('c-1', 0)).toEqual([]);

    // The west gate, cut off, let the household out too: reconciled as one over-use.
    await send('g-3', [exit('g-3', 1, t - 30 * 60_000)]);
    await h.core.ingest.flush();
    await h.core.exitQuota.idle();
    expect(relayed()).toHaveLength(2);
    const overuse = await h.core.exitQuota.overuses('c-1', 0);
    expect(overuse).toEqual([
      expect.objectContaining({
        householdId: 'house-9',
        gateId: 'g-3',
        seq: 1,
        uses: 2,
        quota: 1,
        gates: ['g-1', 'g-3'],
      }),
    ]);
    const alarms = await h.core.store.recentAlarms('g-3', 10);
    expect(alarms.filter((a) => a.kind === 'exit-quota-exceeded')).toHaveLength(1);
    // A snapshot of c-1 carries both uses, so a gate that takes one counts them.
    const snapshot = await h.core.sync.answer('g-1', 'c-1', 0);
    expect(snapshot).toBe('snapshot');
    const parts = h.published
      .filter((p) => p.topic === 'anxin/v1/gates/g-1/sync')
      .map((p) => p.payload as { records: { op: string }[] });
    expect(parts.flatMap((p) => p.records).filter((r) => r.op === 'exit.use')).toHaveLength(2);
  });
});
