/**
 * The event page filters both engines share (cloud/store/store-filters.ts): the same conditions
 * whatever the engine, and "narrowed" decided in that one place from the keys the engine's
 * indexes lead with — PostgreSQL's include the compound, SQLite's do not (its compound pages merge
 * the compound's gates).
 */
import { describe, expect, it } from 'vitest';
import { addEventConditions, type EventIndexKey } from '../../../cloud/store/store-filters.ts';
import type { EventQuery } from '../../../cloud/store/store.ts';

const conditions = () => {
  const added: { condition: string; args: unknown[] }[] = [];
  return { added, add: (condition: string, ...args: unknown[]) => added.push({ condition, args }) };
};

describe('addEventConditions', () => {
  const postgres: EventIndexKey[] = ['compoundId', 'gateId', 'personId'];
  const sqlite: EventIndexKey[] = ['gateId', 'personId'];
  const narrowed = (query: Omit<EventQuery, 'limit'>, indexed: EventIndexKey[]) =>
    addEventConditions(conditions(), { limit: 10, ...query }, indexed).narrowed;

  it('narrows a page only by a key the engine’s indexes lead with', () => {
    expect(narrowed({ compoundId: 'c-1' }, postgres)).toBe(true);
    expect(narrowed({ compoundId: 'c-1' }, sqlite)).toBe(false);
    for (const indexed of [postgres, sqlite]) {
      expect(narrowed({ gateId: 'g-1' }, indexed)).toBe(true);
      expect(narrowed({ compoundId: 'c-1', personId: 'p-1' }, indexed)).toBe(true);
      expect(narrowed({ result: 'denied', from: 0, to: 5 }, indexed)).toBe(false);
    }
  });

  it('adds the same conditions whatever the engine', () => {
    const query: EventQuery = { limit: 10, compoundId: 'c-1', result: 'denied', from: 1, to: 9 };
    const a = conditions();
    const b = conditions();
    addEventConditions(a, query, postgres);
    addEventConditions(b, query, sqlite);
    expect(a.added).toEqual(b.added);
    expect(a.added.map((c) => c.condition)).toEqual(['compound_id = ?', 'result = ?', 'ts >= ?', 'ts < ?']);
  });
});
