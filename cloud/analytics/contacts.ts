/**
 * Contact ranking, pure (docs/architecture.md rule 4; docs/tracing.md, "Contacts").
 *
 * A store scans, per gate, the merged ranges `[t − w, t + w]` around the index person's passages
 * (`scanRangesOf`), and hands back the neighbours it found; `rankContacts` pairs every neighbour
 * passage with the closest index passage at the same gate and ranks the people.
 *
 * Definitions:
 * - a *shared passage* is a passage of the contact at gate G at time s such that the index person
 *   passed G at some t with |s − t| ≤ w (both edges included). Each contact passage counts once,
 *   paired with its closest index passage (the earlier one on a tie);
 * - contacts are ranked by the number of shared passages (desc), then the smallest gap (asc), then
 *   person id (for a stable order); rank is the 1-based position;
 * - household members of the index person are always listed, flagged, even with no shared passage
 *   (they then rank after every contact with one).
 */
import type { Direction, Method } from '../../shared/enums.ts';
import { type GatePassage, isTraceable } from './passage.ts';

export interface ScanRange {
  gateId: string;
  from: number;
  to: number;
}

/** Per gate, the windows `[t − w, t + w]` around the index passages, overlapping ones merged; sorted by gate then time. */
export function scanRangesOf(index: readonly Pick<GatePassage, 'gateId' | 'ts'>[], windowMs: number): ScanRange[] {
  const byGate = new Map<string, number[]>();
  for (const p of index) {
    const times = byGate.get(p.gateId) ?? [];
    times.push(p.ts);
    byGate.set(p.gateId, times);
  }
  const ranges: ScanRange[] = [];
  for (const gateId of [...byGate.keys()].sort()) {
    const times = byGate.get(gateId)!.sort((a, b) => a - b);
    let current: ScanRange | undefined;
    for (const t of times) {
      const from = t - windowMs;
      const to = t + windowMs;
      if (current && from <= current.to) {
        current.to = Math.max(current.to, to);
      } else {
        current = { gateId, from, to };
        ranges.push(current);
      }
    }
  }
  return ranges;
}

export interface SharedPassage {
  gateId: string;
  /** The contact's passage. */
  ts: number;
  seq: number;
  direction: Direction;
  method: Method;
  /** The closest passage of the index person at that gate. */
  indexTs: number;
  indexDirection: Direction;
  /** |ts − indexTs| in ms. */
  gapMs: number;
}

export interface Contact {
  personId: string;
  rank: number;
  household: boolean;
  sharedPassages: SharedPassage[];
  /** The smallest gap of the shared passages; null for a household member with none. */
  closestGapMs: number | null;
}

export interface RankOptions {
  indexPersonId: string;
  windowMs: number;
  /** Person ids of the index person's household (the index person may be among them; they are skipped). */
  household?: Iterable<string>;
  includeDenied?: boolean;
}

/** The largest i with times[i] ≤ t, or −1. */
function lastAtOrBefore(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! <= t) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** Orders contacts in place and sets their rank. */
function assignRanks<T extends { personId: string; rank: number; closestGapMs: number | null }>(
  contacts: T[],
  sharedCount: (c: T) => number,
): T[] {
  contacts.sort((a, b) => {
    const byCount = sharedCount(b) - sharedCount(a);
    if (byCount !== 0) return byCount;
    const gapA = a.closestGapMs ?? Number.POSITIVE_INFINITY;
    const gapB = b.closestGapMs ?? Number.POSITIVE_INFINITY;
    if (gapA !== gapB) return gapA < gapB ? -1 : 1;
    return a.personId < b.personId ? -1 : a.personId > b.personId ? 1 : 0;
  });
  contacts.forEach((c, i) => {
    c.rank = i + 1;
  });
  return contacts;
}

/**
 * Ranks the people among `neighbours` who shared a passage with the index person.
 * O((n + m) log m) for n neighbours and m index passages. Neighbours may repeat (overlapping
 * scans); a passage is identified by `(gateId, seq)`.
 */
/** The index person's traceable passages per gate, sorted by time, with their times alone for the search. */
function indexByGateOf(index: readonly GatePassage[], includeDenied: boolean) {
  const indexByGate = new Map<string, GatePassage[]>();
  for (const p of index) {
    if (!isTraceable(p, includeDenied)) continue;
    const list = indexByGate.get(p.gateId) ?? [];
    list.push(p);
    indexByGate.set(p.gateId, list);
  }
  const timesByGate = new Map<string, number[]>();
  for (const [gateId, list] of indexByGate) {
    list.sort((a, b) => a.ts - b.ts);
    timesByGate.set(
      gateId,
      list.map((p) => p.ts),
    );
  }
  return { indexByGate, timesByGate };
}

/**
 * The closest index passage to `ts`: the last at or before it or the first after it (the earlier
 * on a tie); -1 when there is none.
 */
