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
 * Bounded: at most `capacity` entries, least recently used evicted first (a Map keeps insertion
 * order; a hit is re-inserted at the end).
 */
import type { KeyObject } from 'node:crypto';
import type { KeyRing } from '../shared/keys.ts';
import { type PassCheck, type VerifiedPass, verifyPass } from '../shared/pass.ts';

export const DEFAULT_PASS_CACHE_ENTRIES = 10_000;

interface Entry {
  pass: VerifiedPass;
  key: KeyObject;
}

export class VerifiedPassCache {
  private readonly entries = new Map<string, Entry>();
  private ring: KeyRing | undefined;
  readonly stats = { hits: 0, misses: 0 };

  constructor(readonly capacity: number = DEFAULT_PASS_CACHE_ENTRIES) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be ≥ 1, got ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** `verifyPass(text, ring, nowMs)`, without the signature check for a text that already verified. */
  verify(text: string, ring: KeyRing, nowMs: number): PassCheck {
    if (ring !== this.ring) {
      this.entries.clear();
      this.ring = ring;
    }
    const entry = this.entries.get(text);
    if (entry && ring.get(entry.pass.kid) === entry.key) {
      this.stats.hits += 1;
      this.entries.delete(text);
      this.entries.set(text, entry);
      const { pass } = entry;
      if (nowMs < pass.notBefore) return { ok: false, reason: 'pass-not-yet-valid', pass };
      if (nowMs >= pass.expiresAt) return { ok: false, reason: 'pass-expired', pass };
      return { ok: true, pass };
    }
    this.stats.misses += 1;
    const check = verifyPass(text, ring, nowMs);
    // `pass` is present only when the signature verified (also for a pass outside its window).
    const key = check.pass ? ring.get(check.pass.kid) : undefined;
    if (check.pass && key) {
      this.entries.delete(text);
      this.entries.set(text, { pass: Object.freeze({ ...check.pass }), key });
      if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    }
    return check;
  }

  clear(): void {
    this.entries.clear();
  }
}
