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
 * `maxTotal` ids: the oldest set is dropped first.
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
    const persons = ids ? new Set(ids) : undefined;
    const holdMs = persons || failed ? this.options.maxAgeMs : this.options.maxAgeMs * TOO_BIG_HOLD_FACTOR;
    this.held.set(compoundId, { persons, until: now + holdMs });
    this.total += persons?.size ?? 0;
    for (const oldest of this.held.keys()) {
      if (this.total <= this.options.maxTotal || oldest === compoundId) break;
      this.drop(oldest);
    }
  }

  private drop(compoundId: string): void {
    const held = this.held.get(compoundId);
    if (!held) return;
    this.total -= held.persons?.size ?? 0;
    this.held.delete(compoundId);
  }
}
