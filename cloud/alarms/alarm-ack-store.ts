/**
 * Alarm acknowledgements (docs/web.md): an alarm stays on every console of its
 * compound until a guard or manager acknowledges it, and the acknowledgement is persisted so a
 * reload or a second console sees the same state.
 *
 * The alarms themselves are the store's (`alarms` table, written by ingest); this store keeps only
 * who acknowledged which alarm, in its own table with its own version table
 * (`alarm_ack_migrations`) so the store's migration numbering stays the store's alone; an
 * acknowledgement goes when retention deletes its alarm. open-alarm-ack-store.ts picks the engine's store.
 */
import type { AlarmKind } from '../../shared/enums.ts';

export interface AlarmWithAck {
  id: number;
  gateId: string;
  compoundId: string;
  kind: AlarmKind;
  ts: number;
  detail: string;
  receivedAt: number;
  ack: { by: string; at: number; note: string | null } | null;
}

export interface AlarmListQuery {
  compoundId?: string;
  /** `open`: not yet acknowledged (default); `all`: both. */
  state: 'open' | 'all';
  limit: number;
}

export type AcknowledgeResult =
  | { outcome: 'acknowledged'; alarm: AlarmWithAck }
  | { outcome: 'already-acknowledged'; alarm: AlarmWithAck }
  | { outcome: 'not-found' };

export interface AlarmAckStore {
  list(query: AlarmListQuery): Promise<AlarmWithAck[]>;
  get(id: number): Promise<AlarmWithAck | undefined>;
  /** Idempotent: a second acknowledgement keeps the first one's author and time. */
  acknowledge(id: number, by: string, at: number, note: string | null): Promise<AcknowledgeResult>;
}
