import { describe, expect, it } from 'vitest';
import { type Decision, type Credential, decideEntry, type GateContext } from '../../edge-agent/decision.ts';
import { openGateDatabase } from '../../edge-agent/gate-database.ts';
import { VerifiedPassCache } from '../../edge-agent/pass-cache.ts';
import { type PassageEffects, ReplicaStore } from '../../edge-agent/replica-store.ts';
import type { ReplicaView } from '../../edge-agent/replica-view.ts';
import { type Direction, MODES, type Mode, REASONS, type Reason } from '../../shared/enums.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import { FakeReplicaView } from './fake-replica-view.ts';
import {
  BASE_CHANGES,
  COMPOUND,
  deviceCertificate,
  deviceFrame,
  gateContext,
  HOUR,
  ID_NUMBERS,
  idHashOf,
  impostorKey,
  NOW,
  newDeviceKeyPair,
  pass,
  unknownKidKey,
} from './fixtures.ts';

interface Row {
  name: string;
  mode?: Mode;
  credential: Credential;
  gate?: Partial<GateContext>;
  changes?: Change[];
  passages?: { effects: PassageEffects; direction: Direction; at: number }[];
  expect: { result: Decision['result']; reason: Reason; method?: Decision['method'] } & Partial<Decision>;
}

const qr = (text: string, direction: Direction = 'in'): Credential => ({ method: 'qr', direction, text });
const idcard = (idNumber: string, over: Partial<{ idNumberValid: boolean; validTo: string | null }> = {}) =>
  ({
    method: 'idcard',
    direction: 'in',
    card: { idNumber, idNumberValid: true, validTo: '2040-01-01', maskedName: '李*', ...over },
  }) as Credential;
const card = (number: string, direction: Direction = 'in'): Credential => ({ method: 'card', direction, card: number });

const REVOKED_PASS_ID = 'aaaaaaaaaaaaaaaa';
const LIMITED_PASS_ID = 'bbbbbbbbbbbbbbbb';
const quota = (exits: number): Change => ({ op: 'quota.policy', exits, periodHours: 48 });

// Device passes (docs/passes.md, "Device passes"): frames valid 30 s, the gate's tolerance 60 s by default.
const SECOND = 1000;
const aliceCert = deviceCertificate('alice');
const alicePassId = aliceCert.toString('hex', 2, 10);
const thief = newDeviceKeyPair();
const revokedCert = deviceCertificate('alice', { passId: 'cccccccccccccccc' });
const lastFrame = (at: number) => ({
  effects: { passageOf: 'alice', deviceFrame: { passId: alicePassId, at } },
  direction: 'in' as Direction,
  at,
});

