/**
 * fast-check values for checking a hand-written reader against the schema it stands in for: each
 * field mostly a value the schema takes, sometimes one at or just past its limits, or any JSON of
 * the wrong type.
 */
import fc from 'fast-check';

/** Any JSON-ish value (and `undefined`): the wrong type for most fields. */
export const anyJson = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.array(fc.string(), { maxLength: 2 }),
  fc.object({ maxDepth: 1 }),
);

/**
 * `maybe(good, ...near)`: `good` with weight `goodWeight`, each `near` and `anyJson` with weight 1;
 * `id`: an identifier (`[a-z0-9-]{1,64}`) or one just outside that pattern.
 */
export function nearLimits(goodWeight: number) {
  const maybe = <T>(good: fc.Arbitrary<T>, ...near: fc.Arbitrary<unknown>[]) =>
    fc.oneof({ arbitrary: good, weight: goodWeight }, ...near.map((arbitrary) => ({ arbitrary, weight: 1 })), {
      arbitrary: anyJson,
      weight: 1,
    });
  const id = maybe(
    fc.stringMatching(/^[a-z0-9-]{1,64}$/),
    fc.constantFrom('', 'A', 'a/b', 'a+', '#', 'x'.repeat(65), 'é'),
  );
  return { maybe, id };
}
