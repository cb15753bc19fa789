/**
 * The resident side's storage (docs/web.md, "The resident side"): activation codes (hashed),
 * resident accounts, visitor invitations, return registrations with their travellers, and each
 * compound's resident-side policy — as the routes see it, async and engine-neutral
 * (cloud/store/engine.ts). `openResidentSideStore` (open-resident-side-store.ts) picks the SQLite
 * (sqlite-resident-side-store.ts) or PostgreSQL (pg-resident-side-store.ts) implementation; each
 * keeps its tables under its own version table `resident_side_migrations`. The registry's own
 * tables (residents, passes, health) are changed only through `RegistryService`, so every change a
 * gate must know still goes through the change log.
 */
import type { HealthColour } from '../../shared/enums.ts';
import type { ResidentPolicy, Transport } from '../../shared/schemas/resident-side.ts';

export interface ActivationCodeRow {
  codeId: string;
  personId: string;
  compoundId: string;
  issuedBy: string;
  issuedAt: number;
  expiresAt: number;
  usedAt: number | null;
  revokedAt: number | null;
}

export interface ResidentAccount {
  personId: string;
  login: string;
  compoundId: string;
  passwordHash: string;
  activatedAt: number;
}

export interface VisitorInviteRow {
  inviteId: string;
  compoundId: string;
  householdId: string;
  invitedBy: string;
  visitorPersonId: string;
  passId: string;
  maskedName: string;
  phoneTail: string;
  visitDate: string;
  uses: number;
  validFrom: number;
  validTo: number;
  createdAt: number;
  revokedAt: number | null;
}

export type ReturnStatus = 'pending' | 'released' | 'cleared' | 'kept';

export interface ReturnMemberRow {
  personId: string;
  previousColour: HealthColour;
  /** The `ts` of the yellow colour this registration set; null when none was set (already red). */
  setTs: number | null;
  restoredAt: number | null;
}

export interface ReturnRow {
  returnId: string;
  compoundId: string;
  householdId: string | null;
  registeredBy: string;
  origin: string;
  returnDate: string;
  transport: Transport;
  transportDetail: string | null;
  createdAt: number;
  yellowUntil: number | null;
  status: ReturnStatus;
  reviewedBy: string | null;
  reviewedAt: number | null;
  reviewNote: string | null;
  members: ReturnMemberRow[];
}

export interface VisitorStats {
  passages: number;
  granted: number;
  visitors: number;
  invitations: number;
}

export interface ResidentSideStore {
  /** Whether the database is still open (the release job stops once the cloud closed the store). */
  readonly open: boolean;

  /** Stores a new code for a person and revokes their older open ones, in one transaction. */
  issueCode(row: ActivationCodeRow & { codeHash: string }): Promise<void>;
  codeByHash(hash: string): Promise<ActivationCodeRow | undefined>;
  codeById(codeId: string): Promise<ActivationCodeRow | undefined>;
  /** Revokes an unused, unrevoked code; false when it was used or revoked already. */
  revokeCode(codeId: string, by: string, now: number): Promise<boolean>;
  /**
   * Uses a code and saves the account it opens, in one transaction; false (and nothing saved) when
   * the code was used, revoked or expired meanwhile (single use, also across cloud instances).
   */
  activate(codeId: string, account: ResidentAccount, now: number): Promise<boolean>;
  /** Newest first, at most 2,000; `open`: neither used, revoked nor expired at `now`. */
  codesOfCompound(
    compoundId: string,
    status: 'open' | 'all',
    now: number,
    personId?: string,
  ): Promise<ActivationCodeRow[]>;

  accountOf(personId: string): Promise<ResidentAccount | undefined>;
  accountByLogin(login: string): Promise<ResidentAccount | undefined>;
  setPassword(personId: string, hash: string): Promise<void>;
  /** The people of a compound with an account. */
  activatedIn(compoundId: string): Promise<Set<string>>;

