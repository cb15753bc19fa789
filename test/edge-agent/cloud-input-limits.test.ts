import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudInputLimits } from '../../edge-agent/cloud-input-limits.ts';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { silentLogger } from '../../shared/log.ts';
import { type Change, snapshotChunkSchema } from '../../shared/schemas/mqtt.ts';
import {
  CLOUD_TO_GATE_MAX_BYTES,
  CONTRACT_MAX_PAYLOAD_BYTES,
  MAX_CHANGES_PER_MESSAGE,
} from '../../shared/schemas/payload-limits.ts';
import { topics } from '../../shared/topics.ts';
import { type CloudStandIn, waitFor } from './cloud-stand-in.ts';
import { benchGateConfig, type CloudBench, startCloudBench } from './cloud-bench.ts';
import { FakeIdCardReader, FakeQrScanner, FakeTurnstile } from './fake-devices.ts';
import { COMPOUND, GATE, NOW } from './fixtures.ts';

/** Valid JSON of the given payload, padded with whitespace to `bytes`: parsed, it is the payload itself. */
const padded = (payload: unknown, bytes: number) => {
  const text = JSON.stringify(payload);
  return text + ' '.repeat(Math.max(0, bytes - Buffer.byteLength(text)));
};

describe('the size limits of what the cloud sends a gate', () => {
  it('are not below the largest snapshot part of person records the cloud can send', () => {
    const id = (prefix: string, i: number) => `${prefix}-${String(i).padStart(62 - prefix.length, '0')}`.slice(0, 64);
    const records: Change[] = Array.from({ length: MAX_CHANGES_PER_MESSAGE }, (_, i) => ({
      op: 'person.upsert',
      person: {
        personId: id('p', i),
        compoundId: id('c', 0),
        householdId: id('h', i),
        kind: 'resident',
        idHash: 'f'.repeat(64),
        maskedName: '张'.repeat(64),
        cards: Array.from({ length: 16 }, (_, k) => `99999:${String(9_999_999_000 + k)}`),
        validFrom: 8_640_000_000_000_000,
        validTo: 8_640_000_000_000_000,
        active: true,
        elderly: true,
      },
    }));
    const part = { snapshotRev: Number.MAX_SAFE_INTEGER, part: 100_000, parts: 100_000, records };
    expect(snapshotChunkSchema.safeParse(part).success).toBe(true);
    const bytes = Buffer.byteLength(JSON.stringify(part));
    expect(bytes).toBeLessThanOrEqual(CLOUD_TO_GATE_MAX_BYTES.sync);
    expect(CLOUD_TO_GATE_MAX_BYTES.changes).toBe(CLOUD_TO_GATE_MAX_BYTES.sync);
    expect(CLOUD_TO_GATE_MAX_BYTES.sync).toBe(CONTRACT_MAX_PAYLOAD_BYTES);
    // The largest command: a renewed token at its limit, with every other field at its own.
    const cmd = {
      cmdId: id('x', 0),
      kind: 'renew-token',
      token: 't'.repeat(4096),
      reason: '理'.repeat(200),
      by: 'b'.repeat(64),
      direction: 'out',
    };
    expect(Buffer.byteLength(JSON.stringify(cmd))).toBeLessThanOrEqual(CLOUD_TO_GATE_MAX_BYTES.cmd);
  });

  it('raises one alarm per topic for a flood, with the count of the refusals it stood for', () => {
    let now = NOW;
    const alarms: string[] = [];
    const limits = new CloudInputLimits({ now: () => now, log: silentLogger, onOversized: (d) => alarms.push(d) });
    const big = Buffer.alloc(CLOUD_TO_GATE_MAX_BYTES.ack + 1, 0x20);
    expect(limits.admit('ack', Buffer.alloc(CLOUD_TO_GATE_MAX_BYTES.ack, 0x20))).toBe(true);
    expect(limits.admit('ack', 'x'.repeat(CLOUD_TO_GATE_MAX_BYTES.ack))).toBe(true);
    // Counted in bytes, not characters: 400 Chinese characters are 1200 bytes.
    expect(limits.admit('ack', '张'.repeat(400))).toBe(false);
    for (let i = 0; i < 4; i++) expect(limits.admit('ack', big)).toBe(false);
    expect(limits.admit('cmd', Buffer.alloc(CLOUD_TO_GATE_MAX_BYTES.cmd + 1))).toBe(false);
    expect(limits.counters).toMatchObject({ ack: 5, cmd: 1, sync: 0 });
    expect(alarms).toHaveLength(2);
    expect(alarms[0]).toMatch(/^ack: a 1200-byte message over the gate's 1024-byte limit refused unread$/);
    now += 10 * 60_000;
    expect(limits.admit('ack', big)).toBe(false);
    expect(alarms).toHaveLength(3);
    expect(alarms[2]).toMatch(/4 more refused since the last alarm/);
  });
});

describe('a gate receiving oversized messages over a real broker', () => {
  let cloud: CloudStandIn;
  let bench: CloudBench;
  let agent: EdgeAgent | undefined;
  let turnstile: FakeTurnstile;
  const startedAt = Date.now();
  const clock = { now: () => NOW + (Date.now() - startedAt) };

  beforeEach(async () => {
    // A broker that lets 4 MiB through: the gate's limit is its own.
    bench = await startCloudBench('anxin-limits-', { maxPayload: 4 * 1024 * 1024 });
    cloud = bench.cloud;
    turnstile = new FakeTurnstile();
    const config = parseEdgeConfig(benchGateConfig(bench, { http: { enabled: false } }));
    agent = createEdgeAgent(config, {
      logger: silentLogger,
      clock,
      devices: { qr: new FakeQrScanner(), idreader: new FakeIdCardReader(), turnstile },
      version: 'test',
    });
    await agent.start();
    await waitFor(() => agent!.status().rev === 5 && agent!.status().online, 'the first sync');
  });

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await bench.stop();
  });

  it('refuses them unread and changes nothing; what is within the limit still applies', async () => {
    const a = agent!;
    const lockdown = { fromRev: 5, toRev: 6, changes: [{ op: 'mode', mode: 'lockdown', ts: NOW }] };
    const over = CONTRACT_MAX_PAYLOAD_BYTES + 1024;
    await cloud.raw(topics.compoundChanges(COMPOUND), padded(lockdown, over));
    const chunk = { snapshotRev: 9, part: 1, parts: 1, records: [{ op: 'mode', mode: 'lockdown', ts: NOW }] };
    await cloud.raw(topics.gateSync(GATE), padded(chunk, over));
    await cloud.raw(topics.gateSync(GATE), padded(chunk, over + 1));
    await cloud.raw(
      topics.gateCmd(GATE),
      padded({ cmdId: 'c-big', kind: 'open', direction: 'in', reason: 'x' }, 20_000),
    );
    await cloud.raw(topics.gateAck(GATE), padded({ upTo: 1, ts: NOW }, 2_000));
    await cloud.raw(topics.cloudStatus(), padded({ online: false, ts: NOW }, 2_000));
    await waitFor(() => Object.values(a.inputCounters.oversized).reduce((x, y) => x + y, 0) === 6, 'the six refusals');
    expect(a.inputCounters.oversized).toEqual({ sync: 2, changes: 1, cmd: 1, ack: 1, claimAck: 0, cloudStatus: 1 });
    // Nothing changed: the replica, the mode, the turnstile, the readiness.
    expect(a.status()).toMatchObject({ rev: 5, mode: 'normal', online: true });
    expect(turnstile.unlocks).toEqual([]);
    expect(a.inputCounters.sync).toMatchObject({ deltasApplied: 0, chunksStaged: 1, rejected: 0 });
    expect(a.inputCounters.readiness).toBeDefined();

    // One alarm per topic reaches the cloud, naming the topic and the sizes.
    await waitFor(() => cloud.alarms.filter((x) => x.kind === 'cloud-message-oversized').length === 5, 'the alarms');
    const details = cloud.alarms.filter((x) => x.kind === 'cloud-message-oversized').map((x) => x.detail);
    expect(details.map((d) => d.split(':')[0]).sort()).toEqual(['ack', 'changes', 'cloudStatus', 'cmd', 'sync']);
    expect(details.find((d) => d.startsWith('sync'))).toContain(
      `over the gate's ${CONTRACT_MAX_PAYLOAD_BYTES}-byte limit`,
    );

    // The same delta within the limit is applied: the gate was not broken by the refusals.
    await cloud.raw(topics.compoundChanges(COMPOUND), JSON.stringify(lockdown));
    await waitFor(() => a.status().rev === 6, 'the delta within the limit');
    expect(a.status().mode).toBe('lockdown');
  });
});
