/**
 * Device passes in the cloud (cloud/device-passes, docs/passes.md "Device passes"): the manager's
 * printed/phone choice per resident, a real resident session (activation) posting a WebCrypto key
 * and getting a certificate the gates verify, one device pass at a time, revocation through the
 * ordinary `pass.revoke` change (published and in the snapshot), the certificate pushed to the gates
 * (`pass.device`) and granted by a real gate replica verified at sync, and every refusal.
 */
import { randomBytes, webcrypto } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { devicePassExtension } from '../../../cloud/device-passes/device-pass-routes.ts';
import { ENROLMENTS_PER_DAY } from '../../../cloud/device-passes/device-pass-service.ts';
import { residentSideExtension } from '../../../cloud/me/resident-side-extension.ts';
import type { Actor } from '../../../cloud/registry/actor.ts';
import { encodeBase45 } from '../../../shared/base45.ts';
import { DEVICE_PASS_PREFIX, FRAME_ROTATE_SECONDS, verifyDevicePass } from '../../../shared/device-pass.ts';
import type { DevicePassView } from '../../../shared/schemas/device-pass.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { decideEntry, type GateContext } from '../../../edge-agent/decision.ts';
import { DeviceCertificateVerifier } from '../../../edge-agent/device-certificate-verifier.ts';
import { openGateDatabase } from '../../../edge-agent/gate-database.ts';
import { VerifiedPassCache } from '../../../edge-agent/pass-cache.ts';
import { ReplicaStore } from '../../../edge-agent/replica-store.ts';
import type { Change } from '../../../shared/schemas/mqtt.ts';
import { createHarness, type Harness } from '../http/app-harness.ts';
import { residentCreate } from '../fixtures.ts';
import { selectRows, storeBackends } from '../store/backends.ts';
import { collectSnapshot } from '../../helpers/collect-snapshot.ts';

const ADMIN: Actor = { username: 'seed', role: 'admin' };
const T0 = Date.UTC(2026, 11, 5, 0, 30, 0);
const DAY = 24 * 3_600_000;

type Phone = { publicKey: webcrypto.CryptoKey; privateKey: webcrypto.CryptoKey; raw: string };

/** What the page does: a non-extractable ECDSA P-256 key pair, the public half exported raw. */
async function newPhone(): Promise<Phone> {
  const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const raw = Buffer.from(await webcrypto.subtle.exportKey('raw', pair.publicKey)).toString('base64url');
  return { ...pair, raw };
}

/** A frame as the page builds it: certificate ‖ at, signed by WebCrypto. */
async function frameOf(view: DevicePassView, phone: Phone, atMs: number): Promise<string> {
  const certificate = Buffer.from(view.certificate, 'base64url');
  const signed = Buffer.alloc(certificate.length + 4);
  certificate.copy(signed);
  signed.writeUInt32BE(Math.floor(atMs / 1000), certificate.length);
  const signature = Buffer.from(
    await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, phone.privateKey, signed),
  );
  return DEVICE_PASS_PREFIX + encodeBase45(Buffer.concat([signed, signature]));
}

