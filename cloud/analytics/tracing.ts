/**
 * Contact tracing: a person's timeline, their contacts (first and, bounded, second degree) and a
 * gate's exposure list (docs/contract.md, "HTTP"; docs/tracing.md). A thin shell: the store answers
 * index range scans, contacts.ts does the pairing and ranking.
 */
import type { CloudStore } from '../store/store.ts';
import type { AnalyticsStore } from './analytics-store.ts';
import {
  type Contact,
  mergeSecondDegree,
  rankContacts,
  SECOND_DEGREE_EXPANSION_CAP,
  type SecondDegreeContact,
  scanRangesOf,
} from './contacts.ts';
import { NotFoundError } from '../cloud-errors.ts';
import { isCrossing, isTraceable, type Passage } from './passage.ts';
import { DEFAULT_TIME_ZONE, isValidTimeZone } from './time-zone.ts';

export type TraceRegistry = Pick<CloudStore, 'getResident' | 'listResidents' | 'getGate' | 'listGates' | 'getCompound'>;

export interface TraceDeps {
  analytics: AnalyticsStore;
  registry: TraceRegistry;
}

export interface PersonRef {
  personId: string;
  compoundId: string | null;
  householdId: string | null;
  maskedName: string | null;
}

export interface TimelineEntry extends Passage {
  gateName: string | null;
  /** passage.ts `isCrossing`: granted and through the turnstile. */
  crossing: boolean;
}

export interface PersonTimeline {
  person: PersonRef;
  timeZone: string;
  from: number;
  to: number;
  passages: TimelineEntry[];
}

export interface ContactsOptions {
  from: number;
  to: number;
  windowMin: number;
  depth: 1 | 2;
  includeDenied: boolean;
  /** First-degree contacts expanded for depth 2 (default SECOND_DEGREE_EXPANSION_CAP). */
  expansionCap?: number;
}

export interface ContactView extends Contact {
  maskedName: string | null;
}

export interface SecondDegreeView extends SecondDegreeContact {
  maskedName: string | null;
}

export interface ContactsReport {
  person: PersonRef;
  timeZone: string;
  from: number;
  to: number;
  windowMin: number;
  includeDenied: boolean;
  depth: 1 | 2;
  /** The index person's passages the contacts were searched around. */
  indexPassages: number;
  contacts: ContactView[];
  secondDegree?: {
    /** How many first-degree contacts were expanded, and whether the cap left some out. */
    expanded: number;
    truncated: boolean;
    contacts: SecondDegreeView[];
  };
}

export interface GateExposurePerson {
  personId: string;
  maskedName: string | null;
  crossings: number;
  in: number;
  out: number;
  firstTs: number;
  lastTs: number;
}

export interface GateExposure {
  gate: { gateId: string; name: string; compoundId: string };
  timeZone: string;
  from: number;
  to: number;
  crossings: number;
  /** Crossings without a known person (free passage of strangers, manual opens). */
  anonymousCrossings: number;
  persons: GateExposurePerson[];
}

async function timeZoneOfCompound(registry: TraceRegistry, compoundId: string | null): Promise<string> {
  if (compoundId === null) return DEFAULT_TIME_ZONE;
  const zone = (await registry.getCompound(compoundId))?.timeZone;
  return zone !== undefined && isValidTimeZone(zone) ? zone : DEFAULT_TIME_ZONE;
}

/** The person as the registry knows them; a person deleted since is still traced from their events. */
async function personRef(deps: TraceDeps, personId: string, passages: readonly Passage[]): Promise<PersonRef> {
  const resident = await deps.registry.getResident(personId);
  if (resident) {
    return {
      personId,
      compoundId: resident.compoundId,
      householdId: resident.householdId,
      maskedName: resident.maskedName,
    };
  }
  if (passages.length === 0) throw new NotFoundError('person', personId);
  const gate = await deps.registry.getGate(passages[0]!.gateId);
  return { personId, compoundId: gate?.compoundId ?? null, householdId: null, maskedName: null };
}

export async function tracePerson(
  deps: TraceDeps,
  personId: string,
  from: number,
  to: number,
): Promise<PersonTimeline> {
  const passages = await deps.analytics.personPassages(personId, from, to);
  const person = await personRef(deps, personId, passages);
  const gateNames = new Map((await deps.registry.listGates()).map((g) => [g.id, g.name]));
  return {
    person,
    timeZone: await timeZoneOfCompound(deps.registry, person.compoundId),
    from,
    to,
    passages: passages.map((p) => ({ ...p, gateName: gateNames.get(p.gateId) ?? null, crossing: isCrossing(p) })),
  };
}

