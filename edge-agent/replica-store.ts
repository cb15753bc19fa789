/**
 * The gate's local replica (docs/architecture.md rule 1) in SQLite: persons, health colours, revoked
 * passes, mode, exit-quota policy and `rev`, fed by the sync protocol (docs/contract.md "sync",
 * "changes"), plus the gate's own counters (pass uses, household exits, last direction per person).
 *
 * A grant still waiting for the turnstile holds a *reservation* of its effects (one row per
 * pending journal seq in `passage_reservations`), and every counter the decision reads counts
 * confirmed passages plus reservations: two exits of one household within the passage window
 * cannot both pass a quota of one, nor a single-use pass be used twice. The journal makes the
 * reservation in the transaction that appends the pending row and releases it in the one that
 * finalises it (recording the effects unless it was a timeout), so the two never disagree.
 *
 * Reads go through prepared statements on primary keys or indexes; mode, rev and the quota policy
 * are cached in memory because this class is their only writer.
 */
import type { Direction, HealthColour, Mode } from '../shared/enums.ts';
import { type Change, changeSchema, type GateSettings, type PersonRecord } from '../shared/schemas/mqtt.ts';
import { collectAfterBulkWork } from '../shared/small-heap.ts';
import { type GateDatabase, MetaTable } from './gate-database.ts';
import { ensureReplicaSchema, prepareReplicaStatements, type ReplicaStatements } from './replica-statements.ts';
import { SnapshotStaging, type StagedParts } from './snapshot-staging.ts';
import { DeviceCertificateReplica, type SyncedCertificate } from './device-certificates.ts';
import { isSupplyChange, SupplyReplica } from './supply/supply-replica.ts';
import type { ExitQuotaPolicy, ReplicaView } from './replica-view.ts';

const META = {
  rev: 'replica.rev',
  mode: 'replica.mode',
  modeTs: 'replica.modeTs',
  quota: 'replica.quotaPolicy',
  lastContact: 'replica.lastCloudContactAt',
  /** `replica.gateSettings.<gateId>`: a gate's manager-set settings (`gate.settings` changes). */
  gateSettingsPrefix: 'replica.gateSettings.',
} as const;

/**
 * A frame mark older than this is dropped: any frame at or before it is refused as expired anyway
 * (its window is at most 120 s, plus the gate's clock tolerance of at most a day).
 */
const FRAME_HISTORY_MS = 25 * 3_600_000;

/** Household exits older than this are deleted (the longest quota period the schema allows is 30 days). */
const EXIT_HISTORY_MS = 31 * 24 * 3_600_000;
/** How often the last-contact time is written through to disk (it is cached in memory in between). */
const CONTACT_PERSIST_MS = 5_000;

export interface PassageEffects {
  passUse?: string;
  householdExit?: string;
  passageOf?: string;
  /** The frame of a device pass that this passage used (the replay mark). */
  deviceFrame?: { passId: string; at: number };
}

export type StagedSnapshot = StagedParts;

type StageOutcome = 'staged' | 'complete' | 'stale';

export class ReplicaStore implements ReplicaView {
  private readonly meta: MetaTable;
  private cachedRev: number;
  private cachedMode: Mode;
  private cachedQuota: ExitQuotaPolicy | null;
  private cachedContact: number | null;
  private readonly cachedGateSettings = new Map<string, GateSettings>();
  private contactPersistedAt = 0;

  private readonly stmt: ReplicaStatements;
  private readonly staging: SnapshotStaging;
  private readonly applyDeltaTx: (changes: readonly Change[], toRev: number) => void;
  private readonly stageChunkTx: (
    snapshotRev: number,
    part: number,
    parts: number,
    records: readonly Change[],
  ) => StageOutcome;
  private readonly swapSnapshotTx: (snapshotRev: number) => void;

  /** This gate's id: its own relayed uses are already counted (`household_exits`). Absent: none are skipped. */
  private readonly ownGateId: string | undefined;
  /** Supply rounds, claims and applicants (docs/supplies.md), changed in the same transactions as the rest. */
  readonly supply: SupplyReplica;
  /** Device pass certificates pushed by sync, verified in the background (device-certificates.ts). */
  readonly certificates: DeviceCertificateReplica;

