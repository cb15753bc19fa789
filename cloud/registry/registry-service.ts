/**
 * The registry's business rules between the HTTP routes and the store: identity handling (the
 * cloud keeps the full name and a sealed ID number; gates get only masked name + pseudonym),
 * change publication after each commit, audit records, passes and gate commands.
 */
import { randomBytes } from 'node:crypto';
import type { CommandKind, Direction, HealthColour, Mode } from '../../shared/enums.ts';
import { maskIdNumber, validateIdNumber } from '../../shared/id-number.ts';
import type { SigningKey } from '../../shared/keys.ts';
import type { Logger } from '../../shared/log.ts';
import { maskName } from '../../shared/masking.ts';
import { newPassId, PassError, signPass } from '../../shared/pass.ts';
import { pseudonymizeIdNumber } from '../../shared/pseudonym.ts';
import type {
  CompoundCreate,
  GateCreate,
  HealthUpdate,
  PassIssue,
  ResidentCreate,
  ResidentPatch,
} from '../../shared/schemas/http.ts';
import type { Command, GateSettings } from '../../shared/schemas/mqtt.ts';
import { signToken } from '../../shared/token.ts';
import { topics } from '../../shared/topics.ts';
import { ConflictError, NotFoundError, RequestValidationError } from '../cloud-errors.ts';
import type { GateDirectory } from '../ingest/gate-directory.ts';
import type { CloudMetrics } from '../metrics/cloud-metrics.ts';
import type { ChangeBatch, CloudStore, Compound, Gate, Pass, Resident } from '../store/store.ts';
import { type Publish, chunkDeltas } from '../sync/change-publisher.ts';
import { type Actor, manages } from './actor.ts';
import type { IdentitySeal } from './identity-seal.ts';
import type { CsvRowError } from './resident-csv.ts';
import { importResidents } from './resident-import.ts';

/** How far ahead of the cloud's clock a health colour's `ts` may be (feeds' clocks drift a little). */
export const HEALTH_CLOCK_TOLERANCE_MS = 5 * 60 * 1000;

/** Device tokens outlive user tokens by far: a gate is provisioned once (docs/contract.md, broker auth). */
const DEFAULT_DEVICE_TOKEN_TTL_MS = 5 * 365 * 24 * 60 * 60 * 1000;

export interface RegistryServiceOptions {
  store: CloudStore;
  signingKey: SigningKey;
  pepper: Buffer;
  seal: IdentitySeal;
  gates: GateDirectory;
  publish: Publish;
  metrics: CloudMetrics;
  logger: Logger;
  now?: () => number;
  deviceTokenTtlMs?: number;
}

export interface HealthResult {
  updated: number;
  /** Indexes of entries that matched no resident (visible to this user). */
  notFound: number[];
}

export class RegistryService {
  private readonly now: () => number;
  private readonly logger: Logger;

  constructor(private readonly options: RegistryServiceOptions) {
    this.now = options.now ?? Date.now;
    this.logger = options.logger.child({ component: 'cloud.registry' });
  }

  private get store(): CloudStore {
    return this.options.store;
  }

  /** Publishes after commit; a failure is logged, not thrown: the gates recover through a resync. */
  async publishChanges(batches: readonly (ChangeBatch | undefined)[]): Promise<void> {
    for (const batch of batches) {
      if (!batch) continue;
      for (const delta of chunkDeltas(batch)) {
        try {
          await this.options.publish(topics.compoundChanges(batch.compoundId), delta);
          this.options.metrics.changesPublished.inc({}, delta.changes.length);
        } catch (err) {
          this.logger.warn({ err, compoundId: batch.compoundId, toRev: delta.toRev }, 'change publish failed');
        }
      }
    }
  }

  private async audit(
    actor: Actor,
    action: string,
    compoundId: string | null,
    target: string | null,
    detail: Record<string, unknown> | null,
  ): Promise<void> {
    await this.store.recordAudit({
      at: this.now(),
      actor: actor.username,
      role: actor.role,
      action,
      compoundId,
      target,
      detail,
    });
  }

