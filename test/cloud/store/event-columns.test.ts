/**
 * The one mapping of a passage to the `events` columns (cloud/store/event-columns.ts), which the
 * SQLite store, the PostgreSQL store and the bench's bare inserts all write with: one value per
 * named column, and what is written reads back as the same passage through the mapping both
 * engines read with (store-rows.ts `eventOfRow`), whether the engine's boolean is 0/1 or its own.
 */
import { describe, expect, it } from 'vitest';
import { EVENT_COLUMN_COUNT, EVENT_COLUMNS, writeEventValues } from '../../../cloud/store/event-columns.ts';
import { flag } from '../../../cloud/store/sqlite/rows.ts';
import { type EventRow, eventOfRow } from '../../../cloud/store/store-rows.ts';
import type { StoredEvent } from '../../../cloud/store/store.ts';
import { entryEvent } from '../fixtures.ts';

const columns = EVENT_COLUMNS.split(',').map((c) => c.trim());
const stored = (extra: Partial<StoredEvent>): StoredEvent => ({
  ...entryEvent('g-1', 7),
  compoundId: 'c-1',
  receivedAt: 99,
  ...extra,
});

describe('the events column mapping', () => {
  it('names one column per value', () => {
    expect(columns).toHaveLength(EVENT_COLUMN_COUNT);
    expect(new Set(columns).size).toBe(EVENT_COLUMN_COUNT);
  });

  it.each([
    ['every field', stored({ idHash: 'h'.repeat(64), passId: 'pass-1', guard: 'guard-1', openReason: 'fire' })],
    ['no optional field', stored({ personId: undefined, passed: null })],
    ['a timed-out grant', stored({ passed: false })],
  ])('reads back what it writes: %s', (_name, event) => {
    const clean = JSON.parse(JSON.stringify(event)) as StoredEvent;
    for (const bool of [flag, (b: boolean) => b]) {
      const row = writeEventValues(new Array(EVENT_COLUMN_COUNT).fill('stale'), clean, bool);
      expect(row).toHaveLength(EVENT_COLUMN_COUNT);
      const asRow = Object.fromEntries([['id', 1], ...columns.map((c, i) => [c, row[i]])]) as EventRow;
      expect(eventOfRow(asRow)).toEqual(clean);
    }
  });
});