const rows: Row[] = [
  // ---- normal ----
  {
    name: 'normal: green resident QR pass',
    credential: qr(pass('alice')),
    expect: { result: 'granted', reason: 'ok', method: 'qr', personId: 'alice', health: 'green' },
  },
  {
    name: 'normal: green resident ID card',
    credential: idcard(ID_NUMBERS.alice),
    expect: {
      result: 'granted',
      reason: 'ok',
      method: 'idcard',
      personId: 'alice',
      idHash: idHashOf(ID_NUMBERS.alice),
    },
  },
  {
    name: 'normal: OSDP card',
    credential: card('90:324'),
    expect: { result: 'granted', reason: 'ok', method: 'card' },
  },
  {
    name: 'normal: unknown health is shown grey but passes',
    credential: qr(pass('nora')),
    expect: { result: 'granted', reason: 'ok', health: 'unknown' },
  },
  {
    name: 'normal: resident pass of an unknown person',
    credential: qr(pass('ghost')),
    expect: { result: 'denied', reason: 'unknown-person' },
  },
  {
    name: 'normal: ID card of an unknown person',
    credential: idcard(ID_NUMBERS.stranger),
    expect: { result: 'denied', reason: 'unknown-person', idHash: idHashOf(ID_NUMBERS.stranger) },
  },
  {
    name: 'normal: unknown OSDP card',
    credential: card('1:1'),
    expect: { result: 'denied', reason: 'unknown-person' },
  },
  {
    name: 'normal: pass for another compound',
    credential: qr(pass('alice', { compoundId: 'c2' })),
    expect: { result: 'denied', reason: 'wrong-compound' },
  },
  {
    name: 'normal: person of another compound',
    credential: card('90:777'),
    expect: { result: 'denied', reason: 'wrong-compound' },
  },
  {
    name: 'normal: forged pass',
    credential: qr(pass('alice', {}, impostorKey)),
    expect: { result: 'denied', reason: 'bad-signature' },
  },
  {
    name: 'normal: pass of an unknown key',
    credential: qr(pass('alice', {}, unknownKidKey)),
    expect: { result: 'denied', reason: 'unknown-key' },
  },
  { name: 'normal: malformed QR text', credential: qr('hello'), expect: { result: 'denied', reason: 'malformed' } },
  {
    name: 'normal: truncated pass',
    credential: qr(pass('alice').slice(0, 40)),
    expect: { result: 'denied', reason: 'malformed' },
  },
  {
    name: 'normal: expired pass',
    credential: qr(pass('alice', { notBefore: NOW - 48 * HOUR, expiresAt: NOW - HOUR })),
    expect: { result: 'denied', reason: 'pass-expired' },
  },
  {
    name: 'normal: pass not yet valid',
    credential: qr(pass('alice', { notBefore: NOW + HOUR, expiresAt: NOW + 48 * HOUR })),
    expect: { result: 'denied', reason: 'pass-not-yet-valid' },
  },
  {
    name: 'normal: revoked pass',
    credential: qr(pass('alice', { passId: REVOKED_PASS_ID })),
    changes: [{ op: 'pass.revoke', passId: REVOKED_PASS_ID, ts: NOW - HOUR }],
    expect: { result: 'denied', reason: 'pass-revoked' },
  },
  {
    name: 'normal: invalid ID number',
    credential: idcard(ID_NUMBERS.invalid, { idNumberValid: false }),
    expect: { result: 'denied', reason: 'id-invalid' },
  },
  {
    name: 'normal: invalid ID number from a reader that claims it is valid',
    credential: idcard(ID_NUMBERS.invalid, { idNumberValid: true }),
    expect: { result: 'denied', reason: 'id-invalid' },
  },
  {
    name: 'normal: expired ID card',
    credential: idcard(ID_NUMBERS.alice, { validTo: '2020-01-01' }),
    expect: { result: 'denied', reason: 'id-card-expired' },
  },
  {
    name: 'normal: ID card valid for life (长期)',
    credential: idcard(ID_NUMBERS.alice, { validTo: null }),
    expect: { result: 'granted', reason: 'ok' },
  },
  {
    name: 'normal: unsupported card layout',
    credential: {
      method: 'idcard',
      direction: 'in',
      card: { idNumber: '', idNumberValid: false, validTo: null, unsupported: true },
    },
    expect: { result: 'denied', reason: 'unsupported-card' },
  },
  {
    name: 'normal: red',
    credential: idcard(ID_NUMBERS.bob),
    expect: { result: 'denied', reason: 'health-red', health: 'red' },
  },
  {
    name: 'normal: yellow referred to the guard',
    credential: qr(pass('yuki')),
    expect: { result: 'denied', reason: 'health-yellow' },
  },
  {
    name: 'normal: yellow let through when configured',
    credential: qr(pass('yuki')),
    gate: { yellowPolicy: 'grant' },
    expect: { result: 'granted', reason: 'ok', health: 'yellow' },
  },
  {
    name: 'normal: inactive person',
    credential: qr(pass('ivan')),
    expect: { result: 'denied', reason: 'person-inactive' },
  },
  {
    name: 'normal: person past validTo',
    credential: qr(pass('olga')),
    expect: { result: 'denied', reason: 'person-inactive' },
  },
  {
    name: 'normal: visitor without a visitor pass',
    credential: card('90:500'),
    expect: { result: 'denied', reason: 'visitor-not-approved' },
  },
  {
    name: 'normal: visitor pass of a person not in the replica',
    credential: qr(pass('guest-1', { kind: 'visitor' })),
    expect: { result: 'granted', reason: 'ok', personId: 'guest-1', health: 'unknown' },
  },
  {
    name: 'normal: pass used up',
    credential: qr(pass('alice', { passId: LIMITED_PASS_ID, useLimit: 2 })),
    passages: [
      { effects: { passUse: LIMITED_PASS_ID }, direction: 'in', at: NOW - 2 * HOUR },
      { effects: { passUse: LIMITED_PASS_ID }, direction: 'out', at: NOW - HOUR },
    ],
    expect: { result: 'denied', reason: 'pass-used-up' },
  },
  {
    name: 'normal: limited pass with uses left',
    credential: qr(pass('alice', { passId: LIMITED_PASS_ID, useLimit: 2 })),
    passages: [{ effects: { passUse: LIMITED_PASS_ID }, direction: 'in', at: NOW - HOUR }],
    expect: { result: 'granted', reason: 'ok', effects: { passUse: LIMITED_PASS_ID, passageOf: 'alice' } },
  },
  {
    name: 'normal: anti-passback, in twice',
    credential: qr(pass('alice')),
    gate: { antiPassback: true },
    passages: [{ effects: { passageOf: 'alice' }, direction: 'in', at: NOW - HOUR }],
    expect: { result: 'denied', reason: 'anti-passback' },
  },
  {
    name: 'normal: anti-passback, in after out',
    credential: qr(pass('alice')),
    gate: { antiPassback: true },
    passages: [{ effects: { passageOf: 'alice' }, direction: 'out', at: NOW - HOUR }],
    expect: { result: 'granted', reason: 'ok' },
  },
  {
    name: 'normal: anti-passback off',
    credential: qr(pass('alice')),
    passages: [{ effects: { passageOf: 'alice' }, direction: 'in', at: NOW - HOUR }],
    expect: { result: 'granted', reason: 'ok' },
  },
  {
    name: 'normal: manual open',
    credential: { method: 'manual', direction: 'out', guard: 'wang' },
    expect: { result: 'granted', reason: 'manual', method: 'manual', guard: 'wang', direction: 'out' },
  },
  {
    name: 'normal: fire alarm → free passage',
    credential: qr(pass('bob')),
    gate: { fireAlarm: true },
    expect: { result: 'granted', reason: 'free-passage', method: 'free', personId: 'bob' },
  },
  // ---- controlled ----
  {
    name: 'controlled: green resident',
    mode: 'controlled',
    credential: qr(pass('alice')),
    expect: { result: 'granted', reason: 'ok' },
  },
  {
    name: 'controlled: green staff',
    mode: 'controlled',
    credential: qr(pass('sam')),
    expect: { result: 'granted', reason: 'ok' },
  },
  {
    name: 'controlled: unknown health',
    mode: 'controlled',
    credential: qr(pass('nora')),
    expect: { result: 'denied', reason: 'health-unknown' },
  },
  {
    name: 'controlled: yellow even when normal mode would let it through',
    mode: 'controlled',
    credential: qr(pass('yuki')),
    gate: { yellowPolicy: 'grant' },
    expect: { result: 'denied', reason: 'health-yellow' },
  },
  {
    name: 'controlled: red',
    mode: 'controlled',
    credential: qr(pass('bob')),
    expect: { result: 'denied', reason: 'health-red' },
  },
  {
    name: 'controlled: visitor card only',
    mode: 'controlled',
    credential: card('90:500'),
    expect: { result: 'denied', reason: 'visitor-not-approved' },
  },
  {
    name: 'controlled: green visitor with a visitor pass',
    mode: 'controlled',
    credential: qr(pass('vera', { kind: 'visitor' })),
    expect: { result: 'granted', reason: 'ok' },
  },
  {
    name: 'controlled: visitor pass, health unknown',
    mode: 'controlled',
    credential: qr(pass('guest-1', { kind: 'visitor' })),
    expect: { result: 'denied', reason: 'health-unknown' },
  },
  // ---- lockdown ----
  {
    name: 'lockdown: entry of a green resident',
    mode: 'lockdown',
    credential: qr(pass('alice')),
    expect: { result: 'granted', reason: 'ok' },
  },
  {
    name: 'lockdown: entry of a visitor',
    mode: 'lockdown',
    credential: qr(pass('vera', { kind: 'visitor' })),
    expect: { result: 'denied', reason: 'gate-locked' },
  },
  {
    name: 'lockdown: entry of a yellow resident',
    mode: 'lockdown',
    credential: qr(pass('yuki')),
    expect: { result: 'denied', reason: 'health-yellow' },
  },
  {
    name: 'lockdown: exit against the household quota',
    mode: 'lockdown',
    credential: qr(pass('alice'), 'out'),
    changes: [quota(1)],
    expect: { result: 'granted', reason: 'ok', effects: { householdExit: 'h1', passageOf: 'alice' } },
  },
  {
    name: 'lockdown: household quota used up',
    mode: 'lockdown',
    credential: card('90:324', 'out'),
    changes: [quota(1)],
    passages: [{ effects: { householdExit: 'h1' }, direction: 'out', at: NOW - 47 * HOUR }],
    expect: { result: 'denied', reason: 'no-exit-quota' },
  },
  {
    name: 'lockdown: quota use older than the period no longer counts',
    mode: 'lockdown',
    credential: card('90:324', 'out'),
    changes: [quota(1)],
    passages: [{ effects: { householdExit: 'h1' }, direction: 'out', at: NOW - 49 * HOUR }],
    expect: { result: 'granted', reason: 'ok' },
  },
  {
    name: 'lockdown: exit without a quota policy',
    mode: 'lockdown',
    credential: qr(pass('alice'), 'out'),
    expect: { result: 'denied', reason: 'no-exit-quota' },
  },
  {
    name: 'lockdown: staff without a household has no quota',
    mode: 'lockdown',
    credential: qr(pass('sam'), 'out'),
    changes: [quota(5)],
    expect: { result: 'denied', reason: 'no-exit-quota' },
  },
  {
    name: 'lockdown: exit permit whatever the quota and colour',
    mode: 'lockdown',
    credential: qr(pass('bob', { kind: 'exit-permit' }), 'out'),
    changes: [quota(0)],
    expect: { result: 'granted', reason: 'ok', effects: { passageOf: 'bob' } },
  },
  {
    name: 'lockdown: a red resident cannot use the quota',
    mode: 'lockdown',
    credential: qr(pass('bob'), 'out'),
    changes: [quota(3)],
    expect: { result: 'denied', reason: 'health-red' },
  },
  {
    name: 'lockdown: guard opens by hand',
    mode: 'lockdown',
    credential: { method: 'manual', direction: 'in', guard: 'wang' },
    expect: { result: 'granted', reason: 'manual' },
  },
  // ---- emergency-open ----
  {
    name: 'emergency-open: red resident passes freely',
    mode: 'emergency-open',
    credential: idcard(ID_NUMBERS.bob),
    expect: { result: 'granted', reason: 'free-passage', method: 'free', personId: 'bob' },
  },
  {
    name: 'emergency-open: expired pass still names its holder',
    mode: 'emergency-open',
    credential: qr(pass('alice', { notBefore: NOW - 48 * HOUR, expiresAt: NOW - HOUR })),
    expect: { result: 'granted', reason: 'free-passage', personId: 'alice' },
  },
  // ---- device passes ----
  {
    name: 'device pass: a fresh frame of a genuine certificate',
    credential: qr(deviceFrame(aliceCert, { at: NOW - 2 * SECOND })),
    expect: {
      result: 'granted',
      reason: 'ok',
      method: 'qr',
      personId: 'alice',
      passId: alicePassId,
      effects: { passageOf: 'alice', deviceFrame: { passId: alicePassId, at: NOW - 2 * SECOND } },
    },
  },
  {
    name: 'device pass: frame signed by another phone (the certificate copied off a screenshot)',
    credential: qr(deviceFrame(aliceCert, { signer: thief.privateKey })),
    expect: { result: 'denied', reason: 'bad-device-signature', personId: undefined, passId: undefined },
  },
  {
    name: 'device pass: certificate not signed by the cloud (forged, same kid)',
    credential: qr(deviceFrame(deviceCertificate('alice', {}, impostorKey))),
    expect: { result: 'denied', reason: 'bad-signature', personId: undefined },
  },
  {
    name: 'device pass: certificate under a kid the gate does not hold',
    credential: qr(deviceFrame(deviceCertificate('alice', {}, unknownKidKey))),
    expect: { result: 'denied', reason: 'unknown-key' },
  },
  {
    name: 'device pass: the last second of window + tolerance (30 s + 60 s) still passes',
    credential: qr(deviceFrame(aliceCert, { at: NOW - 89 * SECOND })),
    expect: { result: 'granted', reason: 'ok' },
  },
  {
    name: 'device pass: a frame past its window + tolerance (a screenshot) is refused',
    credential: qr(deviceFrame(aliceCert, { at: NOW - 90 * SECOND })),
    expect: { result: 'denied', reason: 'frame-expired', personId: undefined },
  },
  {
    name: 'device pass: a frame 60 s ahead (the tolerance) passes',
    credential: qr(deviceFrame(aliceCert, { at: NOW + 60 * SECOND })),
    expect: { result: 'granted', reason: 'ok' },
  },
  {
    name: 'device pass: a frame beyond the tolerance in the future is refused',
    credential: qr(deviceFrame(aliceCert, { at: NOW + 61 * SECOND })),
    expect: { result: 'denied', reason: 'frame-not-yet-valid' },
  },
  {
    name: 'device pass: a gate with a 10 s tolerance refuses a frame 41 s old',
    gate: { clockToleranceMs: 10 * SECOND },
    credential: qr(deviceFrame(aliceCert, { at: NOW - 41 * SECOND })),
    expect: { result: 'denied', reason: 'frame-expired' },
  },
  {
    name: 'device pass: the same frame again after it let alice through (a replay inside the window)',
    passages: [lastFrame(NOW - 5 * SECOND)],
    credential: qr(deviceFrame(aliceCert, { at: NOW - 5 * SECOND }), 'out'),
    expect: { result: 'denied', reason: 'frame-replayed', personId: undefined },
  },
  {
    name: 'device pass: an older frame after a newer one was used is a replay too',
    passages: [lastFrame(NOW - 5 * SECOND)],
    credential: qr(deviceFrame(aliceCert, { at: NOW - 20 * SECOND }), 'out'),
    expect: { result: 'denied', reason: 'frame-replayed' },
  },
  {
    name: 'device pass: a newer frame after a used one passes (the other way)',
    passages: [lastFrame(NOW - 15 * SECOND)],
    credential: qr(deviceFrame(aliceCert, { at: NOW - 4 * SECOND }), 'out'),
    expect: { result: 'granted', reason: 'ok' },
  },
  {
    name: 'device pass: a newer frame the same way is refused by anti-passback when it is on',
    gate: { antiPassback: true },
    passages: [lastFrame(NOW - 15 * SECOND)],
    credential: qr(deviceFrame(aliceCert, { at: NOW - 4 * SECOND }), 'in'),
    expect: { result: 'denied', reason: 'anti-passback' },
  },
  {
    name: 'device pass: revoked (device lost)',
    changes: [{ op: 'pass.revoke', passId: 'cccccccccccccccc', ts: NOW - HOUR }],
    credential: qr(deviceFrame(revokedCert)),
    expect: { result: 'denied', reason: 'pass-revoked' },
  },
  {
    name: 'device pass: certificate expired',
    credential: qr(deviceFrame(deviceCertificate('alice', { notBefore: NOW - 48 * HOUR, expiresAt: NOW - HOUR }))),
    expect: { result: 'denied', reason: 'pass-expired' },
  },
  {
    name: 'device pass: red health code',
    credential: qr(deviceFrame(deviceCertificate('bob'))),
    expect: { result: 'denied', reason: 'health-red', personId: 'bob' },
  },
  {
    name: 'device pass: another compound',
    credential: qr(deviceFrame(deviceCertificate('alice', { compoundId: 'c2' }))),
    expect: { result: 'denied', reason: 'wrong-compound' },
  },
  {
    name: 'emergency-open: a device frame signed by another phone names no one',
    mode: 'emergency-open',
    credential: qr(deviceFrame(aliceCert, { signer: thief.privateKey })),
    expect: { result: 'granted', reason: 'free-passage', method: 'free', personId: undefined, passId: undefined },
  },
  {
    name: 'emergency-open: a forged pass names no one',
    mode: 'emergency-open',
    credential: qr(pass('alice', {}, impostorKey)),
    expect: { result: 'granted', reason: 'free-passage', method: 'free', personId: undefined, passId: undefined },
  },
];

