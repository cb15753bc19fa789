/**
 * Device pass certificates the cloud pushes by sync (`pass.device` changes, docs/passes.md
 * "Certificates by sync"), kept in the gate's SQLite file beside the replica so that a phone's first
 * scan at this gate does not have to verify the cloud's Ed25519 signature or decompress the device key.
 *
 * - A change is stored unverified (`verified_key` NULL): the sync path does no signature work, so a
 *   snapshot with thousands of certificates costs the gate nothing at the swap.
 * - The gate verifies stored certificates in the background, a few per event-loop turn
 *   (device-certificate-verifier.ts), with its own keys: a certificate whose signature does not verify,
 *   or whose pass id or person is not the change's, is dropped. A verified row records *which* key
 *   verified it (`kid:x`, `keyFingerprint`) and the device key's uncompressed point.
 * - A scan uses a row only if the scanned certificate is byte-for-byte the stored one and the ring
 *   still holds the same key for its kid (pass-cache.ts): a retired or rotated key is verified again.
 * - Rows go when their pass is revoked (`pass.revoke`), replaced (a newer certificate of the same
 *   person: a resident has one device pass at a time) or its person deleted; a snapshot replaces
 *   them all, keeping the verification of certificates it sends again unchanged. Each of these also
 *   tells the gate's pass cache to forget the certificate (`CertificateListener`); after a snapshot
 *   it keeps only the certificates the snapshot left unchanged.
 *
 * Storing a certificate grants nothing: every scan still checks revocation, the person, the mode,
 * anti-passback, the frame's signature, windows and replay (edge-agent/decision.ts).
 */
import type { KeyRing } from '../shared/keys.ts';
import { decodeDeviceCertificate } from '../shared/device-pass.ts';
import type { Change } from '../shared/schemas/mqtt.ts';
import type { GateDatabase } from './gate-database.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS device_certificates (
  pass_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, certificate BLOB NOT NULL,
  verified_key TEXT, point BLOB) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS device_certificates_by_person ON device_certificates (person_id);
CREATE INDEX IF NOT EXISTS device_certificates_unverified ON device_certificates (pass_id)
  WHERE verified_key IS NULL;
CREATE INDEX IF NOT EXISTS device_certificates_by_key ON device_certificates (verified_key)
  WHERE verified_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS incoming_device_certificates (
  pass_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, certificate BLOB NOT NULL) WITHOUT ROWID;