  // ---- compounds ----------------------------------------------------------------------------

  async createCompound(input: CompoundCreate, actor: Actor): Promise<Compound> {
    if (!isTimeZone(input.timeZone)) {
      throw new RequestValidationError('unknown time zone', [{ path: 'timeZone', message: 'not an IANA time zone' }]);
    }
    const compound = await this.store.createCompound(input, this.now());
    await this.audit(actor, 'compound.create', compound.id, compound.id, { name: compound.name });
    return compound;
  }

  async setMode(compoundId: string, mode: Mode, reason: string, actor: Actor): Promise<Compound> {
    const batch = await this.store.setMode(compoundId, mode, reason, this.now());
    await this.audit(actor, 'mode.change', compoundId, compoundId, { mode, reason });
    await this.publishChanges([batch]);
    return (await this.store.getCompound(compoundId))!;
  }

  async setQuotaPolicy(compoundId: string, exits: number, periodHours: number, actor: Actor): Promise<Compound> {
    const batch = await this.store.setQuotaPolicy(compoundId, exits, periodHours);
    await this.audit(actor, 'quota.change', compoundId, compoundId, { exits, periodHours });
    await this.publishChanges([batch]);
    return (await this.store.getCompound(compoundId))!;
  }

  // ---- gates --------------------------------------------------------------------------------

  /** Registers a gate and signs its device token (returned once; only its claims are kept). */
  async registerGate(input: GateCreate, actor: Actor): Promise<{ gate: Gate; token: string; expiresAt: number }> {
    if (!(await this.store.getCompound(input.compoundId))) {
      throw new RequestValidationError('unknown compound', [{ path: 'compoundId', message: 'no such compound' }]);
    }
    const { settings: extra, ...fields } = input;
    await this.store.createGate(fields, this.now());
    // The settings go to the gate through its sync like any change (docs/edge-agent.md "Settings from the cloud").
    const batch = await this.store.setGateSettings(input.id, {
      ...extra,
      antiPassback: input.antiPassback,
      // When the cloud set the role: a guard's later switch at the gate holds over it (docs/supplies.md).
      ...(extra?.role === undefined ? {} : { roleSetAt: this.now() }),
    });
    const gate = (await this.store.getGate(input.id))!;
    this.options.gates.remember(gate);
    const expiresAt = this.now() + (this.options.deviceTokenTtlMs ?? DEFAULT_DEVICE_TOKEN_TTL_MS);
    const token = signToken(
      { sub: gate.id, role: 'gate', compound: gate.compoundId, exp: expiresAt },
      this.options.signingKey,
    );
    await this.audit(actor, 'gate.register', gate.compoundId, gate.id, { name: gate.name });
    await this.publishChanges([batch]);
    return { gate, token, expiresAt };
  }

  /** Changes some of a gate's settings; the gate gets the whole set through its sync. */
  async updateGateSettings(gateId: string, patch: GateSettings, actor: Actor): Promise<Gate> {
    const gate = await this.store.getGate(gateId);
    if (!gate) throw new NotFoundError('gate', gateId);
    const roleSetAt = patch.role === undefined ? {} : { roleSetAt: this.now() };
    const batch = await this.store.setGateSettings(gateId, { ...gate.settings, ...patch, ...roleSetAt });
    await this.audit(actor, 'gate.settings', gate.compoundId, gateId, patch);
    await this.publishChanges([batch]);
    return (await this.store.getGate(gateId))!;
  }

