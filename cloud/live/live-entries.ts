/**
 * Stored passages as `entry` messages on the live feed (docs/contract.md, "HTTP", `/live`): masked
 * names only, visitors marked for the guards (docs/web.md, "The resident side").
 */
import type { Logger } from '../../shared/log.ts';
import type { CloudStore, StoredEvent } from '../store/store.ts';
import type { LiveHub } from './live-hub.ts';

/** Publishes each batch of new passages; nothing is read while nobody listens. */
export function liveEntryPublisher(
  store: Pick<CloudStore, 'maskedNames' | 'visitorsAmong'>,
  live: LiveHub,
  logger: Logger,
): (events: readonly StoredEvent[]) => void {
  const publishEntries = async (events: readonly StoredEvent[]) => {
    const people = events.flatMap((e) => (e.personId ? [e.personId] : []));
    const names = await store.maskedNames(people);
    const visitors = await store.visitorsAmong(people);
    for (const e of events) {
      live.publish({
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
          maskedName: e.personId ? (names.get(e.personId) ?? null) : null,
          ...(e.personId && visitors.has(e.personId) ? { visitor: true } : {}),
          health: e.health,
          mode: e.mode,
          passed: e.passed,
        },
      });
    }
  };
  return (events) => {
    if (!live.hasAudience) return;
    publishEntries(events).catch((err: unknown) => logger.warn({ err }, 'live entries failed'));
  };
}
