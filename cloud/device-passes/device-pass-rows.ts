/**
 * A device pass row as both engines return it (sqlite-device-pass-store.ts,
 * pg-device-pass-store.ts: the same columns under the same names), the record the service sees of
 * it, and the values of the upsert in its column order. PostgreSQL hands `bigint` columns back as
 * strings, so every number goes through `Number`.
 */
import type { DevicePassRecord } from './device-pass-store.ts';

export interface DevicePassRow {
  person_id: string;
  pass_id: string;
  compound_id: string;
  certificate: Buffer;
  device_key_id: string;
  label: string | null;
  frame_seconds: number;
  not_before: number;
  expires_at: number;
  issued_at: number;
}

export const devicePassOfRow = (r: DevicePassRow): DevicePassRecord => ({
  passId: r.pass_id,
  personId: r.person_id,
  compoundId: r.compound_id,
  certificate: r.certificate,
  deviceKeyId: r.device_key_id,
  label: r.label,
  frameSeconds: Number(r.frame_seconds),
  notBefore: Number(r.not_before),
  expiresAt: Number(r.expires_at),
  issuedAt: Number(r.issued_at),
});

/** The upsert's values: person_id, pass_id, compound_id, certificate, device_key_id, label, frame_seconds, not_before, expires_at, issued_at. */
export type DevicePassValues = [string, string, string, Buffer, string, string | null, number, number, number, number];

export const devicePassValues = (r: DevicePassRecord): DevicePassValues => [
  r.personId,
  r.passId,
  r.compoundId,
  r.certificate,
  r.deviceKeyId,
  r.label,
  r.frameSeconds,
  r.notBefore,
  r.expiresAt,
  r.issuedAt,
];
