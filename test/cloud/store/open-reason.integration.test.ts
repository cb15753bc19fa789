/**
 * A manual open's reason reaches the cloud with the event and stays there (docs/edge-agent.md
 * "Manual open"): `EntryEvent.openReason` is stored beside the guard's name (migration 6) and comes
 * back from the events query; every other passage has none. On every store backend.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { entryEvent } from '../fixtures.ts';
import { storeBackends } from './backends.ts';

describe.each(storeBackends())('openReason in the $name store', (backend) => {
  let store: CloudStore;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
  });

  it('is stored with a manual open and read back; other passages have none', async () => {
    const now = Date.now();
    await store.createCompound({ id: 'c-1', name: 'C', timeZone: 'Asia/Shanghai' }, now);
    await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'G', antiPassback: false }, now);
    const manual = {
      ...entryEvent('g-1', 1, { ts: now }),
      method: 'manual' as const,
      reason: 'manual' as const,
      result: 'granted' as const,
      guard: '王师傅',
      openReason: '救护车 ambulance',
      compoundId: 'c-1',
      receivedAt: now + 5,
    };
    const scan = { ...entryEvent('g-1', 2, { ts: now + 1 }), compoundId: 'c-1', receivedAt: now + 6 };
    await store.insertEvents([manual, scan]);
    const page = await store.queryEvents({ gateId: 'g-1', limit: 10 });
    const bySeq = new Map(page.events.map((e) => [e.seq, e]));
    expect(bySeq.get(1)).toMatchObject({ guard: '王师傅', openReason: '救护车 ambulance' });
    expect(bySeq.get(2)).not.toHaveProperty('openReason');
  });
});
