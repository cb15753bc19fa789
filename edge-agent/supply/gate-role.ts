/**
 * The gate's role, and the guard's switch of it at the gate (docs/supplies.md, "Switching at the
 * gate"). The cloud sets the role with `PATCH /gates/:id {role}`; a guard signed in at the
 * terminal may switch between passage (`entry`) and `distribution` locally — offline too — but
 * only while the compound is in a crisis mode (`controlled` or `lockdown`, the modes in which the
 * supply function is awake). The rules:
 *
 * - **The later decision wins.** A guard's switch holds over the cloud's role until the cloud sets
 *   a role *after* it: the cloud stamps `roleSetAt` on every role it sets, and the gate compares it
 *   with the switch's time (the gate's estimate of the cloud's clock, gate-clock.ts). A `PATCH`
 *   made while the gate was cut off, before the guard's switch, does not undo the switch when it
 *   arrives; one made after it does.
 * - **A switch lapses with the crisis.** When the compound leaves `controlled`/`lockdown`, the
 *   switch is dropped and the cloud's role is in force again — a gate never stays a distribution
 *   point (whose turnstile does not open) because of a crisis that is over — and it does not come
 *   back with the next crisis.
 * - Switching back to the cloud's role drops the switch (the cloud's role is in force again).
 *
 * Every switch, refusal, lapse and supersession is written to the gate's own audit table
 * (`gate_role_log`, in its SQLite file, last 1000 kept); the switch in force travels to the cloud
 * in the gate's retained `status` (`role`, `roleSwitch`), published again on every reconnect.
 */
import type { Mode } from '../../shared/enums.ts';
import { roleSwitchSchema } from '../../shared/schemas/mqtt.ts';
import { type GateDatabase, MetaTable } from '../gate-database.ts';
import type { EffectiveGateSettings, RoleSwitchRecord } from '../gate-settings.ts';
import type { SupplyReplica } from './supply-replica.ts';

export type GateRoleName = EffectiveGateSettings['role'];
export type LocalRoleSwitch = RoleSwitchRecord;

/** The modes in which a guard may switch the role (the supply function's awake modes). */
export const CRISIS_MODES: ReadonlySet<Mode> = new Set<Mode>(['controlled', 'lockdown']);

export interface RoleSwitchRequest {
  role: GateRoleName;
  guard: string;
  reason: string;
}

export type RoleSwitchAnswer =
  | { ok: true; changed: boolean; role: GateRoleName; source: EffectiveGateSettings['source'] | 'guard' }
  | { ok: false; code: 'not-crisis'; message: string; role: GateRoleName };

/** The terminal's side of the role switch (docs/supplies.md, "Switching at the gate"). */
export interface RoleDesk {
  /** A guard's switch; the settings are applied again before it returns. */
  switchTo(request: RoleSwitchRequest): RoleSwitchAnswer;
  /** The gate's own audit of switches, refusals, lapses and supersessions, newest first. */
  recent(limit?: number): RoleLogEntry[];
}

export interface RoleLogEntry {
  id: number;
  at: number;
  outcome: 'switched' | 'refused' | 'lapsed' | 'superseded';
  from: GateRoleName;
  to: GateRoleName;
  mode: Mode;
  guard: string | null;
  reason: string | null;
  detail: string | null;
}

const KEY = 'role.localSwitch';
const KEEP = 1000;
const SCHEMA = `CREATE TABLE IF NOT EXISTS gate_role_log (
  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, outcome TEXT NOT NULL, from_role TEXT NOT NULL,
  to_role TEXT NOT NULL, mode TEXT NOT NULL, guard TEXT, reason TEXT, detail TEXT)`;

type LogRow = {
  id: number;
  at: number;
  outcome: RoleLogEntry['outcome'];
  from_role: GateRoleName;
  to_role: GateRoleName;
  mode: Mode;
  guard: string | null;
  reason: string | null;
  detail: string | null;
};

/** The role as the terminal shows it: in force, from where, the guard's switch, whether a guard may switch now. */
export interface RoleView {
  role: GateRoleName;
  source: EffectiveGateSettings['source'] | 'guard';
  switch: LocalRoleSwitch | null;
  switchable: boolean;
}

export function roleViewOf(settings: EffectiveGateSettings, mode: Mode): RoleView {
  return {
    role: settings.role,
    source: settings.roleSwitch ? 'guard' : settings.source,
    switch: settings.roleSwitch,
    switchable: switchAllowed(mode),
  };
}

/** The round a distribution point's screen names: the one running now, else the next one; null when none. */
export interface ScreenRound {
  roundId: string;
  name: string;
  from: number;
  to: number;
  running: boolean;
}

export function roundOnScreen(supply: SupplyReplica, now: number): ScreenRound | null {
  const current = supply.currentRound(now);
  const round = current ?? supply.nextRound(now);
  if (!round) return null;
  return { roundId: round.roundId, name: round.name, from: round.window.from, to: round.window.to, running: !!current };
}

/** Whether a guard may switch the role in this mode. */
export function switchAllowed(mode: Mode): boolean {
  return CRISIS_MODES.has(mode);
}

/**
 * The guard's role switch at this gate: when it is allowed (the crisis modes), what is in force over
 * the cloud's settings, and its audit — kept in the gate's meta table and its own `gate_role_log`.
 */
