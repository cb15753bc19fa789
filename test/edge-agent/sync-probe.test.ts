import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { silentLogger } from '../../shared/log.ts';
import { syncRequestSchema } from '../../shared/schemas/mqtt.ts';
import { parseGateTopic, topics } from '../../shared/topics.ts';
import { type CloudStandIn, waitFor } from './cloud-stand-in.ts';
import { benchGateConfig, type CloudBench, startCloudBench } from './cloud-bench.ts';
import { FakeIdCardReader, FakeQrScanner, FakeTurnstile } from './fake-devices.ts';
import { COMPOUND, GATE, NOW } from './fixtures.ts';

const LIMIT = 60_000; // the probe goes out after a third of it: 20 s on the agent's clock
const SNAPSHOT_REV = 5;

let bench: CloudBench;
let cloud: CloudStandIn;
let agent: EdgeAgent | undefined;
let skipped = 0;
const startedAt = Date.now();
const clock = { now: () => NOW + (Date.now() - startedAt) + skipped };
/** Whether the cloud answers a sync request from an up-to-date gate (with an empty delta). */
let answering = true;

beforeEach(async () => {
  bench = await startCloudBench('anxin-probe-', { rev: SNAPSHOT_REV });
  cloud = bench.cloud;
  answering = true;
  cloud.client!.on('message', (topic, payload) => {
    if (cloud.snapshot || !answering || parseGateTopic(topic).kind !== 'sync/request') return;
    const { fromRev } = syncRequestSchema.parse(JSON.parse(payload.toString()));
    // What cloud/sync/sync-responder.ts sends a gate that is up to date.
    void cloud.raw(topics.gateSync(GATE), JSON.stringify({ fromRev, toRev: fromRev, changes: [] }));
  });
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await bench.stop();
});

async function startSynced(): Promise<EdgeAgent> {
  const config = parseEdgeConfig(
    benchGateConfig(bench, {
      http: { enabled: false },
      timeouts: { syncRetryMs: 500 },
      stalenessLimitMs: LIMIT,
      statusIntervalMs: 1_000,
    }),
  );
  agent = createEdgeAgent(config, {
    logger: silentLogger,
    clock,
    devices: { qr: new FakeQrScanner(), idreader: new FakeIdCardReader(), turnstile: new FakeTurnstile() },
    version: 'test',
  });
  const a = agent;
  await a.start();
  await waitFor(() => a.status().rev === SNAPSHOT_REV && a.status().online, 'the first sync');
  // From now on the cloud answers like the real one does for an up-to-date gate.
  cloud.snapshot = undefined;
  return a;
}

describe('EdgeAgent staleness while connected', () => {
  it('probes when idle, takes the empty delta as contact and stays not stale', async () => {
    const a = await startSynced();
    expect(a.status().stale).toBe(false);
    // (A fresh gate is stale until its first contact: only what is published from now on counts.)
    const statusesBefore = cloud.statuses.length;
    for (let round = 0; round < 3; round++) {
      const asked = cloud.syncRequests.length;
      const applied = a.inputCounters.sync.deltasApplied;
      skipped += 40_000; // quiet for 40 s: more than the probe period, less than the limit
      expect(a.status().stale).toBe(false);
      await waitFor(() => cloud.syncRequests.length > asked, 'the probe');
      expect(cloud.syncRequests.at(-1)).toBe(SNAPSHOT_REV);
      await waitFor(() => a.inputCounters.sync.deltasApplied > applied, 'the empty delta');
    }
    // 120 s past the first sync on the agent's clock, twice the limit: still not stale.
    expect(a.status().stale).toBe(false);
    expect(a.status().rev).toBe(SNAPSHOT_REV);
    await waitFor(() => cloud.statuses.length > statusesBefore, 'a status published meanwhile');
    expect(cloud.statuses.slice(statusesBefore).some((s) => s.stale)).toBe(false);
  });

  it('turns stale when the cloud never answers, and malformed messages do not count as contact', async () => {
    const a = await startSynced();
    answering = false;
    const asked = cloud.syncRequests.length;
    skipped += LIMIT + 1_000;
    await waitFor(() => cloud.syncRequests.length > asked, 'the probe');
    expect(a.status().stale).toBe(true);
    await waitFor(() => cloud.statuses.some((s) => s.online && s.stale), 'a stale status');

    await cloud.raw(topics.gateAck(GATE), JSON.stringify({ upTo: -1 }));
    await cloud.raw(topics.gateSync(GATE), '{');
    await cloud.raw(topics.compoundChanges(COMPOUND), JSON.stringify({ fromRev: 1, toRev: 0, changes: [] }));
    await waitFor(
      () => a.inputCounters.acks.acksMalformed === 1 && a.inputCounters.sync.rejected === 2,
      'the malformed messages',
    );
    expect(a.status().stale).toBe(true);

    await cloud.raw(topics.gateSync(GATE), JSON.stringify({ fromRev: SNAPSHOT_REV, toRev: SNAPSHOT_REV, changes: [] }));
    await waitFor(() => a.status().stale === false, 'contact again');
  });
});
