/**
 * Passes this gate has already verified, by their exact text: a resident shows the same pass many
 * times a day, and the Ed25519 verify (~0.11 ms) is most of a QR decision. A hit skips only the
 * signature check; the validity window is checked on every scan (here, as `verifyPass` does), and
 * revocation, the person, the mode and every limit are checked by `decideEntry` as always.
 *
 * Why a forged text can never hit: the key is the whole text (payload and signature), and only
 * texts whose signature verified are stored, so a hit is a text byte-for-byte equal to one that
 * verified. An entry also remembers the public key it verified with: if the ring is replaced, or
 * that kid no longer maps to that key, the entry does not count. A hit returns the same answer
 * `verifyPass` would, so `decideEntry` stays a pure function of its arguments (the cache lives in
 * its `GateContext` and only memoises a pure computation).
 *
 * Bounded: at most `capacity` entries, in two generations of up to capacity/2 each. New entries go
 * into the young one; when it is full, the old one is dropped whole and the young one becomes old;
 * a hit in the old one is moved to the young one. So what is dropped is what was not used during
 * the last capacity/2 insertions — least-recently-used eviction at O(1), without deleting single
 * keys from a Map (V8 leaves a hole per deletion that iteration and rehashing then walk over).
 *
 * Device passes (`AX2:`, shared/device-pass.ts) change text with every frame, so what is cached for
 * them is the certificate alone (its bytes are the key, with its cloud signature, so again only a
 * byte-for-byte copy of a verified one hits): a hit skips the Ed25519 check and the import of the
 * device key. The device's ECDSA signature and both time windows are checked on every scan.
 */
import type { KeyObject } from 'node:crypto';
import {
  checkDeviceFrame,
  type DevicePassCheck,
  decodeDevicePass,
  type VerifiedDeviceCertificate,
  verifyDeviceCertificate,
} from '../shared/device-pass.ts';
import type { KeyRing } from '../shared/keys.ts';
import { type PassCheck, type VerifiedPass, verifyPass } from '../shared/pass.ts';

/** Cache keys of certificates start with this; pass texts start with `AX1:`, so the two never meet. */
const CERTIFICATE_KEY = 'cert:';

const DEFAULT_PASS_CACHE_ENTRIES = 10_000;

interface Entry {
  pass: VerifiedPass;
  key: KeyObject;
  /** Device certificates only: the imported device key. */
  deviceKey?: KeyObject;
}

export class VerifiedPassCache {
  private young = new Map<string, Entry>();
  private old = new Map<string, Entry>();
  private readonly generation: number;
  private ring: KeyRing | undefined;
  readonly stats = { hits: 0, misses: 0 };

  constructor(readonly capacity: number = DEFAULT_PASS_CACHE_ENTRIES) {
    if (!Number.isInteger(capacity) || capacity < 2) throw new RangeError(`capacity must be ≥ 2, got ${capacity}`);
    this.generation = Math.floor(capacity / 2);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  /** `verifyPass(text, ring, nowMs)`, without the signature check for a text that already verified. */
  verify(text: string, ring: KeyRing, nowMs: number): PassCheck {
    if (ring !== this.ring) {
      this.clear();
      this.ring = ring;
    }
    let entry = this.young.get(text);
    if (entry === undefined) {
      entry = this.old.get(text);
      if (entry !== undefined) this.remember(text, entry);
    }
    if (entry && ring.get(entry.pass.kid) === entry.key) {
      this.stats.hits += 1;
      const { pass } = entry;
      if (nowMs < pass.notBefore) return { ok: false, reason: 'pass-not-yet-valid', pass };
      if (nowMs >= pass.expiresAt) return { ok: false, reason: 'pass-expired', pass };
      return { ok: true, pass };
    }
    this.stats.misses += 1;
    const check = verifyPass(text, ring, nowMs);
    // `pass` is present only when the signature verified (also for a pass outside its window).
    const key = check.pass ? ring.get(check.pass.kid) : undefined;
    if (check.pass && key) this.remember(text, { pass: Object.freeze({ ...check.pass }), key });
    return check;
  }

  /**
   * `verifyDevicePass(text, ring, nowMs, skewMs)` (shared/device-pass.ts), without the certificate's
   * Ed25519 check and key import for a certificate that already verified.
   */
  verifyDevice(text: string, ring: KeyRing, nowMs: number, skewMs: number): DevicePassCheck {
    if (ring !== this.ring) {
      this.clear();
      this.ring = ring;
    }
    const decoded = decodeDevicePass(text);
    if (!decoded) return { ok: false, reason: 'malformed' };
    const cacheKey = CERTIFICATE_KEY + decoded.certificate.toString('latin1');
    let entry = this.young.get(cacheKey);
    if (entry === undefined) {
      entry = this.old.get(cacheKey);
      if (entry !== undefined) this.remember(cacheKey, entry);
    }
    if (entry?.deviceKey && ring.get(entry.pass.kid) === entry.key) {
      this.stats.hits += 1;
      return checkDeviceFrame(decoded, entry.pass as VerifiedDeviceCertificate, entry.deviceKey, nowMs, skewMs);
    }
    this.stats.misses += 1;
    const certificate = verifyDeviceCertificate(decoded, ring);
    if (!certificate.ok) return { ok: false, reason: certificate.reason };
    // The decoded pass points into the scanned text's buffer: keep a copy of its key bytes.
    const pass = Object.freeze({ ...certificate.pass, deviceKey: Buffer.from(certificate.pass.deviceKey) });
    this.remember(cacheKey, { pass, key: certificate.cloudKey, deviceKey: certificate.deviceKey });
    return checkDeviceFrame(decoded, pass, certificate.deviceKey, nowMs, skewMs);
  }

  clear(): void {
    this.young = new Map();
    this.old = new Map();
  }

  private remember(text: string, entry: Entry): void {
    if (this.young.size >= this.generation) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(text, entry);
  }
}