export class GateRoleService {
  private readonly meta: MetaTable;
  private readonly stmt;
  private current: LocalRoleSwitch | undefined;

  /** `now`: the cloud's time as the gate estimates it (GateClock.decisionNow). */
  constructor(
    db: GateDatabase,
    private readonly now: () => number,
  ) {
    db.exec(SCHEMA);
    this.meta = new MetaTable(db);
    this.stmt = {
      insert: db.prepare(
        'INSERT INTO gate_role_log (at, outcome, from_role, to_role, mode, guard, reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      prune: db.prepare<[number]>('DELETE FROM gate_role_log WHERE id <= ?'),
      recent: db.prepare<[number], LogRow>('SELECT * FROM gate_role_log ORDER BY id DESC LIMIT ?'),
    };
    this.current = parseSwitch(this.meta.get(KEY));
  }

  /** The guard's switch, if one is stored (in force or not: `settle` decides). */
  get localSwitch(): LocalRoleSwitch | undefined {
    return this.current;
  }

  /**
   * The settings in force: the cloud's (or gate.json's) with the guard's switch over them while it
   * holds. A switch that lapsed (no crisis) or that the cloud superseded is dropped and audited.
   */
  settle(settings: EffectiveGateSettings, mode: Mode): EffectiveGateSettings {
    const local = this.current;
    if (!local) return settings;
    if (!switchAllowed(mode)) {
      this.drop('lapsed', local, settings.role, mode, `the compound is in ${mode} mode`);
      return settings;
    }
    if (settings.roleSetAt !== undefined && settings.roleSetAt >= local.at) {
      this.drop('superseded', local, settings.role, mode, `the cloud set the role ${settings.role} afterwards`);
      return settings;
    }
    return { ...settings, role: local.role, roleSwitch: local };
  }

  /**
   * A guard's switch. `cloud`: the settings without any switch (what is in force when none is);
   * `inForce`: what is in force now. Refused (and audited) outside the crisis modes.
   */
  switchTo(
    request: RoleSwitchRequest,
    cloud: EffectiveGateSettings,
    inForce: EffectiveGateSettings,
    mode: Mode,
  ): RoleSwitchAnswer {
    if (!switchAllowed(mode)) {
      this.log('refused', inForce.role, request.role, mode, request, `the compound is in ${mode} mode`);
      return {
        ok: false,
        code: 'not-crisis',
        message: `the role can be switched at the gate only in controlled or lockdown mode (the compound is in ${mode} mode)`,
        role: inForce.role,
      };
    }
    if (request.role === inForce.role) {
      return { ok: true, changed: false, role: inForce.role, source: inForce.roleSwitch ? 'guard' : inForce.source };
    }
    if (request.role === cloud.role) {
      // Back to what the cloud says: the switch goes, the cloud's role (and later changes of it) rule again.
      this.store(undefined);
      this.log('switched', inForce.role, request.role, mode, request, "back to the cloud's role");
      return { ok: true, changed: true, role: cloud.role, source: cloud.source };
    }
    const local: LocalRoleSwitch = { role: request.role, by: request.guard, at: this.now(), reason: request.reason };
    this.store(local);
    this.log('switched', inForce.role, request.role, mode, request, null);
    return { ok: true, changed: true, role: local.role, source: 'guard' };
  }

  /** The newest entries of the gate's own role audit, newest first. */
  recent(limit = 20): RoleLogEntry[] {
    return this.stmt.recent.all(limit).map((r) => ({
      id: r.id,
      at: r.at,
      outcome: r.outcome,
      from: r.from_role,
      to: r.to_role,
      mode: r.mode,
      guard: r.guard,
      reason: r.reason,
      detail: r.detail,
    }));
  }

  private drop(
    outcome: 'lapsed' | 'superseded',
    local: LocalRoleSwitch,
    to: GateRoleName,
    mode: Mode,
    detail: string,
  ): void {
    this.store(undefined);
    this.log(outcome, local.role, to, mode, { guard: local.by, reason: local.reason }, detail);
  }

  private store(local: LocalRoleSwitch | undefined): void {
    this.current = local;
    if (local) this.meta.set(KEY, JSON.stringify(local));
    else this.meta.delete(KEY);
  }

  private log(
    outcome: RoleLogEntry['outcome'],
    from: GateRoleName,
    to: GateRoleName,
    mode: Mode,
    who: { guard: string; reason: string } | null,
    detail: string | null,
  ): void {
    const { lastInsertRowid } = this.stmt.insert.run(
      this.now(),
      outcome,
      from,
      to,
      mode,
      who?.guard ?? null,
      who?.reason ?? null,
      detail,
    );
    const id = Number(lastInsertRowid);
    if (id > KEEP) this.stmt.prune.run(id - KEEP);
  }
}

/**
 * The stored switch, read with the shared schema (`roleSwitchSchema`); one the gate cannot read is
 * no switch (the cloud's role rules). A switch stored before that schema named the guard `guard`.
 */
function parseSwitch(text: string | undefined): LocalRoleSwitch | undefined {
  if (!text) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const stored = json as Record<string, unknown> | null;
  const legacy = stored && typeof stored === 'object' && !('by' in stored) ? { ...stored, by: stored.guard } : json;
  const parsed = roleSwitchSchema.safeParse(legacy);
  return parsed.success ? parsed.data : undefined;
}