`;

export type DeviceCertificateChange = Extract<Change, { op: 'pass.device' }>;

/** A certificate the gate verified at sync, as the scan path reads it. */
export interface SyncedCertificate {
  certificate: Buffer;
  /** `kid:x` of the cloud key that verified it (`keyFingerprint`). */
  verifiedKey: string;
  /** The device key, uncompressed (65 bytes). */
  point: Buffer;
}

/** The scan path's view of the certificates verified at sync (a `ReplicaView` may offer it). */
export interface SyncedCertificates {
  verifiedCertificate(passId: string): SyncedCertificate | undefined;
}

/** Told when a stored certificate stops counting, inside the replica's transaction. */
export interface CertificateListener {
  forgetPass(passId: string): void;
  forgetPerson(personId: string): void;
  /**
   * After a snapshot: keep the device certificates `stored(passId, certificate)` says the replica
   * holds unchanged, forget every other one.
   */
  retainStored(stored: (passId: string, certificate: Buffer) => boolean): void;
}

const fingerprints = new WeakMap<KeyRing, Map<number, string>>();

/** `kid:x` (the raw Ed25519 public key, base64url) of the ring's key for `kid`; undefined if none. */
export function keyFingerprint(ring: KeyRing, kid: number): string | undefined {
  let known = fingerprints.get(ring);
  if (!known) {
    known = new Map();
    fingerprints.set(ring, known);
  }
  let fingerprint = known.get(kid);
  if (fingerprint === undefined) {
    const key = ring.get(kid);
    if (!key) return undefined;
    fingerprint = `${kid}:${key.export({ format: 'jwk' }).x}`;
    known.set(kid, fingerprint);
  }
  return fingerprint;
}

/** The stored certificate's bytes, or undefined when the change's do not decode to that pass and person. */
export function certificateOfChange(change: DeviceCertificateChange): Buffer | undefined {
  const certificate = Buffer.from(change.certificate, 'base64url');
  const decoded = decodeDeviceCertificate(certificate);
  if (!decoded || decoded.pass.passId !== change.passId || decoded.pass.personId !== change.personId) return undefined;
  return certificate;
}

/**
 * The keys that verified stored rows, and a key's rows: both searched in the index
 * `device_certificates_by_key`, never by a scan of the table. The keys are found by a loose index scan
 * (from one key straight to the next greater), so the start-up check costs one index seek per
 * distinct key — a handful — however many certificates the gate holds (a `SELECT DISTINCT` read
 * every row; EXPLAIN QUERY PLAN in test/edge-agent/device-certificates.test.ts).
 */
export const VERIFIED_KEY_QUERIES = {
  verifiedKeys: `WITH RECURSIVE keys (verified_key) AS (
      SELECT MIN(verified_key) FROM device_certificates WHERE verified_key IS NOT NULL
      UNION ALL
      SELECT (SELECT MIN(verified_key) FROM device_certificates WHERE verified_key > keys.verified_key)
        FROM keys WHERE keys.verified_key IS NOT NULL)
    SELECT verified_key FROM keys WHERE verified_key IS NOT NULL`,
  unverify: 'UPDATE device_certificates SET verified_key = NULL, point = NULL WHERE verified_key = ?',
} as const;

function statementsOf(db: GateDatabase) {
  return {
    verified: db.prepare<[string], { certificate: Buffer; verified_key: string; point: Buffer }>(
      'SELECT certificate, verified_key, point FROM device_certificates WHERE pass_id = ? AND verified_key IS NOT NULL',
    ),
    revoked: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM revoked_passes WHERE pass_id = ?'),
    stored: db.prepare<[string, Buffer], { one: number }>(
      'SELECT 1 AS one FROM device_certificates WHERE pass_id = ? AND certificate = ?',
    ),
    othersOf: db.prepare<[string, string], { pass_id: string }>(
      'DELETE FROM device_certificates WHERE person_id = ? AND pass_id <> ? RETURNING pass_id',
    ),
    // The same certificate again keeps its verification; a different one with the same pass id does not.
    upsert: db.prepare<[string, string, Buffer]>(
      `INSERT INTO device_certificates (pass_id, person_id, certificate) VALUES (?, ?, ?)
       ON CONFLICT (pass_id) DO UPDATE SET person_id = excluded.person_id, certificate = excluded.certificate,
         verified_key = CASE WHEN certificate = excluded.certificate THEN verified_key END,
         point = CASE WHEN certificate = excluded.certificate THEN point END`,
    ),
    deletePass: db.prepare<[string]>('DELETE FROM device_certificates WHERE pass_id = ?'),
    deletePerson: db.prepare<[string]>('DELETE FROM device_certificates WHERE person_id = ?'),
    stage: db.prepare<[string, string, Buffer]>(
      'INSERT OR REPLACE INTO incoming_device_certificates (pass_id, person_id, certificate) VALUES (?, ?, ?)',
    ),
    clearStaging: db.prepare('DELETE FROM incoming_device_certificates'),
    swap: [
      'DELETE FROM device_certificates WHERE pass_id NOT IN (SELECT pass_id FROM incoming_device_certificates)',
      `INSERT INTO device_certificates (pass_id, person_id, certificate)
         SELECT pass_id, person_id, certificate FROM incoming_device_certificates WHERE true
       ON CONFLICT (pass_id) DO UPDATE SET person_id = excluded.person_id, certificate = excluded.certificate,
         verified_key = CASE WHEN certificate = excluded.certificate THEN verified_key END,
         point = CASE WHEN certificate = excluded.certificate THEN point END`,
      // The snapshot's own revocations (applied just before) win over its certificates.
      'DELETE FROM device_certificates WHERE pass_id IN (SELECT pass_id FROM revoked_passes)',
      'DELETE FROM incoming_device_certificates',
    ].map((sql) => db.prepare(sql)),
    unverified: db.prepare<[number], { pass_id: string; person_id: string; certificate: Buffer }>(
      'SELECT pass_id, person_id, certificate FROM device_certificates WHERE verified_key IS NULL LIMIT ?',
    ),
    markVerified: db.prepare<[string, Buffer, string, Buffer]>(
      'UPDATE device_certificates SET verified_key = ?, point = ? WHERE pass_id = ? AND certificate = ?',
    ),
    verifiedKeys: db.prepare<[], { verified_key: string }>(VERIFIED_KEY_QUERIES.verifiedKeys),
    unverify: db.prepare<[string]>(VERIFIED_KEY_QUERIES.unverify),
    count: db.prepare<[], { all: number; verified: number }>(
      'SELECT COUNT(*) AS "all", COUNT(verified_key) AS verified FROM device_certificates',
    ),
  };
}

export class DeviceCertificateReplica implements SyncedCertificates {
  private readonly stmt: ReturnType<typeof statementsOf>;
  /** The gate's pass cache, told when a certificate stops counting. */
  listener: CertificateListener | undefined;
  /** Called after a change added certificates to verify (the background verifier wakes up). */
  onUnverified: (() => void) | undefined;

  constructor(private readonly db: GateDatabase) {
    db.exec(SCHEMA);
    this.stmt = statementsOf(db);
  }

  verifiedCertificate(passId: string): SyncedCertificate | undefined {
    const row = this.stmt.verified.get(passId);
    return row ? { certificate: row.certificate, verifiedKey: row.verified_key, point: row.point } : undefined;
  }

  /** A `pass.device` change of a delta: stored unverified; the person's other certificates go. */
  apply(change: DeviceCertificateChange): boolean {
    const certificate = certificateOfChange(change);
    if (!certificate || this.stmt.revoked.get(change.passId)) return false;
    for (const { pass_id } of this.stmt.othersOf.all(change.personId, change.passId))
      this.listener?.forgetPass(pass_id);
    this.stmt.upsert.run(change.passId, change.personId, certificate);
    this.listener?.forgetPass(change.passId);
    this.onUnverified?.();
    return true;
  }

  revoked(passId: string): void {
    this.stmt.deletePass.run(passId);
    this.listener?.forgetPass(passId);
  }

  personChanged(personId: string, deleted: boolean): void {
    if (deleted) this.stmt.deletePerson.run(personId);
    this.listener?.forgetPerson(personId);
  }

  stage(change: DeviceCertificateChange): boolean {
    const certificate = certificateOfChange(change);
    if (!certificate) return false;
    this.stmt.stage.run(change.passId, change.personId, certificate);
    return true;
  }

  clearStaging(): void {
    this.stmt.clearStaging.run();
  }

  /**
   * Inside the snapshot's swap, after the revocations are in. The pass cache then keeps only the
   * certificates the snapshot left as they were (same pass, same bytes, not revoked): one primary-key
   * lookup per cached certificate, not a read of the table.
   */
  swap(): void {
    for (const statement of this.stmt.swap) statement.run();
    this.listener?.retainStored((passId, certificate) => this.stmt.stored.get(passId, certificate) !== undefined);
    this.onUnverified?.();
  }

  /** Up to `limit` certificates still to verify. */
  unverified(limit: number): { passId: string; personId: string; certificate: Buffer }[] {
    return this.stmt.unverified
      .all(limit)
      .map((r) => ({ passId: r.pass_id, personId: r.person_id, certificate: r.certificate }));
  }

  /** Records verifications in one transaction, except of rows that changed meanwhile (they stay to verify). */
  markVerifiedAll(rows: readonly { passId: string; certificate: Buffer; verifiedKey: string; point: Buffer }[]): void {
    if (rows.length === 0) return;
    this.db.transaction(() => {
      for (const r of rows) this.stmt.markVerified.run(r.verifiedKey, r.point, r.passId, r.certificate);
    })();
  }

  /** A certificate that does not verify with the gate's keys is not kept. */
  drop(passId: string): void {
    this.revoked(passId);
  }

  /** Rows verified with a key that is not the ring's (rotated, retired) are verified again. */
  reverifyOutside(ring: KeyRing): number {
    const current = new Set([...ring.keys()].map((kid) => keyFingerprint(ring, kid)));
    let changed = 0;
    const stale = this.stmt.verifiedKeys.all().filter((r) => !current.has(r.verified_key));
    this.db.transaction(() => {
      for (const { verified_key } of stale) changed += this.stmt.unverify.run(verified_key).changes;
    })();
    if (changed > 0) this.onUnverified?.();
    return changed;
  }

  counts(): { all: number; verified: number } {
    return this.stmt.count.get() ?? { all: 0, verified: 0 };
  }
}
