/**
 * The residents of each compound whose gates are sending, held whole in memory for admission
 * (cloud/ingest/event-admission.ts): a passage whose person is in its gate's compound set is
 * admitted without a read. One read per compound per `maxAgeMs` (the ids alone, from the
 * `(compound_id, person_id)` index) instead of one per person — on a live stream of 200 gates
 * the per-person reads were the largest of admission's costs (bench/ingest.ts, `--cpu-prof`).
 *
 * What a set answers is only ever "this person is a resident of this compound, as of at most
 * `maxAgeMs` ago" — the same staleness as admission's per-person cache. A person not in the set
 * (another compound's, unknown, or registered since the set was read) is not decided here:
 * admission asks the store for them as before. A compound with more than `maxPerCompound`
 * residents is not held (its persons are looked up one by one), and all sets together hold at most
 * `maxTotal` ids: sets whose time is over make room first; when current ones fill it, a further
 * compound is held as too big (looked up one by one) rather than evicting them.
 *
 * Refresh-ahead (stale while revalidate): once a set's `maxAgeMs` is over, the next message starts
 * one read in the background and is judged with the set it has — a reload never holds a message,
 * so a compound's gates see no latency spike once a minute. One read per compound at a time; the
 * new set replaces the old when it is in. A failed reload keeps the old set and is tried again
 * `retryMs` later. But a set is served only up to `maxStaleMs` after the read it came from began
 * (default 3 × `maxAgeMs`, 3 min): past that a message waits for the read, as before — a person
 * removed or moved away is not admitted from an old list for longer, whatever the database does.
 * So a move between compounds is seen once the reload after `maxAgeMs` is in (one read later than
 * a waiting reload saw it), and at worst after `maxStaleMs`; a new resident is seen at once (not in
 * the set: looked up per person). A compound held as "one by one" (too big, or a failed first read)
 * is read again in the background too: looking persons up one by one is always right.
 */
import type { Logger } from '../../shared/log.ts';

export interface CompoundResidentsOptions {
  /** The ids of a compound's residents, or undefined when it has more than `limit`. */
  personIdsOfCompound(compoundId: string, limit: number): Promise<string[] | undefined>;
  /** A set is read again (in the background) once it is this old. */
  maxAgeMs: number;
  /** How old a set may be and still be served while it is read again (default 3 × `maxAgeMs`). */
  maxStaleMs?: number;
  /** After a failed reload, the next one starts this much later (default `maxAgeMs` / 6, 10 s at 60 s). */
  retryMs?: number;
  maxPerCompound: number;
  maxTotal: number;
  /**
   * The clock the `now` passed to `of` comes from (admission's): read again when a read fails, so
   * the retry is counted from the failure — a read failing on a 30 s statement timeout would
   * otherwise be retried at once, back to back against a struggling database.
   */
  now: () => number;
  logger: Logger;
}

/** How much longer than `maxAgeMs` a compound found too big to hold is left unread. */
const TOO_BIG_HOLD_FACTOR = 10;
/** A set is served while it is read again for up to this many `maxAgeMs` after its read began. */
const MAX_STALE_FACTOR = 3;
/** A failed reload is tried again after `maxAgeMs` / this. */
const RETRY_DIVISOR = 6;

interface Held {
  /** Undefined: too many to hold, or the read failed (looked up one by one until `until`). */
  persons: ReadonlySet<string> | undefined;
  /** When the read the set came from began: what `maxStaleMs` is counted from. */
  readAt: number;
  /** Until when it is current; from then on the next call starts a reload. */
  until: number;
}

export class CompoundResidents {
  private readonly held = new Map<string, Held>();
  private readonly loading = new Map<string, Promise<void>>();
  private total = 0;
  private readonly maxStaleMs: number;
  private readonly retryMs: number;

  constructor(private readonly options: CompoundResidentsOptions) {
    this.maxStaleMs = options.maxStaleMs ?? MAX_STALE_FACTOR * options.maxAgeMs;
    this.retryMs = options.retryMs ?? Math.ceil(options.maxAgeMs / RETRY_DIVISOR);
  }

