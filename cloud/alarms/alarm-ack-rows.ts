/**
 * An alarm with its acknowledgement as both engines return it (sqlite-alarm-ack-store.ts,
 * pg-alarm-ack-store.ts: the same join under the same column names) and what the routes see of it.
 * PostgreSQL hands `bigint` columns back as strings, so every number goes through `Number`.
 */
import type { AlarmKind } from '../../shared/enums.ts';
import type { AlarmWithAck } from './alarm-ack-store.ts';

export interface AlarmRow {
  id: number;
  gate_id: string;
  compound_id: string;
  kind: AlarmKind;
  ts: number;
  detail: string;
  received_at: number;
  acked_by: string | null;
  acked_at: number | null;
  note: string | null;
}

/** The store's alarms with their acknowledgement, if any; each engine adds its WHERE with its placeholders. */
export const SELECT_ALARM = `SELECT a.id, a.gate_id, a.compound_id, a.kind, a.ts, a.detail, a.received_at,
  k.acked_by, k.acked_at, k.note FROM alarms a LEFT JOIN alarm_acks k ON k.alarm_id = a.id`;

export function alarmOfRow(r: AlarmRow): AlarmWithAck {
  return {
    id: Number(r.id),
    gateId: r.gate_id,
    compoundId: r.compound_id,
    kind: r.kind,
    ts: Number(r.ts),
    detail: r.detail,
    receivedAt: Number(r.received_at),
    ack: r.acked_by === null ? null : { by: r.acked_by, at: Number(r.acked_at), note: r.note },
  };
}
