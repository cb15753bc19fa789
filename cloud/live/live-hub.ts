/**
 * In-process fan-out of what `/live` streams: entries, alarms and gate status changes. Ingest
 * publishes here; so may any other component (analytics, web). Listeners filter by compound.
 * Entries carry the resident's masked name, never the idHash (docs/architecture.md rule 5).
 *
 * With several cloud instances a relay carries what one instance publishes to the others
 * (cloud/live/pg-live-fanout.ts): `publish` hands every message to it as well, and the relay
 * hands what it heard from the others to `deliver`, which reaches this instance's listeners only.
 * A message published `here` stays on this instance: gate statuses (every instance subscribes
 * them itself) and what an instance derives from a status.
 */
import type { AlarmKind, Direction, HealthColour, Method, Mode, Reason, Result } from '../../shared/enums.ts';
import type { GateStatus } from '../../shared/schemas/mqtt.ts';

export interface LiveEntry {
  gateId: string;
  compoundId: string;
  seq: number;
  ts: number;
  direction: Direction;
  method: Method;
  result: Result;
  reason: Reason;
  personId: string | null;
  maskedName: string | null;
  health: HealthColour;
  mode: Mode;
  passed: boolean | null;
}

export interface LiveAlarm {
  gateId: string;
  compoundId: string;
  kind: AlarmKind;
  ts: number;
  detail: string;
}

export interface LiveStatus extends GateStatus {
  gateId: string;
  compoundId: string;
}

/** An alarm acknowledged by someone (cloud/alarms/alarm-ack-store.ts): every console of the compound clears it. */
export interface LiveAlarmAck {
  alarmId: number;
  gateId: string;
  compoundId: string;
  by: string;
  at: number;
}

export type LiveMessage =
  | { type: 'entry'; data: LiveEntry }
  | { type: 'alarm'; data: LiveAlarm }
  | { type: 'alarm-ack'; data: LiveAlarmAck }
  | { type: 'status'; data: LiveStatus };

export type LiveListener = (message: LiveMessage) => void;

/** Where a published message goes: this instance's listeners and the relay (`everywhere`), or only the former. */
export type LiveScope = 'everywhere' | 'here';

export class LiveHub {
  private readonly listeners = new Map<LiveListener, string | undefined>();
  private readonly closers = new Set<() => void>();
  private relay: LiveListener | undefined;

  /** Listens to every compound (`compoundId` undefined) or one; returns the unsubscribe function. */
  subscribe(listener: LiveListener, compoundId?: string): () => void {
    this.listeners.set(listener, compoundId);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Whether a published message can reach anyone: a listener here, or a relay to other instances. */
  get hasAudience(): boolean {
    return this.listeners.size > 0 || this.relay !== undefined;
  }

  /** Hands every message published `everywhere` to `relay` too; returns the detach function. */
  attachRelay(relay: LiveListener): () => void {
    this.relay = relay;
    return () => {
      if (this.relay === relay) this.relay = undefined;
    };
  }

  /** Registers what ends a long-lived consumer (an SSE stream) when the cloud stops. */
  onShutdown(close: () => void): () => void {
    this.closers.add(close);
    return () => {
      this.closers.delete(close);
    };
  }

  /** Ends every registered consumer (called by the cloud's `stop()`). */
  shutdown(): void {
    for (const close of [...this.closers]) close();
    this.closers.clear();
  }

  publish(message: LiveMessage, scope: LiveScope = 'everywhere'): void {
    if (scope === 'everywhere') this.relay?.(message);
    this.deliver(message);
  }

  /** To this instance's listeners only: what the relay heard from another instance. */
  deliver(message: LiveMessage): void {
    for (const [listener, compoundId] of this.listeners) {
      if (compoundId !== undefined && compoundId !== message.data.compoundId) continue;
      listener(message);
    }
  }
}
