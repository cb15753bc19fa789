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
 *
 * On a miss, a certificate the gate received by sync and verified then (edge-agent/device-certificates.ts,
 * docs/passes.md "Certificates by sync") skips the Ed25519 check too: the scanned certificate must be
 * byte-for-byte the stored one, verified with the key the ring holds for its kid *now*; its device key
 * is imported from the point decompressed at sync. Anything else is verified here in full.
 *
 * Device certificate entries are also indexed by pass and person, so the replica can drop them the
 * moment a pass is revoked or replaced or its person changes (`forgetPass`, `forgetPerson`), and
 * after a snapshot keep only those it still holds unchanged (`retainStored`). None of
 * this can turn a refusal into a grant: revocation, the person and every limit are read from the
 * replica by `decideEntry` on every scan, cached or not.
 */
import type { KeyObject } from 'node:crypto';
import {
  checkDeviceFrame,
  type DecodedDevicePass,
  type DevicePassCheck,
  decodeDevicePass,
  importDevicePoint,
  type VerifiedDeviceCertificate,
  verifyDeviceCertificate,
} from '../shared/device-pass.ts';
import type { KeyRing } from '../shared/keys.ts';
import { type PassCheck, type VerifiedPass, verifyPass } from '../shared/pass.ts';
import { keyFingerprint, type SyncedCertificates } from './device-certificates.ts';

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
  /** Device certificate entries: pass id → cache key, person id → pass ids (for `forget…`). */
  private readonly byPass = new Map<string, string>();
  private readonly byPerson = new Map<string, Set<string>>();
  private readonly generation: number;
  private ring: KeyRing | undefined;
  /** `synced`: misses whose certificate was verified at sync (no Ed25519 on the scan). */
  readonly stats = { hits: 0, misses: 0, synced: 0 };

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
   * Ed25519 check and key import for a certificate that already verified, and without the Ed25519
   * check for one verified at sync (`synced`, the replica).
   */
  verifyDevice(
    text: string,
    ring: KeyRing,
    nowMs: number,
    skewMs: number,
    synced?: Partial<SyncedCertificates>,
  ): DevicePassCheck {
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
    const verified = this.fromSync(decoded, ring, synced) ?? this.verifyCertificate(decoded, ring);
    if (!verified.ok) return { ok: false, reason: verified.reason };
    this.remember(cacheKey, verified.entry);
    return checkDeviceFrame(
      decoded,
      verified.entry.pass as VerifiedDeviceCertificate,
      verified.entry.deviceKey!,
      nowMs,
      skewMs,
    );
  }

  /** The entry of a certificate the replica verified at sync, if the scanned one is exactly it. */
  private fromSync(decoded: DecodedDevicePass, ring: KeyRing, synced: Partial<SyncedCertificates> | undefined) {
    const stored = synced?.verifiedCertificate?.(decoded.pass.passId);
    if (!stored?.certificate.equals(decoded.certificate)) return undefined;
    const key = ring.get(decoded.pass.kid);
    if (!key || stored.verifiedKey !== keyFingerprint(ring, decoded.pass.kid)) return undefined;
    const deviceKey = importDevicePoint(stored.point);
    if (!deviceKey) return undefined;
    this.stats.synced += 1;
    return { ok: true as const, entry: this.entryOf(decoded.pass, key, deviceKey) };
  }

  private verifyCertificate(decoded: DecodedDevicePass, ring: KeyRing) {
    const certificate = verifyDeviceCertificate(decoded, ring);
    if (!certificate.ok) return certificate;
    return { ok: true as const, entry: this.entryOf(certificate.pass, certificate.cloudKey, certificate.deviceKey) };
  }

  /** The decoded pass points into the scanned text's buffer: the entry keeps a copy of its key bytes. */
  private entryOf(pass: VerifiedDeviceCertificate, key: KeyObject, deviceKey: KeyObject): Entry {
    return { pass: Object.freeze({ ...pass, deviceKey: Buffer.from(pass.deviceKey) }), key, deviceKey };
  }

  /** Drops the device certificate of this pass (revoked, replaced): its next scan is verified again. */
  forgetPass(passId: string): void {
    const cacheKey = this.byPass.get(passId);
    if (cacheKey === undefined) return;
    const entry = this.young.get(cacheKey) ?? this.old.get(cacheKey);
    this.young.delete(cacheKey);
    this.old.delete(cacheKey);
    if (entry) this.unindex(cacheKey, entry);
    else this.byPass.delete(passId);
  }

  /** Drops every device certificate of this person (their record changed or was deleted). */
  forgetPerson(personId: string): void {
    const passes = this.byPerson.get(personId);
    if (!passes) return;
    for (const passId of [...passes]) this.forgetPass(passId);
    this.byPerson.delete(personId);
  }

  /**
   * After a snapshot (device-certificates.ts): forgets every device certificate the replica no longer
   * holds byte for byte. Nothing else needs to go — an entry is a pure function of the certificate's
   * (or pass text's) bytes and the ring's key, checked on every hit — so what stays answers exactly
   * as a fresh verification would; the printed passes (`AX1:`) never depended on the replica.
   */
  retainStored(stored: (passId: string, certificate: Buffer) => boolean): void {
    for (const generation of [this.young, this.old]) {
      for (const [cacheKey, entry] of [...generation]) {
        if (!entry.deviceKey) continue;
        const certificate = Buffer.from(cacheKey.slice(CERTIFICATE_KEY.length), 'latin1');
        if (stored(entry.pass.passId, certificate)) continue;
        this.young.delete(cacheKey);
        this.old.delete(cacheKey);
        this.unindex(cacheKey, entry);
      }
    }
  }

  clear(): void {
    this.young = new Map();
    this.old = new Map();
    this.byPass.clear();
    this.byPerson.clear();
  }

  private remember(text: string, entry: Entry): void {
    if (this.young.size >= this.generation) {
      const dropped = this.old;
      this.old = this.young;
      this.young = new Map();
      // Amortised O(1): each entry is unindexed at most once, when its generation is dropped.
      for (const [key, old] of dropped) if (old.deviceKey && !this.old.has(key)) this.unindex(key, old);
    }
    this.young.set(text, entry);
    if (entry.deviceKey) this.index(text, entry);
  }

  private index(cacheKey: string, entry: Entry): void {
    const { passId, personId } = entry.pass;
    const previous = this.byPass.get(passId);
    if (previous !== undefined && previous !== cacheKey) {
      // Another certificate with this pass id (the cloud never signs two): keep only the newest.
      this.young.delete(previous);
      this.old.delete(previous);
    }
    this.byPass.set(passId, cacheKey);
    const passes = this.byPerson.get(personId);
    if (passes) passes.add(passId);
    else this.byPerson.set(personId, new Set([passId]));
  }

  private unindex(cacheKey: string, entry: Entry): void {
    const { passId, personId } = entry.pass;
    if (this.byPass.get(passId) !== cacheKey) return;
    this.byPass.delete(passId);
    const passes = this.byPerson.get(personId);
    passes?.delete(passId);
    if (passes?.size === 0) this.byPerson.delete(personId);
  }
}
