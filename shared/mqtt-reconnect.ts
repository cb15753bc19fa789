/**
 * Reconnecting an MQTT.js client forever, for the gate (edge-agent/mqtt-link.ts) and the cloud
 * (cloud/mqtt/cloud-mqtt-client.ts). MQTT.js gives up for good after one refused CONNACK (a bad
 * or rotated password, "not authorized"), and retries every other failure at a fixed period. Here
 * the client is created with `reconnectPeriod: 0` and this supervisor schedules every attempt
 * itself, after any close — a refusal included — with exponential backoff and jitter, and calls
 * `beforeAttempt()` first so the caller presents fresh credentials (a token re-read from disk).
 *
 * `state` says what the link is doing, for `/healthz` and the gate's status: `connected`,
 * `connecting` (first attempt, or a dropped link), `refused` (the broker refused the CONNACK),
 * `unreachable` (no answer, connection refused, TLS failure), `stopped`.
 */
import type { MqttClient } from 'mqtt';
import type { Logger } from './log.ts';

export type LinkState = 'connecting' | 'connected' | 'refused' | 'unreachable' | 'stopped';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** ± this fraction of randomness, so many gates do not retry in step after a broker restart. Default 0.2. */
  jitter?: number;
  random?: () => number;
}

/** Doubling delays from `initialMs` up to `maxMs`, with jitter; `reset()` after a success. */
export class Backoff {
  private attempt = 0;
  constructor(private readonly options: BackoffOptions) {}

  next(): number {
    const base = Math.min(this.options.maxMs, this.options.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    const jitter = this.options.jitter ?? 0.2;
    const r = (this.options.random ?? Math.random)();
    return Math.max(0, Math.round(base * (1 - jitter + 2 * jitter * r)));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** MQTT 3.1.1 CONNACK return codes 1–5 (and MQTT 5 reason codes ≥ 0x80) come as errors with a numeric `code`. */
function isConnackRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' && ((code >= 1 && code <= 5) || code >= 0x80);
}

export interface ReconnectSupervisorOptions {
  backoff: BackoffOptions;
  /** Runs before every reconnect attempt (fresh password, fresh will). */
  beforeAttempt?: () => void;
  logger: Logger;
  onState?: (state: LinkState) => void;
}

export class ReconnectSupervisor {
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;
  private current: LinkState = 'connecting';
  private stopped = false;
  /** Why the last attempt failed (the broker's refusal, a socket error). */
  lastError: string | undefined;
  /** Attempts since the link was last up. */
  failedAttempts = 0;
  /** When the next attempt runs (epoch ms), while one is scheduled. */
  nextAttemptAt: number | undefined;

  constructor(
    private readonly client: MqttClient,
    private readonly options: ReconnectSupervisorOptions,
  ) {
    this.backoff = new Backoff(options.backoff);
    let refusedThisAttempt = false;
    client.on('connect', () => {
      refusedThisAttempt = false;
      this.backoff.reset();
      this.failedAttempts = 0;
      this.lastError = undefined;
      this.set('connected');
    });
    client.on('error', (error) => {
      this.lastError = error.message.slice(0, 200);
      if (isConnackRefusal(error)) refusedThisAttempt = true;
    });
    client.on('close', () => {
      if (this.stopped) return;
      this.failedAttempts += this.current === 'connected' ? 0 : 1;
      this.set(refusedThisAttempt ? 'refused' : this.current === 'connected' ? 'connecting' : 'unreachable');
      refusedThisAttempt = false;
      this.schedule();
    });
  }

  get state(): LinkState {
    return this.current;
  }

  private set(state: LinkState): void {
    if (state === this.current) return;
    this.current = state;
    this.options.onState?.(state);
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    const delay = this.backoff.next();
    this.nextAttemptAt = Date.now() + delay;
    this.options.logger.debug({ delayMs: delay, state: this.current, err: this.lastError }, 'mqtt reconnect scheduled');
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.nextAttemptAt = undefined;
      if (this.stopped) return;
      try {
        this.options.beforeAttempt?.();
      } catch (error) {
        // Credentials that cannot be read now may be readable at the next try: keep trying.
        this.lastError = (error as Error).message.slice(0, 200);
        this.options.logger.warn({ err: this.lastError }, 'cannot prepare the mqtt reconnect; retrying');
        this.schedule();
        return;
      }
      this.client.reconnect();
    }, delay);
    this.timer.unref?.();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.set('stopped');
  }
}

/**
 * Turns Nagle's algorithm off on the client's socket, on each connection (a stream without
 * `setNoDelay`, such as a WebSocket's, is left alone). MQTT's packets are small and answer one
 * another — a publish, its PUBACK, the cloud's ack — and under Nagle each small write waited for
 * the ACK of the one before (BENCHMARKS.md, "Quiet reruns at the end of the 11:20 round").
 */
export function withoutNagle(client: MqttClient): void {
  (client.stream as { setNoDelay?: (noDelay?: boolean) => unknown } | undefined)?.setNoDelay?.(true);
}
