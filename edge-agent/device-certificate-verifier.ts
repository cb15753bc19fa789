/**
 * Verifies the device pass certificates the gate received by sync (device-certificates.ts) in the
 * background, so that a phone's first scan here finds its certificate already checked (docs/passes.md,
 * "Certificates by sync"): the cloud's Ed25519 signature with the gate's own keys, and the device key
 * decompressed. A few certificates per event-loop turn, at most `sliceMs` of work each (≈ 0.13 ms a
 * certificate), so a snapshot with thousands of them never holds up a scan for longer than one slice.
 *
 * A certificate that does not verify is dropped (its scans are then verified in full, and refused if
 * they fail) and logged. Idle while nothing waits; ends by itself once the database is closed.
 */
import { verifyDeviceCertificateBytes } from '../shared/device-pass.ts';
import type { KeyRing } from '../shared/keys.ts';
import type { Logger } from '../shared/log.ts';
import { type DeviceCertificateReplica, keyFingerprint } from './device-certificates.ts';

export interface CertificateVerifierOptions {
  certificates: DeviceCertificateReplica;
  ring: KeyRing;
  /** False once the gate's database is closed: the verifier stops. */
  isOpen: () => boolean;
  log?: Logger;
  /** Work per event-loop turn, ms (default 2). */
  sliceMs?: number;
  /** Certificates read per query (default 32). */
  batch?: number;
}

export class DeviceCertificateVerifier {
  private scheduled = false;
  readonly counters = { verified: 0, dropped: 0 };
  private readonly sliceMs: number;
  private readonly batch: number;

  constructor(private readonly options: CertificateVerifierOptions) {
    this.sliceMs = options.sliceMs ?? 2;
    this.batch = options.batch ?? 32;
  }

  /** Re-verifies rows checked with a key the ring no longer holds, and verifies what waits. */
  start(): void {
    this.options.certificates.reverifyOutside(this.options.ring);
    this.wake();
  }

  /** Something may wait: runs on a later turn of the event loop (never inside the caller's transaction). */
  wake(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.options.isOpen()) return;
      try {
        if (this.slice()) this.wake();
      } catch (err) {
        // A background job must not take the gate down; the scans verify in full meanwhile.
        this.options.log?.error({ err }, 'device pass certificates: verification stopped');
      }
    });
  }

  /** Verifies until nothing waits (tests, benchmarks). */
  drain(): void {
    while (this.slice()) {
      // each slice verifies at least one batch
    }
  }

  /** One slice of work; true when more may wait. */
  private slice(): boolean {
    const { certificates, ring, log } = this.options;
    const deadline = performance.now() + this.sliceMs;
    do {
      const rows = certificates.unverified(this.batch);
      if (rows.length === 0) return false;
      const verified: { passId: string; certificate: Buffer; verifiedKey: string; point: Buffer }[] = [];
      for (const row of rows) {
        const check = verifyDeviceCertificateBytes(row.certificate, ring);
        const verifiedKey = check.ok ? keyFingerprint(ring, check.pass.kid) : undefined;
        if (
          check.ok &&
          verifiedKey !== undefined &&
          check.pass.passId === row.passId &&
          check.pass.personId === row.personId
        ) {
          verified.push({ passId: row.passId, certificate: row.certificate, verifiedKey, point: check.point });
        } else {
          certificates.drop(row.passId);
          this.counters.dropped += 1;
          log?.warn(
            { passId: row.passId, reason: check.ok ? 'wrong-person' : check.reason },
            'device pass certificate from the cloud does not verify: not kept',
          );
        }
      }
      certificates.markVerifiedAll(verified);
      this.counters.verified += verified.length;
    } while (performance.now() < deadline);
    return true;
  }
}
