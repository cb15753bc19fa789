/**
 * The smallest cloud a gate can talk to: an MQTT.js client that stores events by (gateId, seq),
 * acks cumulatively (the highest seq with nothing missing below it), keeps statuses, alarms and
 * command results, and answers sync requests with a snapshot of the changes it was given.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { SigningKey } from '../../shared/keys.ts';
import {
  alarmMessageSchema,
  type AlarmMessage,
  type Change,
  type CommandResult,
  commandResultSchema,
  type EntryEvent,
  eventsMessageSchema,
  type GateStatus,
  gateStatusSchema,
  syncRequestSchema,
} from '../../shared/schemas/mqtt.ts';
import { filters, parseGateTopic, topics } from '../../shared/topics.ts';
import { signToken } from '../../shared/token.ts';

export class CloudStandIn {
  client: MqttClient | undefined;
  readonly stored = new Map<number, EntryEvent>();
  readonly messages: EntryEvent[][] = [];
  readonly statuses: GateStatus[] = [];
  readonly alarms: AlarmMessage[] = [];
  readonly results: CommandResult[] = [];
  readonly syncRequests: number[] = [];
  ackedUpTo = 0;
  /** When false, events are stored but no ack is sent (a cloud that lags). */
  acking = true;
  /** Delay before each ack (a slow store). */
  ackDelayMs = 0;
  /** Every seq in the order it first arrived (to check that the gate sends in seq order). */
  readonly firstArrival: number[] = [];
  /** How many times each seq arrived (replays after reconnects and restarts are allowed, and deduped). */
  readonly arrivals = new Map<number, number>();
  /** What a sync request is answered with: a one-part snapshot at `rev`. */
  snapshot: { rev: number; records: Change[] } | undefined;

  constructor(
    private readonly url: string,
    private readonly key: SigningKey,
  ) {}

  async start(): Promise<void> {
    const token = signToken({ sub: 'cloud-test', role: 'cloud', exp: Date.now() + 3_600_000 }, this.key);
    const client = await mqtt.connectAsync(this.url, {
      clientId: 'cloud-test',
      username: 'cloud-test',
      password: token,
      protocolVersion: 4,
      reconnectPeriod: 200,
    });
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    await client.subscribeAsync(
      ['events', 'status', 'alarms', 'cmd/result', 'sync/request'].map((k) => filters.allGates(k as never)),
      { qos: 1 },
    );
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true);
  }

  /** Seqs stored, in order. */
  seqs(): number[] {
    return [...this.stored.keys()].sort((a, b) => a - b);
  }

  async publishChanges(compoundId: string, fromRev: number, toRev: number, changes: Change[]): Promise<void> {
    await this.client!.publishAsync(topics.compoundChanges(compoundId), JSON.stringify({ fromRev, toRev, changes }), {
      qos: 1,
    });
  }

  async command(gateId: string, cmd: Record<string, unknown>): Promise<void> {
    await this.client!.publishAsync(topics.gateCmd(gateId), JSON.stringify(cmd), { qos: 1 });
  }

  async raw(topic: string, payload: string): Promise<void> {
    await this.client!.publishAsync(topic, payload, { qos: 1 });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const { gateId, kind } = parseGateTopic(topic);
    const json: unknown = JSON.parse(payload.toString());
    if (kind === 'events') {
      const { events } = eventsMessageSchema.parse(json);
      this.messages.push(events);
      for (const event of events) {
        this.arrivals.set(event.seq, (this.arrivals.get(event.seq) ?? 0) + 1);
        if (this.stored.has(event.seq)) continue;
        this.stored.set(event.seq, event);
        this.firstArrival.push(event.seq);
      }
      while (this.stored.has(this.ackedUpTo + 1)) this.ackedUpTo += 1;
      const upTo = this.ackedUpTo;
      const ack = () => this.client?.publish(topics.gateAck(gateId), JSON.stringify({ upTo }), { qos: 1 });
      if (this.acking && this.ackDelayMs > 0) setTimeout(ack, this.ackDelayMs);
      else if (this.acking) ack();
    } else if (kind === 'status') this.statuses.push(gateStatusSchema.parse(json));
    else if (kind === 'alarms') this.alarms.push(alarmMessageSchema.parse(json));
    else if (kind === 'cmd/result') this.results.push(commandResultSchema.parse(json));
    else if (kind === 'sync/request') {
      const { fromRev } = syncRequestSchema.parse(json);
      this.syncRequests.push(fromRev);
      if (this.snapshot) {
        const chunk = { snapshotRev: this.snapshot.rev, part: 1, parts: 1, records: this.snapshot.records };
        this.client?.publish(topics.gateSync(gateId), JSON.stringify(chunk), { qos: 1 });
      }
    }
  }
}

/** Polls until `check` returns true (real sockets and timers: no fake clock here). */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
