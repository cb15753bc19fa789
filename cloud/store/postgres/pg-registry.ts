/**
 * The registry on PostgreSQL: compounds, gates, residents, passes and the per-compound change log
 * (an outbox: a mutation and its log rows commit together). A compound's revisions come from one
 * row (`compounds.rev`, bumped with `UPDATE … RETURNING`), whose row lock orders concurrent writers
 * on every cloud instance, so revisions are gap-free and never reused.
 */
import type pg from 'pg';
import type { Mode } from '../../../shared/enums.ts';
import type { Change, GateSettings } from '../../../shared/schemas/mqtt.ts';
import { ConflictError, NotFoundError } from '../../cloud-errors.ts';
import { encodeCursor } from '../cursor.ts';
import {
  type ChangeBatch,
  type ChangeLogRead,
  type Compound,
  type Gate,
  type HealthUpdateRow,
  type Pass,
  personRecordOf,
  type Resident,
  type ResidentQuery,
} from '../store.ts';
import { isConstraintViolation, one, type Queryable, run, statement, transaction } from './pg-pool.ts';
import {
  type CompoundRow,
  compoundOfRow,
  type GateRow,
  gateOfRow,
  type PassRow,
  passOfRow,
  type ResidentRow,
  residentOfRow,
} from '../store-rows.ts';
import { PgWhere } from './pg-rows.ts';
import { cursorTuple } from '../store-rows.ts';