  constructor(
    private readonly db: GateDatabase,
    options: { gateId?: string } = {},
  ) {
    this.ownGateId = options.gateId;
    this.meta = new MetaTable(db);
    ensureReplicaSchema(db);
    this.supply = new SupplyReplica(db);
    this.certificates = new DeviceCertificateReplica(db);
    this.cachedRev = 0;
    this.cachedMode = 'normal';
    this.cachedQuota = null;
    this.reloadCache();
    this.cachedContact = this.meta.getNumber(META.lastContact) ?? null;

    this.stmt = prepareReplicaStatements(db);
    this.staging = new SnapshotStaging(db);

    this.applyDeltaTx = db.transaction((changes: readonly Change[], toRev: number) => {
      for (const change of changes) this.applyChange(change);
      this.setRev(toRev);
    });

    this.stageChunkTx = db.transaction(
      (snapshotRev: number, part: number, parts: number, records: readonly Change[]): StageOutcome => {
        const current = this.staging.info();
        if (current && current.snapshotRev > snapshotRev) return 'stale';
        if (current && current.snapshotRev !== snapshotRev) this.clearStaging();
        // A part delivered twice (QoS 1) is the same part of the same snapshot: staged once.
        if (!this.staging.hasPart(snapshotRev, part)) {
          // Device certificates go to their own staging table (device-certificates.ts), the rest here.
          const rest = records.filter((change) => {
            if (change.op !== 'pass.device') return true;
            this.certificates.stage(change); // one that does not decode to its pass and person is not kept
            return false;
          });
          this.staging.stagePart(snapshotRev, part, parts, rest);
        }
        const staged = this.staging.info();
        return staged !== undefined && staged.received >= parts && staged.parts === parts ? 'complete' : 'staged';
      },
    );

    this.swapSnapshotTx = db.transaction((snapshotRev: number) => {
      // The cloud's data is replaced wholesale; the gate's own counters stay (they are not the cloud's).
      this.meta.delete(META.quota);
      this.cachedQuota = null;
      this.stmt.clearGateSettings.run(`${META.gateSettingsPrefix}%`);
      this.cachedGateSettings.clear();
      this.supply.clearForSnapshot();
      // Persons, cards, health and revocations: the staged tables renamed into place.
      this.staging.swapIn();
      this.certificates.swap();
      // Mode and quota policy: a handful of rows, each checked again since it is read back as text.
      for (const text of this.staging.stagedSettings()) this.applyChange(changeSchema.parse(JSON.parse(text)));
      this.clearStaging();
      this.setRev(snapshotRev);
    });
  }

  private clearStaging(): void {
    this.staging.clear();
    this.certificates.clearStaging();
  }

  /** Applies a delta's changes and moves to `toRev`, all or nothing. */
  applyDelta(changes: readonly Change[], toRev: number): void {
    this.guarded(() => this.applyDeltaTx(changes, toRev));
  }

