import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GateDatabase, openGateDatabase } from '../../edge-agent/gate-database.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import { NOW, person } from './fixtures.ts';

let dir: string;
let db: GateDatabase;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-staging-'));
  db = openGateDatabase(dir, { synchronous: 'normal' });
});
afterEach(() => {
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

const upsert = (id: string, cards: string[] = []): Change => ({ op: 'person.upsert', person: person(id, { cards }) });

/** The schema as SQLite keeps it: every table and index with its SQL, minus the name quoting a rename adds. */
function schemaOf(d: GateDatabase): string[] {
  return d
    .prepare<[], { type: string; name: string; tbl_name: string; sql: string | null }>(
      "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_autoindex_%' ORDER BY name",
    )
    .all()
    .map((r) => `${r.type} ${r.name} on ${r.tbl_name}: ${(r.sql ?? '').replace(/"(\w+)"/g, '$1')}`);
}

/** The persons, cards and health colours of a database, in key order. */
const replicaRows = (d: GateDatabase) => ({
  persons: d.prepare('SELECT person_id, id_hash, record FROM persons ORDER BY person_id').all(),
  cards: d.prepare('SELECT card, person_id FROM person_cards ORDER BY card').all(),
  health: d.prepare('SELECT person_id, colour, ts FROM health ORDER BY person_id').all(),
});

/** These parts staged as one snapshot leave what their changes applied one by one as a delta leave. */
function expectStagedAsApplied(parts: readonly Change[][]): void {
  const staged = openGateDatabase(':memory:');
  const applied = openGateDatabase(':memory:');
  try {
    const replica = new ReplicaStore(staged);
    for (const [i, changes] of parts.entries()) replica.stageSnapshotChunk(3, i + 1, parts.length, changes);
    expect(replica.rev()).toBe(3);
    new ReplicaStore(applied).applyDelta(parts.flat(), 3);
    expect(replicaRows(staged)).toEqual(replicaRows(applied));
  } finally {
    staged.close();
    applied.close();
  }
}

describe('snapshot staging (tables renamed into place)', () => {
  it('leaves the same schema as a fresh database after each swap, and the replica readable through it', () => {
    const replica = new ReplicaStore(db);
    const fresh = schemaOf(db);
    for (const rev of [5, 6, 7]) {
      replica.stageSnapshotChunk(rev, 1, 2, [
        upsert(`a${rev}`, [`1:${rev}`]),
        { op: 'pass.revoke', passId: 'x', ts: NOW },
      ]);
      expect(replica.personById(`a${rev}`)).toBeUndefined();
      const outcome = replica.stageSnapshotChunk(rev, 2, 2, [
        upsert(`b${rev}`),
        { op: 'health', personId: `a${rev}`, colour: 'red', ts: NOW },
      ]);
      expect(outcome).toBe('applied');
      expect(replica.personCount()).toBe(2);
      expect(replica.personByCard(`1:${rev}`)?.personId).toBe(`a${rev}`);
      expect(replica.personById(`a${rev - 1}`)).toBeUndefined();
      expect(replica.health(`a${rev}`)).toBe('red');
      expect(replica.isPassRevoked('x')).toBe(true);
      expect(schemaOf(db)).toEqual(fresh);
    }
    const plan = db
      .prepare<[string], { detail: string }>('EXPLAIN QUERY PLAN SELECT record FROM persons WHERE id_hash = ?')
      .all('h');
    expect(plan.map((p) => p.detail).join()).toContain('persons_by_id_hash');
  });

  it('keeps the old replica whole when the swap fails, and the staged parts for another try', () => {
    const replica = new ReplicaStore(db);
    replica.stageSnapshotChunk(3, 1, 1, [upsert('old', ['1:1'])]);
    replica.stageSnapshotChunk(4, 1, 2, [upsert('new')]);
    // A staged setting the swap cannot read back makes the swap's transaction fail half-way.
    db.prepare('INSERT INTO staged_settings (part, idx, change) VALUES (1, 99, \'{"op":"mode","mode":"?"}\')').run();
    expect(() => replica.stageSnapshotChunk(4, 2, 2, [upsert('new2')])).toThrow();
    expect(replica.rev()).toBe(3);
    expect(replica.personById('old')).toBeDefined();
    expect(replica.personByCard('1:1')?.personId).toBe('old');
    expect(replica.personById('new')).toBeUndefined();
    expect(replica.stagedSnapshot()).toEqual({ snapshotRev: 4, parts: 2, received: 2 });
  });

  it('stages each card with its record: a record staged again or deleted takes its own cards out, not one a later record took', () => {
    const replica = new ReplicaStore(db);
    replica.stageSnapshotChunk(6, 1, 2, [
      upsert('a', ['1:1', '1:2']),
      upsert('b', ['1:3', '1:4']),
      upsert('c', ['1:5']),
      // The later record takes 1:2 from a.
      upsert('d', ['1:2']),
    ]);
    expect(
      replica.stageSnapshotChunk(6, 2, 2, [
        // a again, without 1:1 (and without 1:2, which is d's by now).
        upsert('a', ['1:6']),
        { op: 'person.delete', personId: 'b' },
        upsert('c', ['1:5', '1:7']),
      ]),
    ).toBe('applied');
    const owner = (card: string) => replica.personByCard(card)?.personId;
    expect(['1:1', '1:2', '1:3', '1:4', '1:5', '1:6', '1:7'].map(owner)).toEqual([
      undefined,
      'd',
      undefined,
      undefined,
      'c',
      'a',
      'c',
    ]);
    expect(replica.personById('a')?.cards).toEqual(['1:6']);
    expect(replica.personById('b')).toBeUndefined();
    const rows = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM person_cards').get();
    expect(rows?.n).toBe(4);
  });

  it('stages in batches what the same changes applied one by one as a delta leave: new persons, again, within a batch', () => {
    const hashed = (id: string, cards: string[]) => person(id, { cards, idHash: id.padEnd(64, 'a') });
    const part1: Change[] = [];
    for (let i = 0; i < 120; i++) part1.push({ op: 'person.upsert', person: hashed(`p${i}`, [`7:${i}`]) });
    // Within one 50-row batch: p10 again (its first card out), and a card taken from p12.
    part1[30] = { op: 'person.upsert', person: hashed('p10', ['7:999', '7:12']) };
    for (let i = 0; i < 120; i++) part1.push({ op: 'health', personId: `p${i}`, colour: 'green', ts: NOW + i });
    // Within one batch of colours, its first row: the later one (green) stays.
    part1[120] = { op: 'health', personId: 'p3', colour: 'red', ts: NOW };
    // Part 2: p60 staged again (a full batch of otherwise new persons), health again.
    const part2: Change[] = [{ op: 'person.upsert', person: hashed('p60', ['7:1000']) }];
    for (let i = 120; i < 169; i++) part2.push({ op: 'person.upsert', person: hashed(`p${i}`, [`7:${i}`]) });
    for (let i = 50; i < 100; i++) part2.push({ op: 'health', personId: `p${i}`, colour: 'yellow', ts: NOW + i });
    expectStagedAsApplied([part1, part2]);
  });

  it('stages in batches what the same changes applied one by one as a delta would leave (generated)', () => {
    // Deletes flush the held batches: runs without any reach the full 50-row batches.
    // Few ids: persons staged again, cards taken; many: full batches of new persons (the fast path).
    const change = (deletes: number, ids: number): fc.Arbitrary<Change> => {
      const id = fc.noBias(fc.integer({ min: 0, max: ids - 1 })).map((n) => `p${n}`);
      const upsert = fc
        .tuple(id, fc.uniqueArray(fc.integer({ min: 0, max: 29 }), { maxLength: 3, size: 'max' }), fc.boolean())
        .map(
          ([personId, cards, hashed]): Change => ({
            op: 'person.upsert',
            person: person(personId, {
              cards: cards.map((c) => `7:${c}`),
              idHash: hashed ? personId.padEnd(64, 'a') : null,
            }),
          }),
        );
      const colour = fc.constantFrom('green', 'yellow', 'red') as fc.Arbitrary<'green' | 'yellow' | 'red'>;
      const health = fc
        .tuple(id, colour, fc.nat(1000))
        .map(([personId, c, dt]): Change => ({ op: 'health', personId, colour: c, ts: NOW + dt }));
      const remove = id.map((personId): Change => ({ op: 'person.delete', personId }));
      return fc.oneof(
        { weight: 6, arbitrary: upsert },
        { weight: 4, arbitrary: health },
        { weight: deletes, arbitrary: remove },
      );
    };
    fc.assert(
      fc.property(
        fc
          .tuple(fc.constantFrom(0, 0, 1), fc.constantFrom(60, 1_000_000))
          .chain(([deletes, ids]) =>
            fc.array(change(deletes, ids), { minLength: ids > 60 ? 120 : 0, maxLength: 260, size: 'max' }),
          ),
        fc.integer({ min: 1, max: 160 }),
        (changes, size) => {
          const parts = Math.max(1, Math.ceil(changes.length / size));
          expectStagedAsApplied(Array.from({ length: parts }, (_, i) => changes.slice(i * size, (i + 1) * size)));
        },
      ),
      // No shrinking: a failing run is a few hundred changes, and the tables' diff says what differs.
      { numRuns: 80, endOnFailure: true },
    );
  });

  it('starts a snapshot again that an earlier version staged without a table for its cards', () => {
    new ReplicaStore(db).stageSnapshotChunk(8, 1, 2, [upsert('p1', ['1:1'])]);
    // As that version left it: the staged person, but no staged cards.
    db.exec('DROP TABLE incoming_person_cards');
    const replica = new ReplicaStore(db);
    expect(replica.stagedSnapshot()).toBeUndefined();
    expect(db.prepare('SELECT * FROM incoming_persons').all()).toEqual([]);
    replica.stageSnapshotChunk(8, 2, 2, [upsert('p2')]);
    expect(replica.stageSnapshotChunk(8, 1, 2, [upsert('p1', ['1:1'])])).toBe('applied');
    expect(replica.personByCard('1:1')?.personId).toBe('p1');
  });

  it('drops the staging tables of an earlier version, and the parts they held, on opening', () => {
    db.exec(`
      CREATE TABLE staged_parts (snapshot_rev INTEGER NOT NULL, part INTEGER NOT NULL, parts INTEGER NOT NULL,
        PRIMARY KEY (snapshot_rev, part));
      CREATE TABLE staged_settings (part INTEGER NOT NULL, idx INTEGER NOT NULL, change TEXT NOT NULL, PRIMARY KEY (part, idx));
      CREATE TABLE staged_persons (person_id TEXT PRIMARY KEY, id_hash TEXT, record TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE staged_health (person_id TEXT PRIMARY KEY, colour TEXT NOT NULL, ts INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE staged_revoked_passes (pass_id TEXT PRIMARY KEY, ts INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO staged_parts VALUES (8, 1, 2);
      INSERT INTO staged_persons VALUES ('p1', NULL, '{}');
    `);
    const replica = new ReplicaStore(db);
    expect(replica.stagedSnapshot()).toBeUndefined();
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE name LIKE 'staged_%'").all();
    expect(tables.map((t) => t.name).sort()).toEqual(['staged_parts', 'staged_settings']);
    // The part it had is asked for again with the rest: the snapshot completes from what arrives now.
    replica.stageSnapshotChunk(8, 2, 2, [upsert('p2')]);
    expect(replica.rev()).toBe(0);
    expect(replica.stageSnapshotChunk(8, 1, 2, [upsert('p1')])).toBe('applied');
    expect(replica.personCount()).toBe(2);
  });
});
