/**
 * What a gate may plant (docs/security.md, "A stolen gate"): a gate's token lets it publish only
 * its own events, but their content is its word. Ingest admits an event only when
 *
 * - its person (if it names one) is a resident of the gate's own compound — not another
 *   compound's (`foreign-person`), nor one the cloud does not know (`unknown-person`);
 * - its `ts` lies within the passages' keep window (`ts-too-old`: retention would delete it at
 *   once) and at most `futureToleranceMs` after the cloud received it (`ts-in-future`: it would
 *   sit at the top of every list and escape retention).
 *
 * A refused event is never stored; its seq is handed to the store as answered (`RefusedSeq`), so
 * the gate's cumulative ack steps over it and the gate prunes it instead of resending it forever.
 * Each refusal is counted (`anxin_ingest_rejects_total{reason}`); a gate with refusals raises an
 * `events-refused` alarm, at most one per gate per `alarmEveryMs`, naming how many were refused
 * since its previous alarm and why.
 */
import type { Logger } from '../../shared/log.ts';
import type { CloudMetrics } from '../metrics/cloud-metrics.ts';
import type { RefusedSeq, StoredAlarm, StoredEvent } from '../store/store.ts';
import { CompoundResidents } from './compound-residents.ts';

const REFUSAL_REASONS = ['foreign-person', 'unknown-person', 'ts-too-old', 'ts-in-future'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** How far ahead of the cloud's receive time an event's `ts` may be (a gate clock a little fast). */
const DEFAULT_FUTURE_TOLERANCE_MS = 5 * 60 * 1000;
/** At most one `events-refused` alarm per gate per hour. */
const DEFAULT_REFUSAL_ALARM_EVERY_MS = 60 * 60 * 1000;
/**
 * How long a person's compound is remembered, and a compound's residents held before they are read
 * again in the background (a move between compounds is seen once that read is in; a held set is
 * served past this for at most 3 × as long while reloads fail: compound-residents.ts).
 */
const PERSON_CACHE_MS = 60_000;
const PERSON_CACHE_MAX = 100_000;
/** A compound with up to this many residents is held whole (compound-residents.ts). */
const COMPOUND_SET_MAX = 20_000;
/** All compounds' sets together hold at most this many ids. */
const COMPOUND_SETS_TOTAL_MAX = 200_000;

export interface EventAdmissionOptions {
  /** personId → compoundId for the residents among `personIds` (unknown ones left out). */
  compoundsOfPersons(personIds: readonly string[]): Promise<Map<string, string>>;
  /**
   * The ids of a compound's residents, or undefined when it has more than `limit`: with it, a
   * compound's residents are held whole and most passages need no read (compound-residents.ts).
   */
  personIdsOfCompound?(compoundId: string, limit: number): Promise<string[] | undefined>;
  /** How long passages are kept (the retention horizon): older events are refused. */
  keepMs: number;
  futureToleranceMs?: number;
  alarmEveryMs?: number;
  /** Stores and shows the alarm (store + live feed); failures are logged, never thrown into ingest. */
  raiseAlarm(alarm: StoredAlarm): Promise<void> | void;
  metrics: CloudMetrics;
  logger: Logger;
  now?: () => number;
}

export interface AdmissionVerdict {
  admitted: readonly StoredEvent[];
  refused: RefusedSeq[];
}

interface GateRefusals {
  lastAlarmAt: number;
  /** Refusals since the last alarm, by reason. */
  pending: Map<RefusalReason, number>;
}

export class EventAdmission {
  private readonly futureToleranceMs: number;
  private readonly alarmEveryMs: number;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly persons = new Map<string, { compoundId: string; at: number }>();
  private readonly gates = new Map<string, GateRefusals>();
  private readonly compounds: CompoundResidents | undefined;

  constructor(private readonly options: EventAdmissionOptions) {
    this.futureToleranceMs = options.futureToleranceMs ?? DEFAULT_FUTURE_TOLERANCE_MS;
    this.alarmEveryMs = options.alarmEveryMs ?? DEFAULT_REFUSAL_ALARM_EVERY_MS;
    this.now = options.now ?? Date.now;
    this.logger = options.logger.child({ component: 'cloud.ingest.admission' });
    const { personIdsOfCompound } = options;
    this.compounds = personIdsOfCompound
      ? new CompoundResidents({
          personIdsOfCompound: (compoundId, limit) => personIdsOfCompound(compoundId, limit),
          maxAgeMs: PERSON_CACHE_MS,
          maxPerCompound: COMPOUND_SET_MAX,
          maxTotal: COMPOUND_SETS_TOTAL_MAX,
          now: () => this.now(),
          logger: this.logger,
        })
      : undefined;
  }

  /**
   * Splits one message's events (all of `gateId`, in `compoundId`) into admitted and refused: at
   * once when every person they name is in the compound's held set or cached, else after one
   * store call for the rest.
   */
  judge(
    gateId: string,
    compoundId: string,
    events: readonly StoredEvent[],
  ): AdmissionVerdict | Promise<AdmissionVerdict> {
    const now = this.now();
    // A message naming no person (unknown cards, guard opens) needs no compound's residents.
    const named = events.some((e) => e.personId !== undefined && e.personId !== null);
    const residents = named ? this.compounds?.of(compoundId, now) : undefined;
    if (residents instanceof Promise) {
      return residents.then((held) => this.judgeWith(gateId, compoundId, events, held, now));
    }
    return this.judgeWith(gateId, compoundId, events, residents, now);
  }

  private judgeWith(
    gateId: string,
    compoundId: string,
    events: readonly StoredEvent[],
    residents: ReadonlySet<string> | undefined,
    now: number,
  ): AdmissionVerdict | Promise<AdmissionVerdict> {
    // The live stream's case: every person a resident of the held set, every time in bounds. The
    // general path below would admit each of them too; this one builds no map per message.
    if (residents !== undefined && this.allHeld(events, residents)) return { admitted: events, refused: [] };
    const found = new Map<string, string>();
    const missing = this.fromCache(events, found, now, compoundId, residents);
    if (missing === undefined) return this.split(gateId, compoundId, events, found);
    return this.lookUp(missing, found, now).then(() => this.split(gateId, compoundId, events, found));
  }

  /** Whether every event is admitted at once: its time in bounds, its person (if any) in the compound's held set. */
  private allHeld(events: readonly StoredEvent[], residents: ReadonlySet<string>): boolean {
    for (const event of events) {
      if (this.timeRefusal(event) !== undefined) return false;
      if (event.personId !== undefined && event.personId !== null && !residents.has(event.personId)) return false;
    }
    return true;
  }

  private split(
    gateId: string,
    compoundId: string,
    events: readonly StoredEvent[],
    compounds: ReadonlyMap<string, string>,
  ): AdmissionVerdict {
    const admitted: StoredEvent[] = [];
    const refused: RefusedSeq[] = [];
    const counts = new Map<RefusalReason, number>();
    for (const event of events) {
      const reason = this.verdict(event, compoundId, compounds);
      if (reason === undefined) {
        admitted.push(event);
        continue;
      }
      refused.push({ gateId, seq: event.seq, reason, refusedAt: event.receivedAt });
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
    }
    if (refused.length > 0) this.onRefused(gateId, compoundId, refused, counts);
    return { admitted, refused };
  }

  private verdict(
    event: StoredEvent,
    compoundId: string,
    compounds: ReadonlyMap<string, string>,
  ): RefusalReason | undefined {
    const time = this.timeRefusal(event);
    if (time !== undefined) return time;
    if (event.personId !== undefined && event.personId !== null) {
      const of = compounds.get(event.personId);
      if (of === undefined) return 'unknown-person';
      if (of !== compoundId) return 'foreign-person';
    }
    return undefined;
  }

  /** Why `event`'s time is refused (the keep window, the future tolerance), or undefined: one rule for both paths. */
  private timeRefusal(event: StoredEvent): 'ts-in-future' | 'ts-too-old' | undefined {
    if (event.ts > event.receivedAt + this.futureToleranceMs) return 'ts-in-future';
    if (event.ts < event.receivedAt - this.options.keepMs) return 'ts-too-old';
    return undefined;
  }

  /**
   * Fills `found` with the compound of every person the events name that is in the gate's
   * compound's held set or cached; returns the others (or those cached too long ago), or
   * undefined when there are none.
   */
  private fromCache(
    events: readonly StoredEvent[],
    found: Map<string, string>,
    now: number,
    compoundId: string,
    residents: ReadonlySet<string> | undefined,
  ): Set<string> | undefined {
    let missing: Set<string> | undefined;
    for (const { personId } of events) {
      if (personId === undefined || personId === null || found.has(personId)) continue;
      if (residents?.has(personId)) {
        found.set(personId, compoundId);
        continue;
      }
      const cached = this.persons.get(personId);
      if (cached && now - cached.at < PERSON_CACHE_MS) found.set(personId, cached.compoundId);
      else {
        missing ??= new Set();
        missing.add(personId);
      }
    }
    return missing;
  }

  /** The compounds of `missing` persons, in one store call, into `found` and the cache. */
  private async lookUp(missing: ReadonlySet<string>, found: Map<string, string>, now: number): Promise<void> {
    const looked = await this.options.compoundsOfPersons([...missing]);
    for (const [personId, compoundId] of looked) {
      found.set(personId, compoundId);
      // Only residents that exist are remembered: an unknown id is asked again next time.
      this.persons.delete(personId);
      this.persons.set(personId, { compoundId, at: now });
    }
    while (this.persons.size > PERSON_CACHE_MAX) {
      const oldest = this.persons.keys().next().value as string;
      this.persons.delete(oldest);
    }
  }

  private onRefused(
    gateId: string,
    compoundId: string,
    refused: readonly RefusedSeq[],
    counts: ReadonlyMap<RefusalReason, number>,
  ): void {
    const { metrics } = this.options;
    for (const [reason, n] of counts) metrics.ingestRejects.inc({ reason }, n);
    const state = this.gates.get(gateId) ?? { lastAlarmAt: Number.NEGATIVE_INFINITY, pending: new Map() };
    this.gates.set(gateId, state);
    for (const [reason, n] of counts) state.pending.set(reason, (state.pending.get(reason) ?? 0) + n);
    this.logger.warn(
      { gateId, refused: Object.fromEntries(counts), seqs: refused.slice(0, 10).map((r) => r.seq) },
      'events refused: not admissible from this gate',
    );
    const now = this.now();
    if (now - state.lastAlarmAt < this.alarmEveryMs) return;
    state.lastAlarmAt = now;
    const total = [...state.pending.values()].reduce((a, b) => a + b, 0);
    const why = [...state.pending].map(([reason, n]) => `${reason} ${n}`).join(', ');
    state.pending.clear();
    const detail =
      `refused ${total} event${total === 1 ? '' : 's'} from this gate (${why}); first seq ${refused[0]!.seq}. ` +
      'A gate naming people of another compound or carrying impossible times may be compromised or its clock wrong.';
    const alarm: StoredAlarm = { gateId, compoundId, kind: 'events-refused', ts: now, detail, receivedAt: now };
    Promise.resolve()
      .then(() => this.options.raiseAlarm(alarm))
      .catch((err: unknown) => this.logger.error({ err, gateId }, 'events-refused alarm not raised'));
  }
}
