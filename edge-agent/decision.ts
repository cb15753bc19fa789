/**
 * `decideEntry`: the one pure function that decides a scan at the gate (docs/architecture.md rules 1
 * and 4, "Modes"). It reads only its arguments — the credential, the gate's settings, a read view
 * of the replica and the time — and returns the decision plus the local state the passage
 * consumes (the journal reserves it at once and keeps it if the passage is confirmed). No I/O, no
 * clock, no randomness: the same inputs give the same answer.
 *
 * Order of checks: identify (credential faults first), then who the person is (active, compound,
 * kind), then the mode's health rules, then anti-passback, then limits that consume something
 * (pass uses, exit quota) — so a denial never burns a use.
 */
import { isDevicePassText, verifyDevicePass } from '../shared/device-pass.ts';
import type { Direction, HealthColour, Method, Mode, Reason, Result } from '../shared/enums.ts';
import { validateIdNumber } from '../shared/id-number.ts';
import type { KeyRing } from '../shared/keys.ts';
import { type PassPayload, verifyPass } from '../shared/pass.ts';
import { pseudonymizeIdNumber } from '../shared/pseudonym.ts';
import type { PersonRecord } from '../shared/schemas/mqtt.ts';
import { DEFAULT_CLOCK_TOLERANCE_MS } from './gate-clock.ts';
import type { VerifiedPassCache } from './pass-cache.ts';
import {
  REASON_TEXT,
  type ScreenColour,
  type ScreenIcon,
  type ScreenTone,
  TONE_COLOUR,
  TONE_ICON,
} from './reason-text.ts';
import type { ReplicaView } from './replica-view.ts';

/** What the ID-card reader read, reduced to what the decision needs. */
export interface IdCardCredential {
  idNumber: string;
  /** The driver's GB 11643 check (docs/devices.md §2). */
  idNumberValid: boolean;
  /** YYYY-MM-DD, or null for 长期 (no expiry). */
  validTo: string | null;
  /** Masked name printed on the card, shown when the person is not in the replica. */
  maskedName?: string;
  /** The reader read a card whose layout we cannot parse (the driver's `rejected`). */
  unsupported?: boolean;
}

export type Credential =
  | { method: 'qr'; direction: Direction; text: string }
  | { method: 'idcard'; direction: Direction; card: IdCardCredential }
  /** An OSDP/Wiegand card, `facility:number`; null for a format we cannot read (not Wiegand 26). */
  | { method: 'card'; direction: Direction; card: string | null }
  /** A guard's manual open (terminal button or remote `open` command), with the guard's reason. */
  | { method: 'manual'; direction: Direction; guard: string; reason?: string };

export interface GateContext {
  gateId: string;
  compoundId: string;
  ring: KeyRing;
  pepper: Buffer;
  antiPassback: boolean;
  yellowPolicy: 'deny' | 'grant';
  stalenessLimitMs: number;
  /** The turnstile's fire-alarm loop is open: free passage until it closes. */
  fireAlarm: boolean;
  /**
   * Passes already verified (pass-cache.ts): a repeat scan skips the Ed25519 check and nothing
   * else. It answers exactly as `verifyPass` does, so decisions are the same with or without it.
   */
  passCache?: VerifiedPassCache;
  /**
   * The gate's clock tolerance (gate config `clock.toleranceMs`, default 60 s): a device pass's
   * frame is accepted this much before its time and after its window (docs/passes.md, "Device passes").
   */
  clockToleranceMs?: number;
}

/** The screen's colour: it follows the decision (green only for a grant), never the health code. */
export type DisplayColour = ScreenColour;

export interface Decision {
  result: Result;
  reason: Reason;
  method: Method;
  direction: Direction;
  personId?: string;
  idHash?: string;
  passId?: string;
  guard?: string;
  /** Why the guard opened by hand (manual opens only). */
  openReason?: string;
  health: HealthColour;
  mode: Mode;
  /** The gate has not heard from the cloud for longer than its staleness limit. */
  stale: boolean;
  /** What the screen shows (edge-agent/reason-text.ts); the health code is only its secondary line. */
  display: {
    tone: ScreenTone;
    colour: DisplayColour;
    icon: ScreenIcon;
    maskedName: string | null;
    zh: string;
    en: string;
    nextZh: string;
    nextEn: string;
  };
  /**
   * Local state the passage consumes: reserved while it is pending, kept once confirmed, given back
   * on a timeout (journal-store.ts); empty for a denial.
   */
  effects: {
    passUse?: string;
    householdExit?: string;
    passageOf?: string;
    /** A device pass's frame: no frame of that pass at or before it passes this gate again. */
    deviceFrame?: { passId: string; at: number };
  };
}

