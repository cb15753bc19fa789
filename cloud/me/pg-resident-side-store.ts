/**
 * The resident side's storage on PostgreSQL (resident-side-store.ts), for several cloud instances
 * on one database: a code is used once whichever instance activates it (the `UPDATE … WHERE
 * used_at IS NULL` re-checks the row under its lock), issuing a code holds an advisory lock on the
 * person so two managers issuing at once leave one open code, a registration closes once (`WHERE
 * status = 'pending'`), and a registration's travellers are written with it in one statement.
 */
import type pg from 'pg';
import type { ResidentPolicy } from '../../shared/schemas/resident-side.ts';
import { migratedOnFirstUse } from '../store/postgres/pg-migrated.ts';
import { lockKeys, one, run, transaction } from '../store/postgres/pg-pool.ts';
import { PG_RESIDENT_SIDE_MIGRATIONS, Q } from './pg-resident-side-statements.ts';
import {
  accountOfRow,
  codeOfRow,
  inviteOfRow,
  inviteValues,
  memberOfRow,
  policyOfText,
  type Raw,
  returnOfRow,
  returnValues,
} from './resident-side-rows.ts';
import type {
  ActivationCodeRow,
  ResidentAccount,
  ResidentSideStore,
  ReturnMemberRow,
  ReturnRow,
  ReturnStatus,
  VisitorInviteRow,
  VisitorStats,
} from './resident-side-store.ts';

export class PgResidentSideStore implements ResidentSideStore {
  private readonly ready: () => Promise<pg.Pool>;

  constructor(private readonly pool: pg.Pool) {
    this.ready = migratedOnFirstUse(pool, 'resident_side_migrations', PG_RESIDENT_SIDE_MIGRATIONS);
  }

  get open(): boolean {
    return !this.pool.ending && !this.pool.ended;
  }

  // ---- activation codes ------------------------------------------------------------------

  async issueCode(row: ActivationCodeRow & { codeHash: string }): Promise<void> {
    await transaction(await this.ready(), async (client) => {
      await run(client, lockKeys, [[`activation:${row.personId}`]]);
      await run(client, Q.revokeOpenOf, [row.issuedAt, row.issuedBy, row.personId]);
      await run(client, Q.insertCode, [
        row.codeId,
        row.codeHash,
        row.personId,
        row.compoundId,
        row.issuedBy,
        row.issuedAt,
        row.expiresAt,
      ]);
    });
  }

  async codeByHash(hash: string): Promise<ActivationCodeRow | undefined> {
    const r = await one(await this.ready(), Q.codeByHash, [hash]);
    return r ? codeOfRow(r) : undefined;
  }

  async codeById(codeId: string): Promise<ActivationCodeRow | undefined> {
    const r = await one(await this.ready(), Q.codeById, [codeId]);
    return r ? codeOfRow(r) : undefined;
  }

  async revokeCode(codeId: string, by: string, now: number): Promise<boolean> {
    return (await run(await this.ready(), Q.revokeCode, [now, by, codeId])).rowCount === 1;
  }

  async activate(codeId: string, account: ResidentAccount, now: number): Promise<boolean> {
    return transaction(await this.ready(), async (client) => {
      if ((await run(client, Q.useCode, [now, codeId])).rowCount !== 1) return false;
      const a = account;
      await run(client, Q.upsertAccount, [a.personId, a.login, a.compoundId, a.passwordHash, a.activatedAt, codeId]);
      return true;
    });
  }

  async codesOfCompound(
    compoundId: string,
    status: 'open' | 'all',
    now: number,
    personId?: string,
  ): Promise<ActivationCodeRow[]> {
    const { rows } = await run(await this.ready(), Q.codesOfCompound, [compoundId, status, now, personId ?? null]);
    return rows.map(codeOfRow);
  }

  // ---- accounts ---------------------------------------------------------------------------

  async accountOf(personId: string): Promise<ResidentAccount | undefined> {
    const r = await one(await this.ready(), Q.accountByPerson, [personId]);
    return r ? accountOfRow(r) : undefined;
  }

  async accountByLogin(login: string): Promise<ResidentAccount | undefined> {
    const r = await one(await this.ready(), Q.accountByLogin, [login]);
    return r ? accountOfRow(r) : undefined;
  }

  async setPassword(personId: string, hash: string): Promise<void> {
    await run(await this.ready(), Q.setPassword, [hash, personId]);
  }

  async activatedIn(compoundId: string): Promise<Set<string>> {
    return new Set((await run(await this.ready(), Q.activatedAmong, [compoundId])).rows.map((r) => r.person_id));
  }

  // ---- visitors ---------------------------------------------------------------------------

  async reserveInvite(
    row: VisitorInviteRow & { linkHash: string },
    quota: { since: number; max: number; now: number; pendingUntil: number },
  ): Promise<number | undefined> {
    return transaction(await this.ready(), async (client) => {
      // As the supply ledger's households: every instance's count-then-insert of this household waits here.
      await run(client, lockKeys, [[`visitor-quota:${row.compoundId}:${row.householdId}`]]);
      const count = [row.compoundId, row.householdId, quota.since, quota.now] as const;
      const used = Number((await one(client, Q.invitesSince, [...count]))?.n ?? 0);
      if (used >= quota.max) return undefined;
      await run(client, Q.reserveInvite, inviteValues(row, quota.pendingUntil));
      return used;
    });
  }

