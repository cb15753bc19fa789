/**
 * The analytics extension wired into the cloud core: passages go through the real MQTT ingest
 * path (`EventIngest.accept`, batching, the store transaction with the rollup hook) and the
 * statistics and traces come back over the core's HTTP app.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { analyticsExtension } from '../../../cloud/analytics/analytics-extension.ts';
import { type CloudCore, createCloudCore } from '../../../cloud/cloud-service.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import { createKeysFile, parseKeysFile } from '../../../shared/keys.ts';
import { gateMessages, NOW, SH_DAY_FROM, SH_DAY_TO, seedRegistry } from './scenario.ts';

let core: CloudCore<SqliteCloudStore>;
let manager: string;

beforeEach(async () => {
  const keys = parseKeysFile(createKeysFile());
  core = createCloudCore({
    store: new SqliteCloudStore({ path: ':memory:' }),
    keys,
    publish: async () => {},
    now: () => NOW,
    extensions: [analyticsExtension()],
  });
  await seedRegistry(core.store);
  manager = `Bearer ${(await core.sessions.issue({ username: 'tracer', role: 'manager' })).token}`;
});

afterEach(async () => {
  await core.ingest.stop();
  await core.store.close();
});

async function publishAll(): Promise<void> {
  for (const [gateId, events] of gateMessages()) await core.ingest.accept(gateId, JSON.stringify({ events }));
  await core.ingest.flush();
}

async function summary(): Promise<Record<string, unknown>> {
  const res = await core.app.request(`/api/v1/stats/summary?compound=sunny&from=${SH_DAY_FROM}&to=${SH_DAY_TO}`, {
    headers: { authorization: manager },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe('analytics in the cloud core', () => {
  it('counts what the ingest stores, once, even when the gates resend', async () => {
    await publishAll();
    const first = await summary();
    expect(first).toMatchObject({ passages: { total: 15 }, crossings: { in: 8, out: 4 } });
    await publishAll();
    expect(await summary()).toEqual(first);
  });

  it('serves the traces on the same store', async () => {
    await publishAll();
    const res = await core.app.request(
      `/api/v1/trace/contacts/idx?from=${SH_DAY_FROM}&to=${SH_DAY_TO}&reason=ingest-path`,
      { headers: { authorization: manager } },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { contacts: { personId: string }[] };
    expect(body.contacts.map((c) => c.personId)).toEqual(['a', 'b', 'spouse', 'f', 'e', 'child']);
  });

  it('forgets who crossed on a day once the day is past the retention horizon, keeping the counts', async () => {
    await publishAll();
    const personRows = () =>
      (core.store.db.prepare('SELECT count(*) AS n FROM stats_daily_person_batches').get() as { n: number }).n;
    const before = await summary();
    expect(personRows()).toBeGreaterThan(0);

    const dayRows = () =>
      (
        core.store.db
          .prepare("SELECT count(*) AS n FROM stats_daily_person_batches WHERE day = '2026-03-02'")
          .get() as {
          n: number;
        }
      ).n;
    const scenarioDay = dayRows();
    expect(scenarioDay).toBeGreaterThan(0);

    const analytics = core.extensions.find((e) => e.name === 'statistics and tracing');
    const purge = (beforeMs: number) => analytics!.purge!(beforeMs);
    // A horizon at the start of the scenario's day keeps that day: a kept passage never loses its row.
    await purge(SH_DAY_FROM);
    expect(dayRows()).toBe(scenarioDay);
    // Three days later the scenario's day is wholly behind the horizon in every time zone.
    expect(await purge(NOW + 3 * 86_400_000)).toBeGreaterThanOrEqual(scenarioDay);
    expect(dayRows()).toBe(0);
    expect((await summary()).passages).toEqual(before.passages);
  });
});
