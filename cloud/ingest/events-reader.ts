/**
 * Reads an `events` message (`eventsMessageSchema`, docs/contract.md `events`) on ingest's hot path.
 *
 * Every passage crosses here once — a live message carries one, a journal drain up to 500 — and
 * zod's parse of each event was ingest's largest cost after SQLite's own (bench/ingest.ts
 * `--cpu-prof`). The message is checked here by hand first, field by field against the same
 * patterns, enums and limits as the schema (shared/schemas/mqtt.ts, shared/schemas/common.ts), and
 * built into the same output: the schema's fields, in its order, nothing else (unknown keys
 * dropped, as zod drops them). Whatever the hand check does not accept goes to the schema, which
 * decides and explains (its issues are what ingest logs): the hand check may only ever accept less
 * than the schema, never more (test/cloud/ingest/events-reader.test.ts checks both against each
 * other on generated input).
 */
import { DIRECTIONS, HEALTH_COLOURS, METHODS, MODES, REASONS, RESULTS } from '../../shared/enums.ts';
import { ID_PATTERN } from '../../shared/ids.ts';
import { ID_HASH_PATTERN, MAX_EPOCH_MS } from '../../shared/schemas/common.ts';
import {
  ENTRY_EVENT_LIMITS,
  type EntryEvent,
  type EventsMessage,
  MAX_EVENTS_PER_MESSAGE,
} from '../../shared/schemas/mqtt.ts';

type Fields = Record<string, unknown>;

const DIRECTION: ReadonlySet<unknown> = new Set(DIRECTIONS);
const METHOD: ReadonlySet<unknown> = new Set(METHODS);
const RESULT: ReadonlySet<unknown> = new Set(RESULTS);
const REASON: ReadonlySet<unknown> = new Set(REASONS);
const HEALTH: ReadonlySet<unknown> = new Set(HEALTH_COLOURS);
const MODE: ReadonlySet<unknown> = new Set(MODES);
/** `guard` and `openReason`: 1 to this many UTF-16 units (the schema's `.min(1).max(n)`), the schema's own limits. */
const { guard: GUARD_MAX, openReason: OPEN_REASON_MAX, decisionMs: DECISION_MS_MAX } = ENTRY_EVENT_LIMITS;

const isFields = (value: unknown): value is Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isId = (value: unknown): value is string => typeof value === 'string' && ID_PATTERN.test(value);
const isText = (value: unknown, max: number): value is string =>
  typeof value === 'string' && value.length >= 1 && value.length <= max;

/** The optional fields: absent, or valid (the schema's `.optional()`; JSON has no `undefined`). */
function optionalOk(e: Fields): boolean {
  if ('personId' in e && !isId(e.personId)) return false;
  if ('idHash' in e && !(typeof e.idHash === 'string' && ID_HASH_PATTERN.test(e.idHash))) return false;
  if ('passId' in e && !isId(e.passId)) return false;
  if ('guard' in e && !isText(e.guard, GUARD_MAX)) return false;
  if ('quotaHousehold' in e && !isId(e.quotaHousehold)) return false;
  if ('openReason' in e && !isText(e.openReason, OPEN_REASON_MAX)) return false;
  return true;
}

/** One event as the schema would output it, or undefined (the schema then decides). */
function readEvent(e: unknown): EntryEvent | undefined {
  if (!isFields(e)) return undefined;
  const { gateId, seq, ts, direction, method, result, reason, health, mode, passed, decisionMs } = e;
  if (!isId(gateId) || !Number.isSafeInteger(seq) || (seq as number) < 1) return undefined;
  if (!Number.isSafeInteger(ts) || (ts as number) < 0 || (ts as number) > MAX_EPOCH_MS) return undefined;
  if (!DIRECTION.has(direction) || !METHOD.has(method) || !RESULT.has(result) || !REASON.has(reason)) return undefined;
  if (!HEALTH.has(health) || !MODE.has(mode) || !(passed === null || typeof passed === 'boolean')) return undefined;
  if (typeof decisionMs !== 'number' || !(decisionMs >= 0 && decisionMs <= DECISION_MS_MAX)) return undefined;
  if (!optionalOk(e)) return undefined;
  const event = { gateId, seq, ts, direction, method, result, reason } as EntryEvent;
  if ('personId' in e) event.personId = e.personId as string;
  if ('idHash' in e) event.idHash = e.idHash as string;
  if ('passId' in e) event.passId = e.passId as string;
  event.health = health as EntryEvent['health'];
  event.mode = mode as EntryEvent['mode'];
  event.passed = passed;
  if ('guard' in e) event.guard = e.guard as string;
  if ('quotaHousehold' in e) event.quotaHousehold = e.quotaHousehold as string;
  if ('openReason' in e) event.openReason = e.openReason as string;
  event.decisionMs = decisionMs;
  return event;
}

/** The message as `eventsMessageSchema` would output it, or undefined: the schema then decides. */
export function readEventsMessage(json: unknown): EventsMessage | undefined {
  if (!isFields(json)) return undefined;
  const { events } = json;
  if (!Array.isArray(events) || events.length < 1 || events.length > MAX_EVENTS_PER_MESSAGE) return undefined;
  const out: EntryEvent[] = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const event = readEvent(events[i]);
    if (!event) return undefined;
    out[i] = event;
  }
  return { events: out };
}