const S = {
  insertCompound: statement<[string, string, string, number], CompoundRow>(
    'insert_compound',
    'INSERT INTO compounds (id, name, time_zone, created_at) VALUES ($1, $2, $3, $4) RETURNING *',
  ),
  getCompound: statement<[string], CompoundRow>('get_compound', 'SELECT * FROM compounds WHERE id = $1'),
  listCompounds: statement<[], CompoundRow>('list_compounds', 'SELECT * FROM compounds ORDER BY id'),
  setMode: statement<[Mode, string, number, string]>(
    'set_mode',
    'UPDATE compounds SET mode = $1, mode_reason = $2, mode_changed_at = $3 WHERE id = $4',
  ),
  setQuota: statement<[number, number, string]>(
    'set_quota',
    'UPDATE compounds SET quota_exits = $1, quota_period_hours = $2 WHERE id = $3',
  ),
  bumpRev: statement<[number, string], { rev: number }>(
    'bump_rev',
    'UPDATE compounds SET rev = rev + $1 WHERE id = $2 RETURNING rev',
  ),
  appendChanges: statement<[string, number[], string[]]>(
    'append_changes',
    'INSERT INTO change_log (compound_id, rev, change) SELECT $1, * FROM unnest($2::int8[], $3::text[])',
  ),
  changesAfter: statement<[string, number, number], { rev: number; change: string }>(
    'changes_after',
    'SELECT rev, change FROM change_log WHERE compound_id = $1 AND rev > $2 ORDER BY rev LIMIT $3',
  ),
  oldestRev: statement<[string], { rev: number | null }>(
    'oldest_rev',
    'SELECT MIN(rev) AS rev FROM change_log WHERE compound_id = $1',
  ),
  compactLog: statement<[number]>(
    'compact_log',
    'DELETE FROM change_log l USING compounds c WHERE l.compound_id = c.id AND l.rev <= c.rev - $1',
  ),
  insertGate: statement<[string, string, string, boolean, string | null, number]>(
    'insert_gate',
    'INSERT INTO gates (id, compound_id, name, anti_passback, settings, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
  ),
  setGateSettings: statement<[boolean, string, string], { compound_id: string }>(
    'set_gate_settings',
    'UPDATE gates SET anti_passback = $1, settings = $2 WHERE id = $3 RETURNING compound_id',
  ),
  getGate: statement<[string], GateRow>('get_gate', 'SELECT * FROM gates WHERE id = $1'),
  listGates: statement<[], GateRow>('list_gates', 'SELECT * FROM gates ORDER BY id'),
  listGatesOf: statement<[string], GateRow>('list_gates_of', 'SELECT * FROM gates WHERE compound_id = $1 ORDER BY id'),
  upsertResident: statement<unknown[]>(
    'upsert_resident',
    `INSERT INTO residents (person_id, compound_id, household_id, kind, name, masked_name, id_sealed, id_hash,
       masked_id_number, phone, cards, elderly, valid_from, valid_to, active, health, health_ts, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
     ON CONFLICT (person_id) DO UPDATE SET compound_id = excluded.compound_id, household_id = excluded.household_id,
       kind = excluded.kind, name = excluded.name, masked_name = excluded.masked_name, id_sealed = excluded.id_sealed,
       id_hash = excluded.id_hash, masked_id_number = excluded.masked_id_number, phone = excluded.phone,
       cards = excluded.cards, elderly = excluded.elderly, valid_from = excluded.valid_from,
       valid_to = excluded.valid_to, active = excluded.active, updated_at = excluded.updated_at`,
  ),
  getResident: statement<[string], ResidentRow>('get_resident', 'SELECT * FROM residents WHERE person_id = $1'),
  lockResidents: statement<[string[]], { person_id: string }>(
    'lock_residents',
    'SELECT person_id FROM residents WHERE person_id = ANY($1::text[]) ORDER BY person_id FOR UPDATE',
  ),
  residentCompoundForUpdate: statement<[string], { compound_id: string }>(
    'resident_compound_for_update',
    'SELECT compound_id FROM residents WHERE person_id = $1 FOR UPDATE',
  ),
  residentsByIdHash: statement<[string[]], ResidentRow>(
    'residents_by_id_hash',
    `SELECT r.* FROM unnest($1::text[]) WITH ORDINALITY AS h(id_hash, ord)
     JOIN residents r ON r.id_hash = h.id_hash ORDER BY h.ord, r.compound_id`,
  ),
  maskedNames: statement<[string[]], { person_id: string; masked_name: string }>(
    'masked_names',
    'SELECT person_id, masked_name FROM residents WHERE person_id = ANY($1::text[])',
  ),
  compoundsOfPersons: statement<[string[]], { person_id: string; compound_id: string }>(
    'compounds_of_persons',
    'SELECT person_id, compound_id FROM residents WHERE person_id = ANY($1::text[])',
  ),
  personIdsOfCompound: statement<[string, number], { person_id: string }>(
    'person_ids_of_compound',
    'SELECT person_id FROM residents WHERE compound_id = $1 LIMIT $2',
  ),
  visitorsAmong: statement<[string[]], { person_id: string }>(
    'visitors_among',
    "SELECT person_id FROM residents WHERE person_id = ANY($1::text[]) AND kind = 'visitor'",
  ),
  deleteResident: statement<[string], { compound_id: string }>(
    'delete_resident',
    'DELETE FROM residents WHERE person_id = $1 RETURNING compound_id',
  ),
  healthForUpdate: statement<[string], { compound_id: string; health_ts: number | null }>(
    'health_for_update',
    'SELECT compound_id, health_ts FROM residents WHERE person_id = $1 FOR UPDATE',
  ),
  setHealth: statement<[string, number, number, string]>(
    'set_health',
    'UPDATE residents SET health = $1, health_ts = $2, updated_at = $3 WHERE person_id = $4',
  ),
  insertPass: statement<unknown[]>(
    'insert_pass',
    `INSERT INTO passes (pass_id, person_id, compound_id, kind, not_before, expires_at, use_limit, text, issued_by,
       issued_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
  ),
  getPass: statement<[string], PassRow>('get_pass', 'SELECT * FROM passes WHERE pass_id = $1'),
  getPassForUpdate: statement<[string], PassRow>(
    'get_pass_for_update',
    'SELECT * FROM passes WHERE pass_id = $1 FOR UPDATE',
  ),
  revokePass: statement<[number, string]>(
    'revoke_pass',
    'UPDATE passes SET revoked_at = $1 WHERE pass_id = $2 AND revoked_at IS NULL',
  ),
};

/** Appends changes to a compound's log inside the caller's transaction. */
export async function appendChanges(client: Queryable, compoundId: string, changes: Change[]): Promise<ChangeBatch> {
  const row = await one(client, S.bumpRev, [changes.length, compoundId]);
  if (!row) throw new NotFoundError('compound', compoundId);
  const toRev = row.rev;
  const fromRev = toRev - changes.length;
  await run(client, S.appendChanges, [
    compoundId,
    changes.map((_, i) => fromRev + i + 1),
    changes.map((c) => JSON.stringify(c)),
  ]);
  return { compoundId, fromRev, toRev, changes };
}

function appendTo(byCompound: Map<string, Change[]>, compoundId: string, change: Change): void {
  const changes = byCompound.get(compoundId) ?? [];
  changes.push(change);
  byCompound.set(compoundId, changes);
}

/**
 * Appends each compound's changes, taking the compounds' counter rows in id order: two instances
 * writing to the same two compounds (residents moving both ways) would otherwise each hold one
 * counter and wait for the other's — a deadlock PostgreSQL breaks by failing one of the writes.
 */
async function appendAll(client: Queryable, byCompound: Map<string, Change[]>): Promise<ChangeBatch[]> {
  const batches: ChangeBatch[] = [];
  const ordered = [...byCompound].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  for (const [compoundId, changes] of ordered) batches.push(await appendChanges(client, compoundId, changes));
  return batches;
}

/** Locks the residents' rows that exist, in person id order (the same order on every instance: no deadlock). */
async function lockResidents(client: Queryable, personIds: readonly string[]): Promise<void> {
  await run(client, S.lockResidents, [[...new Set(personIds)].sort()]);
}

export class PgRegistry {
  constructor(private readonly pool: pg.Pool) {}

  async createCompound(c: Pick<Compound, 'id' | 'name' | 'timeZone'>, now: number): Promise<Compound> {
    try {
      return compoundOfRow((await one(this.pool, S.insertCompound, [c.id, c.name, c.timeZone, now]))!);
    } catch (err) {
      if (isConstraintViolation(err)) throw new ConflictError('compound', c.id);
      throw err;
    }
  }

  async getCompound(id: string): Promise<Compound | undefined> {
    const row = await one(this.pool, S.getCompound, [id]);
    return row ? compoundOfRow(row) : undefined;
  }

  async listCompounds(): Promise<Compound[]> {
    return (await run(this.pool, S.listCompounds, [])).rows.map(compoundOfRow);
  }

  setMode(compoundId: string, mode: Mode, reason: string, ts: number): Promise<ChangeBatch> {
    return transaction(this.pool, async (client) => {
      if ((await run(client, S.setMode, [mode, reason, ts, compoundId])).rowCount === 0) {
        throw new NotFoundError('compound', compoundId);
      }
      return appendChanges(client, compoundId, [{ op: 'mode', mode, ts, reason }]);
    });
  }

  setQuotaPolicy(compoundId: string, exits: number, periodHours: number): Promise<ChangeBatch> {
    return transaction(this.pool, async (client) => {
      if ((await run(client, S.setQuota, [exits, periodHours, compoundId])).rowCount === 0) {
        throw new NotFoundError('compound', compoundId);
      }
      return appendChanges(client, compoundId, [{ op: 'quota.policy', exits, periodHours }]);
    });
  }

  async createGate(gate: Omit<Gate, 'createdAt' | 'settings'> & { settings?: GateSettings }, now: number) {
    if (!(await one(this.pool, S.getCompound, [gate.compoundId]))) throw new NotFoundError('compound', gate.compoundId);
    const settings = { ...gate.settings, antiPassback: gate.antiPassback };
    try {
      // Without settings the cloud has no say yet: the gate keeps its gate.json values.
      await run(this.pool, S.insertGate, [
        gate.id,
        gate.compoundId,
        gate.name,
        gate.antiPassback,
        gate.settings ? JSON.stringify(settings) : null,
        now,
      ]);
    } catch (err) {
      if (isConstraintViolation(err)) throw new ConflictError('gate', gate.id);
      throw err;
    }
    return { ...gate, settings, createdAt: now } satisfies Gate;
  }

  setGateSettings(gateId: string, settings: GateSettings): Promise<ChangeBatch> {
    return transaction(this.pool, async (client) => {
      const antiPassback = settings.antiPassback ?? false;
      const full = { ...settings, antiPassback };
      const row = await one(client, S.setGateSettings, [antiPassback, JSON.stringify(full), gateId]);
      if (!row) throw new NotFoundError('gate', gateId);
      return appendChanges(client, row.compound_id, [{ op: 'gate.settings', gateId, settings: full }]);
    });
  }

  async getGate(id: string): Promise<Gate | undefined> {
    const row = await one(this.pool, S.getGate, [id]);
    return row ? gateOfRow(row) : undefined;
  }

  async listGates(compoundId?: string): Promise<Gate[]> {
    const { rows } =
      compoundId === undefined
        ? await run(this.pool, S.listGates, [])
        : await run(this.pool, S.listGatesOf, [compoundId]);
    return rows.map(gateOfRow);
  }

  upsertResidents(residents: readonly Resident[]): Promise<ChangeBatch[]> {
    return transaction(this.pool, async (client) => {
      const byCompound = new Map<string, Change[]>();
      await lockResidents(
        client,
        residents.map((r) => r.personId),
      );
      for (const r of residents) {
        const previous = await one(client, S.residentCompoundForUpdate, [r.personId]);
        // Moving a person between compounds: the old compound's gates must forget them.
        if (previous && previous.compound_id !== r.compoundId) {
          appendTo(byCompound, previous.compound_id, { op: 'person.delete', personId: r.personId });
        }
        try {
          await run(client, S.upsertResident, residentParams(r));
        } catch (err) {
          if (isConstraintViolation(err))
            throw new ConflictError('resident with ID number', r.maskedIdNumber ?? r.personId);
          throw err;
        }
        appendTo(byCompound, r.compoundId, { op: 'person.upsert', person: personRecordOf(r) });
      }
      return appendAll(client, byCompound);
    });
  }

  async getResident(personId: string): Promise<Resident | undefined> {
    const row = await one(this.pool, S.getResident, [personId]);
    return row ? residentOfRow(row) : undefined;
  }

  async findResidentsByIdHash(idHashes: readonly string[]): Promise<Resident[]> {
    return (await run(this.pool, S.residentsByIdHash, [[...new Set(idHashes)]])).rows.map(residentOfRow);
  }

  async listResidents(query: ResidentQuery): Promise<{ residents: Resident[]; nextCursor: string | null }> {
    const where = new PgWhere();
    if (query.compoundId !== undefined) where.add('compound_id = ?', query.compoundId);
    if (query.householdId !== undefined) where.add('household_id = ?', query.householdId);
    const after = cursorTuple(query.cursor, ['string']);
    if (after) where.add('person_id > ?', after[0]);
    const sql = `SELECT * FROM residents ${where.sql()} ORDER BY person_id LIMIT $${where.args.length + 1}`;
    const rows = (await this.pool.query(sql, [...where.args, query.limit + 1])).rows as ResidentRow[];
    const page = rows.slice(0, query.limit).map(residentOfRow);
    const last = page[page.length - 1];
    return { residents: page, nextCursor: rows.length > query.limit && last ? encodeCursor([last.personId]) : null };
  }

  async maskedNames(personIds: readonly string[]): Promise<Map<string, string>> {
    const { rows } = await run(this.pool, S.maskedNames, [[...new Set(personIds)]]);
    return new Map(rows.map((r) => [r.person_id, r.masked_name]));
  }

  async compoundsOfPersons(personIds: readonly string[]): Promise<Map<string, string>> {
    const { rows } = await run(this.pool, S.compoundsOfPersons, [[...new Set(personIds)]]);
    return new Map(rows.map((r) => [r.person_id, r.compound_id]));
  }

  async personIdsOfCompound(compoundId: string, limit: number): Promise<string[] | undefined> {
    const { rows } = await run(this.pool, S.personIdsOfCompound, [compoundId, limit + 1]);
    return rows.length > limit ? undefined : rows.map((r) => r.person_id);
  }

  async visitorsAmong(personIds: readonly string[]): Promise<Set<string>> {
    const { rows } = await run(this.pool, S.visitorsAmong, [[...new Set(personIds)]]);
    return new Set(rows.map((r) => r.person_id));
  }

  deleteResident(personId: string): Promise<ChangeBatch | undefined> {
    return transaction(this.pool, async (client) => {
      const row = await one(client, S.deleteResident, [personId]);
      if (!row) return undefined;
      return appendChanges(client, row.compound_id, [{ op: 'person.delete', personId }]);
    });
  }

  setHealth(updates: readonly HealthUpdateRow[]): Promise<ChangeBatch[]> {
    return transaction(this.pool, async (client) => {
      const now = Date.now();
      const byCompound = new Map<string, Change[]>();
      await lockResidents(
        client,
        updates.map((u) => u.personId),
      );
      for (const u of updates) {
        const row = await one(client, S.healthForUpdate, [u.personId]);
        if (!row || (row.health_ts !== null && row.health_ts > u.ts)) continue;
        await run(client, S.setHealth, [u.colour, u.ts, now, u.personId]);
        appendTo(byCompound, row.compound_id, { op: 'health', personId: u.personId, colour: u.colour, ts: u.ts });
      }
      return appendAll(client, byCompound);
    });
  }

  async createPass(p: Pass): Promise<void> {
    try {
      await run(this.pool, S.insertPass, [
        p.passId,
        p.personId,
        p.compoundId,
        p.kind,
        p.notBefore,
        p.expiresAt,
        p.useLimit,
        p.text,
        p.issuedBy,
        p.issuedAt,
        p.revokedAt,
      ]);
    } catch (err) {
      if (isConstraintViolation(err)) throw new ConflictError('pass', p.passId);
      throw err;
    }
  }

  async getPass(passId: string): Promise<Pass | undefined> {
    const row = await one(this.pool, S.getPass, [passId]);
    return row ? passOfRow(row) : undefined;
  }

  revokePass(passId: string, ts: number): Promise<ChangeBatch | undefined> {
    return transaction(this.pool, async (client) => {
      const row = await one(client, S.getPassForUpdate, [passId]);
      if (!row) throw new NotFoundError('pass', passId);
      if ((await run(client, S.revokePass, [ts, passId])).rowCount === 0) return undefined;
      return appendChanges(client, String(row.compound_id), [{ op: 'pass.revoke', passId, ts }]);
    });
  }

  /** Appends changes to a compound's log in a transaction of its own (for extensions). */
  logChanges(compoundId: string, changes: Change[]): Promise<ChangeBatch> {
    return transaction(this.pool, (client) => appendChanges(client, compoundId, changes));
  }

  readChanges(compoundId: string, fromRev: number, limit: number): Promise<ChangeLogRead> {
    return transaction(
      this.pool,
      async (client): Promise<ChangeLogRead> => {
        const compound = await one(client, S.getCompound, [compoundId]);
        if (!compound) throw new NotFoundError('compound', compoundId);
        const currentRev = Number(compound.rev);
        if (fromRev === 0 || fromRev > currentRev) return { kind: 'snapshot-needed', currentRev };
        if (fromRev === currentRev) return { kind: 'delta', changes: [], currentRev };
        const oldest = (await one(client, S.oldestRev, [compoundId]))?.rev ?? null;
        if (oldest === null || oldest > fromRev + 1) return { kind: 'snapshot-needed', currentRev };
        const { rows } = await run(client, S.changesAfter, [compoundId, fromRev, limit]);
        return {
          kind: 'delta',
          changes: rows.map((r) => ({ rev: r.rev, change: JSON.parse(r.change) as Change })),
          currentRev,
        };
      },
      'repeatable read read only',
    );
  }

  async compactChangeLog(keepRevs: number): Promise<number> {
    return (await run(this.pool, S.compactLog, [keepRevs])).rowCount;
  }
}

function residentParams(r: Resident): unknown[] {
  return [
    r.personId,
    r.compoundId,
    r.householdId,
    r.kind,
    r.name,
    r.maskedName,
    r.idSealed,
    r.idHash,
    r.maskedIdNumber,
    r.phone,
    JSON.stringify(r.cards),
    r.elderly,
    r.validFrom,
    r.validTo,
    r.active,
    r.health,
    r.healthTs,
    r.createdAt,
    r.updatedAt,
  ];
}