interface ViewUnderTest {
  name: string;
  build(row: Row): ReplicaView;
}

const changesOf = (row: Row): Change[] => [
  ...BASE_CHANGES,
  ...(row.changes ?? []),
  ...(row.mode ? [{ op: 'mode', mode: row.mode, ts: NOW - HOUR } as Change] : []),
];

const views: ViewUnderTest[] = [
  {
    name: 'FakeReplicaView',
    build(row) {
      const view = new FakeReplicaView().apply(changesOf(row));
      view.contactAt = NOW - 1000;
      for (const p of row.passages ?? []) view.recordPassage(p.effects, p.direction, p.at);
      return view;
    },
  },
  {
    name: 'ReplicaStore',
    build(row) {
      const store = new ReplicaStore(openGateDatabase(':memory:'));
      store.applyDelta(changesOf(row), 1);
      store.touchCloudContact(NOW - 1000);
      for (const p of row.passages ?? []) store.recordPassage(p.effects, p.direction, p.at);
      return store;
    },
  },
];

describe.each(views)('decideEntry over $name', ({ build }) => {
  it.each(rows)('$name', (row) => {
    const decision = decideEntry(row.credential, gateContext(row.gate), build(row), NOW);
    const { expect: expected } = row;
    const present = Object.entries(expected).filter(([, value]) => value !== undefined);
    expect(decision).toMatchObject({ ...Object.fromEntries(present), mode: row.mode ?? 'normal' });
    for (const [key, value] of Object.entries(expected)) {
      if (value === undefined) expect(decision).not.toHaveProperty(key);
    }
    if (decision.result === 'denied') expect(decision.effects).toEqual({});
    expect(decision.display.zh.length).toBeGreaterThan(0);
    expect(decision.display.en.length).toBeGreaterThan(0);
    // A refusal is never green, a grant always is; every refusal says what to do next.
    expect(decision.display.colour === 'green').toBe(decision.result === 'granted');
    expect(decision.display.icon === '✓').toBe(decision.result === 'granted');
    expect(decision.display.nextZh.length).toBeGreaterThan(0);
    expect(decision.display.nextEn.length).toBeGreaterThan(0);
  });
});

