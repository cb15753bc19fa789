/**
 * What the extensions add to a gate's snapshot (cloud/http/extension.ts `snapshotRecords`), as the
 * cloud composes it (cloud/cloud-core.ts): the compound is read once per snapshot, by the caller,
 * and handed to every extension — its rev is the snapshot's, its quota policy the one the exit
 * quota counts with — and the extensions' records follow the store's, in the extensions' order
 * (the built-in exit quota and supplies first, then the given ones).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CloudExtensionFactory } from '../../../cloud/http/extension.ts';
import type { Compound } from '../../../cloud/store/store.ts';
import type { Change } from '../../../shared/schemas/mqtt.ts';
import { resident } from '../fixtures.ts';
import { createHarness, type Harness } from '../http/app-harness.ts';

const T = Date.UTC(2026, 11, 5, 2);

describe('extension records in a snapshot', () => {
  let h: Harness;
  const handed: Compound[] = [];
  const probe =
    (name: string): CloudExtensionFactory =>
    () => ({
      name,
      snapshotRecords: (compound) => {
        handed.push(compound);
        return [{ op: 'supply.apply', roundId: `r-${name}`, householdId: 'h-1' }];
      },
    });

  beforeEach(async () => {
    handed.length = 0;
    h = await createHarness({ now: () => T, extensions: [probe('one'), probe('two')] });
    await h.core.store.setQuotaPolicy('c-1', 1, 24);
    await h.core.store.upsertResidents([resident('p-1', 'c-1', { householdId: 'house-9' })]);
    await h.core.store.setMode('c-1', 'lockdown', 'drill', T - 3_600_000);
    // A lockdown exit the gate sent: the exit quota records it with its passage.
    await h.core.ingest.accept(
      'g-1',
      JSON.stringify({
        events: [
          {
            gateId: 'g-1',
            seq: 1,
            ts: T - 60_000,
            direction: 'out',
            method: 'qr',
            result: 'granted',
            reason: 'ok',
            personId: 'p-1',
            health: 'green',
            mode: 'lockdown',
            passed: true,
            decisionMs: 0.2,
            quotaHousehold: 'house-9',
          },
        ],
      }),
    );
    await h.core.ingest.flush();
    await h.core.exitQuota.idle();
  });
  afterEach(async () => {
    await h.close();
  });

  it('reads the compound once and hands it to every extension; their records follow the store’s', async () => {
    const getCompound = vi.spyOn(h.core.store, 'getCompound');
    expect(await h.core.sync.answer('g-1', 'c-1', 0)).toBe('snapshot');
    expect(getCompound).toHaveBeenCalledTimes(1);
    const compound = (await h.core.store.getCompound('c-1'))!;
    expect(handed).toEqual([compound, compound]);
    const parts = h.published
      .filter((p) => p.topic === 'anxin/v1/gates/g-1/sync')
      .map((p) => p.payload as { snapshotRev: number; records: Change[] });
    expect(parts.every((p) => p.snapshotRev === compound.rev)).toBe(true);
    const ops = parts.flatMap((p) => p.records).map((r) => (r.op === 'supply.apply' ? r.roundId : r.op));
    // The store's records, then the exit quota's use, then the given extensions in order.
    expect(ops).toEqual(['quota.policy', 'mode', 'person.upsert', 'exit.use', 'r-one', 'r-two']);
  });
});
