import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readChange, readHotChange } from '../../edge-agent/change-reader.ts';
import { HEALTH_COLOURS, PERSON_KINDS } from '../../shared/enums.ts';
import { changeSchema } from '../../shared/schemas/mqtt.ts';
import { person } from './fixtures.ts';
import { nearLimits } from '../helpers/near-limits.ts';

const HASH = 'ab'.repeat(32);

const { maybe, id } = nearLimits(6);
const epoch = maybe(
  fc.integer({ min: 0, max: 8_640_000_000_000_000 }),
  fc.constantFrom(-1, 0.5, 8_640_000_000_000_001, Number.NaN, Number.POSITIVE_INFINITY, -0, 2 ** 53),
);
const nullable = <T>(a: fc.Arbitrary<T>) => fc.oneof(fc.constant(null), a);
const goodCard = fc.stringMatching(/^\d{1,5}:\d{1,10}$/);
const card = maybe(goodCard, fc.constantFrom('1:', ':1', '123456:1', '1:12345678901', ' 1:1'));
const record = fc.record(
  {
    personId: id,
    compoundId: id,
    householdId: nullable(id),
    kind: maybe(fc.constantFrom(...PERSON_KINDS), fc.constantFrom('Resident', 'guard')),
    idHash: maybe(nullable(fc.constant(HASH)), fc.constantFrom('AB'.repeat(32), 'ab'.repeat(31), `${HASH}0`)),
    maskedName: maybe(fc.string({ maxLength: 64, unit: 'grapheme' }), fc.string({ minLength: 65, maxLength: 70 })),
    cards: maybe(fc.array(card, { maxLength: 16 }), fc.array(goodCard, { minLength: 16, maxLength: 17 })),
    validFrom: nullable(epoch),
    validTo: nullable(epoch),
    active: maybe(fc.boolean()),
    elderly: maybe(fc.boolean()),
    name: fc.string(),
  },
  { requiredKeys: ['personId', 'compoundId', 'kind', 'maskedName', 'cards', 'active'] },
);
const change = fc.oneof(
  fc.record({ op: fc.constant('person.upsert'), person: maybe(record), extra: fc.string() }, { requiredKeys: ['op'] }),
  fc.record(
    {
      op: fc.constant('health'),
      personId: id,
      colour: maybe(fc.constantFrom(...HEALTH_COLOURS), fc.constant('blue')),
      ts: epoch,
    },
    { requiredKeys: ['op'] },
  ),
  fc.record({
    op: maybe(fc.constantFrom('person.delete', 'pass.revoke', 'mode')),
    personId: id,
    passId: id,
    ts: epoch,
  }),
);

describe('readChange', () => {
  it('accepts exactly what changeSchema accepts, and outputs the same change, fields in the same order (property)', () => {
    fc.assert(
      fc.property(change, (item) => {
        const schema = changeSchema.safeParse(item);
        const read = readChange(item);
        expect(read.ok).toBe(schema.success);
        if (read.ok && schema.success) {
          expect(read.change).toStrictEqual(schema.data);
          expect(JSON.stringify(read.change)).toBe(JSON.stringify(schema.data));
        }
        // The hand check never takes what the schema refuses.
        if (!schema.success) expect(readHotChange(item)).toBeUndefined();
      }),
      { numRuns: 3_000 },
    );
  });

  it('reads a person record and a health colour by hand, without extra fields', () => {
    const upsert = { op: 'person.upsert', person: { ...person('p-1', { cards: ['90:324'] }), name: '张三' }, x: 1 };
    expect(readHotChange(upsert)).toEqual({ op: 'person.upsert', person: person('p-1', { cards: ['90:324'] }) });
    expect(readHotChange({ op: 'health', personId: 'p-1', colour: 'red', ts: 5 })).toEqual({
      op: 'health',
      personId: 'p-1',
      colour: 'red',
      ts: 5,
    });
  });

  it('leaves the refusal and its reasons to the schema', () => {
    const read = readChange({ op: 'health', personId: 'p-1', colour: 'purple', ts: 5 });
    expect(read.ok).toBe(false);
    expect(read.ok ? [] : read.error.issues.map((i) => i.path.join('.'))).toEqual(['colour']);
  });
});
