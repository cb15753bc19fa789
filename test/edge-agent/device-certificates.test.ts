/**
 * Device pass certificates by sync (docs/passes.md, "Certificates by sync") over the gate's real
 * SQLite replica: a `pass.device` change is stored, verified in the background with the gate's own
 * keys, and a first scan of it then skips the cloud signature's check — and the certificate stops
 * counting the moment its pass is revoked or replaced, its person changes, or the key that verified
 * it leaves the ring, even though the scan path had it cached. A forged or mismatched certificate
 * is never marked verified, and caching never turns a refusal into a grant.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { type Credential, decideEntry } from '../../edge-agent/decision.ts';
import { DeviceCertificateVerifier } from '../../edge-agent/device-certificate-verifier.ts';
import { VERIFIED_KEY_QUERIES } from '../../edge-agent/device-certificates.ts';
import { type GateDatabase, openGateDatabase } from '../../edge-agent/gate-database.ts';
import { createGateContext } from '../../edge-agent/gate-parts.ts';
import { VerifiedPassCache } from '../../edge-agent/pass-cache.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import { decodeDeviceCertificate } from '../../shared/device-pass.ts';
import { generateSigningKey, type KeyRing, parseKeysFile } from '../../shared/keys.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import {
  BASE_CHANGES,
  deviceCertificate,
  deviceFrame,
  GATE,
  gateContext,
  gateKeysFile,
  HOUR,
  impostorKey,
  newDeviceKeyPair,
  NOW,
  pass,
  person,
  ring,
} from './fixtures.ts';

let db: GateDatabase;
let replica: ReplicaStore;
let rev: number;

beforeEach(() => {
  db = openGateDatabase(':memory:');
  replica = new ReplicaStore(db);
  rev = 1;
  replica.applyDelta(BASE_CHANGES, rev);
  replica.touchCloudContact(NOW);
});
afterEach(() => {
  if (db.open) db.close();
});

const qr = (text: string): Credential => ({ method: 'qr', direction: 'in', text });
const passIdOf = (certificate: Buffer) => decodeDeviceCertificate(certificate)!.pass.passId;

function pushed(certificate: Buffer, over: Partial<{ passId: string; personId: string }> = {}): Change {
  const { pass } = decodeDeviceCertificate(certificate)!;
  return {
    op: 'pass.device',
    passId: over.passId ?? pass.passId,
    personId: over.personId ?? pass.personId,
    certificate: certificate.toString('base64url'),
  };
}

function apply(...changes: Change[]): void {
  rev += 1;
  replica.applyDelta(changes, rev);
}

/** The agent's wiring (edge-agent/gate-parts.ts `createGateContext`), with the verifier drained by hand. */
function gate(keys: KeyRing = ring) {
  const passCache = new VerifiedPassCache();
  const store = replica;
  const verifier = new DeviceCertificateVerifier({
    certificates: store.certificates,
    ring: keys,
    isOpen: () => store.isOpen(),
  });
  replica.certificates.listener = passCache;
  const context = gateContext({ ring: keys, passCache });
  const decide = (text: string, at = NOW) => decideEntry(qr(text), context, replica, at);
  return { passCache, verifier, context, decide };
}