  /**
   * The household's quota checked and its slot taken at once (docs/web.md, "The resident side"): counts
   * the household's invitations since `quota.since` and, below `quota.max`, stores `row` as a
   * *pending* reservation until `quota.pendingUntil`, all under one lock on the household — a
   * PostgreSQL advisory lock shared by every cloud instance, SQLite's single writer — so two requests
   * at once, on one instance or two, never both take the last slot. Returns the count before, or
   * undefined when the quota is full (nothing stored). A pending reservation counts towards the
   * quota until its time is over, and is in no view: not listed, not revocable, its link shows
   * nothing. `completeInvite` makes it an invitation; `abandonInvite` and `dropInvite` undo it.
   */
  reserveInvite(
    row: VisitorInviteRow & { linkHash: string },
    quota: { since: number; max: number; now: number; pendingUntil: number },
  ): Promise<number | undefined>;
  /** A pending reservation made an invitation; false when its time was over (`now`) or it is gone. */
  completeInvite(inviteId: string, now: number): Promise<boolean>;
  /**
   * Takes an invitation out of the count and of every view (abandoned: pending until 0). Without
   * `now` unconditionally (its own request rolls back); with `now` only a reservation still pending
   * past its time (the reclaim after a crash) — false when there was none (completed or gone).
   */
  abandonInvite(inviteId: string, now?: number): Promise<boolean>;
  /** Deletes an abandoned invitation (after its pass and visitor were undone). */
  dropInvite(inviteId: string): Promise<void>;
  /**
   * Reservations pending past `now` (those first), then abandoned ones still kept, oldest first, at most 100: for
   * the reclaim (cloud/me/visitor-reservations.ts).
   */
  expiredInvites(now: number): Promise<VisitorInviteRow[]>;
  /** A household's invitations, newest first, at most 100 (pending and abandoned ones left out). */
  invitesOf(compoundId: string, householdId: string): Promise<VisitorInviteRow[]>;
  /** How many invitations of the household since `since` count towards its quota at `now`. */
  invitesSince(compoundId: string, householdId: string, since: number, now: number): Promise<number>;
  /** An invitation (never a pending or abandoned reservation) by its link's hash or its id. */
  inviteByLink(hash: string): Promise<VisitorInviteRow | undefined>;
  inviteById(inviteId: string): Promise<VisitorInviteRow | undefined>;
  /** Revokes an invitation; false when it was revoked already or is no invitation (pending, abandoned, gone). */
  revokeInvite(inviteId: string, now: number): Promise<boolean>;
  /** Whether this person was created for a visitor invitation. */
  isInvitedVisitor(personId: string): Promise<boolean>;

  /** A registration and its travellers, in one transaction. */
  insertReturn(row: Omit<ReturnRow, 'status' | 'reviewedBy' | 'reviewedAt' | 'reviewNote'>): Promise<void>;
  returnById(returnId: string): Promise<ReturnRow | undefined>;
  /** Newest first, at most 500. */
  returnsOfCompound(compoundId: string, status: 'pending' | 'all'): Promise<ReturnRow[]>;
  /** The household's registrations, and the person's own; newest first, at most 50. */
  returnsOfHousehold(compoundId: string, householdId: string | null, personId: string): Promise<ReturnRow[]>;
  /** Pending registrations whose yellow period is over (at most 200). */
  dueReturns(now: number): Promise<string[]>;
  /** Moves a pending registration on; false when it was no longer pending (someone was faster). */
  closeReturn(
    returnId: string,
    status: Exclude<ReturnStatus, 'pending'>,
    by: string,
    at: number,
    note: string | null,
  ): Promise<boolean>;
  memberRestored(returnId: string, personId: string, at: number): Promise<void>;

  /** Visitors' passages of a compound in `[from, to)`, and the invitations made then (statistics). */
  visitorStats(compoundId: string, from: number, to: number): Promise<VisitorStats>;

  /** The compound's policy; the default when none was set or the stored one no longer parses. */
  policyOf(compoundId: string): Promise<ResidentPolicy>;
  setPolicy(compoundId: string, policy: ResidentPolicy, by: string, at: number): Promise<void>;
}