export interface Identity {
  person?: PersonRecord;
  pass?: PassPayload;
  idHash?: string;
  maskedName?: string;
  /** The time of a device pass's frame (ms), once both its signatures verified. */
  frameAt?: number;
}

const HOUR_MS = 3_600_000;

/**
 * Faults after which nothing in the credential can be believed, or its presenter is not shown to be
 * its holder (a device pass whose frame is forged, stale, from the future or replayed).
 */
const UNVERIFIED: ReadonlySet<Reason> = new Set<Reason>([
  'malformed',
  'bad-signature',
  'unknown-key',
  'bad-device-signature',
  'frame-expired',
  'frame-not-yet-valid',
  'frame-replayed',
]);

/** The gate's local calendar date as YYYY-MM-DD (ID cards print local dates). */
function localDate(nowMs: number): string {
  const d = new Date(nowMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function isStale(view: ReplicaView, gate: GateContext, now: number): boolean {
  const last = view.lastCloudContactAt();
  return last === null || now - last > gate.stalenessLimitMs;
}

function personActive(person: PersonRecord, now: number): boolean {
  if (!person.active) return false;
  if (person.validFrom !== null && now < person.validFrom) return false;
  if (person.validTo !== null && now > person.validTo) return false;
  return true;
}

/**
 * A device pass (docs/passes.md, "Device passes"): both signatures and both windows
 * (shared/device-pass.ts), then what a static pass gets — compound, revocation, the person — and
 * the replay rule: a frame not newer than the newest this gate let through on that pass is refused.
 */
function identifyDevicePass(
  text: string,
  gate: GateContext,
  view: ReplicaView,
  now: number,
): { identity: Identity; fault?: Reason } {
  const skew = gate.clockToleranceMs ?? DEFAULT_CLOCK_TOLERANCE_MS;
  const check = gate.passCache
    ? gate.passCache.verifyDevice(text, gate.ring, now, skew, view)
    : verifyDevicePass(text, gate.ring, now, skew);
  if (!check.ok) return { identity: check.pass ? { pass: check.pass } : {}, fault: check.reason };
  const { pass, frameAt } = check;
  const person = view.personById(pass.personId);
  const identity: Identity = person ? { pass, person, frameAt } : { pass, frameAt };
  if (pass.compoundId !== gate.compoundId) return { identity, fault: 'wrong-compound' };
  if (view.isPassRevoked(pass.passId)) return { identity, fault: 'pass-revoked' };
  const last = view.lastFrameAt(pass.passId);
  if (last !== undefined && frameAt <= last) return { identity, fault: 'frame-replayed' };
  if (!person && pass.kind !== 'visitor') return { identity, fault: 'unknown-person' };
  return { identity };
}

/** Turns the credential into who it belongs to, or the reason it does not count (also the distribution point's). */
export function identify(
  credential: Credential,
  gate: GateContext,
  view: ReplicaView,
  now: number,
): { identity: Identity; fault?: Reason } {
  switch (credential.method) {
    case 'qr': {
      if (isDevicePassText(credential.text)) return identifyDevicePass(credential.text, gate, view, now);
      const check = gate.passCache
        ? gate.passCache.verify(credential.text, gate.ring, now)
        : verifyPass(credential.text, gate.ring, now);
      if (!check.ok) return { identity: check.pass ? { pass: check.pass } : {}, fault: check.reason };
      const pass = check.pass;
      const person = view.personById(pass.personId);
      const identity: Identity = person ? { pass, person } : { pass };
      if (pass.compoundId !== gate.compoundId) return { identity, fault: 'wrong-compound' };
      if (view.isPassRevoked(pass.passId)) return { identity, fault: 'pass-revoked' };
      // A visitor pass is itself the authorisation; resident passes and exit permits need the person.
      if (!person && pass.kind !== 'visitor') return { identity, fault: 'unknown-person' };
      return { identity };
    }
    case 'idcard': {
      const { card } = credential;
      const base: Identity = card.maskedName ? { maskedName: card.maskedName } : {};
      if (card.unsupported) return { identity: base, fault: 'unsupported-card' };
      // The driver checks the number too; checking again here means a faulty or forged reader
      // cannot turn an invalid number into a lookup (GB 11643: length, date, check character).
      if (!card.idNumberValid || !validateIdNumber(card.idNumber, new Date(now)).ok) {
        return { identity: base, fault: 'id-invalid' };
      }
      const idHash = pseudonymizeIdNumber(card.idNumber, gate.pepper);
      const person = view.personByIdHash(idHash);
      const identity: Identity = person ? { ...base, idHash, person } : { ...base, idHash };
      if (card.validTo !== null && card.validTo < localDate(now)) return { identity, fault: 'id-card-expired' };
      if (!person) return { identity, fault: 'unknown-person' };
      return { identity };
    }
    case 'card': {
      if (credential.card === null) return { identity: {}, fault: 'unsupported-card' };
      const person = view.personByCard(credential.card);
      return person ? { identity: { person } } : { identity: {}, fault: 'unknown-person' };
    }
    case 'manual':
      return { identity: {} };
  }
}

/** The mode's rule for an identified person; undefined = may pass so far. */
function modeRule(
  mode: Mode,
  credential: Credential,
  identity: Identity,
  health: HealthColour,
  gate: GateContext,
  view: ReplicaView,
  now: number,
): { reason?: Reason; householdExit?: string } {
  const { person, pass } = identity;
  const isVisitor = pass?.kind === 'visitor' || person?.kind === 'visitor';
  const hasVisitorPass = pass?.kind === 'visitor';
  if (isVisitor && !hasVisitorPass) return { reason: 'visitor-not-approved' };

  if (mode === 'normal') {
    if (health === 'red') return { reason: 'health-red' };
    if (health === 'yellow' && gate.yellowPolicy === 'deny') return { reason: 'health-yellow' };
    return {};
  }

  // An exit permit lets its holder out in lockdown whatever the quota (it is issued for a reason,
  // e.g. a hospital visit), so it is checked before the health rules.
  if (mode === 'lockdown' && credential.direction === 'out' && pass?.kind === 'exit-permit') return {};
  if (mode === 'lockdown' && credential.direction === 'in' && (isVisitor || !person)) return { reason: 'gate-locked' };

  if (health === 'red') return { reason: 'health-red' };
  if (health === 'yellow') return { reason: 'health-yellow' };
  if (health === 'unknown') return { reason: 'health-unknown' };
  if (mode === 'controlled' || credential.direction === 'in') return {};

  // Lockdown exit against the household's quota (counted on the gate, reconciled in the cloud).
  const policy = view.exitQuota();
  const household = person?.householdId ?? null;
  if (policy === null || household === null || isVisitor) return { reason: 'no-exit-quota' };
  const used = view.householdExitsSince(household, now - policy.periodHours * HOUR_MS);
  if (used >= policy.exits) return { reason: 'no-exit-quota' };
  return { householdExit: household };
}

export function decideEntry(credential: Credential, gate: GateContext, view: ReplicaView, now: number): Decision {
  const mode = view.mode();
  const stale = isStale(view, gate, now);
  const { identity, fault } = identify(credential, gate, view, now);
  const { person, pass, idHash } = identity;
  const health: HealthColour = person ? view.health(person.personId) : 'unknown';
  const free = mode === 'emergency-open' || gate.fireAlarm;

  const decide = (result: Result, reason: Reason, effects: Decision['effects'] = {}): Decision => {
    // A free-passage record keeps only identities that proved themselves (a forged pass names no one).
    const trusted = fault === undefined || (free && !UNVERIFIED.has(fault));
    const decision: Decision = {
      result,
      reason,
      method: result === 'granted' && reason === 'free-passage' ? 'free' : credential.method,
      direction: credential.direction,
      health,
      mode,
      stale,
      display: {
        ...REASON_TEXT[reason],
        colour: TONE_COLOUR[REASON_TEXT[reason].tone],
        icon: TONE_ICON[REASON_TEXT[reason].tone],
        maskedName: person?.maskedName ?? identity.maskedName ?? null,
      },
      effects,
    };
    if (person && trusted) decision.personId = person.personId;
    else if (pass && trusted) decision.personId = pass.personId;
    if (pass && trusted) decision.passId = pass.passId;
    if (idHash) decision.idHash = idHash;
    if (credential.method === 'manual') {
      decision.guard = credential.guard;
      if (credential.reason) decision.openReason = credential.reason;
    }
    return decision;
  };

  if (credential.method === 'manual') return decide('granted', 'manual');
  if (free) return decide('granted', 'free-passage');
  if (fault) return decide('denied', fault);

  if (person) {
    if (!personActive(person, now)) return decide('denied', 'person-inactive');
    if (person.compoundId !== gate.compoundId) return decide('denied', 'wrong-compound');
  }
  const rule = modeRule(mode, credential, identity, health, gate, view, now);
  if (rule.reason) return decide('denied', rule.reason);

  if (gate.antiPassback && person && view.lastDirection(person.personId) === credential.direction) {
    return decide('denied', 'anti-passback');
  }
  if (pass?.useLimit !== undefined && view.passUses(pass.passId) >= pass.useLimit) {
    return decide('denied', 'pass-used-up');
  }

  const effects: Decision['effects'] = {};
  if (pass?.useLimit !== undefined) effects.passUse = pass.passId;
  if (pass && identity.frameAt !== undefined) effects.deviceFrame = { passId: pass.passId, at: identity.frameAt };
  if (rule.householdExit) effects.householdExit = rule.householdExit;
  if (person) effects.passageOf = person.personId;
  return decide('granted', 'ok', effects);
}
