/**
 * What the cloud keeps about device passes beside the `passes` table (docs/passes.md, "Device
 * passes"): which medium the manager chose for each resident, and each resident's current device
 * pass (one at a time) with its certificate. The pass itself is an ordinary row of `passes`, so
 * revoking it is the ordinary `pass.revoke` change every gate already applies.
 */
import type { PassMedium } from '../../shared/schemas/device-pass.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { ChangeBatch } from '../store/store.ts';

export interface MediumChoice {
  personId: string;
  medium: PassMedium;
  setBy: string;
  setAt: number;
}

export interface DevicePassRecord {
  passId: string;
  personId: string;
  compoundId: string;
  /** body ‖ cloud signature (shared/device-pass.ts). */
  certificate: Buffer;
  /** First 16 hex digits of SHA-256 of the compressed device key. */
  deviceKeyId: string;
  label: string | null;
  frameSeconds: number;
  notBefore: number;
  expiresAt: number;
  issuedAt: number;
}

export interface DevicePassStore {
  /** The manager's choice; `printed` when none was made. */
  medium(personId: string): Promise<PassMedium>;
  setMedium(choice: MediumChoice): Promise<void>;
  /** The resident's current device pass, if any (revoked or expired ones are not current). */
  current(personId: string): Promise<DevicePassRecord | undefined>;
  /** Makes `record` the person's current device pass, returning the one it replaces. */
  replace(record: DevicePassRecord): Promise<DevicePassRecord | undefined>;
  /** Forgets the person's current device pass (after revoking it); returns it. */
  clear(personId: string): Promise<DevicePassRecord | undefined>;
  /**
   * Appends the certificate's `pass.device` change to its compound's log (docs/passes.md,
   * "Certificates by sync"), for the caller to publish.
   */
  announce(record: DevicePassRecord): Promise<ChangeBatch>;
  /** The compound's current device passes not revoked and not expired at `now`, for a gate's snapshot. */
  forSnapshot(compoundId: string, now: number): Promise<DeviceCertificateRow[]>;
}

export interface DeviceCertificateRow {
  passId: string;
  personId: string;
  certificate: Buffer;
}

/** The change that carries a certificate to the gates. */
export function certificateChange(row: DeviceCertificateRow): Change {
  return {
    op: 'pass.device',
    passId: row.passId,
    personId: row.personId,
    certificate: row.certificate.toString('base64url'),
  };
}