  /** A rolled-back transaction must not leave the in-memory cache ahead of the file. */
  private guarded<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      this.reloadCache();
      throw error;
    }
  }

  private reloadCache(): void {
    // Absent only while the constructor runs (it reads its rows itself).
    this.supply?.reload();
    this.cachedRev = this.meta.getNumber(META.rev) ?? 0;
    this.cachedMode = (this.meta.get(META.mode) as Mode | undefined) ?? 'normal';
    const quota = this.meta.get(META.quota);
    this.cachedQuota = quota ? (JSON.parse(quota) as ExitQuotaPolicy) : null;
    this.cachedGateSettings.clear();
  }

  /** The cloud's settings for a gate (`gate.settings`), or undefined when the cloud has sent none. */
  gateSettings(gateId: string): GateSettings | undefined {
    const cached = this.cachedGateSettings.get(gateId);
    if (cached) return cached;
    const text = this.meta.get(`${META.gateSettingsPrefix}${gateId}`);
    if (text === undefined) return undefined;
    const settings = JSON.parse(text) as GateSettings;
    this.cachedGateSettings.set(gateId, settings);
    return settings;
  }

  /** False once the gate's database is closed. */
  isOpen(): boolean {
    return this.db.open;
  }

  // ---- ReplicaView ----

  mode(): Mode {
    return this.cachedMode;
  }

  rev(): number {
    return this.cachedRev;
  }

  lastCloudContactAt(): number | null {
    return this.cachedContact;
  }

  personById(personId: string): PersonRecord | undefined {
    const row = this.stmt.personById.get(personId);
    return row ? (JSON.parse(row.record) as PersonRecord) : undefined;
  }

  personByIdHash(idHash: string): PersonRecord | undefined {
    const row = this.stmt.personByIdHash.get(idHash);
    return row ? (JSON.parse(row.record) as PersonRecord) : undefined;
  }

  personByCard(card: string): PersonRecord | undefined {
    const row = this.stmt.personByCard.get(card);
    return row ? (JSON.parse(row.record) as PersonRecord) : undefined;
  }

  health(personId: string): HealthColour {
    return this.stmt.health.get(personId)?.colour ?? 'unknown';
  }

  isPassRevoked(passId: string): boolean {
    return this.stmt.revoked.get(passId) !== undefined;
  }

  passUses(passId: string): number {
    return this.stmt.passUses.get(passId, passId)?.n ?? 0;
  }

  lastDirection(personId: string): Direction | undefined {
    return this.stmt.lastDirection.get(personId, personId)?.direction ?? undefined;
  }

  verifiedCertificate(passId: string): SyncedCertificate | undefined {
    return this.certificates.verifiedCertificate(passId);
  }

  lastFrameAt(passId: string): number | undefined {
    const at = this.stmt.lastFrameAt.get(passId, passId)?.at ?? -1;
    return at === null || at < 0 ? undefined : at;
  }

  exitQuota(): ExitQuotaPolicy | null {
    return this.cachedQuota;
  }

  householdExitsSince(householdId: string, sinceMs: number): number {
    return this.stmt.householdExits.get(householdId, sinceMs, householdId, sinceMs, householdId, sinceMs)?.n ?? 0;
  }

  // ---- writes ----

  personCount(): number {
    return this.stmt.countPersons.get()?.n ?? 0;
  }

  /** Remembers that the cloud was heard from (staleness); written through at most every few seconds. */
  touchCloudContact(now: number): void {
    this.cachedContact = now;
    if (now - this.contactPersistedAt >= CONTACT_PERSIST_MS || now < this.contactPersistedAt) {
      this.meta.set(META.lastContact, now);
      this.contactPersistedAt = now;
    }
  }

  /**
   * Reserves the effects of a grant journaled as pending (`seq`) until it is finalised; the
   * decision counts them from now on. Call inside the journal's transaction.
   */
  reservePassage(seq: number, effects: PassageEffects, direction: Direction, at: number): void {
    const { passUse, householdExit, passageOf, deviceFrame } = effects;
    if (!passUse && !householdExit && !passageOf && !deviceFrame) return;
    this.stmt.reserve.run(
      seq,
      direction,
      at,
      passUse ?? null,
      householdExit ?? null,
      passageOf ?? null,
      deviceFrame?.passId ?? null,
      deviceFrame?.at ?? null,
    );
  }

  /**
   * Drops the reservation of a passage being finalised and returns its effects (undefined when it
   * held none), for the journal to record if the person passed. Call inside the journal's transaction.
   */
  releasePassage(seq: number): PassageEffects | undefined {
    const row = this.stmt.release.get(seq);
    if (!row) return undefined;
    const effects: PassageEffects = {};
    if (row.pass_use !== null) effects.passUse = row.pass_use;
    if (row.household_exit !== null) effects.householdExit = row.household_exit;
    if (row.passage_of !== null) effects.passageOf = row.passage_of;
    if (row.frame_pass !== null && row.frame_at !== null)
      effects.deviceFrame = { passId: row.frame_pass, at: row.frame_at };
    return effects;
  }

  /** Records a confirmed passage's effects. Call inside the journal's transaction. */
  recordPassage(effects: PassageEffects, direction: Direction, at: number): void {
    if (effects.passUse) this.stmt.countPass.run(effects.passUse);
    if (effects.householdExit) {
      this.stmt.countExit.run(effects.householdExit, at);
      this.stmt.pruneExits.run(at - EXIT_HISTORY_MS);
    }
    if (effects.passageOf) this.stmt.setDirection.run(effects.passageOf, direction, at);
    if (effects.deviceFrame) {
      this.stmt.markFrame.run(effects.deviceFrame.passId, effects.deviceFrame.at);
      this.stmt.pruneFrames.run(effects.deviceFrame.at - FRAME_HISTORY_MS);
    }
  }

  /**
   * Stages one snapshot chunk (already validated by the caller, docs/contract.md `sync`) in tables
   * of the replica's own shape (snapshot-staging.ts); when every part 1..parts of that snapshot is
   * in, swaps the replica in one transaction ('applied') by renaming those tables into place. A newer snapshot
   * discards the parts of an older one; a chunk of a snapshot older than the one being staged is
   * refused ('stale'). A half-applied snapshot is never visible: the replica's tables change only
   * in the swap.
   *
   * Staging commits with `synchronous = NORMAL` (no fsync per part) and without automatic WAL
   * checkpoints: a part lost to a power cut is only missing, never half there, and the cloud sends
   * the snapshot again on the next request. The swap commits with the database's own setting
   * (`FULL` on a gate: synced before the new rev is announced). Its pages are checkpointed by the
   * WAL checkpointer's thread (wal-checkpointer.ts) within its interval, off the event loop; only
   * a connection that checkpoints inside its own commits (no checkpointer) checkpoints here.
   * Person deletes inside a snapshot act on what is staged so far (the cloud never sends any).
   */
  stageSnapshotChunk(
    snapshotRev: number,
    part: number,
    parts: number,
    records: readonly Change[],
  ): 'staged' | 'applied' | 'stale' {
    const outcome = this.withoutFsync(() => this.stageChunkTx(snapshotRev, part, parts, records));
    if (outcome !== 'complete') return outcome;
    this.guarded(() => this.swapSnapshotTx(snapshotRev));
    // Without a checkpointer thread: one checkpoint for the whole snapshot (staging commits do not
    // checkpoint, see withoutFsync), here rather than inside whichever later commit — perhaps a
    // scan's — crosses the threshold. With one, it runs there, while the gate goes on.
    if (this.checkpointsInCommits()) this.db.pragma('wal_checkpoint(PASSIVE)');
    // The swap went through every page of the replica: hand the page cache back (it refills on demand).
    this.db.pragma('shrink_memory');
    // And the parsed parts in the heap back to the system (shared/small-heap.ts; gate process only).
    collectAfterBulkWork();
    return 'applied';
  }

  /** Whether this connection checkpoints inside its commits (no thread does it: wal-checkpointer.ts). */
  private checkpointsInCommits(): boolean {
    return (this.db.pragma('wal_autocheckpoint', { simple: true }) as number) > 0;
  }

  /** Staging commits: no fsync, and no automatic checkpoint (each would fsync twice). */
  private withoutFsync<T>(work: () => T): T {
    const level = this.db.pragma('synchronous', { simple: true }) as number;
    const checkpointPages = this.db.pragma('wal_autocheckpoint', { simple: true }) as number;
    if (level > 1) this.db.pragma('synchronous = NORMAL');
    this.db.pragma('wal_autocheckpoint = 0');
    try {
      return work();
    } finally {
      this.db.pragma(`wal_autocheckpoint = ${checkpointPages}`);
      if (level > 1) this.db.pragma(`synchronous = ${level}`);
    }
  }

  stagedSnapshot(): StagedSnapshot | undefined {
    return this.staging.info();
  }

  private setRev(rev: number): void {
    this.meta.set(META.rev, rev);
    this.cachedRev = rev;
  }

  private applyChange(change: Change): void {
    if (isSupplyChange(change)) {
      this.supply.apply(change);
      return;
    }
    switch (change.op) {
      case 'person.upsert': {
        // Validated once, at the boundary (sync-consumer.ts parses every message with its zod schema).
        const { person } = change;
        this.stmt.upsertPerson.run(person.personId, person.idHash, JSON.stringify(person));
        this.stmt.deleteCardsOf.run(person.personId);
        for (const card of person.cards) this.stmt.upsertCard.run(card, person.personId);
        this.certificates.personChanged(person.personId, false);
        return;
      }
      case 'person.delete':
        this.stmt.deletePerson.run(change.personId);
        this.stmt.deleteCardsOf.run(change.personId);
        this.stmt.deleteHealth.run(change.personId);
        this.certificates.personChanged(change.personId, true);
        return;
      case 'health':
        this.stmt.setHealth.run(change.personId, change.colour, change.ts);
        return;
      case 'pass.revoke':
        this.stmt.revoke.run(change.passId, change.ts);
        this.certificates.revoked(change.passId);
        return;
      case 'pass.device':
        // One whose bytes are not that pass's and person's is not kept (a scan verifies it in full).
        this.certificates.apply(change);
        return;
      case 'mode':
        this.meta.set(META.mode, change.mode);
        this.meta.set(META.modeTs, change.ts);
        this.cachedMode = change.mode;
        return;
      case 'quota.policy': {
        const policy = { exits: change.exits, periodHours: change.periodHours };
        this.meta.set(META.quota, JSON.stringify(policy));
        this.cachedQuota = policy;
        return;
      }
      case 'exit.use':
        if (change.gateId === this.ownGateId) return;
        this.stmt.relayExit.run(change.gateId, change.seq, change.householdId, change.ts);
        this.stmt.pruneRelayedExits.run(change.ts - EXIT_HISTORY_MS);
        return;
      case 'gate.settings':
        // Every gate's settings are kept (a handful of rows); each gate reads its own.
        this.meta.set(`${META.gateSettingsPrefix}${change.gateId}`, JSON.stringify(change.settings));
        this.cachedGateSettings.set(change.gateId, change.settings);
        return;
    }
  }
}
