/**
 * The broker's silence, told apart from the cloud's own holds (docs/deploy.md, "A broker that dies
 * silently"). MQTT.js gives the link up 1.5 × keepalive after the last ack or PINGRESP it handled;
 * it handles packets one at a time, so while ingest holds a message (a full queue, a store lookup)
 * every later packet — the PINGRESP too — waits unread, and a hold past 1.5 × keepalive would end
 * a healthy link (the broker answered; the cloud did not read). So a message handled restarts the
 * keepalive (at most once a second: it came from the broker, which is therefore alive; its PUBACK
 * tells the broker the same of the cloud), and during a hold the cloud pings every half keepalive —
 * the broker must hear from it within 1.5 × keepalive (broker/connection-guard.ts, "Keepalive") —
 * and restarts its own keepalive, so it never times out on the answers it is not reading.
 *
 * Only for `capKeepalives` keepalives of one continuous hold (default `HOLD_CAP_KEEPALIVES`): a
 * hold that long is no longer backpressure but a wedged store, and pretending any longer would keep
 * a broker that died silently unnoticed — `/healthz` saying `ok` — for as long as the store stays
 * wedged. Past the cap the cloud stops pinging and restarting: MQTT.js's own keepalive judges the
 * link again and ends it 1.5 × keepalive later (a dead broker, and also a live one whose answers
 * still wait unread behind the held message: a cloud that has read nothing for that long is not
 * serving, and `degraded` is the truth); the supervisor reconnects with backoff and the gates resend
 * what was not acked. The cap is logged and counted (`onOverCap`) once per hold. A hold that ends
 * before the cap behaves as if there were none; the keepalive runs as before from its end.
 */
import type { MqttClient } from 'mqtt';
import type { Logger } from '../../shared/log.ts';

/**
 * A hold stops keeping the keepalive quiet after this many keepalives (60 s at the cloud's 15 s):
 * a store hiccup (a checkpoint, a PostgreSQL failover of some tens of seconds) fits within it; a
 * cloud that has read nothing for a minute is also what aedes' drain timer closes (docs/deploy.md,
 * "Limits per connection"); and a broker that died during such a hold shows within
 * 60 + 22.5 s — still sooner than MQTT.js's default keepalive alone (90 s).
 */
export const HOLD_CAP_KEEPALIVES = 4;

/** setInterval/clearInterval, as MQTT.js's `timerVariant` takes them (injectable for tests). */
export interface IntervalTimer {
  set(callback: () => void, ms: number): unknown;
  clear(id: unknown): void;
}

const nativeIntervalTimer: IntervalTimer = {
  set: (callback, ms) => setInterval(callback, ms).unref(),
  clear: (id) => clearInterval(id as NodeJS.Timeout),
};

export interface KeepaliveDuringHoldsOptions {
  keepaliveSec: number;
  /** Keepalives of one continuous hold after which the keepalive judges the link again. */
  capKeepalives?: number;
  timer?: IntervalTimer;
  logger: Logger;
  /** Called once per hold that outlasts the cap. */
  onOverCap?: () => void;
}

export class KeepaliveDuringHolds {
  private lastRestart = 0;
  private readonly everyMs: number;
  /** Pings of one hold; the cap is reached on the last of them. */
  private readonly capTicks: number;
  private readonly timer: IntervalTimer;

  constructor(private readonly options: KeepaliveDuringHoldsOptions) {
    const keepaliveMs = options.keepaliveSec * 1000;
    this.everyMs = Math.max(100, Math.floor(keepaliveMs / 2));
    const capKeepalives = options.capKeepalives ?? HOLD_CAP_KEEPALIVES;
    if (!(capKeepalives > 0)) throw new TypeError(`capKeepalives: expected > 0, got ${capKeepalives}`);
    this.capTicks = Math.max(1, Math.ceil((capKeepalives * keepaliveMs) / this.everyMs));
    this.timer = options.timer ?? nativeIntervalTimer;
  }

  handled(client: MqttClient): void {
    const now = Date.now();
    if (now - this.lastRestart < 1_000) return;
    this.lastRestart = now;
    client.reschedulePing(true);
  }

  hold(client: MqttClient): { end(): void } {
    // Tied to the connection the held message came on: after a reconnect (the same client, a new
    // stream) a stale hold must not keep the new link's keepalive quiet.
    const stream = client.stream;
    let ticks = 0;
    const id = this.timer.set(() => {
      if (client.stream !== stream || !client.connected) {
        this.timer.clear(id);
        return;
      }
      ticks += 1;
      if (ticks > this.capTicks) {
        // Stop pretending: MQTT.js's keepalive, restarted by the previous tick, judges from here.
        this.timer.clear(id);
        this.overCap();
        return;
      }
      client.sendPing();
      client.reschedulePing(true);
    }, this.everyMs);
    return { end: () => this.timer.clear(id) };
  }

  private overCap(): void {
    const capMs = this.capTicks * this.everyMs;
    this.options.logger.warn(
      { capMs, keepaliveSec: this.options.keepaliveSec },
      'ingest has held a message past the cap: the keepalive judges the link again (a broker that ' +
        'stopped answering, or whose answers stay unread behind the hold, ends it)',
    );
    this.options.onOverCap?.();
  }
}
