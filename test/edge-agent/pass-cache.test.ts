import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VerifiedPassCache } from '../../edge-agent/pass-cache.ts';
import type { KeyRing } from '../../shared/keys.ts';
import { verifyPass } from '../../shared/pass.ts';
import { decodeDeviceCertificate } from '../../shared/device-pass.ts';
import {
  deviceCertificate,
  deviceFrame,
  HOUR,
  impostorKey,
  NOW,
  pass,
  ring,
  signingKey,
  unknownKidKey,
} from './fixtures.ts';

describe('VerifiedPassCache', () => {
  it('answers a repeat scan from the cache, exactly as verifyPass would', () => {
    const cache = new VerifiedPassCache();
    const text = pass('alice');
    expect(cache.verify(text, ring, NOW)).toEqual(verifyPass(text, ring, NOW));
    expect(cache.verify(text, ring, NOW)).toEqual(verifyPass(text, ring, NOW));
    expect(cache.stats).toEqual({ hits: 1, misses: 1, synced: 0 });
  });

  it('checks the validity window on every scan, also on a hit', () => {
    const cache = new VerifiedPassCache();
    const text = pass('alice', { notBefore: NOW, expiresAt: NOW + HOUR });
    expect(cache.verify(text, ring, NOW - 1)).toMatchObject({ ok: false, reason: 'pass-not-yet-valid' });
    expect(cache.verify(text, ring, NOW)).toMatchObject({ ok: true });
    expect(cache.verify(text, ring, NOW + HOUR)).toMatchObject({ ok: false, reason: 'pass-expired' });
    expect(cache.stats).toEqual({ hits: 2, misses: 1, synced: 0 });
  });

  it('never caches a text that did not verify: forged, unknown key, malformed', () => {
    const cache = new VerifiedPassCache();
    const texts = [pass('alice', {}, impostorKey), pass('alice', {}, unknownKidKey), 'AX1:nonsense', 'hello'];
    for (const text of texts) {
      for (let scan = 0; scan < 2; scan++) expect(cache.verify(text, ring, NOW)).toEqual(verifyPass(text, ring, NOW));
    }
    expect(cache.size).toBe(0);
    expect(cache.stats.hits).toBe(0);
  });

  it('a text differing in any one character from a cached pass is verified, never a hit', () => {
    const cache = new VerifiedPassCache();
    const text = pass('alice');
    cache.verify(text, ring, NOW);
    const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';
    fc.assert(
      fc.property(fc.nat({ max: text.length - 1 }), fc.constantFrom(...alphabet), (index, char) => {
        fc.pre(text[index] !== char);
        const forged = text.slice(0, index) + char + text.slice(index + 1);
        const hits = cache.stats.hits;
        const check = cache.verify(forged, ring, NOW);
        expect(check).toEqual(verifyPass(forged, ring, NOW));
        expect(check.ok).toBe(false);
        expect(cache.stats.hits).toBe(hits);
      }),
      { numRuns: 300 },
    );
  });

  it('forgets everything when the key ring changes, and an entry whose key left the ring does not count', () => {
    const cache = new VerifiedPassCache();
    const text = pass('alice');
    cache.verify(text, ring, NOW);
    const rotated: KeyRing = new Map([[1, impostorKey.publicKey]]);
    expect(cache.verify(text, rotated, NOW)).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(cache.size).toBe(0);
    const mutable = new Map([[1, signingKey.publicKey]]);
    cache.verify(text, mutable, NOW);
    mutable.set(1, impostorKey.publicKey);
    expect(cache.verify(text, mutable, NOW)).toMatchObject({ ok: false, reason: 'bad-signature' });
    mutable.delete(1);
    expect(cache.verify(text, mutable, NOW)).toMatchObject({ ok: false, reason: 'unknown-key' });
  });

  it('holds at most its capacity, evicting the least recently used', () => {
    const cache = new VerifiedPassCache(2);
    const [a, b, c] = [pass('a'), pass('b'), pass('c')];
    cache.verify(a, ring, NOW);
    cache.verify(b, ring, NOW);
    cache.verify(a, ring, NOW); // a is now the most recent
    cache.verify(c, ring, NOW); // evicts b
    expect(cache.size).toBe(2);
    const misses = cache.stats.misses;
    cache.verify(a, ring, NOW);
    cache.verify(c, ring, NOW);
    expect(cache.stats.misses).toBe(misses);
    cache.verify(b, ring, NOW);
    expect(cache.stats.misses).toBe(misses + 1);
    expect(() => new VerifiedPassCache(0)).toThrow(RangeError);
  });

  it('forgets device certificates by pass and by person, and its indexes stay bounded by its capacity', () => {
    const cache = new VerifiedPassCache(4);
    const certs = Array.from({ length: 12 }, (_, i) => deviceCertificate(`p${i % 3}`));
    const scan = (cert: Buffer) => cache.verifyDevice(deviceFrame(cert), ring, NOW, 60_000);
    for (const cert of certs) expect(scan(cert).ok).toBe(true);
    const internals = cache as unknown as { byPass: Map<string, string>; byPerson: Map<string, Set<string>> };
    expect(internals.byPass.size).toBeLessThanOrEqual(4);
    expect(cache.size).toBeLessThanOrEqual(4);

    const last = certs.at(-1)!;
    const misses = cache.stats.misses;
    scan(last);
    expect(cache.stats.misses).toBe(misses);
    cache.forgetPass(decodeDeviceCertificate(last)!.pass.passId);
    scan(last);
    expect(cache.stats.misses).toBe(misses + 1);
    cache.forgetPerson(decodeDeviceCertificate(last)!.pass.personId);
    scan(last);
    expect(cache.stats.misses).toBe(misses + 2);
    // Forgetting what was already evicted, or never seen, is a no-op.
    cache.forgetPass(decodeDeviceCertificate(certs[0]!)!.pass.passId);
    cache.forgetPerson('nobody');
    expect(internals.byPass.size).toBeLessThanOrEqual(4);
  });

  it('after a snapshot keeps exactly the certificates still stored byte for byte, in either generation, and every printed pass', () => {
    const cache = new VerifiedPassCache(6);
    const certs = ['a', 'b', 'c', 'd'].map((p) => deviceCertificate(p));
    const printed = pass('alice');
    cache.verify(printed, ring, NOW);
    for (const cert of certs) cache.verifyDevice(deviceFrame(cert), ring, NOW, 60_000);
    // Capacity 6, generations of 3: the printed pass and two certificates are in the old one.
    const internals = cache as unknown as { old: Map<string, unknown>; byPass: Map<string, string> };
    expect(internals.old.size).toBe(3);
    const passId = (cert: Buffer) => decodeDeviceCertificate(cert)!.pass.passId;
    const kept = new Set([certs[0]!, certs[3]!]);
    const asked: string[] = [];
    cache.retainStored((id, certificate) => {
      asked.push(id);
      return [...kept].some((c) => passId(c) === id && c.equals(certificate));
    });
    expect(asked.sort()).toEqual(certs.map(passId).sort());
    expect(cache.size).toBe(3);
    expect([...internals.byPass.keys()].sort()).toEqual([...kept].map(passId).sort());
    const { hits, misses } = cache.stats;
    cache.verify(printed, ring, NOW);
    for (const cert of certs) expect(cache.verifyDevice(deviceFrame(cert), ring, NOW, 60_000).ok).toBe(true);
    expect(cache.stats.hits - hits).toBe(3);
    expect(cache.stats.misses - misses).toBe(2);
  });
});
