/**
 * Residents on SQLite: upserts (moving a person between compounds tells the old compound's gates
 * to forget them), lookups, pages, deletion and health colours — each change a gate must learn
 * about logged in the same transaction.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { HealthColour } from '../../../shared/enums.ts';
import type { Change } from '../../../shared/schemas/mqtt.ts';
import { ConflictError } from '../../cloud-errors.ts';
import { encodeCursor } from '../cursor.ts';
import { type ChangeBatch, type HealthUpdateRow, personRecordOf, type Resident, type ResidentQuery } from '../store.ts';
import { addChange, type SqliteChangeLog } from './change-log.ts';
import { type Flag, flag, isUniqueViolation, WhereClause } from './rows.ts';
import { cursorTuple, type ResidentRow, residentOfRow } from '../store-rows.ts';

/** A resident as bound to the upsert statement (cards as JSON, booleans as 0/1). */
type ResidentParams = Omit<Resident, 'cards' | 'elderly' | 'active'> & { cards: string; elderly: Flag; active: Flag };

export class SqliteResidentTables {
  private readonly upsert: Statement<[ResidentParams]>;
  private readonly getRow: Statement<[string], ResidentRow>;
  private readonly byIdHash: Statement<[string], ResidentRow>;
  private readonly maskedName: Statement<[string], string>;
  private readonly kindOf: Statement<[string], string>;
  private readonly compoundOf: Statement<[string], string>;
  private readonly idsOfCompoundRows: Statement<[string, number], string>;
  private readonly deleteRow: Statement<[string], { compound_id: string }>;
  private readonly getHealth: Statement<[string], { compound_id: string; health_ts: number | null }>;
  private readonly updateHealth: Statement<[HealthColour, number, number, string]>;

  constructor(
    private readonly db: Database,
    private readonly log: SqliteChangeLog,
  ) {
    this.upsert = db.prepare(`INSERT INTO residents (person_id, compound_id, household_id, kind, name, masked_name,
      id_sealed, id_hash, masked_id_number, phone, cards, elderly, valid_from, valid_to, active, health, health_ts,
      created_at, updated_at) VALUES (@personId, @compoundId, @householdId, @kind, @name, @maskedName, @idSealed,
      @idHash, @maskedIdNumber, @phone, @cards, @elderly, @validFrom, @validTo, @active, @health, @healthTs, @createdAt,
      @updatedAt)
      ON CONFLICT (person_id) DO UPDATE SET compound_id = excluded.compound_id, household_id = excluded.household_id,
      kind = excluded.kind, name = excluded.name, masked_name = excluded.masked_name, id_sealed = excluded.id_sealed,
      id_hash = excluded.id_hash, masked_id_number = excluded.masked_id_number, phone = excluded.phone,
      cards = excluded.cards, elderly = excluded.elderly, valid_from = excluded.valid_from,
      valid_to = excluded.valid_to, active = excluded.active, updated_at = excluded.updated_at`);
    this.getRow = db.prepare('SELECT * FROM residents WHERE person_id = ?');
    this.byIdHash = db.prepare('SELECT * FROM residents WHERE id_hash = ?');
    this.maskedName = db.prepare<[string], string>('SELECT masked_name FROM residents WHERE person_id = ?').pluck();
    this.kindOf = db.prepare<[string], string>('SELECT kind FROM residents WHERE person_id = ?').pluck();
    this.compoundOf = db.prepare<[string], string>('SELECT compound_id FROM residents WHERE person_id = ?').pluck();
    this.idsOfCompoundRows = db
      .prepare<[string, number], string>('SELECT person_id FROM residents WHERE compound_id = ? LIMIT ?')
      .pluck();
    this.deleteRow = db.prepare('DELETE FROM residents WHERE person_id = ? RETURNING compound_id');
    this.getHealth = db.prepare('SELECT compound_id, health_ts FROM residents WHERE person_id = ?');
    this.updateHealth = db.prepare(
      'UPDATE residents SET health = ?, health_ts = ?, updated_at = ? WHERE person_id = ?',
    );
  }