  /** Publishes a command to a gate and records it; the result arrives on `cmd/result`. */
  async sendCommand(
    gateId: string,
    kind: CommandKind,
    args: { direction?: Direction; reason?: string },
    actor: Actor,
  ): Promise<Command> {
    const gate = await this.store.getGate(gateId);
    if (!gate) throw new NotFoundError('gate', gateId);
    const command: Command = {
      cmdId: randomBytes(8).toString('hex'),
      kind,
      ...(args.direction ? { direction: args.direction } : {}),
      ...(args.reason ? { reason: args.reason } : {}),
      by: actor.username,
    };
    await this.store.recordCommand({
      cmdId: command.cmdId,
      gateId,
      kind,
      direction: args.direction ?? null,
      reason: args.reason ?? null,
      by: actor.username,
      issuedAt: this.now(),
      result: null,
    });
    await this.audit(actor, `gate.${kind}`, gate.compoundId, gateId, { cmdId: command.cmdId, ...args });
    try {
      await this.options.publish(topics.gateCmd(gateId), command);
    } catch (err) {
      // Never sent: say so in the command's record rather than leave it pending for ever.
      await this.store.recordCommandResult(
        gateId,
        command.cmdId,
        false,
        `not sent: ${(err as Error).message}`,
        this.now(),
      );
      throw err;
    }
    return command;
  }

  // ---- residents ----------------------------------------------------------------------------

  private identityOf(idNumber: string | undefined, path: string) {
    if (idNumber === undefined) return { idSealed: null, idHash: null, maskedIdNumber: null };
    const check = validateIdNumber(idNumber, new Date(this.now()));
    if (!check.ok) {
      throw new RequestValidationError('invalid ID number', [
        { path, message: `not a valid ID number (${check.reason})` },
      ]);
    }
    return {
      idSealed: this.options.seal.seal(check.idNumber),
      idHash: pseudonymizeIdNumber(check.idNumber, this.options.pepper),
      maskedIdNumber: maskIdNumber(check.idNumber),
    };
  }

