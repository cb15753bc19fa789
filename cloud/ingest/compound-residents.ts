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
 */
import type { Logger } from '../../shared/log.ts';

export interface CompoundResidentsOptions {
  /** The ids of a compound's residents, or undefined when it has more than `limit`. */
  personIdsOfCompound(compoundId: string, limit: number): Promise<string[] | undefined>;
  maxAgeMs: number;
  maxPerCompound: number;
  maxTotal: number;
  logger: Logger;
}

/** How much longer than `maxAgeMs` a compound found too big to hold is left unread. */
const TOO_BIG_HOLD_FACTOR = 10;

interface Held {
  /** Undefined: too many to hold, or the read failed (looked up one by one until `until`). */
  persons: ReadonlySet<string> | undefined;
  until: number;
}

export class CompoundResidents {
  private readonly held = new Map<string, Held>();
  private readonly loading = new Map<string, Promise<void>>();
  private total = 0;

  constructor(private readonly options: CompoundResidentsOptions) {}

  /**
   * The compound's residents as read at most `maxAgeMs` before `now`: the set (undefined for a
   * compound too big to hold), or a promise that resolves once it is read again.
   */
  of(compoundId: string, now: number): ReadonlySet<string> | undefined | Promise<ReadonlySet<string> | undefined> {
    const held = this.held.get(compoundId);
    if (held && now < held.until) return held.persons;
    let loading = this.loading.get(compoundId);
    if (!loading) {
      loading = this.load(compoundId, now).finally(() => this.loading.delete(compoundId));
      this.loading.set(compoundId, loading);
    }
    return loading.then(() => this.held.get(compoundId)?.persons);
  }

  /**
   * Reads the set. A failed read, and a compound too big to hold, are held too — as "look persons up
   * one by one" — for `maxAgeMs` and ten times that: during database trouble every message would
   * otherwise start another whole-compound read, and a big compound would be read only to be
   * found too big again.
   */
  private async load(compoundId: string, now: number): Promise<void> {
    let ids: string[] | undefined;
    let failed = false;
    try {
      ids = await this.options.personIdsOfCompound(compoundId, this.options.maxPerCompound);
    } catch (err) {
      failed = true;
      this.options.logger.warn({ err, compoundId }, "compound's residents not read; looking persons up one by one");
    }
    this.drop(compoundId);
    const read = ids ? new Set(ids) : undefined;
    // No room beside the current sets: one by one until this one's time is over, then try again.
    const persons = read && this.makeRoom(read.size, now) ? read : undefined;
    const tooBig = !read && !failed;
    const holdMs = tooBig ? this.options.maxAgeMs * TOO_BIG_HOLD_FACTOR : this.options.maxAgeMs;
    this.held.set(compoundId, { persons, until: now + holdMs });
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
