/**
 * The alarm acknowledgement store (cloud/alarms/alarm-ack-store.ts) on every store backend: open alarms until
 * acknowledged, the first acknowledgement kept, per compound, and an acknowledgement gone with
 * its alarm when retention deletes it.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { AlarmAckStore } from '../../../cloud/alarms/alarm-ack-store.ts';
import { openAlarmAckStore } from '../../../cloud/alarms/open-alarm-ack-store.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { storeBackends } from '../store/backends.ts';

const T0 = Date.UTC(2026, 11, 1);

describe.each(storeBackends())('alarm acknowledgement store on the $name store', (backend) => {
  let store: CloudStore;
  let acks: AlarmAckStore;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
    acks = openAlarmAckStore(store.engine);
    const alarm = (gateId: string, compoundId: string, ts: number) =>
      store.recordAlarm({ gateId, compoundId, kind: 'tamper', ts, detail: `at ${ts}`, receivedAt: ts + 1 });
    await alarm('g-1', 'c-1', T0);
    await alarm('g-1', 'c-1', T0 + 1000);
    await alarm('g-2', 'c-2', T0 + 2000);
  });

  it('lists open alarms newest first until acknowledged; the first acknowledgement stays', async () => {
    const open = await acks.list({ compoundId: 'c-1', state: 'open', limit: 10 });
    expect(open.map((a) => a.ts)).toEqual([T0 + 1000, T0]);
    expect(open.every((a) => a.ack === null && a.compoundId === 'c-1')).toBe(true);
    const newest = open[0]!;
    const first = await acks.acknowledge(newest.id, 'guard-1', T0 + 5000, 'checked');
    expect(first).toMatchObject({ outcome: 'acknowledged', alarm: { ack: { by: 'guard-1', at: T0 + 5000 } } });
    const second = await acks.acknowledge(newest.id, 'guard-2', T0 + 6000, null);
    expect(second).toMatchObject({
      outcome: 'already-acknowledged',
      alarm: { ack: { by: 'guard-1', at: T0 + 5000, note: 'checked' } },
    });
    expect((await acks.list({ compoundId: 'c-1', state: 'open', limit: 10 })).map((a) => a.ts)).toEqual([T0]);
    expect((await acks.list({ compoundId: 'c-1', state: 'all', limit: 10 })).map((a) => a.ts)).toEqual([T0 + 1000, T0]);
    expect((await acks.list({ state: 'open', limit: 10 })).map((a) => a.compoundId)).toEqual(['c-2', 'c-1']);
    expect(await acks.get(newest.id)).toMatchObject({ id: newest.id, detail: `at ${T0 + 1000}` });
  });

  it('answers not-found for an unknown alarm and drops an acknowledgement with its alarm', async () => {
    expect(await acks.acknowledge(987_654, 'guard-1', T0, null)).toEqual({ outcome: 'not-found' });
    const [oldest] = (await acks.list({ compoundId: 'c-1', state: 'open', limit: 10 })).slice(-1);
    await acks.acknowledge(oldest!.id, 'guard-1', T0 + 5000, null);
    await store.purgeBefore(T0 + 500, 100);
    expect(await acks.get(oldest!.id)).toBeUndefined();
    expect(await acks.acknowledge(oldest!.id, 'guard-1', T0 + 6000, null)).toEqual({ outcome: 'not-found' });
  });
});
