/**
 * The distribution role's parts, built once per gate process (docs/supplies.md, "The distribution
 * role"): the claim journal in the gate's SQLite file (fsynced off the event loop like the passage
 * journal when `journal.synchronous` is `full`), its uplink over the gate's MQTT link, and the
 * distribution point itself. An entry gate builds them too — they cost two prepared statements and
 * an idle timer — so that switching the role through the gate's settings needs no restart, and a
 * claim journal left from a distribution shift is still sent after a switch back.
 */
import type { Logger } from '../../shared/log.ts';
import { WalSync } from '../../shared/wal-sync.ts';
import type { EdgeConfig } from '../config.ts';
import type { Credential, GateContext } from '../decision.ts';
import type { GateClock } from '../gate-clock.ts';
import type { GateDatabase } from '../gate-database.ts';
import { type EffectiveGateSettings, effectiveGateSettings } from '../gate-settings.ts';
import type { ReplicaStore } from '../replica-store.ts';
import type { TerminalFeed } from '../terminal/terminal-feed.ts';
import type { GuardClaimReply } from '../terminal/terminal-state.ts';
import type { EventPublisher } from '../uplink.ts';
import { ClaimJournalStore } from './claim-journal-store.ts';
import { ClaimUplink } from './claim-uplink.ts';
import { type DistributionOutcome, DistributionPoint } from './distribution-point.ts';
import { type GateRoleName, GateRoleService, type RoleDesk } from './gate-role.ts';
import { guardClaimAt } from './guard-claim.ts';

export type { RoleDesk } from './gate-role.ts';

/** A guard's claim at the terminal for a household member without a card. */
export interface GuardClaimRequest {
  personId: string;
  guard: string;
  reason: string;
}

export interface SupplyRole {
  journal: ClaimJournalStore;
  uplink: ClaimUplink;
  point: DistributionPoint;
  roles: GateRoleService;
  roleDesk: RoleDesk;
  /** The gate's settings in force: the cloud's (or gate.json's) with a guard's switch of the role over them. */
  settings(): EffectiveGateSettings;
  /** A swipe at a distribution point: the allocation shown, the claim decided and journaled. */
  claim(credential: Credential, readAt?: bigint): Promise<DistributionOutcome>;
  /** Decided like a swipe at a distribution point; refused `not-a-distribution-point` in any other role. */
  guardClaim(request: GuardClaimRequest, role: GateRoleName): Promise<GuardClaimReply>;
  close(): void;
}

export function createSupplyRole(
  config: EdgeConfig,
  parts: {
    db: GateDatabase;
    replica: ReplicaStore;
    publisher: EventPublisher;
    feed: TerminalFeed;
    gate: GateContext;
    logger: Logger;
    log: Logger;
    now: () => number;
    /** The cloud's time as the gate estimates it: a role switch is compared with the cloud's on it. */
    clock: Pick<GateClock, 'decisionNow'>;
    changed: () => void;
    /** The role in force changed at the terminal: apply the settings again and tell everyone. */
    settingsChanged: () => void;
    /** Every claim decided (the agent's `claim` event). */
    onClaim: (outcome: DistributionOutcome) => void;
  },
): SupplyRole {
  const syncOffLoop = config.journal.synchronous === 'full' && config.dataDir !== ':memory:';
  const wal = syncOffLoop ? new WalSync(`${parts.db.name}-wal`) : undefined;
  const journal = new ClaimJournalStore(parts.db, parts.replica.supply, wal);
  const uplink = new ClaimUplink({
    gateId: config.gateId,
    journal,
    publisher: parts.publisher,
    logger: parts.logger,
    now: parts.now,
    ackTimeoutMs: config.timeouts.ackMs,
    answerMs: config.timeouts.claimAnswerMs,
  });
  journal.onDurable = () => uplink.pump();
  const point = new DistributionPoint({
    gateId: config.gateId,
    gate: parts.gate,
    replica: parts.replica,
    journal,
    uplink,
    feed: parts.feed,
    now: parts.now,
    log: parts.log,
    changed: parts.changed,
  });
  const roles = new GateRoleService(parts.db, () => parts.clock.decisionNow());
  const cloudSettings = () => effectiveGateSettings(config, parts.replica.gateSettings(config.gateId));
  return {
    journal,
    uplink,
    point,
    roles,
    settings: () => roles.settle(cloudSettings(), parts.replica.mode()),
    roleDesk: {
      switchTo(request) {
        const mode = parts.replica.mode();
        const cloud = cloudSettings();
        const answer = roles.switchTo(request, cloud, roles.settle(cloud, mode), mode);
        parts.settingsChanged();
        return answer;
      },
      recent: (limit) => roles.recent(limit),
    },
    async claim(credential, readAt) {
      const outcome = await point.present(credential, readAt);
      parts.onClaim(outcome);
      return outcome;
    },
    guardClaim: (request, role) => guardClaimAt(point, request, role, parts),
    close: () => {
      uplink.stop();
      wal?.close();
    },
  };
}
