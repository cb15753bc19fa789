/**
 * Compounds, gates and passes on SQLite (the snapshot a replica loads: snapshot-reads.ts). Every mutation a gate
 * must learn about appends to the compound's change log in the same transaction.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { Mode } from '../../../shared/enums.ts';
import type { GateSettings } from '../../../shared/schemas/mqtt.ts';
import { ConflictError, NotFoundError } from '../../cloud-errors.ts';
import type { ChangeBatch, Compound, Gate, Pass } from '../store.ts';
import type { SqliteChangeLog } from './change-log.ts';
import { isUniqueViolation } from './rows.ts';
import { type CompoundRow, compoundOfRow, type GateRow, gateOfRow, type PassRow, passOfRow } from '../store-rows.ts';

export class SqliteRegistryTables {
  private readonly insertCompound: Statement<[string, string, string, number]>;
  private readonly getCompound: Statement<[string], CompoundRow>;
  private readonly listCompounds: Statement<[], CompoundRow>;
  private readonly setModeOf: Statement<[Mode, string, number, string]>;
  private readonly setQuota: Statement<[number, number, string]>;
  private readonly insertGate: Statement<[string, string, string, 0 | 1, string | null, number]>;
  private readonly setSettings: Statement<[0 | 1, string, string], { compound_id: string }>;
  private readonly getGateRow: Statement<[string], GateRow>;
  private readonly listAllGates: Statement<[], GateRow>;
  private readonly listGatesOf: Statement<[string], GateRow>;
  private readonly insertPass: Statement<[Pass]>;
  private readonly getPassRow: Statement<[string], PassRow>;
  private readonly revoke: Statement<[number, string]>;

  constructor(
    private readonly db: Database,
    private readonly log: SqliteChangeLog,
  ) {
    this.insertCompound = db.prepare('INSERT INTO compounds (id, name, time_zone, created_at) VALUES (?, ?, ?, ?)');
    this.getCompound = db.prepare('SELECT * FROM compounds WHERE id = ?');
    this.listCompounds = db.prepare('SELECT * FROM compounds ORDER BY id');
    this.setModeOf = db.prepare('UPDATE compounds SET mode = ?, mode_reason = ?, mode_changed_at = ? WHERE id = ?');
    this.setQuota = db.prepare('UPDATE compounds SET quota_exits = ?, quota_period_hours = ? WHERE id = ?');
    this.insertGate = db.prepare(
      'INSERT INTO gates (id, compound_id, name, anti_passback, settings, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.setSettings = db.prepare(
      'UPDATE gates SET anti_passback = ?, settings = ? WHERE id = ? RETURNING compound_id',
    );
    this.getGateRow = db.prepare('SELECT * FROM gates WHERE id = ?');
    this.listAllGates = db.prepare('SELECT * FROM gates ORDER BY id');
    this.listGatesOf = db.prepare('SELECT * FROM gates WHERE compound_id = ? ORDER BY id');
    this.insertPass = db.prepare(`INSERT INTO passes (pass_id, person_id, compound_id, kind, not_before, expires_at,
      use_limit, text, issued_by, issued_at, revoked_at) VALUES (@passId, @personId, @compoundId, @kind, @notBefore,
      @expiresAt, @useLimit, @text, @issuedBy, @issuedAt, @revokedAt)`);
    this.getPassRow = db.prepare('SELECT * FROM passes WHERE pass_id = ?');
    this.revoke = db.prepare('UPDATE passes SET revoked_at = ? WHERE pass_id = ? AND revoked_at IS NULL');
  }

  // ---- compounds ----------------------------------------------------------------------------

  createCompound(c: Pick<Compound, 'id' | 'name' | 'timeZone'>, now: number): Compound {
    try {
      this.insertCompound.run(c.id, c.name, c.timeZone, now);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('compound', c.id);
      throw err;
    }
    return compoundOfRow(this.getCompound.get(c.id) as CompoundRow);
  }

  compound(id: string): Compound | undefined {
    const row = this.getCompound.get(id);
    return row ? compoundOfRow(row) : undefined;
  }

  compounds(): Compound[] {
    return this.listCompounds.all().map(compoundOfRow);
  }

  setMode(compoundId: string, mode: Mode, reason: string, ts: number): ChangeBatch {
    return this.db.transaction(() => {
      if (this.setModeOf.run(mode, reason, ts, compoundId).changes === 0) {
        throw new NotFoundError('compound', compoundId);
      }
      return this.log.append(compoundId, [{ op: 'mode', mode, ts, reason }]);
    })();
  }

  setQuotaPolicy(compoundId: string, exits: number, periodHours: number): ChangeBatch {
    return this.db.transaction(() => {
      if (this.setQuota.run(exits, periodHours, compoundId).changes === 0) {
        throw new NotFoundError('compound', compoundId);
      }
      return this.log.append(compoundId, [{ op: 'quota.policy', exits, periodHours }]);
    })();
  }

  // ---- gates --------------------------------------------------------------------------------

  createGate(gate: Omit<Gate, 'createdAt' | 'settings'> & { settings?: GateSettings }, now: number): Gate {
    if (!this.getCompound.get(gate.compoundId)) throw new NotFoundError('compound', gate.compoundId);
    const settings = { ...gate.settings, antiPassback: gate.antiPassback };
    try {
      // Without settings the cloud has no say yet: the gate keeps its gate.json values.
      this.insertGate.run(
        gate.id,
        gate.compoundId,
        gate.name,
        gate.antiPassback ? 1 : 0,
        gate.settings ? JSON.stringify(settings) : null,
        now,
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('gate', gate.id);
      throw err;
    }
    return { ...gate, settings, createdAt: now };
  }

  setGateSettings(gateId: string, settings: GateSettings): ChangeBatch {
    return this.db.transaction(() => {
      const antiPassback = settings.antiPassback ?? false;
      const full = { ...settings, antiPassback };
      const row = this.setSettings.get(antiPassback ? 1 : 0, JSON.stringify(full), gateId);
      if (!row) throw new NotFoundError('gate', gateId);
      return this.log.append(row.compound_id, [{ op: 'gate.settings', gateId, settings: full }]);
    })();
  }

  gate(id: string): Gate | undefined {
    const row = this.getGateRow.get(id);
    return row ? gateOfRow(row) : undefined;
  }

  gates(compoundId?: string): Gate[] {
    const rows = compoundId === undefined ? this.listAllGates.all() : this.listGatesOf.all(compoundId);
    return rows.map(gateOfRow);
  }

  // ---- passes -------------------------------------------------------------------------------

  createPass(pass: Pass): void {
    try {
      this.insertPass.run({ ...pass });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('pass', pass.passId);
      throw err;
    }
  }

  pass(passId: string): Pass | undefined {
    const row = this.getPassRow.get(passId);
    return row ? passOfRow(row) : undefined;
  }

  revokePass(passId: string, ts: number): ChangeBatch | undefined {
    return this.db.transaction(() => {
      const row = this.getPassRow.get(passId);
      if (!row) throw new NotFoundError('pass', passId);
      if (this.revoke.run(ts, passId).changes === 0) return undefined;
      return this.log.append(row.compound_id, [{ op: 'pass.revoke', passId, ts }]);
    })();
  }
}
