/**
 * Reads one change of a delta or snapshot part (`changeSchema`, docs/contract.md `sync`).
 *
 * A snapshot of 100 k persons is 200 k changes, nearly all `person.upsert` and `health`, each
 * checked on its own so that one the gate cannot read is skipped rather than refusing its part
 * (docs/edge-agent.md, "Invalid changes from the cloud"). zod's parse of each was a tenth of the
 * snapshot's CPU and made a copy of every record for the collector. Those two shapes are checked
 * here by hand first, field by field against the same patterns and limits as the schema
 * (shared/schemas/common.ts, `PERSON_RECORD_LIMITS`), and built into the same output — the
 * schema's fields in its order, nothing else. Whatever the hand check does not accept, and every
 * other op, goes to `changeSchema`, which decides and explains: the hand check may only ever
 * accept less than the schema, never more (test/edge-agent/change-reader.test.ts checks both
 * against each other on generated input).
 */
import type { z } from 'zod';
import { HEALTH_COLOURS, type HealthColour, PERSON_KINDS, type PersonKind } from '../shared/enums.ts';
import { ID_PATTERN } from '../shared/ids.ts';
import { CARD_NUMBER_PATTERN, ID_HASH_PATTERN, MAX_EPOCH_MS } from '../shared/schemas/common.ts';
import { type Change, changeSchema, PERSON_RECORD_LIMITS, type PersonRecord } from '../shared/schemas/mqtt.ts';

export type ChangeReading = { ok: true; change: Change } | { ok: false; error: z.ZodError };

const KINDS: ReadonlySet<unknown> = new Set(PERSON_KINDS);
const COLOURS: ReadonlySet<unknown> = new Set(HEALTH_COLOURS);

type Fields = Record<string, unknown>;

const isFields = (value: unknown): value is Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isId = (value: unknown): value is string => typeof value === 'string' && ID_PATTERN.test(value);
const isEpochMs = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_EPOCH_MS;
const isNullableEpochMs = (value: unknown): value is number | null => value === null || isEpochMs(value);

function areCards(value: unknown): value is string[] {
  if (!Array.isArray(value) || value.length > PERSON_RECORD_LIMITS.cards) return false;
  for (const card of value) if (typeof card !== 'string' || !CARD_NUMBER_PATTERN.test(card)) return false;
  return true;
}

/** A `person.upsert`'s record as the schema would output it, or undefined (the schema then decides). */
function readPerson(p: Fields): PersonRecord | undefined {
  const { personId, compoundId, householdId, kind, idHash, maskedName, cards, validFrom, validTo, active } = p;
  if (!isId(personId) || !isId(compoundId) || !(householdId === null || isId(householdId))) return undefined;
  if (!KINDS.has(kind) || !(idHash === null || (typeof idHash === 'string' && ID_HASH_PATTERN.test(idHash))))
    return undefined;
  if (typeof maskedName !== 'string' || maskedName.length > PERSON_RECORD_LIMITS.maskedName) return undefined;
  if (!areCards(cards) || !isNullableEpochMs(validFrom) || !isNullableEpochMs(validTo)) return undefined;
  if (typeof active !== 'boolean') return undefined;
  const record: PersonRecord = {
    personId,
    compoundId,
    householdId,
    kind: kind as PersonKind,
    idHash,
    maskedName,
    cards: [...cards],
    validFrom,
    validTo,
    active,
  };
  if (!('elderly' in p)) return record;
  if (typeof p.elderly !== 'boolean') return undefined;
  record.elderly = p.elderly;
  return record;
}

/** The hot shapes, checked by hand; undefined for anything else (`changeSchema` then decides). */
export function readHotChange(item: unknown): Change | undefined {
  if (!isFields(item)) return undefined;
  if (item.op === 'person.upsert') {
    const person = isFields(item.person) ? readPerson(item.person) : undefined;
    return person && { op: 'person.upsert', person };
  }
  if (item.op === 'health') {
    const { personId, colour, ts } = item;
    if (!isId(personId) || !COLOURS.has(colour) || !isEpochMs(ts)) return undefined;
    return { op: 'health', personId, colour: colour as HealthColour, ts };
  }
  return undefined;
}

/** One change read: by hand for the hot shapes, else by `changeSchema` (with its error when it refuses). */
export function readChange(item: unknown): ChangeReading {
  const common = readHotChange(item);
  if (common) return { ok: true, change: common };
  const result = changeSchema.safeParse(item);
  if (result.success) return { ok: true, change: result.data };
  return { ok: false, error: result.error };
}
