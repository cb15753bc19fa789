/** A small compound for edge-agent tests: keys, persons, passes and ID numbers. */
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
