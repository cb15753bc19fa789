/**
 * Is the cloud listening? (docs/edge-agent.md "Cloud readiness".) Gate and cloud use clean MQTT
 * sessions, so after a broker restart whatever the gate publishes before the cloud has subscribed
 * again is dropped by the broker — a resent backlog would then wait for the ack timer (30 s), a
 * sync request for its retry (15 s). The cloud publishes `{online: true}` retained on
 * `anxin/v1/cloud/status` once it has subscribed, and `{online: false}` as its last will and when
 * it stops. This class turns that, with the gate's own connection, into one signal:
 *
 * - `ready`: the link is up and the cloud said `online: true` (the retained copy right after the
 *   gate subscribes, or live when the cloud comes back, also while the gate stayed connected).
 *   The agent resends everything unacked and asks for sync on every `ready`.
 * - `unready`: the link went down, or the cloud said `online: false`. The agent stops publishing
 *   events and sync requests (they would be lost); the journal keeps them.
 *
 * A broker or cloud that never says anything (a cloud from before this message, a broker whose ACL
 * does not let the gate read the topic) would leave the gate waiting forever, so after
 * `fallbackMs` on a link with no cloud status at all the gate is `ready` anyway, as it was before.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../shared/log.ts';
import { cloudStatusSchema } from '../shared/schemas/mqtt.ts';

export interface CloudReadinessEvents {
  ready: [why: 'cloud-online' | 'fallback'];
  unready: [];
}

export interface CloudReadinessOptions {
  logger: Logger;
  /** How long a connected gate waits for any cloud status before assuming the cloud is there. */
  fallbackMs: number;
}

export class CloudReadiness extends EventEmitter<CloudReadinessEvents> {
  private linkUp = false;
  /** The cloud's last word on this link: undefined until it has said anything. */
  private cloudOnline: boolean | undefined;
  private isReady = false;
  private fallback: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  readonly counters = { ready: 0, fallbacks: 0, malformed: 0, cloudOffline: 0 };

  constructor(private readonly options: CloudReadinessOptions) {
    super();
    this.log = options.logger.child({ component: 'edge.readiness' });
  }

  get ready(): boolean {
    return this.isReady;
  }

  /** What the gate knows of the cloud: `unknown` until it has said something on this link. */
  get cloud(): 'online' | 'offline' | 'unknown' {
    return this.cloudOnline === undefined ? 'unknown' : this.cloudOnline ? 'online' : 'offline';
  }

  connectionUp(): void {
    this.linkUp = true;
    this.cloudOnline = undefined;
    this.clearFallback();
    this.fallback = setTimeout(() => {
      this.fallback = undefined;
      if (!this.linkUp || this.cloudOnline !== undefined) return;
      this.counters.fallbacks += 1;
      this.log.info({ afterMs: this.options.fallbackMs }, 'no cloud status on this broker: sending anyway');
      this.becomeReady('fallback');
    }, this.options.fallbackMs);
    this.fallback.unref();
  }

  connectionDown(): void {
    this.linkUp = false;
    this.cloudOnline = undefined;
    this.clearFallback();
    this.becomeUnready();
  }

  /** A message on `anxin/v1/cloud/status`. */
  handleStatus(payload: Buffer | string): void {
    if (payload.length === 0) return; // a cleared retained message says nothing
    let json: unknown;
    try {
      json = JSON.parse(payload.toString());
    } catch {
      json = undefined;
    }
    const parsed = cloudStatusSchema.safeParse(json);
    if (!parsed.success) {
      this.counters.malformed += 1;
      this.log.warn({ counter: this.counters.malformed }, 'malformed cloud status ignored');
      return;
    }
    if (!this.linkUp) return;
    this.cloudOnline = parsed.data.online;
    this.clearFallback();
    if (parsed.data.online) {
      // Every `online: true` counts, also when already ready: a cloud that restarted behind a
      // broker that stayed up missed whatever was sent meanwhile.
      this.isReady = false;
      this.becomeReady('cloud-online');
    } else {
      this.counters.cloudOffline += 1;
      this.log.warn('the cloud is offline: holding events and sync requests until it is back');
      this.becomeUnready();
    }
  }

  stop(): void {
    this.clearFallback();
    this.linkUp = false;
    this.isReady = false;
  }

  private becomeReady(why: 'cloud-online' | 'fallback'): void {
    if (this.isReady) return;
    this.isReady = true;
    this.counters.ready += 1;
    this.emit('ready', why);
  }

  private becomeUnready(): void {
    if (!this.isReady) return;
    this.isReady = false;
    this.emit('unready');
  }

  private clearFallback(): void {
    if (this.fallback) clearTimeout(this.fallback);
    this.fallback = undefined;
  }
}