  upsertAll(residents: readonly Resident[]): ChangeBatch[] {
    return this.db.transaction(() => {
      const byCompound = new Map<string, Change[]>();
      for (const r of residents) {
        const previous = this.getRow.get(r.personId);
        if (previous && previous.compound_id !== r.compoundId) {
          // Moving a person between compounds: the old compound's gates must forget them.
          addChange(byCompound, previous.compound_id, { op: 'person.delete', personId: r.personId });
        }
        try {
          this.upsert.run({ ...r, cards: JSON.stringify(r.cards), elderly: flag(r.elderly), active: flag(r.active) });
        } catch (err) {
          if (isUniqueViolation(err))
            throw new ConflictError('resident with ID number', r.maskedIdNumber ?? r.personId);
          throw err;
        }
        addChange(byCompound, r.compoundId, { op: 'person.upsert', person: personRecordOf(r) });
      }
      return this.log.appendAll(byCompound);
    })();
  }

  resident(personId: string): Resident | undefined {
    const row = this.getRow.get(personId);
    return row ? residentOfRow(row) : undefined;
  }

  byIdHashes(idHashes: readonly string[]): Resident[] {
    const out: Resident[] = [];
    for (const h of new Set(idHashes)) {
      for (const row of this.byIdHash.all(h)) out.push(residentOfRow(row));
    }
    return out;
  }

  list(query: ResidentQuery): { residents: Resident[]; nextCursor: string | null } {
    const where = new WhereClause();
    if (query.compoundId !== undefined) where.add('compound_id = ?', query.compoundId);
    if (query.householdId !== undefined) where.add('household_id = ?', query.householdId);
    const after = cursorTuple(query.cursor, ['string']);
    if (after) where.add('person_id > ?', after[0]);
    const sql = `SELECT * FROM residents ${where.sql()} ORDER BY person_id LIMIT ?`;
    const rows = this.db.prepare<unknown[], ResidentRow>(sql).all(...where.args, query.limit + 1);
    const page = rows.slice(0, query.limit).map(residentOfRow);
    const last = page[page.length - 1];
    return { residents: page, nextCursor: rows.length > query.limit && last ? encodeCursor([last.personId]) : null };
  }

  maskedNames(personIds: readonly string[]): Map<string, string> {
    const out = new Map<string, string>();
    for (const id of new Set(personIds)) {
      const name = this.maskedName.get(id);
      if (name !== undefined) out.set(id, name);
    }
    return out;
  }

  /** One narrow read per person (a `SELECT *` and a row decode cost 5–7 × as much). */
  compoundsOf(personIds: readonly string[]): Map<string, string> {
    const out = new Map<string, string>();
    for (const id of personIds) {
      const compoundId = this.compoundOf.get(id);
      if (compoundId !== undefined) out.set(id, compoundId);
    }
    return out;
  }

  idsOfCompound(compoundId: string, limit: number): string[] | undefined {
    const ids = this.idsOfCompoundRows.all(compoundId, limit + 1);
    return ids.length > limit ? undefined : ids;
  }

  visitorsAmong(personIds: readonly string[]): Set<string> {
    return new Set([...new Set(personIds)].filter((id) => this.kindOf.get(id) === 'visitor'));
  }

  delete(personId: string): ChangeBatch | undefined {
    return this.db.transaction(() => {
      const row = this.deleteRow.get(personId);
      if (!row) return undefined;
      return this.log.append(row.compound_id, [{ op: 'person.delete', personId }]);
    })();
  }

  setHealth(updates: readonly HealthUpdateRow[]): ChangeBatch[] {
    return this.db.transaction(() => {
      const now = Date.now();
      const byCompound = new Map<string, Change[]>();
      for (const u of updates) {
        const row = this.getHealth.get(u.personId);
        if (!row || (row.health_ts !== null && row.health_ts > u.ts)) continue;
        this.updateHealth.run(u.colour, u.ts, now, u.personId);
        addChange(byCompound, row.compound_id, { op: 'health', personId: u.personId, colour: u.colour, ts: u.ts });
      }
      return this.log.appendAll(byCompound);
    })();
  }
}
