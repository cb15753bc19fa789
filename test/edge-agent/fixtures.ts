/** A small compound for edge-agent tests: keys, persons, passes and ID numbers. */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  buildDevicePassText,
  compressDeviceKey,
  DEFAULT_FRAME_SECONDS,
  type DeviceCertificatePayload,
  nodeDeviceSigner,
  signDeviceCertificate,
} from '../../shared/device-pass.ts';
import { generateSigningKey, type KeyRing, type KeysFile } from '../../shared/keys.ts';
import { type PassPayload, signPass } from '../../shared/pass.ts';
import { pseudonymizeIdNumber } from '../../shared/pseudonym.ts';
import type { Change, PersonRecord } from '../../shared/schemas/mqtt.ts';
import { signToken } from '../../shared/token.ts';
import type { GateContext } from '../../edge-agent/decision.ts';

export const NOW = Date.UTC(2024, 5, 1, 4, 0, 0);
export const HOUR = 3_600_000;
export const COMPOUND = 'c1';
export const GATE = 'g1';

export const signingKey = generateSigningKey(1);
/** Same kid as `signingKey`, different key: its signatures do not verify. */
export const impostorKey = generateSigningKey(1);
/** A kid the gate's ring does not hold. */
export const unknownKidKey = generateSigningKey(7);
export const ring: KeyRing = new Map([[1, signingKey.publicKey]]);
export const pepper = Buffer.alloc(32, 7);

/** Valid GB 11643 numbers (docs/devices.md §2) and one with a wrong check character. */
export const ID_NUMBERS = {
  alice: '11010519491231002X',
  bob: '440524188001015368',
  stranger: '110101199003070011',
  invalid: '110105194912310021',
} as const;

export function idHashOf(idNumber: string): string {
  return pseudonymizeIdNumber(idNumber, pepper);
}

export function person(personId: string, over: Partial<PersonRecord> = {}): PersonRecord {
  return {
    personId,
    compoundId: COMPOUND,
    householdId: 'h1',
    kind: 'resident',
    idHash: null,
    maskedName: '张*明',
    cards: [],
    validFrom: null,
    validTo: null,
    active: true,
    ...over,
  };
}

let passCounter = 0;
export function pass(personId: string, over: Partial<PassPayload> = {}, key = signingKey): string {
  passCounter += 1;
  return signPass(
    {
      passId: passCounter.toString(16).padStart(16, '0'),
      personId,
      compoundId: COMPOUND,
      kind: 'resident',
      notBefore: NOW - HOUR,
      expiresAt: NOW + 24 * HOUR,
      ...over,
    },
    key,
  );
}

/** A phone's key pair (WebCrypto makes the same kind: ECDSA P-256). */
export function newDeviceKeyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** The 33-byte compressed point of a P-256 public key, as the cloud puts it in a certificate. */
export function compressedKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  const raw = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return compressDeviceKey(raw);
}

export const phone = newDeviceKeyPair();

/** A device certificate for `personId` bound to `device` (default: `phone`), signed by `key`. */
export function deviceCertificate(
  personId: string,
  over: Partial<DeviceCertificatePayload> = {},
  key = signingKey,
  device: KeyObject = phone.publicKey,
): Buffer {
  passCounter += 1;
  return signDeviceCertificate(
    {
      passId: `d${passCounter.toString(16).padStart(15, '0')}`,
      personId,
      compoundId: COMPOUND,
      kind: 'resident',
      notBefore: NOW - HOUR,
      expiresAt: NOW + 24 * HOUR,
      frameSeconds: DEFAULT_FRAME_SECONDS,
      deviceKey: compressedKey(device),
      ...over,
    },
    key,
  );
}

/** One frame of a device pass: `certificate` (or a fresh one for `personId`) signed by `signer` at `at`. */
export function deviceFrame(certificate: Buffer, options: { at?: number; signer?: KeyObject } = {}): string {
  return buildDevicePassText(certificate, options.at ?? NOW, nodeDeviceSigner(options.signer ?? phone.privateKey));
}

/** The compound every decision test starts from. */
export const BASE_CHANGES: Change[] = [
  { op: 'person.upsert', person: person('alice', { idHash: idHashOf(ID_NUMBERS.alice), cards: ['90:324'] }) },
  { op: 'health', personId: 'alice', colour: 'green', ts: NOW - HOUR },
  { op: 'person.upsert', person: person('bob', { idHash: idHashOf(ID_NUMBERS.bob), householdId: 'h2' }) },
  { op: 'health', personId: 'bob', colour: 'red', ts: NOW - HOUR },
  { op: 'person.upsert', person: person('yuki', { householdId: 'h3' }) },
  { op: 'health', personId: 'yuki', colour: 'yellow', ts: NOW - HOUR },
  { op: 'person.upsert', person: person('nora', { householdId: 'h4' }) },
  { op: 'person.upsert', person: person('vera', { kind: 'visitor', householdId: null, cards: ['90:500'] }) },
  { op: 'health', personId: 'vera', colour: 'green', ts: NOW - HOUR },
  { op: 'person.upsert', person: person('sam', { kind: 'staff', householdId: null }) },
  { op: 'health', personId: 'sam', colour: 'green', ts: NOW - HOUR },
  { op: 'person.upsert', person: person('ivan', { active: false }) },
  { op: 'health', personId: 'ivan', colour: 'green', ts: NOW - HOUR },
  { op: 'person.upsert', person: person('olga', { validTo: NOW - HOUR }) },
  { op: 'health', personId: 'olga', colour: 'green', ts: NOW - HOUR },
  { op: 'person.upsert', person: person('otto', { compoundId: 'c2', cards: ['90:777'] }) },
  { op: 'health', personId: 'otto', colour: 'green', ts: NOW - HOUR },
];

export function gateContext(over: Partial<GateContext> = {}): GateContext {
  return {
    gateId: GATE,
    compoundId: COMPOUND,
    ring,
    pepper,
    antiPassback: false,
    yellowPolicy: 'deny',
    stalenessLimitMs: 15 * 60_000,
    fireAlarm: false,
    ...over,
  };
}

/** The public keys file a gate gets: the fixture ring and pepper, no private key. */
export function gateKeysFile(): KeysFile {
  return {
    version: 1,
    current: 1,
    keys: [{ kid: 1, publicKey: signingKey.publicKey.export({ format: 'jwk' }).x! }],
    pepper: pepper.toString('hex'),
  };
}

export function gateToken(gateId = GATE, compound = COMPOUND): string {
  return signToken({ sub: gateId, role: 'gate', compound, exp: Date.now() + 3_600_000 }, signingKey);
}