function closestIndex(times: readonly number[], ts: number): number {
  const before = lastAtOrBefore(times, ts);
  const beforeGap = before >= 0 ? ts - times[before]! : Number.POSITIVE_INFINITY;
  return before + 1 < times.length && times[before + 1]! - ts < beforeGap ? before + 1 : before;
}

export function rankContacts(
  index: readonly GatePassage[],
  neighbours: readonly GatePassage[],
  options: RankOptions,
): Contact[] {
  const includeDenied = options.includeDenied ?? false;
  const { indexByGate, timesByGate } = indexByGateOf(index, includeDenied);
  const contacts = new Map<string, Contact>();
  const contactOf = (personId: string): Contact => {
    let c = contacts.get(personId);
    if (!c) {
      c = { personId, rank: 0, household: false, sharedPassages: [], closestGapMs: null };
      contacts.set(personId, c);
    }
    return c;
  };

  // Neighbours arrive grouped by gate (one scan per gate window): the per-gate state is looked up
  // once per run of the same gate, and passages are told apart by their seq alone within it.
  const seenByGate = new Map<string, Set<number>>();
  let gateId: string | undefined;
  let times: number[] | undefined;
  let list: GatePassage[] | undefined;
  let seen: Set<number> | undefined;
  for (const n of neighbours) {
    if (n.personId === null || n.personId === options.indexPersonId || !isTraceable(n, includeDenied)) continue;
    if (n.gateId !== gateId) {
      gateId = n.gateId;
      times = timesByGate.get(gateId);
      list = indexByGate.get(gateId);
      seen = seenByGate.get(gateId);
      if (!seen) {
        seen = new Set();
        seenByGate.set(gateId, seen);
      }
    }
    if (!times || !list || seen!.has(n.seq)) continue;
    const best = closestIndex(times, n.ts);
    const bestGap = best < 0 ? Number.POSITIVE_INFINITY : Math.abs(n.ts - times[best]!);
    if (best < 0 || bestGap > options.windowMs) continue;
    seen!.add(n.seq);
    const indexPassage = list[best]!;
    const c = contactOf(n.personId);
    c.sharedPassages.push({
      gateId: n.gateId,
      ts: n.ts,
      seq: n.seq,
      direction: n.direction,
      method: n.method,
      indexTs: indexPassage.ts,
      indexDirection: indexPassage.direction,
      gapMs: bestGap,
    });
    if (c.closestGapMs === null || bestGap < c.closestGapMs) c.closestGapMs = bestGap;
  }

  for (const personId of options.household ?? []) {
    if (personId !== options.indexPersonId) contactOf(personId).household = true;
  }
  for (const c of contacts.values()) {
    if (c.sharedPassages.length > 1) {
      c.sharedPassages.sort((a, b) => a.ts - b.ts || (a.gateId < b.gateId ? -1 : a.gateId > b.gateId ? 1 : 0));
    }
  }
  return assignRanks([...contacts.values()], (c) => c.sharedPassages.length);
}

/** How many first-degree contacts a `depth=2` trace expands, at most (the top ones by rank). */
export const SECOND_DEGREE_EXPANSION_CAP = 20;

export interface SecondDegreeContact {
  personId: string;
  rank: number;
  /** The first-degree contacts through whom this person was reached, by their rank. */
  via: string[];
  /** Shared passages summed over every `via` contact. */
  sharedPassageCount: number;
  closestGapMs: number | null;
}

/**
 * Second-degree contacts: people who shared a passage with an expanded first-degree contact and
 * are neither the index person nor a first-degree contact (household members included).
 */
export function mergeSecondDegree(
  indexPersonId: string,
  firstDegree: readonly Contact[],
  contactsOfExpanded: ReadonlyMap<string, readonly Contact[]>,
): SecondDegreeContact[] {
  const excluded = new Set([indexPersonId, ...firstDegree.map((c) => c.personId)]);
  const merged = new Map<string, SecondDegreeContact>();
  const order = [...firstDegree].sort((a, b) => a.rank - b.rank).map((c) => c.personId);
  for (const via of order) {
    for (const c of contactsOfExpanded.get(via) ?? []) {
      if (excluded.has(c.personId) || c.sharedPassages.length === 0) continue;
      let m = merged.get(c.personId);
      if (!m) {
        m = { personId: c.personId, rank: 0, via: [], sharedPassageCount: 0, closestGapMs: null };
        merged.set(c.personId, m);
      }
      m.via.push(via);
      m.sharedPassageCount += c.sharedPassages.length;
      if (c.closestGapMs !== null && (m.closestGapMs === null || c.closestGapMs < m.closestGapMs)) {
        m.closestGapMs = c.closestGapMs;
      }
    }
  }
  return assignRanks([...merged.values()], (c) => c.sharedPassageCount);
}
