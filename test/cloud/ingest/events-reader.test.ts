/**
 * The hand check of `events` messages (cloud/ingest/events-reader.ts) against the schema it stands
 * in for: on generated messages — mostly valid, each field sometimes at or just past its limits or
 * of the wrong type — it may only accept what `eventsMessageSchema` accepts, and then must output
 * exactly what the schema outputs. And it does take the messages gates really send.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readEventsMessage } from '../../../cloud/ingest/events-reader.ts';
import { DIRECTIONS, HEALTH_COLOURS, METHODS, MODES, REASONS, RESULTS } from '../../../shared/enums.ts';
import { ENTRY_EVENT_LIMITS, eventsMessageSchema } from '../../../shared/schemas/mqtt.ts';
import { anyJson, nearLimits } from '../../helpers/near-limits.ts';
import { entryEvent } from '../fixtures.ts';

const { maybe, id } = nearLimits(40);
const int = (min: number, max: number) =>
  maybe(
    fc.integer({ min, max: Math.min(max, Number.MAX_SAFE_INTEGER) }),
    fc.constantFrom(min - 1, 0.5, max + 1, -0, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53),
  );
const oneOf = (values: readonly string[]) => maybe(fc.constantFrom(...values), fc.constantFrom('', 'GREEN', 'x'));
const text = (max: number) =>
  maybe(fc.string({ minLength: 1, maxLength: max }), fc.constantFrom('', 'x'.repeat(max + 1)));

const event = fc.record(
  {
    gateId: id,
    seq: int(1, Number.MAX_SAFE_INTEGER),
    ts: int(0, 8_640_000_000_000_000),
    direction: oneOf(DIRECTIONS),
    method: oneOf(METHODS),
    result: oneOf(RESULTS),
    reason: oneOf(REASONS),
    personId: id,
    idHash: maybe(fc.stringMatching(/^[0-9a-f]{64}$/), fc.constantFrom('AB'.repeat(32), 'ab'.repeat(31))),
    passId: id,
    health: oneOf(HEALTH_COLOURS),
    mode: oneOf(MODES),
    passed: maybe(fc.oneof(fc.boolean(), fc.constant(null))),
    guard: text(ENTRY_EVENT_LIMITS.guard),
    quotaHousehold: id,
    openReason: text(ENTRY_EVENT_LIMITS.openReason),
    decisionMs: maybe(
      fc.double({ min: 0, max: ENTRY_EVENT_LIMITS.decisionMs, noNaN: true }),
      fc.constantFrom(-1, ENTRY_EVENT_LIMITS.decisionMs + 1, Number.NaN),
    ),
    extra: anyJson,
  },
  { requiredKeys: ['gateId', 'seq', 'ts', 'direction', 'method', 'result', 'reason', 'health', 'mode', 'decisionMs'] },
);
const message = fc.oneof(
  { arbitrary: fc.record({ events: fc.array(event, { minLength: 1, maxLength: 4 }) }), weight: 8 },
  { arbitrary: fc.record({ events: fc.array(event, { maxLength: 1 }) }), weight: 1 },
  { arbitrary: anyJson, weight: 1 },
);

const oneEvent = entryEvent('g-1', 1, { ts: 1_796_000_000_000, decisionMs: 1.5 });

describe('readEventsMessage', () => {
  it('accepts only what eventsMessageSchema accepts, and outputs what it outputs', () => {
    let accepted = 0;
    fc.assert(
      fc.property(message, (json) => {
        const byHand = readEventsMessage(json);
        const bySchema = eventsMessageSchema.safeParse(json);
        if (byHand === undefined) return;
        accepted += 1;
        expect(bySchema.success).toBe(true);
        expect(byHand).toStrictEqual(bySchema.data);
        expect(Object.keys(byHand.events[0]!)).toEqual(Object.keys(bySchema.data!.events[0]!));
      }),
      { numRuns: 3000 },
    );
    // The generator must reach the accepting side often, or the property says little.
    expect(accepted).toBeGreaterThan(100);
  });

  it("takes guard, openReason and decisionMs exactly up to the schema's own limits (ENTRY_EVENT_LIMITS), not past", () => {
    const manual = { ...oneEvent, method: 'manual', reason: 'manual' };
    const { guard, openReason, decisionMs } = ENTRY_EVENT_LIMITS;
    const at = { ...manual, guard: 'g'.repeat(guard), openReason: 'r'.repeat(openReason), decisionMs };
    const message = { events: [at] };
    expect(eventsMessageSchema.safeParse(message).success).toBe(true);
    expect(readEventsMessage(message)).toStrictEqual(eventsMessageSchema.parse(message));
    for (const past of [
      { guard: 'g'.repeat(guard + 1) },
      { openReason: 'r'.repeat(openReason + 1) },
      { decisionMs: decisionMs + 1 },
    ]) {
      const over = { events: [{ ...at, ...past }] };
      expect(eventsMessageSchema.safeParse(over).success).toBe(false);
      expect(readEventsMessage(over)).toBeUndefined();
    }
  });

  it('takes a gate journal batch of 500 as the schema does, and refuses 501', () => {
    const one = oneEvent;
    const batch = { events: Array.from({ length: 500 }, (_, i) => ({ ...one, seq: i + 1 })) };
    expect(readEventsMessage(batch)).toStrictEqual(eventsMessageSchema.parse(batch));
    expect(readEventsMessage({ events: [...batch.events, { ...one, seq: 501 }] })).toBeUndefined();
  });
});