describe('device pass certificates by sync', () => {
  it('a certificate verified at sync is granted on its first scan without the cloud signature check', () => {
    const { passCache, verifier, decide } = gate();
    const cert = deviceCertificate('alice');
    apply(pushed(cert));
    expect(replica.certificates.counts()).toEqual({ all: 1, verified: 0 });
    verifier.drain();
    expect(replica.certificates.counts()).toEqual({ all: 1, verified: 1 });
    expect(verifier.counters).toEqual({ verified: 1, dropped: 0 });

    const decision = decide(deviceFrame(cert));
    expect(decision).toMatchObject({ result: 'granted', reason: 'ok', personId: 'alice' });
    expect(passCache.stats).toMatchObject({ misses: 1, synced: 1, hits: 0 });
    // The next frame is an ordinary cache hit.
    expect(decide(deviceFrame(cert, { at: NOW + 10_000 }), NOW + 10_000).result).toBe('granted');
    expect(passCache.stats).toMatchObject({ hits: 1, synced: 1 });
  });

  it('answers exactly as a gate without the certificate, for every frame fault', () => {
    const cert = deviceCertificate('alice');
    const frames = [
      deviceFrame(cert),
      deviceFrame(cert, { at: NOW - 10 * HOUR }),
      deviceFrame(cert, { at: NOW + 10 * HOUR }),
      deviceFrame(cert, { signer: newDeviceKeyPair().privateKey }),
    ];
    const plain = frames.map((f) => decideEntry(qr(f), gateContext(), replica, NOW));
    const { verifier, decide } = gate();
    apply(pushed(cert));
    verifier.drain();
    expect(frames.map((f) => decide(f))).toEqual(plain);
    expect(plain.map((d) => d.reason)).toEqual(['ok', 'frame-expired', 'frame-not-yet-valid', 'bad-device-signature']);
  });

  it('a revoked certificate is refused right after the revocation although it was cached', () => {
    const { passCache, verifier, decide } = gate();
    const cert = deviceCertificate('alice');
    apply(pushed(cert));
    verifier.drain();
    expect(decide(deviceFrame(cert, { at: NOW - 20_000 })).result).toBe('granted');

    apply({ op: 'pass.revoke', passId: passIdOf(cert), ts: NOW });
    expect(replica.certificates.counts().all).toBe(0);
    expect(decide(deviceFrame(cert, { at: NOW - 10_000 }))).toMatchObject({ result: 'denied', reason: 'pass-revoked' });
    // Forgotten: the refused scan verified it in full again (a miss), not from the cache or the replica.
    expect(passCache.stats).toMatchObject({ synced: 1, misses: 2, hits: 0 });
  });

  it('a certificate pushed after its revocation is not stored', () => {
    const { verifier, decide } = gate();
    const cert = deviceCertificate('alice');
    apply({ op: 'pass.revoke', passId: passIdOf(cert), ts: NOW - 1 }, pushed(cert));
    verifier.drain();
    expect(replica.certificates.counts().all).toBe(0);
    expect(decide(deviceFrame(cert)).reason).toBe('pass-revoked');
  });

  it('a replaced certificate is dropped by the new one and refused once the cloud revokes it', () => {
    const { passCache, verifier, decide } = gate();
    const old = deviceCertificate('alice');
    apply(pushed(old));
    verifier.drain();
    expect(decide(deviceFrame(old, { at: NOW - 20_000 })).result).toBe('granted');

    // Enrolling again: the new certificate first, then the old pass's revocation (cloud/device-passes).
    const replacement = deviceCertificate('alice');
    apply(pushed(replacement));
    expect(replica.certificates.verifiedCertificate(passIdOf(old))).toBeUndefined();
    apply({ op: 'pass.revoke', passId: passIdOf(old), ts: NOW });
    verifier.drain();
    expect(decide(deviceFrame(old, { at: NOW - 10_000 })).reason).toBe('pass-revoked');
    expect(decide(deviceFrame(replacement))).toMatchObject({ result: 'granted', reason: 'ok' });
    expect(passCache.stats.synced).toBe(2);
  });

  it('a person change forgets the cached certificate; a deleted person loses it and is refused', () => {
    const { passCache, verifier, decide } = gate();
    const cert = deviceCertificate('alice');
    apply(pushed(cert));
    verifier.drain();
    expect(decide(deviceFrame(cert, { at: NOW - 20_000 })).result).toBe('granted');

    apply({ op: 'person.upsert', person: person('alice', { active: false }) });
    expect(decide(deviceFrame(cert, { at: NOW - 15_000 })).reason).toBe('person-inactive');
    // Not from the cache (forgotten), but from the replica's verified row: still no Ed25519 on the scan.
    expect(passCache.stats).toMatchObject({ hits: 0, synced: 2 });

    apply({ op: 'person.delete', personId: 'alice' });
    expect(replica.certificates.counts().all).toBe(0);
    expect(decide(deviceFrame(cert, { at: NOW - 10_000 })).reason).toBe('unknown-person');
    expect(passCache.stats).toMatchObject({ hits: 0, synced: 2, misses: 3 });
  });

  it('a certificate verified with a key that left the ring is verified again, and refused without it', () => {
    const cert = deviceCertificate('alice');
    const first = gate();
    apply(pushed(cert));
    first.verifier.drain();
    expect(first.decide(deviceFrame(cert, { at: NOW - 20_000 })).result).toBe('granted');

    // The key retired: the row's verification names a key the new ring lacks.
    const rotated: KeyRing = new Map([[2, generateSigningKey(2).publicKey]]);
    const after = gate(rotated);
    expect(after.decide(deviceFrame(cert, { at: NOW - 10_000 })).reason).toBe('unknown-key');
    expect(after.passCache.stats.synced).toBe(0);
    after.verifier.start();
    after.verifier.drain();
    expect(after.verifier.counters.dropped).toBe(1);
    expect(replica.certificates.counts().all).toBe(0);

    // A ring with another key under the same kid: the stored verification does not count either.
    const cert2 = deviceCertificate('alice');
    const first2 = gate();
    apply(pushed(cert2));
    first2.verifier.drain();
    const swapped = gate(new Map([[1, impostorKey.publicKey]]));
    expect(swapped.decide(deviceFrame(cert2)).reason).toBe('bad-signature');
    expect(swapped.passCache.stats.synced).toBe(0);
  });

  it('the start-up check of verifying keys searches the key index, never scans the table (EXPLAIN QUERY PLAN)', () => {
    for (const [name, sql] of Object.entries(VERIFIED_KEY_QUERIES)) {
      const plan = db
        .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...(sql.includes('?') ? ['1:x'] : []))
        .map((row) => row.detail);
      expect(plan.join('\n'), name).toMatch(
        /^SEARCH device_certificates USING (COVERING )?INDEX device_certificates_by_key \(verified_key[=>]\?\)$/m,
      );
      expect(
        plan.filter((d) => /^SCAN device_certificates\b/.test(d)),
        `${name}: ${plan.join(' | ')}`,
      ).toEqual([]);
    }
    // With several keys in the rows, exactly those outside the ring lose their verification.
    const certs = ['alice', 'bob', 'yuki', 'nora'].map((p) => deviceCertificate(p));
    apply(...certs.map((c) => pushed(c)));
    const { verifier } = gate();
    verifier.drain();
    const rows = replica.certificates.unverified(10);
    expect(rows).toEqual([]);
    const point = replica.certificates.verifiedCertificate(passIdOf(certs[0]!))!.point;
    const keys = ['0:retired', '1:replaced', '9:unknown'];
    replica.certificates.markVerifiedAll(
      certs
        .slice(1)
        .map((certificate, i) => ({ passId: passIdOf(certificate), certificate, verifiedKey: keys[i]!, point })),
    );
    expect(replica.certificates.reverifyOutside(ring)).toBe(3);
    expect(replica.certificates.counts()).toEqual({ all: 4, verified: 1 });
    expect(replica.certificates.verifiedCertificate(passIdOf(certs[0]!))).toBeDefined();
    expect(replica.certificates.reverifyOutside(ring)).toBe(0);
  });

  it('a forged or mismatched certificate from the sync is never marked verified', () => {
    const { verifier, decide, passCache } = gate();
    const forged = deviceCertificate('alice', {}, impostorKey);
    const bobs = deviceCertificate('bob');
    apply(pushed(forged));
    // Claims to be alice's although the certificate names bob: not even stored.
    apply(pushed(bobs, { personId: 'alice' }));
    expect(replica.certificates.counts().all).toBe(1);
    verifier.drain();
    expect(verifier.counters).toEqual({ verified: 0, dropped: 1 });
    expect(replica.certificates.counts().all).toBe(0);
    expect(decide(deviceFrame(forged)).reason).toBe('bad-signature');
    expect(passCache.stats.synced).toBe(0);
  });

  it('a snapshot replaces the certificates and keeps the verification of the ones it sends again', () => {
    const { verifier } = gate();
    const kept = deviceCertificate('alice');
    const gone = deviceCertificate('bob');
    apply(pushed(kept), pushed(gone));
    verifier.drain();
    const fresh = deviceCertificate('yuki');
    const revokedInSnapshot = deviceCertificate('nora');
    const records: Change[] = [
      ...BASE_CHANGES,
      pushed(kept),
      pushed(fresh),
      pushed(revokedInSnapshot),
      { op: 'pass.revoke', passId: passIdOf(revokedInSnapshot), ts: NOW },
    ];
    expect(replica.stageSnapshotChunk(50, 1, 1, records)).toBe('applied');
    expect(replica.certificates.verifiedCertificate(passIdOf(kept))).toBeDefined();
    expect(replica.certificates.counts()).toEqual({ all: 2, verified: 1 });
    verifier.drain();
    expect(replica.certificates.counts()).toEqual({ all: 2, verified: 2 });
  });

  it('a snapshot makes the pass cache forget only the certificates it changed, not the whole cache', () => {
    const { verifier, decide, passCache } = gate();
    const kept = deviceCertificate('alice');
    const replaced = deviceCertificate('bob');
    const dropped = deviceCertificate('yuki');
    const revoked = deviceCertificate('nora');
    apply(...[kept, replaced, dropped, revoked].map((c) => pushed(c)));
    verifier.drain();
    const printed = pass('alice');
    const scans = [kept, replaced, dropped, revoked].map((c) => deviceFrame(c, { at: NOW - 5_000 }));
    for (const text of [printed, ...scans]) decide(text);
    expect(passCache.size).toBe(5);

    const bobsNew = deviceCertificate('bob');
    rev += 1;
    const records: Change[] = [
      ...BASE_CHANGES,
      pushed(kept),
      pushed(bobsNew),
      pushed(revoked),
      { op: 'pass.revoke', passId: passIdOf(revoked), ts: NOW },
    ];
    expect(replica.stageSnapshotChunk(rev, 1, 1, records)).toBe('applied');
    // Kept: the certificate sent again unchanged, and the printed pass (it never depended on the replica).
    expect(passCache.size).toBe(2);
    const before = { ...passCache.stats };
    const plain = (text: string) => decideEntry(qr(text), gateContext(), withoutCertificates(replica), NOW);
    expect(decide(printed)).toEqual(plain(printed));
    expect(decide(scans[0]!)).toEqual(plain(scans[0]!));
    expect(passCache.stats.hits - before.hits).toBe(2);
    // Forgotten: replaced, dropped and revoked — each verified again, and answering as a gate without a cache.
    for (const text of scans.slice(1)) expect(decide(text)).toEqual(plain(text));
    expect(passCache.stats.hits - before.hits).toBe(2);
    expect(decide(scans[3]!).reason).toBe('pass-revoked');
  });

  it('the certificate rows survive a restart of the gate (a new process finds them verified)', () => {
    const cert = deviceCertificate('alice', { expiresAt: NOW + 2 * HOUR });
    const { verifier } = gate();
    apply(pushed(cert));
    verifier.drain();
    const again = new ReplicaStore(db);
    const passCache = new VerifiedPassCache();
    const decision = decideEntry(qr(deviceFrame(cert)), gateContext({ passCache }), again, NOW);
    expect(decision.result).toBe('granted');
    expect(passCache.stats.synced).toBe(1);
  });

  it('the background verifier runs in slices on later turns and stops once the database is closed', async () => {
    const passCache = new VerifiedPassCache();
    const verifier = new DeviceCertificateVerifier({
      certificates: replica.certificates,
      ring,
      isOpen: () => replica.isOpen(),
      batch: 2,
      sliceMs: 0,
    });
    replica.certificates.listener = passCache;
    replica.certificates.onUnverified = () => verifier.wake();
    const certs = ['alice', 'bob', 'yuki', 'nora', 'sam'].map((p) => deviceCertificate(p));
    apply(...certs.map((c) => pushed(c)));
    // Nothing inside the delta's transaction.
    expect(replica.certificates.counts().verified).toBe(0);
    await new Promise<void>((resolve) => {
      const check = () => (replica.certificates.counts().verified === 5 ? resolve() : setImmediate(check));
      check();
    });
    expect(verifier.counters.verified).toBe(5);
    apply(pushed(deviceCertificate('vera')));
    db.close();
    // The wake-up scheduled by the last change finds the database closed and ends quietly.
    await new Promise((resolve) => setImmediate(resolve));
  });

  it("a configured gate's context verifies certificates by sync in the background and forgets revoked ones", async () => {
    const config = parseEdgeConfig({
      gateId: GATE,
      compoundId: 'c1',
      mqtt: { url: 'mqtt://127.0.0.1:1' },
      keys: gateKeysFile(),
      dataDir: ':memory:',
    });
    const context = createGateContext(config, parseKeysFile(gateKeysFile()), replica);
    const cert = deviceCertificate('alice');
    apply(pushed(cert));
    await new Promise<void>((resolve) => {
      const check = () => (replica.certificates.counts().verified === 1 ? resolve() : setImmediate(check));
      check();
    });
    expect(decideEntry(qr(deviceFrame(cert, { at: NOW - 20_000 })), context, replica, NOW).result).toBe('granted');
    expect(context.passCache?.stats).toMatchObject({ synced: 1 });
    apply({ op: 'pass.revoke', passId: passIdOf(cert), ts: NOW });
    const after = decideEntry(qr(deviceFrame(cert, { at: NOW - 10_000 })), context, replica, NOW);
    expect(after.reason).toBe('pass-revoked');
    expect(context.passCache?.stats).toMatchObject({ hits: 0, synced: 1, misses: 2 });
  });

  it('property: whatever the sync did, a gate with its certificates and cache decides exactly as one without', () => {
    const people = ['alice', 'bob', 'yuki'] as const;
    let syncedScans = 0;
    const op = fc.oneof(
      fc.record({ kind: fc.constant('enrol' as const), who: fc.constantFrom(...people) }),
      fc.record({ kind: fc.constant('revoke' as const), which: fc.nat(20) }),
      fc.record({ kind: fc.constant('inactive' as const), who: fc.constantFrom(...people) }),
      fc.record({ kind: fc.constant('delete' as const), who: fc.constantFrom(...people) }),
      fc.record({ kind: fc.constant('verify' as const) }),
      fc.record({ kind: fc.constant('snapshot' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 12 }), (ops) => {
        db.close();
        db = openGateDatabase(':memory:');
        replica = new ReplicaStore(db);
        rev = 1;
        replica.applyDelta(BASE_CHANGES, rev);
        replica.touchCloudContact(NOW);
        const { verifier, decide, passCache } = gate();
        const certs: Buffer[] = [];
        const current = new Map<string, Buffer>();
        for (const step of ops) {
          if (step.kind === 'enrol') {
            const cert = deviceCertificate(step.who);
            certs.push(cert);
            current.set(step.who, cert);
            apply(pushed(cert));
          } else if (step.kind === 'revoke' && certs.length > 0) {
            apply({ op: 'pass.revoke', passId: passIdOf(certs[step.which % certs.length]!), ts: NOW });
          } else if (step.kind === 'inactive') {
            apply({ op: 'person.upsert', person: person(step.who, { active: false }) });
          } else if (step.kind === 'delete') {
            apply({ op: 'person.delete', personId: step.who });
          } else if (step.kind === 'verify') {
            verifier.drain();
          } else if (step.kind === 'snapshot') {
            rev += 1;
            const records = [...BASE_CHANGES, ...[...current.values()].map((c) => pushed(c))];
            replica.stageSnapshotChunk(rev, 1, 1, records);
          }
          // Every certificate so far, scanned by this gate and by one with no cache and no synced rows.
          for (const cert of certs) {
            const frame = deviceFrame(cert, { at: NOW - 5_000 });
            const plain = decideEntry(qr(frame), gateContext(), withoutCertificates(replica), NOW);
            expect(decide(frame)).toEqual(plain);
            // And a gate that just restarted (empty cache, the same replica rows).
            const restarted = new VerifiedPassCache();
            expect(decideEntry(qr(frame), gateContext({ passCache: restarted }), replica, NOW)).toEqual(plain);
            syncedScans += restarted.stats.synced;
          }
        }
        syncedScans += passCache.stats.synced;
      }),
      { numRuns: 40 },
    );
    // Not vacuous: the runs did scan certificates verified at sync.
    expect(syncedScans).toBeGreaterThan(0);
  });
});

/** The same replica, minus the certificates it received by sync. */
function withoutCertificates(view: ReplicaStore): ReplicaStore {
  return new Proxy(view, {
    get: (target, key) => (key === 'verifiedCertificate' ? undefined : (Reflect.get(target, key, target) as unknown)),
  });
}
