/**
 * Where a new gate's snapshot time goes, seen from the broker: a listener with the cloud's role
 * reads the gate's small messages of the sync protocol (`sync/request`, `sync/ack {snapshotRev,
 * part}`; docs/cloud.md "Sync protocol"), stamped as they arrive. With the gate's "online" and
 * "at rev" statuses that gives: online → request, request → first part staged, the gaps between
 * parts staged, and last part → swapped in (the swap, its commit and checkpoint).
 *
 * The parts themselves are not read (the cloud's role may not read `gates/+/sync`, and a second
 * reader of 100 parts would load the broker it measures).
 */
import mqtt from 'mqtt';
import { topics } from '../../shared/topics.ts';
import type { Deployment } from './deployment.ts';

export class SnapshotTimeline {
  private requestAt: bigint | undefined;
  private readonly acks: { part: number; at: bigint }[] = [];

  private constructor(private readonly client: mqtt.MqttClient) {}

  static async listen(deployment: Deployment, gateId: string): Promise<SnapshotTimeline> {
    const client = await mqtt.connectAsync(deployment.broker.url, {
      clientId: 'bench-sync-timeline',
      username: 'bench-sync-timeline',
      password: deployment.token('bench-sync-timeline', 'cloud'),
      protocolVersion: 4,
    });
    const timeline = new SnapshotTimeline(client);
    client.on('message', (topic, payload) => {
      const at = process.hrtime.bigint();
      if (topic === topics.gateSyncRequest(gateId)) timeline.requestAt ??= at;
      else timeline.acks.push({ part: (JSON.parse(payload.toString()) as { part: number }).part, at });
    });
    await client.subscribeAsync([topics.gateSyncRequest(gateId), topics.gateSyncAck(gateId)], { qos: 0 });
    return timeline;
  }

  /**
   * The timeline between the gate's "online" and "at rev" statuses, in ms, as one line. The gate
   * acks its last part only after the swap (edge-agent/sync-consumer.ts), so the swap is timed from
   * the ack before it: that last stretch is the last part's staging, the swap, its commit and checkpoint.
   */
  describe(onlineAt: bigint, atRevAt: bigint): string {
    const ms = (from: bigint, to: bigint) => Number(to - from) / 1e6;
    const staged = this.acks.slice(0, -1);
    const first = staged[0];
    const last = staged[staged.length - 1];
    if (this.requestAt === undefined || !first || !last) return 'timeline: no request, or fewer than two acks seen';
    const gaps = staged.slice(1).map((ack, i) => ms(staged[i]!.at, ack.at));
    gaps.sort((a, b) => a - b);
    const at = (q: number) => gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))] ?? 0;
    return [
      `timeline (ms): online → sync request ${ms(onlineAt, this.requestAt).toFixed(0)}`,
      `request → part ${first.part} staged ${ms(this.requestAt, first.at).toFixed(0)}`,
      `parts ${first.part}..${last.part} staged over ${ms(first.at, last.at).toFixed(0)}`,
      `(gap between acks p50 ${at(0.5).toFixed(1)}, p90 ${at(0.9).toFixed(1)}, max ${at(1).toFixed(1)})`,
      `part ${last.part} staged → at rev (last part, swap, commit, checkpoint, status) ${ms(last.at, atRevAt).toFixed(0)}`,
    ].join(', ');
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}