  private buildResident(input: ResidentCreate, existing: Resident | undefined, path = 'idNumber'): Resident {
    const now = this.now();
    return {
      personId: existing?.personId ?? input.personId ?? newPersonId(),
      compoundId: input.compoundId,
      householdId: input.householdId,
      kind: input.kind,
      name: input.name,
      maskedName: maskName(input.name),
      ...this.identityOf(input.idNumber, path),
      phone: input.phone ?? null,
      cards: input.cards,
      elderly: input.elderly,
      validFrom: input.validFrom,
      validTo: input.validTo,
      active: existing?.active ?? true,
      health: existing?.health ?? 'unknown',
      healthTs: existing?.healthTs ?? null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
  }

  private async requireCompound(compoundId: string, actor: Actor, path: string): Promise<void> {
    if (!manages(actor, compoundId)) {
      throw new RequestValidationError('not your compound', [{ path, message: 'you may only manage your compound' }]);
    }
    if (!(await this.store.getCompound(compoundId))) {
      throw new RequestValidationError('unknown compound', [{ path, message: 'no such compound' }]);
    }
  }

  async createResident(input: ResidentCreate, actor: Actor): Promise<Resident> {
    await this.requireCompound(input.compoundId, actor, 'compoundId');
    if (input.personId !== undefined && (await this.store.getResident(input.personId))) {
      throw new ConflictError('resident', input.personId);
    }
    const resident = this.buildResident(input, undefined);
    const batches = await this.store.upsertResidents([resident]);
    await this.audit(actor, 'resident.create', resident.compoundId, resident.personId, null);
    await this.publishChanges(batches);
    return resident;
  }

  /** Imports validated CSV rows (cloud/registry/resident-import.ts): in slices, any problem → nothing. */
  async importResidents(
    rows: readonly (ResidentCreate & { row: number })[],
    actor: Actor,
  ): Promise<{ created: number; updated: number } | { errors: CsvRowError[] }> {
    return importResidents(
      {
        store: this.store,
        pepper: this.options.pepper,
        build: (row, existing) => this.buildResident(row, existing),
        audit: (compoundId, detail) => this.audit(actor, 'resident.import', compoundId, null, detail),
        publishChanges: (batches) => this.publishChanges(batches),
      },
      rows,
      actor,
    );
  }

  async patchResident(personId: string, patch: ResidentPatch, actor: Actor): Promise<Resident> {
    const existing = await this.store.getResident(personId);
    if (!existing) throw new NotFoundError('resident', personId);
    const identity = patch.idNumber === undefined ? undefined : this.identityOf(patch.idNumber, 'idNumber');
    const next: Resident = {
      ...existing,
      ...(patch.householdId !== undefined ? { householdId: patch.householdId } : {}),
      ...(patch.kind !== undefined ? { kind: patch.kind } : {}),
      ...(patch.name !== undefined ? { name: patch.name, maskedName: maskName(patch.name) } : {}),
      ...(identity ?? {}),
      ...(patch.phone !== undefined ? { phone: patch.phone } : {}),
      ...(patch.cards !== undefined ? { cards: patch.cards } : {}),
      ...(patch.elderly !== undefined ? { elderly: patch.elderly } : {}),
      ...(patch.validFrom !== undefined ? { validFrom: patch.validFrom } : {}),
      ...(patch.validTo !== undefined ? { validTo: patch.validTo } : {}),
      ...(patch.active !== undefined ? { active: patch.active } : {}),
      updatedAt: this.now(),
    };
    const batches = await this.store.upsertResidents([next]);
    await this.audit(actor, 'resident.update', next.compoundId, personId, { fields: Object.keys(patch) });
    await this.publishChanges(batches);
    return next;
  }

  async deleteResident(personId: string, actor: Actor): Promise<void> {
    const existing = await this.store.getResident(personId);
    if (!existing) throw new NotFoundError('resident', personId);
    const batch = await this.store.deleteResident(personId);
    await this.audit(actor, 'resident.delete', existing.compoundId, personId, null);
    await this.publishChanges([batch]);
  }

  /** The full name and ID number: managers only, and every look-up is audit-logged (docs/architecture.md rule 5). */
  async revealIdentity(
    resident: Resident,
    actor: Actor,
    reason: string | undefined,
  ): Promise<{ name: string; idNumber: string | null; phone: string | null }> {
    await this.audit(actor, 'identity.reveal', resident.compoundId, resident.personId, reason ? { reason } : null);
    return {
      name: resident.name,
      idNumber: resident.idSealed === null ? null : this.options.seal.open(resident.idSealed),
      phone: resident.phone,
    };
  }

  // ---- health -------------------------------------------------------------------------------

  /**
   * Ordering rule: per person the colour with the latest `ts` wins; an update whose `ts` is not
   * newer than the stored one changes nothing. So a `ts` from the future would freeze the colour
   * against every honest update after it: a `ts` more than `HEALTH_CLOCK_TOLERANCE_MS` ahead of
   * the cloud's clock refuses the whole request (400, nothing applied), naming each bad entry.
   */
  async updateHealth(updates: HealthUpdate, actor: Actor): Promise<HealthResult> {
    const latest = this.now() + HEALTH_CLOCK_TOLERANCE_MS;
    const future = updates.flatMap((u, index) =>
      u.ts > latest
        ? [
            {
              path: `${index}.ts`,
              message: `more than ${HEALTH_CLOCK_TOLERANCE_MS / 1000} s ahead of the cloud's clock`,
            },
          ]
        : [],
    );
    if (future.length > 0) {
      throw new RequestValidationError(
        `${future.length} update(s) dated in the future; nothing was applied`,
        future.slice(0, 100),
      );
    }
    const notFound: number[] = [];
    const rows: { personId: string; colour: HealthColour; ts: number }[] = [];
    /** The compound of each entry of `rows`, for the audit. */
    const compoundOfRow: string[] = [];
    const visible = (r: Resident) => manages(actor, r.compoundId);
    const byHash = new Map<string, number[]>();
    updates.forEach((u, index) => {
      if (u.idNumber === undefined) return;
      const hash = pseudonymizeIdNumber(u.idNumber, this.options.pepper);
      byHash.set(hash, [...(byHash.get(hash) ?? []), index]);
    });
    const matches = await this.store.findResidentsByIdHash([...byHash.keys()]);
    const residentsByHash = new Map<string, Resident[]>();
    for (const r of matches) {
      if (r.idHash !== null && visible(r)) residentsByHash.set(r.idHash, [...(residentsByHash.get(r.idHash) ?? []), r]);
    }
    for (const [index, u] of updates.entries()) {
      if (u.personId !== undefined) {
        const r = await this.store.getResident(u.personId);
        if (!r || !visible(r)) notFound.push(index);
        else {
          rows.push({ personId: r.personId, colour: u.colour, ts: u.ts });
          compoundOfRow.push(r.compoundId);
        }
        continue;
      }
      const found = residentsByHash.get(pseudonymizeIdNumber(u.idNumber!, this.options.pepper)) ?? [];
      if (found.length === 0) notFound.push(index);
      for (const r of found) {
        rows.push({ personId: r.personId, colour: u.colour, ts: u.ts });
        compoundOfRow.push(r.compoundId);
      }
    }
    const batches = await this.store.setHealth(rows);
    const updated = batches.reduce((n, b) => n + b.changes.length, 0);
    // One entry per compound whose people the feed named; a feed that matched nobody, under the actor's.
    const perCompound = new Map<string, { entries: number; updated: number }>();
    for (const compoundId of compoundOfRow) perCompound.set(compoundId, { entries: 0, updated: 0 });
    for (const compoundId of compoundOfRow) perCompound.get(compoundId)!.entries += 1;
    for (const b of batches) {
      const n = perCompound.get(b.compoundId) ?? { entries: 0, updated: 0 };
      n.updated += b.changes.length;
      perCompound.set(b.compoundId, n);
    }
    if (perCompound.size === 0) perCompound.set(actor.compound ?? '', { entries: 0, updated: 0 });
    for (const [compoundId, n] of perCompound) {
      await this.audit(actor, 'health.update', compoundId === '' ? null : compoundId, null, {
        ...n,
        feedEntries: updates.length,
        notFound: notFound.length,
      });
    }
    await this.publishChanges(batches);
    return { updated, notFound };
  }

  // ---- passes -------------------------------------------------------------------------------

  /**
   * `options.passId`: the id chosen by the caller beforehand (a visitor invitation records it in its
   * reservation first, so a pass made by a request that then failed or crashed can still be found
   * and revoked — cloud/me/visitor-reservations.ts).
   */
  async issuePass(input: PassIssue, actor: Actor, options: { passId?: string } = {}): Promise<Pass> {
    const resident = await this.store.getResident(input.personId);
    if (!resident || !manages(actor, resident.compoundId)) {
      throw new RequestValidationError('unknown person', [{ path: 'personId', message: 'no such resident' }]);
    }
    const now = this.now();
    // Passes carry second precision (shared/pass.ts); round so the stored record equals the signed one.
    const notBefore = Math.floor((input.validFrom ?? now) / 1000) * 1000;
    const expiresAt = Math.floor(input.validTo / 1000) * 1000;
    if (expiresAt <= notBefore) {
      throw new RequestValidationError('empty validity', [{ path: 'validTo', message: 'must be after validFrom' }]);
    }
    const payload = {
      passId: options.passId ?? newPassId(),
      personId: resident.personId,
      compoundId: resident.compoundId,
      kind: input.kind,
      notBefore,
      expiresAt,
      ...(input.useLimit !== undefined ? { useLimit: input.useLimit } : {}),
    };
    let text: string;
    try {
      text = signPass(payload, this.options.signingKey);
    } catch (err) {
      if (!(err instanceof PassError)) throw err;
      throw new RequestValidationError('cannot issue this pass', [{ path: 'personId', message: err.message }]);
    }
    const pass: Pass = {
      ...payload,
      useLimit: input.useLimit ?? null,
      text,
      issuedBy: actor.username,
      issuedAt: now,
      revokedAt: null,
    };
    await this.store.createPass(pass);
    await this.audit(actor, 'pass.issue', pass.compoundId, pass.passId, { personId: pass.personId, kind: pass.kind });
    return pass;
  }

  async revokePass(passId: string, actor: Actor): Promise<void> {
    const pass = await this.store.getPass(passId);
    if (!pass) throw new NotFoundError('pass', passId);
    const batch = await this.store.revokePass(passId, this.now());
    await this.audit(actor, 'pass.revoke', pass.compoundId, passId, null);
    await this.publishChanges([batch]);
  }
}

function newPersonId(): string {
  return `p-${randomBytes(6).toString('hex')}`;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