  /**
   * The compound's residents: the set (undefined for a compound looked up one by one) — the current
   * one, or, while it is read again, the one before if its read began less than `maxStaleMs` ago;
   * else a promise that resolves once it is read.
   */
  of(compoundId: string, now: number): ReadonlySet<string> | undefined | Promise<ReadonlySet<string> | undefined> {
    const held = this.held.get(compoundId);
    if (held && now < held.until) return held.persons;
    if (held && (held.persons === undefined || now - held.readAt < this.maxStaleMs)) {
      void this.reload(compoundId, now);
      return held.persons;
    }
    return this.reload(compoundId, now).then(() => this.held.get(compoundId)?.persons);
  }

  /** The read under way for the compound, or a new one: never two at once. Never rejects. */
  private reload(compoundId: string, now: number): Promise<void> {
    let loading = this.loading.get(compoundId);
    if (!loading) {
      loading = this.load(compoundId, now).finally(() => this.loading.delete(compoundId));
      this.loading.set(compoundId, loading);
    }
    return loading;
  }

  /**
   * Reads the set (`now`: when the read began). A failed reload keeps a set still within
   * `maxStaleMs`, to be read again `retryMs` after the failure. A failed read with no such set, and
   * a compound too big to hold, are held too — as "look persons up one by one" — for `maxAgeMs`
   * (from the failure) and ten times that: during database trouble every message would otherwise
   * start another whole-compound read, and a big compound would be read only to be found too big again.
   */
  private async load(compoundId: string, now: number): Promise<void> {
    let ids: string[] | undefined;
    try {
      ids = await this.options.personIdsOfCompound(compoundId, this.options.maxPerCompound);
    } catch (err) {
      const failedAt = this.options.now();
      const old = this.held.get(compoundId);
      if (old?.persons !== undefined && now - old.readAt < this.maxStaleMs) {
        old.until = failedAt + this.retryMs;
        const servedUntil = old.readAt + this.maxStaleMs;
        this.options.logger.warn(
          { err, compoundId, servedUntil },
          "compound's residents not read again; the set read before is served meanwhile",
        );
        return;
      }
      this.options.logger.warn({ err, compoundId }, "compound's residents not read; looking persons up one by one");
      this.hold(compoundId, undefined, failedAt, this.options.maxAgeMs);
      return;
    }
    // The compound's own old set is given up before making room, so its ids are the first room the
    // new set gets — makeRoom would otherwise drop other compounds' sets whose time is over (in the
    // order they came) before reaching it. hold()'s own drop then finds nothing here; it is for the
    // failure path above, which replaces an old entry without this.
    this.drop(compoundId);
    const read = ids ? new Set(ids) : undefined;
    // No room beside the current sets: one by one until this one's time is over, then try again.
    const persons = read && this.makeRoom(read.size, now) ? read : undefined;
    const holdMs = read ? this.options.maxAgeMs : this.options.maxAgeMs * TOO_BIG_HOLD_FACTOR;
    this.hold(compoundId, persons, now, holdMs);
  }

  private hold(compoundId: string, persons: ReadonlySet<string> | undefined, readAt: number, holdMs: number): void {
    this.drop(compoundId);
    this.held.set(compoundId, { persons, readAt, until: readAt + holdMs });
    this.total += persons?.size ?? 0;
  }

  /**
   * Room for `size` more ids within `maxTotal`, made by dropping sets whose time is over — never one
   * still current, which its compound's next message would read again (and so on round the
   * compounds). False when there is not room: the new set is then held as too big.
   */
  private makeRoom(size: number, now: number): boolean {
    for (const [compoundId, held] of this.held) {
      if (this.total + size <= this.options.maxTotal) break;
      if (held.until <= now) this.drop(compoundId);
    }
    return this.total + size <= this.options.maxTotal;
  }

  private drop(compoundId: string): void {
    const held = this.held.get(compoundId);
    if (!held) return;
    this.total -= held.persons?.size ?? 0;
    this.held.delete(compoundId);
  }
}
