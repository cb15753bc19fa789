/** What the guard terminal shows (`GET /api/state`, the SSE stream), and what it can ask for. */
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
import type { DisplayColour } from '../decision.ts';
import type { ClockInfo } from '../gate-clock.ts';

export interface TerminalScan {
  /** Journal seq, null when the event could not be journaled. */
  seq: number | null;
  ts: number;
  direction: Direction;
  method: Method;
  result: Result;
  reason: Reason;
  health: HealthColour;
  colour: DisplayColour;
  maskedName: string | null;
  zh: string;
  en: string;
  /** true passed, false timed out, null not applicable or still waiting. */
  passed: boolean | null;
  /** A granted passage still waiting for the turnstile. */
  waiting: boolean;
  guard?: string;
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
  /** The gate's clock against the cloud's (edge-agent/gate-clock.ts): source, skew, age, skewed. */
  clock?: ClockInfo;
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
  guard: string;
}

/** The agent's side of the terminal. */
export interface TerminalBackend {
  state(): TerminalState;
  subscribe(listener: (update: TerminalUpdate) => void): () => void;
  manualOpen(request: ManualOpenRequest): { seq: number | null };
}
