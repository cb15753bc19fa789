/**
 * The size bound on what the cloud sends the gate (docs/edge-agent.md, "Size limits on what the
 * cloud sends"): every payload on the gate's subscriptions is measured before it is parsed
 * (shared/schemas/payload-limits.ts). One over its topic's limit is refused whole — not parsed,
 * not cloud contact, nothing changed — counted per topic and raised as a
 * `cloud-message-oversized` alarm: once per topic per `alarmEveryMs`, carrying how many were
 * refused since the last one, so a flood of them is one alarm, not a flood of alarms.
 */
import type { Logger } from '../shared/log.ts';
import { CLOUD_TO_GATE_MAX_BYTES, type CloudToGateTopic } from '../shared/schemas/payload-limits.ts';

/** At most one alarm per topic this often. */
const ALARM_EVERY_MS = 10 * 60_000;

export interface CloudInputLimitsOptions {
  now: () => number;
  log: Logger;
  /** A refusal to report: raise the `cloud-message-oversized` alarm with this detail. */
  onOversized: (detail: string) => void;
  alarmEveryMs?: number;
}

export type OversizedCounters = Record<CloudToGateTopic, number>;

export class CloudInputLimits {
  /** Payloads refused for their size, per topic. */
  readonly counters: OversizedCounters = { sync: 0, changes: 0, cmd: 0, ack: 0, claimAck: 0, cloudStatus: 0 };
  private readonly alarmed = new Map<CloudToGateTopic, { at: number; count: number }>();

  constructor(private readonly options: CloudInputLimitsOptions) {}

  /** Whether a payload on this topic is small enough to be read; a refusal is counted, logged and alarmed. */
  admit(topic: CloudToGateTopic, payload: Buffer | string): boolean {
    const max = CLOUD_TO_GATE_MAX_BYTES[topic];
    // A string's UTF-8 length is at most three bytes per UTF-16 unit: measure only when it could be over.
    if (typeof payload === 'string' && payload.length * 3 <= max) return true;
    const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    if (bytes <= max) return true;
    this.counters[topic] += 1;
    this.options.log.warn(
      { topic, bytes, max, counter: this.counters[topic] },
      'message from the cloud over its size limit: refused unread',
    );
    this.report(topic, bytes, max);
    return false;
  }

  private report(topic: CloudToGateTopic, bytes: number, max: number): void {
    const now = this.options.now();
    const last = this.alarmed.get(topic);
    if (last && now - last.at < (this.options.alarmEveryMs ?? ALARM_EVERY_MS)) {
      last.count += 1;
      return;
    }
    const since = last && last.count > 0 ? `; ${last.count} more refused since the last alarm` : '';
    this.alarmed.set(topic, { at: now, count: 0 });
    this.options.onOversized(
      `${topic}: a ${bytes}-byte message over the gate's ${max}-byte limit refused unread${since}`,
    );
  }
}