/** The index person's household: the same household id *in the same compound* (ids repeat across compounds). */
async function householdOf(registry: TraceRegistry, person: PersonRef): Promise<string[]> {
  if (person.householdId === null || person.compoundId === null) return [];
  const members: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await registry.listResidents({
      compoundId: person.compoundId,
      householdId: person.householdId,
      limit: 500,
      ...(cursor ? { cursor } : {}),
    });
    for (const r of page.residents) {
      if (
        r.personId !== person.personId &&
        r.householdId === person.householdId &&
        r.compoundId === person.compoundId
      ) {
        members.push(r.personId);
      }
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return members;
}

/** Every merged window's index range scan in one read (`gateScans`), then the pure ranking. */
async function contactsAround(
  analytics: AnalyticsStore,
  personId: string,
  index: readonly Passage[],
  windowMs: number,
  includeDenied: boolean,
  household: readonly string[],
): Promise<Contact[]> {
  const traceable = index.filter((p) => isTraceable(p, includeDenied));
  const ranges = scanRangesOf(traceable, windowMs);
  const neighbours = ranges.length === 0 ? [] : await analytics.gateScans(ranges);
  return rankContacts(traceable, neighbours, { indexPersonId: personId, windowMs, household, includeDenied });
}

export async function traceContacts(
  deps: TraceDeps,
  personId: string,
  options: ContactsOptions,
): Promise<ContactsReport> {
  const windowMs = options.windowMin * 60_000;
  const index = await deps.analytics.personPassages(personId, options.from, options.to);
  const person = await personRef(deps, personId, index);
  const household = await householdOf(deps.registry, person);
  const contacts = await contactsAround(deps.analytics, personId, index, windowMs, options.includeDenied, household);

  let secondDegree: ContactsReport['secondDegree'];
  let secondContacts: SecondDegreeContact[] = [];
  if (options.depth === 2) {
    const cap = options.expansionCap ?? SECOND_DEGREE_EXPANSION_CAP;
    const expanded = contacts.slice(0, cap);
    const perContact = new Map<string, Contact[]>();
    for (const c of expanded) {
      const theirs = await deps.analytics.personPassages(c.personId, options.from, options.to);
      perContact.set(
        c.personId,
        await contactsAround(deps.analytics, c.personId, theirs, windowMs, options.includeDenied, []),
      );
    }
    secondContacts = mergeSecondDegree(personId, contacts, perContact);
    secondDegree = { expanded: expanded.length, truncated: contacts.length > expanded.length, contacts: [] };
  }

  const names = await deps.analytics.maskedNames([
    ...contacts.map((c) => c.personId),
    ...secondContacts.map((c) => c.personId),
  ]);
  if (secondDegree) {
    secondDegree.contacts = secondContacts.map((c) => ({ ...c, maskedName: names.get(c.personId) ?? null }));
  }
  return {
    person,
    timeZone: await timeZoneOfCompound(deps.registry, person.compoundId),
    from: options.from,
    to: options.to,
    windowMin: options.windowMin,
    includeDenied: options.includeDenied,
    depth: options.depth,
    indexPassages: index.filter((p) => isTraceable(p, options.includeDenied)).length,
    contacts: contacts.map((c) => ({ ...c, maskedName: names.get(c.personId) ?? null })),
    ...(secondDegree ? { secondDegree } : {}),
  };
}

export async function traceGate(deps: TraceDeps, gateId: string, from: number, to: number): Promise<GateExposure> {
  const gate = await deps.registry.getGate(gateId);
  if (!gate) throw new NotFoundError('gate', gateId);
  const persons = new Map<string, GateExposurePerson>();
  let crossings = 0;
  let anonymous = 0;
  for (const p of await deps.analytics.gateScan(gateId, from, to)) {
    if (!isCrossing(p)) continue;
    crossings += 1;
    if (p.personId === null) {
      anonymous += 1;
      continue;
    }
    let entry = persons.get(p.personId);
    if (!entry) {
      entry = { personId: p.personId, maskedName: null, crossings: 0, in: 0, out: 0, firstTs: p.ts, lastTs: p.ts };
      persons.set(p.personId, entry);
    }
    entry.crossings += 1;
    entry[p.direction] += 1;
    entry.firstTs = Math.min(entry.firstTs, p.ts);
    entry.lastTs = Math.max(entry.lastTs, p.ts);
  }
  const names = await deps.analytics.maskedNames([...persons.keys()]);
  const list = [...persons.values()]
    .map((p) => ({ ...p, maskedName: names.get(p.personId) ?? null }))
    .sort((a, b) => a.firstTs - b.firstTs || (a.personId < b.personId ? -1 : a.personId > b.personId ? 1 : 0));
  return {
    gate: { gateId: gate.id, name: gate.name, compoundId: gate.compoundId },
    timeZone: await timeZoneOfCompound(deps.registry, gate.compoundId),
    from,
    to,
    crossings,
    anonymousCrossings: anonymous,
    persons: list,
  };
}
