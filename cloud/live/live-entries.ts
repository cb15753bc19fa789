/**
 * Stored passages as `entry` messages on the live feed (docs/contract.md, "HTTP", `/live`): masked
 * names only, visitors marked for the guards (docs/web.md, "The resident side").
 *
 * Where they go after the commit depends on who tells the other cloud instances: on SQLite (one
 * instance) the hub publishes them everywhere; on PostgreSQL the ingest transaction has already
 * notified the other instances (cloud/live/pg-live-entries.ts), so here they reach this
 * instance's own listeners only (`scope: 'here'`).
 */
import type { Logger } from '../../shared/log.ts';
import type { CloudStore, StoredEvent } from '../store/store.ts';
import type { LiveHub, LiveMessage, LiveScope } from './live-hub.ts';

/** The `entry` message of a stored passage, given its person's masked name and whether they are a visitor. */
export function entryMessage(e: StoredEvent, maskedName: string | null, visitor: boolean): LiveMessage {
  return {
    type: 'entry',
    data: {
      gateId: e.gateId,
      compoundId: e.compoundId,
      seq: e.seq,
      ts: e.ts,
      direction: e.direction,
      method: e.method,
      result: e.result,
      reason: e.reason,
      personId: e.personId ?? null,
      maskedName,
      ...(visitor ? { visitor: true } : {}),
      health: e.health,
      mode: e.mode,
      passed: e.passed,
    },
  };
}

/** Publishes each batch of new passages; nothing is read while nobody listens. */
export function liveEntryPublisher(
  store: Pick<CloudStore, 'maskedNames' | 'visitorsAmong'>,
  live: LiveHub,
  logger: Logger,
  scope: LiveScope = 'everywhere',
): (events: readonly StoredEvent[]) => void {
  const publishEntries = async (events: readonly StoredEvent[]) => {
    const people = events.flatMap((e) => (e.personId ? [e.personId] : []));
    const names = await store.maskedNames(people);
    const visitors = await store.visitorsAmong(people);
    for (const e of events) {
      const name = e.personId ? (names.get(e.personId) ?? null) : null;
      live.publish(entryMessage(e, name, e.personId !== undefined && visitors.has(e.personId)), scope);
    }
  };
  return (events) => {
    if (scope === 'here' ? live.listenerCount === 0 : !live.hasAudience) return;
    publishEntries(events).catch((err: unknown) => logger.warn({ err }, 'live entries failed'));
  };
}