  async completeInvite(inviteId: string, now: number): Promise<boolean> {
    return (await run(await this.ready(), Q.completeInvite, [inviteId, now])).rowCount === 1;
  }

  async abandonInvite(inviteId: string, now?: number): Promise<boolean> {
    const pool = await this.ready();
    const done =
      now === undefined
        ? await run(pool, Q.abandonInvite, [inviteId])
        : await run(pool, Q.abandonExpired, [inviteId, now]);
    return done.rowCount === 1;
  }

  async dropInvite(inviteId: string): Promise<void> {
    await run(await this.ready(), Q.dropInvite, [inviteId]);
  }

  async expiredInvites(now: number): Promise<VisitorInviteRow[]> {
    return (await run(await this.ready(), Q.expiredInvites, [now])).rows.map(inviteOfRow);
  }

  async invitesOf(compoundId: string, householdId: string): Promise<VisitorInviteRow[]> {
    return (await run(await this.ready(), Q.invitesOf, [compoundId, householdId])).rows.map(inviteOfRow);
  }

  async invitesSince(compoundId: string, householdId: string, since: number, now: number): Promise<number> {
    return Number((await one(await this.ready(), Q.invitesSince, [compoundId, householdId, since, now]))?.n ?? 0);
  }

  async inviteByLink(hash: string): Promise<VisitorInviteRow | undefined> {
    const r = await one(await this.ready(), Q.inviteByLink, [hash]);
    return r ? inviteOfRow(r) : undefined;
  }

  async inviteById(inviteId: string): Promise<VisitorInviteRow | undefined> {
    const r = await one(await this.ready(), Q.inviteById, [inviteId]);
    return r ? inviteOfRow(r) : undefined;
  }

  async revokeInvite(inviteId: string, now: number): Promise<boolean> {
    return (await run(await this.ready(), Q.revokeInvite, [now, inviteId])).rowCount === 1;
  }

  async isInvitedVisitor(personId: string): Promise<boolean> {
    return (await one(await this.ready(), Q.isVisitorPerson, [personId])) !== undefined;
  }

  // ---- return registrations -----------------------------------------------------------------

  async insertReturn(row: Omit<ReturnRow, 'status' | 'reviewedBy' | 'reviewedAt' | 'reviewNote'>): Promise<void> {
    await transaction(await this.ready(), async (client) => {
      await run(client, Q.insertReturn, returnValues(row));
      await run(client, Q.insertReturnMembers, [
        row.returnId,
        row.members.map((m) => m.personId),
        row.members.map((m) => m.previousColour),
        row.members.map((m) => m.setTs),
      ]);
    });
  }

  /** Registrations with their travellers: one query for the members of them all. */
  private async withMembers(rows: Raw[]): Promise<ReturnRow[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => String(r.return_id));
    const members = new Map<string, ReturnMemberRow[]>(ids.map((id) => [id, []]));
    for (const m of (await run(await this.ready(), Q.membersOf, [ids])).rows) {
      members.get(String(m.return_id))?.push(memberOfRow(m));
    }
    return rows.map((r) => returnOfRow(r, members.get(String(r.return_id)) ?? []));
  }

  async returnById(returnId: string): Promise<ReturnRow | undefined> {
    const r = await one(await this.ready(), Q.returnById, [returnId]);
    return r ? (await this.withMembers([r]))[0] : undefined;
  }

  async returnsOfCompound(compoundId: string, status: 'pending' | 'all'): Promise<ReturnRow[]> {
    return this.withMembers((await run(await this.ready(), Q.returnsOfCompound, [compoundId, status])).rows);
  }

  async returnsOfHousehold(compoundId: string, householdId: string | null, personId: string): Promise<ReturnRow[]> {
    const { rows } = await run(await this.ready(), Q.returnsOfHousehold, [compoundId, householdId, personId]);
    return this.withMembers(rows);
  }

  async dueReturns(now: number): Promise<string[]> {
    return (await run(await this.ready(), Q.dueReturns, [now])).rows.map((r) => r.return_id);
  }

  async closeReturn(
    returnId: string,
    status: Exclude<ReturnStatus, 'pending'>,
    by: string,
    at: number,
    note: string | null,
  ): Promise<boolean> {
    return (await run(await this.ready(), Q.setReturnStatus, [status, by, at, note, returnId])).rowCount === 1;
  }

  async memberRestored(returnId: string, personId: string, at: number): Promise<void> {
    await run(await this.ready(), Q.memberRestored, [at, returnId, personId]);
  }

  async visitorStats(compoundId: string, from: number, to: number): Promise<VisitorStats> {
    const pool = await this.ready();
    const r = await one(pool, Q.visitorPassages, [compoundId, from, to]);
    const n = await one(pool, Q.invitesBetween, [compoundId, from, to]);
    return {
      passages: Number(r?.passages ?? 0),
      granted: Number(r?.granted ?? 0),
      visitors: Number(r?.visitors ?? 0),
      invitations: Number(n?.n ?? 0),
    };
  }

  // ---- policy ------------------------------------------------------------------------------

  async policyOf(compoundId: string): Promise<ResidentPolicy> {
    return policyOfText((await one(await this.ready(), Q.policyOf, [compoundId]))?.policy);
  }

  async setPolicy(compoundId: string, policy: ResidentPolicy, by: string, at: number): Promise<void> {
    await run(await this.ready(), Q.setPolicy, [compoundId, JSON.stringify(policy), by, at]);
  }
}