describe.each(storeBackends())('device passes: enrolment, medium, revocation on the $name store', (backend) => {
  afterAll(() => backend.dispose());
  let h: Harness<CloudStore>;
  let clock: number;
  let manager: string;
  let zhang: string;

  const json = async <T>(res: Response, status: number): Promise<T> => {
    const text = await res.text();
    expect([res.status, text]).toEqual([status, expect.anything()]);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
  const setMedium = (personId: string, medium: string, token = manager) =>
    h.request('PUT', `/api/v1/residents/${personId}/pass-medium`, { token, body: { medium } });
  const enrol = (phone: Phone, token = zhang) =>
    h.request('POST', '/api/v1/me/pass/device', { token, body: { publicKey: phone.raw, label: 'my phone' } });
  const changesOf = (topicCompound: string) =>
    h.published
      .filter((p) => p.topic === `anxin/v1/compounds/${topicCompound}/changes`)
      .flatMap((p) => (p.payload as { changes: Change[] }).changes);
  const revokedIn = (topicCompound: string) =>
    changesOf(topicCompound)
      .filter((c) => c.op === 'pass.revoke')
      .map((c) => c.passId);

  beforeEach(async () => {
    clock = T0;
    h = await createHarness({
      store: await backend.open(),
      now: () => clock,
      extensions: [residentSideExtension({ pepper: randomBytes(32) }), devicePassExtension()],
    });
    for (const [personId, compoundId] of [
      ['p-zhang', 'c-1'],
      ['p-other', 'c-2'],
    ] as const) {
      await h.core.registry.createResident(residentCreate(personId, compoundId, 'h-1'), ADMIN);
    }
    manager = await h.token('manager', 'c-1', 'mgr-1');
    const codes = await json<{ codes: { code: string }[] }>(
      await h.request('POST', '/api/v1/activations', { token: manager, body: { personIds: ['p-zhang'] } }),
      201,
    );
    const session = await json<{ token: string }>(
      await h.request('POST', '/api/v1/me/activate', {
        body: { code: codes.codes[0]!.code, login: 'zhang.sm', password: 'correct horse battery' },
      }),
      201,
    );
    zhang = session.token;
  });
  afterEach(async () => {
    await h.close();
  });

  it('a printed resident cannot enrol; the manager switches them to phone; the certificate verifies at a gate', async () => {
    const phone = await newPhone();
    expect(await json(await h.request('GET', '/api/v1/me/pass/device', { token: zhang }), 200)).toEqual({
      medium: 'printed',
      devicePass: null,
      serverTime: T0,
    });
    const refused = await enrol(phone);
    expect([refused.status, await errorCode(refused)]).toEqual([409, 'pass-medium-printed']);

    const chosen = await json<{ medium: string }>(await setMedium('p-zhang', 'phone'), 200);
    expect(chosen).toMatchObject({ personId: 'p-zhang', medium: 'phone', devicePass: null });
    clock += 1_234;
    const view = await json<DevicePassView>(await enrol(phone), 201);
    expect(view).toMatchObject({
      personId: 'p-zhang',
      compoundId: 'c-1',
      kind: 'resident',
      frameSeconds: 30,
      rotateSeconds: FRAME_ROTATE_SECONDS,
      label: 'my phone',
      serverTime: T0 + 1_234,
      notBefore: T0 + 1_000,
      expiresAt: T0 + 1_000 + 30 * DAY,
    });
    // The gate's check of a frame the phone signs with WebCrypto.
    const check = verifyDevicePass(await frameOf(view, phone, clock), h.ring, clock, 60_000);
    expect(check).toMatchObject({ ok: true, pass: { passId: view.passId, personId: 'p-zhang', compoundId: 'c-1' } });
    // Another phone cannot use this certificate.
    const thief = await newPhone();
    expect(verifyDevicePass(await frameOf(view, thief, clock), h.ring, clock, 60_000)).toMatchObject({
      reason: 'bad-device-signature',
    });

    const again = await json<{ devicePass: DevicePassView }>(
      await h.request('GET', '/api/v1/me/pass/device', { token: zhang }),
      200,
    );
    expect(again.devicePass.passId).toBe(view.passId);
    expect(
      await json(await h.request('GET', '/api/v1/residents/p-zhang/pass-medium', { token: manager }), 200),
    ).toMatchObject({ medium: 'phone', devicePass: { passId: view.passId } });
    // Only the phone shows it: no printable image of a certificate.
    const svg = await h.request('GET', `/api/v1/passes/${view.passId}/qr.svg`, { token: manager });
    expect([svg.status, await errorCode(svg)]).toEqual([409, 'device-pass']);
  });

  it('pushes each certificate to the gates (pass.device, published and in the snapshot): a gate grants its first scan verified at sync', async () => {
    await json(await setMedium('p-zhang', 'phone'), 200);
    const phone = await newPhone();
    const first = await json<DevicePassView>(await enrol(phone), 201);
    const pushed = changesOf('c-1').filter((c) => c.op === 'pass.device');
    expect(pushed).toEqual([
      { op: 'pass.device', passId: first.passId, personId: 'p-zhang', certificate: first.certificate },
    ]);

    // A gate of c-1 applies what was published, verifies in the background, and scans the phone's frame.
    const db = openGateDatabase(':memory:');
    const gate = new ReplicaStore(db);
    let applied = 0;
    const apply = () => {
      const all = changesOf('c-1');
      gate.applyDelta(all.slice(applied), all.length);
      applied = all.length;
    };
    apply();
    gate.touchCloudContact(clock);
    const verifier = new DeviceCertificateVerifier({
      certificates: gate.certificates,
      ring: h.ring,
      isOpen: () => db.open,
    });
    verifier.drain();
    const passCache = new VerifiedPassCache();
    gate.certificates.listener = passCache;
    const context: GateContext = {
      gateId: 'g-1',
      compoundId: 'c-1',
      ring: h.ring,
      pepper: randomBytes(32),
      antiPassback: false,
      yellowPolicy: 'grant',
      stalenessLimitMs: 60_000,
      fireAlarm: false,
      passCache,
    };
    const scan = async (view: DevicePassView) =>
      decideEntry({ method: 'qr', direction: 'in', text: await frameOf(view, phone, clock) }, context, gate, clock);
    expect(await scan(first)).toMatchObject({ result: 'granted', passId: first.passId });
    expect(passCache.stats).toMatchObject({ synced: 1 });

    // A new phone: the new certificate and the old pass's revocation reach the gate; the old one is refused.
    const second = await json<DevicePassView>(await enrol(phone), 201);
    apply();
    verifier.drain();
    clock += 10_000;
    expect(await scan(first)).toMatchObject({ result: 'denied', reason: 'pass-revoked' });
    expect(await scan(second)).toMatchObject({ result: 'granted', passId: second.passId });
    expect(passCache.stats).toMatchObject({ synced: 2 });
    db.close();

    // A gate taking a snapshot gets the current certificate only.
    expect(await h.core.sync.answer('g-1', 'c-1', 0)).toBe('snapshot');
    const records = h.published
      .filter((p) => p.topic === 'anxin/v1/gates/g-1/sync')
      .flatMap((p) => (p.payload as { records: { op: string; passId?: string }[] }).records);
    expect(records.filter((r) => r.op === 'pass.device').map((r) => r.passId)).toEqual([second.passId]);
  });

  it('one device pass at a time: a new phone revokes the old pass everywhere (published, in the snapshot)', async () => {
    await json(await setMedium('p-zhang', 'phone'), 200);
    const first = await json<DevicePassView>(await enrol(await newPhone()), 201);
    expect(revokedIn('c-1')).toEqual([]);
    const second = await json<DevicePassView>(await enrol(await newPhone()), 201);
    expect(second.passId).not.toBe(first.passId);
    expect(revokedIn('c-1')).toEqual([first.passId]);
    expect((await h.core.store.getPass(first.passId))?.revokedAt).toBe(T0);
    const snapshot = await collectSnapshot(h.core.store, 'c-1');
    expect(snapshot.records).toContainEqual(expect.objectContaining({ op: 'pass.revoke', passId: first.passId }));

    // The resident revokes it (a lost phone): the same change, then nothing left to revoke.
    expect((await h.request('DELETE', '/api/v1/me/pass/device', { token: zhang })).status).toBe(204);
    expect(revokedIn('c-1')).toEqual([first.passId, second.passId]);
    expect((await h.request('DELETE', '/api/v1/me/pass/device', { token: zhang })).status).toBe(404);
    expect(await json(await h.request('GET', '/api/v1/me/pass/device', { token: zhang }), 200)).toMatchObject({
      medium: 'phone',
      devicePass: null,
    });
  });

  it('back to printed revokes the device pass; a manager revoking the pass id ends it too', async () => {
    await json(await setMedium('p-zhang', 'phone'), 200);
    const first = await json<DevicePassView>(await enrol(await newPhone()), 201);
    await json(await setMedium('p-zhang', 'printed'), 200);
    expect(revokedIn('c-1')).toEqual([first.passId]);
    expect((await enrol(await newPhone())).status).toBe(409);

    await json(await setMedium('p-zhang', 'phone'), 200);
    const second = await json<DevicePassView>(await enrol(await newPhone()), 201);
    expect((await h.request('DELETE', `/api/v1/passes/${second.passId}`, { token: manager })).status).toBe(204);
    expect(await json(await h.request('GET', '/api/v1/me/pass/device', { token: zhang }), 200)).toMatchObject({
      devicePass: null,
    });
    const audit = (
      await selectRows(h.core.store, "SELECT action FROM audit_log WHERE action LIKE 'pass.%' ORDER BY id")
    ).map((r) => r.action);
    expect(audit).toEqual([
      'pass.medium',
      'pass.device.enrol',
      'pass.medium',
      'pass.revoke',
      'pass.medium',
      'pass.device.enrol',
      'pass.revoke',
    ]);
  });

  it('refuses: bad keys, unknown fields, other roles, other compounds, too many enrolments', async () => {
    await json(await setMedium('p-zhang', 'phone'), 200);
    const phone = await newPhone();
    const offCurve = Buffer.from(phone.raw, 'base64url');
    offCurve[64] = offCurve[64]! ^ 1;
    for (const body of [
      { publicKey: offCurve.toString('base64url') },
      { publicKey: phone.raw.slice(0, 43) },
      { publicKey: phone.raw, personId: 'p-other' },
      { publicKey: phone.raw, label: 'x'.repeat(41) },
      {},
    ]) {
      const res = await h.request('POST', '/api/v1/me/pass/device', { token: zhang, body });
      expect([res.status, await errorCode(res)]).toEqual([400, 'invalid-request']);
    }
    // A manager is nobody's household; a resident is no manager; a manager of c-1 does not see c-2.
    expect((await enrol(phone, manager)).status).toBe(403);
    expect((await setMedium('p-zhang', 'phone', zhang)).status).toBe(403);
    expect((await setMedium('p-zhang', 'phone', await h.token('guard', 'c-1'))).status).toBe(403);
    expect((await setMedium('p-other', 'phone')).status).toBe(404);
    expect((await setMedium('p-zhang', 'paper')).status).toBe(400);
    expect((await h.request('POST', '/api/v1/me/pass/device', { body: { publicKey: phone.raw } })).status).toBe(401);

    for (let i = 0; i < ENROLMENTS_PER_DAY; i++) expect((await enrol(await newPhone())).status).toBe(201);
    const limited = await enrol(await newPhone());
    expect([limited.status, await errorCode(limited)]).toEqual([429, 'rate-limited']);
    clock += DAY;
    // A day later (signed in again: the session idled out meanwhile) the resident may enrol again.
    const login = await json<{ token: string }>(
      await h.request('POST', '/api/v1/me/login', { body: { login: 'zhang.sm', password: 'correct horse battery' } }),
      200,
    );
    expect((await enrol(await newPhone(), login.token)).status).toBe(201);
  });
});
