/**
 * What the terminal shows. The guard panel (`GET /api/state`, `GET /api/guard/events`, sign-in
 * required) gets `TerminalState`; the public result screen gets only `ScreenState` and
 * `ScreenResult` (screen.ts), never the list of scans, alarms or devices.
 */
import type {
  AlarmKind,
  DeviceState,
  Direction,
  HealthColour,
  Method,
  Mode,
  Reason,
  Result,
} from '../../shared/enums.ts';
import type { ClaimRecord } from '../../shared/schemas/supply.ts';
import type { DisplayColour } from '../decision.ts';
import type { ClockInfo } from '../gate-clock.ts';
import type { GateRoleName, RoleDesk, RoleView, ScreenRound } from '../supply/gate-role.ts';
import type { GuardClaimRefusal, PointRefusal } from '../supply/refusal-text.ts';
import type { ScreenIcon, ScreenTone } from '../reason-text.ts';

/**
 * A row's reason code: the entry decision's (`Reason`), or at a distribution point the refusal
 * itself (`PointRefusal`; docs/supplies.md, "The distribution role").
 */
export type ScanReason = Reason | PointRefusal;

export interface TerminalScan {
  /** This process's number for the scan: an update (waiting → passed) carries the same key. */
  key: number;
  /** Journal seq, null when the event could not be journaled. */
  seq: number | null;
  ts: number;
  direction: Direction;
  method: Method;
  result: Result;
  reason: ScanReason;
  health: HealthColour;
  /** Follows the decision (reason-text.ts): green only for a grant. */
  tone: ScreenTone;
  colour: DisplayColour;
  icon: ScreenIcon;
  maskedName: string | null;
  zh: string;
  en: string;
  nextZh: string;
  nextEn: string;
  /** true passed, false timed out, null not applicable or still waiting. */
  passed: boolean | null;
  /** A granted passage still waiting for the turnstile. */
  waiting: boolean;
  guard?: string;
  /** Why the guard opened (manual opens; guard panel only). */
  openReason?: string;
  /** A distribution point's claim (docs/supplies.md): the verdict and the household's allocation. */
  supply?: {
    verdict: 'hand-out' | 'refused' | 'asking';
    refusal?: string;
    decidedBy?: 'cloud' | 'replica';
    allocation?: SupplyAllocation;
  };
}

/** A household's allocation in a round, as a distribution point shows it and a guard's claim answers it. */
export interface SupplyAllocation {
  roundId: string;
  roundName: string;
  householdId: string;
  maskedName: string | null;
  items: { name: string; unit: string; quantity: number }[];
}

export interface TerminalAlarm {
  kind: AlarmKind;
  ts: number;
  detail: string;
}

export interface TerminalState {
  gateId: string;
  compoundId: string;
  mode: Mode;
  rev: number;
  online: boolean;
  stale: boolean;
  fire: boolean;
  journalDepth: number;
  journalFull: boolean;
  devices: { idreader: DeviceState; qr: DeviceState; turnstile: DeviceState };
  /** What this gate calls each direction, from the cloud's gate settings (null: the plain 进 / 出). */
  labels?: { in: string; out: string } | null;
  /** The role in force, where it comes from, the guard's switch, whether a guard may switch now (docs/supplies.md). */
  role?: RoleView;
  /** At a distribution point: the round running now, else the next one; null when none. */
  round?: ScreenRound | null;
  /** The gate's clock against the cloud's (edge-agent/gate-clock.ts): source, skew, age, skewed. */
  clock?: ClockInfo;
  /** `degraded` while the MQTT link is down, a device is faulty, the data is stale or the journal is full. */
  health: 'ok' | 'degraded';
  /** Why `health` is degraded (e.g. `mqtt-refused`, `turnstile-fault`). */
  problems: string[];
  /** Event-loop delay, 99th percentile over the last window, in ms. */
  eventLoopP99Ms: number;
  lastScans: TerminalScan[];
  alarms: TerminalAlarm[];
}

export type TerminalUpdate =
  | { type: 'scan'; scan: TerminalScan }
  | { type: 'state'; state: Omit<TerminalState, 'lastScans' | 'alarms'> }
  | { type: 'alarm'; alarm: TerminalAlarm };

export interface ManualOpenRequest {
  direction: Direction;
  reason: string;
  /** The signed-in guard's name (terminal) or the cloud user (remote `open`); never free text from a request. */
  guard: string;
}

/** The agent's side of the terminal. */
export interface TerminalBackend {
  state(): TerminalState;
  subscribe(listener: (update: TerminalUpdate) => void): () => void;
  manualOpen(request: ManualOpenRequest): { seq: number | null };
  /**
   * The distribution role (docs/supplies.md): a household's members (masked) and where it stands in
   * the current round; a guard's claim for a member without a card. Absent: the terminal has no
   * supply routes' backend and answers 404.
   */
  supplyHousehold?(householdId: string): SupplyHousehold;
  guardClaim?(request: { personId: string; guard: string; reason: string }): Promise<GuardClaimReply>;
  /** The guard's switch of the role and the gate's own audit of it (docs/supplies.md, "Switching at the gate"). */
  roles?: RoleDesk;
}

/**
 * A guard's claim as the terminal answers it (supply/guard-claim.ts, docs/supplies.md "A member
 * without a card"): `ok`, 200 with the hand-out; otherwise 409 with the refusal — never a refusal
 * under a 2xx.
 */
export type GuardClaimReply = { ok: true; body: GuardClaimHandOut } | { ok: false; body: GuardClaimRefused };

interface GuardClaimHandOut {
  verdict: 'hand-out';
  decidedBy?: 'cloud' | 'replica';
  allocation?: SupplyAllocation;
  record?: ClaimRecord;
}

/**
 * The structured `error {code, message}` every terminal route refuses with, `verdict: "refused"`,
 * the precise reason as `refusal` (= `error.code`), the screen's words (`zh`, `en`), no allocation.
 */
export interface GuardClaimRefused {
  error: { code: GuardClaimRefusal; message: string };
  verdict: 'refused';
  refusal: GuardClaimRefusal;
  zh: string;
  en: string;
  decidedBy?: 'cloud' | 'replica';
  /** Where and when the household already claimed. */
  claimedAt?: { ts: number; where: string };
  /** The journaled refusal (absent: nothing recorded, e.g. no round running, not a point). */
  record?: ClaimRecord;
  /** The gate's role, when that is why (`not-a-distribution-point`). */
  role?: GateRoleName;
}

export interface SupplyHousehold {
  householdId: string;
  members: { personId: string; maskedName: string }[];
  round: { roundId: string; name: string; items: { name: string; unit: string; quantity: number }[] } | null;
  claimed: { ts: number; claimId: string } | null;
}
