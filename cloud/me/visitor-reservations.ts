/**
 * The life of a visitor invitation's reservation (docs/web.md, "The resident side"; the routes are
 * cloud/me/visitor-routes.ts).
 *
 * An invitation is made in steps no one transaction spans — the household's slot (the resident
 * side's store), then the visitor person and their pass (the registry, which publishes to the
 * gates), then the invitation completed — so the reservation is the durable record of what is
 * being made: it is stored *pending* with the ids the visitor person and the pass will have,
 * before either exists. While pending it counts towards the household's quota but is in no view:
 * not listed, not revocable, its link shows nothing. It becomes an invitation only if completed
 * within `INVITE_PENDING_MS`; a request that fails at any step abandons it and undoes what was
 * made (`rollBackInvite`), and one that crashed leaves a pending reservation whose time runs out —
 * from then on it no longer counts, and the reclaim (`startInviteReclaim`) undoes it the same way.
 * A request that is merely slow finds its reservation expired when it completes, and rolls back.
 */
import type { Logger } from '../../shared/log.ts';
import type { Actor } from '../registry/actor.ts';
import type { RegistryService } from '../registry/registry-service.ts';
import type { CloudStore } from '../store/store.ts';
import { type PeriodicJob, startPeriodicJob } from './periodic-job.ts';
import type { ResidentSideStore, VisitorInviteRow } from './resident-side-store.ts';

/** How long a reservation may stay pending: a request makes a person and a pass in well under a second. */
export const INVITE_PENDING_MS = 60_000;

export interface ReservationDeps {
  side: ResidentSideStore;
  store: Pick<CloudStore, 'getPass' | 'getResident'>;
  registry: RegistryService;
  now: () => number;
  logger: Logger;
}

/** The actor the reclaim acts as: recorded in the audit log as such. */
function reclaimActor(compoundId: string): Actor {
  return { username: 'system:visitor-reclaim', role: 'manager', compound: compoundId };
}

/**
 * How long an abandoned reservation's row is kept after it was made, its undoing run again on
 * every reclaim: a request merely slow (not crashed) may still make the visitor person and the
 * pass after the reclaim took its reservation, and then crash before its own rollback — the row is
 * the only record of those ids, so it is dropped only once no request can still be running.
 */
export const ABANDONED_KEPT_MS = 10 * INVITE_PENDING_MS;

/**
 * Undoes an abandoned reservation: its pass revoked at every gate if it was issued, its visitor
 * person deleted if made, then (if `drop`) the row. Each step looks before it acts, so after a
 * failure or a crash the reclaim can run it again. Returns whether it changed anything.
 */
async function undoReservation(
  deps: ReservationDeps,
  row: VisitorInviteRow,
  actor: Actor,
  drop: boolean,
): Promise<boolean> {
  let changed = false;
  // Only what this reservation made: its visitor's pass, and its household's visitor.
  const pass = await deps.store.getPass(row.passId);
  if (pass && pass.revokedAt === null && pass.personId === row.visitorPersonId) {
    await deps.registry.revokePass(row.passId, actor);
    changed = true;
  }
  const visitor = await deps.store.getResident(row.visitorPersonId);
  if (
    visitor &&
    visitor.kind === 'visitor' &&
    visitor.compoundId === row.compoundId &&
    visitor.householdId === row.householdId
  ) {
    await deps.registry.deleteResident(row.visitorPersonId, actor);
    changed = true;
  }
  if (drop) await deps.side.dropInvite(row.inviteId);
  return changed || drop;
}

/**
 * A failed request's own reservation taken back, whatever step it reached (even completed). Never
 * throws: the request's own error is what the resident sees. Should the undoing fail too, a pending
 * reservation is left to the reclaim and a completed one stays an ordinary invitation (counted,
 * listed, revocable).
 */
export async function rollBackInvite(deps: ReservationDeps, row: VisitorInviteRow, actor: Actor): Promise<void> {
  try {
    await deps.side.abandonInvite(row.inviteId);
    // The request's own: nothing else is making these ids, so the row goes at once.
    await undoReservation(deps, row, actor, true);
  } catch (err) {
    deps.logger.warn({ err, inviteId: row.inviteId }, 'visitor invitation not rolled back; the reclaim will');
  }
}

/**
 * Undoes every reservation pending past its time, and again every abandoned one still kept (see
 * `ABANDONED_KEPT_MS`), dropping those older than that; returns how many it changed. A row whose
 * undoing fails is logged and left for the next round, never holding up the others.
 */
export async function reclaimInvites(deps: ReservationDeps): Promise<number> {
  let reclaimed = 0;
  const now = deps.now();
  for (const row of await deps.side.expiredInvites(now)) {
    try {
      // Taken out first, under the row's lock: a request completing it now fails and rolls back itself.
      if (!(await deps.side.abandonInvite(row.inviteId, now))) continue;
      const drop = row.createdAt + ABANDONED_KEPT_MS <= now;
      if (await undoReservation(deps, row, reclaimActor(row.compoundId), drop)) reclaimed += 1;
    } catch (err) {
      deps.logger.warn({ err, inviteId: row.inviteId }, 'visitor reservation not undone; trying again next round');
    }
  }
  return reclaimed;
}

/** The reclaim every `intervalMs` (cloud/me/periodic-job.ts). */
export function startInviteReclaim(deps: ReservationDeps, intervalMs = 60_000): PeriodicJob {
  return startPeriodicJob('visitor reservation reclaim', () => reclaimInvites(deps), deps, intervalMs);
}