describe('decideEntry with a VerifiedPassCache in the gate context', () => {
  it('decides every row of the table, first scan and repeat scan, exactly as without the cache', () => {
    const cache = new VerifiedPassCache(4);
    for (const row of rows) {
      const plain = decideEntry(row.credential, gateContext(row.gate), views[1]!.build(row), NOW);
      for (let scan = 0; scan < 2; scan++) {
        const cached = decideEntry(
          row.credential,
          gateContext({ ...row.gate, passCache: cache }),
          views[1]!.build(row),
          NOW,
        );
        expect(cached).toEqual(plain);
      }
    }
    expect(cache.stats.hits).toBeGreaterThan(0);
    expect(cache.size).toBeLessThanOrEqual(4);
  });
});

describe('decideEntry coverage and invariants', () => {
  it('the table exercises every reason code and every mode', () => {
    expect(new Set(rows.map((r) => r.expect.reason))).toEqual(new Set(REASONS));
    expect(new Set(rows.map((r) => r.mode ?? 'normal'))).toEqual(new Set(MODES));
  });

  it('flags a gate that has not heard from the cloud as stale but keeps deciding', () => {
    const view = new FakeReplicaView().apply(BASE_CHANGES);
    const never = decideEntry(qr(pass('alice')), gateContext(), view, NOW);
    expect(never).toMatchObject({ result: 'granted', stale: true });
    view.contactAt = NOW - 16 * 60_000;
    expect(decideEntry(qr(pass('alice')), gateContext(), view, NOW).stale).toBe(true);
    view.contactAt = NOW - 60_000;
    expect(decideEntry(qr(pass('alice')), gateContext(), view, NOW).stale).toBe(false);
  });

  it('colours the screen by the decision, not the health code, and shows the masked name', () => {
    const view = new FakeReplicaView().apply(BASE_CHANGES);
    expect(decideEntry(qr(pass('bob')), gateContext(), view, NOW).display).toMatchObject({
      colour: 'red',
      icon: '✗',
      maskedName: '张*明',
      zh: '红码，禁止通行',
    });
    // A green resident refused (an expired ID card) is red, never green.
    const expired = decideEntry(idcard(ID_NUMBERS.alice, { validTo: '2020-01-01' }), gateContext(), view, NOW);
    expect(expired).toMatchObject({ result: 'denied', reason: 'id-card-expired', health: 'green' });
    expect(expired.display).toMatchObject({ colour: 'red', icon: '✗' });
    expect(decideEntry(idcard(ID_NUMBERS.stranger), gateContext(), view, NOW).display).toMatchObject({
      colour: 'amber',
      icon: '!',
      maskedName: '李*',
      nextZh: '请找门卫登记',
    });
    expect(decideEntry(qr(pass('alice')), gateContext(), view, NOW).display).toMatchObject({
      colour: 'green',
      icon: '✓',
    });
  });

  it('never puts the ID number in the decision, only its pseudonym', () => {
    const view = new FakeReplicaView().apply(BASE_CHANGES);
    const decision = decideEntry(idcard(ID_NUMBERS.alice), gateContext(), view, NOW);
    expect(JSON.stringify(decision)).not.toContain(ID_NUMBERS.alice);
    expect(decision.idHash).toBe(idHashOf(ID_NUMBERS.alice));
  });

  it('is pure: the same inputs give the same decision', () => {
    const view = new FakeReplicaView().apply(BASE_CHANGES);
    const credential = qr(pass('alice'));
    expect(decideEntry(credential, gateContext(), view, NOW)).toEqual(
      decideEntry(credential, gateContext(), view, NOW),
    );
    expect(view.uses.size).toBe(0);
  });

  it('rejects a pass meant for this compound but read at a gate of another compound', () => {
    const view = new FakeReplicaView().apply(BASE_CHANGES);
    const decision = decideEntry(qr(pass('alice')), gateContext({ compoundId: 'c9' }), view, NOW);
    expect(decision).toMatchObject({ result: 'denied', reason: 'wrong-compound' });
    expect(COMPOUND).toBe('c1');
  });
});
