/**
 * Which of a gate's settings come from where (docs/edge-agent.md "Settings from the cloud").
 *
 * gate.json holds what the device needs to boot: its identity, the broker and its token, the keys,
 * the data directory, the serial ports and the terminal's port. What a manager may change —
 * anti-passback, the yellow policy, the staleness limit, the unlock and passage times, the
 * direction labels — comes from the cloud as a `gate.settings` change through the gate's sync, is
 * kept in the replica (so it holds offline and across restarts), and wins over gate.json. The
 * gate.json values of those keys are only the defaults until the cloud has said otherwise (a gate
 * installed before the cloud knew it, or a cloud from before these settings).
 */
import type { GateRole, GateSettings, RoleSwitch } from '../shared/schemas/mqtt.ts';
import type { EdgeConfig } from './config.ts';
import type { GateContext } from './decision.ts';
import { type SyncConsumer, syncProbeMs } from './sync-consumer.ts';
import type { TurnstileControl } from './turnstile-control.ts';

export interface EffectiveGateSettings {
  antiPassback: boolean;
  yellowPolicy: 'deny' | 'grant';
  stalenessLimitMs: number;
  unlockMs: number;
  passageMs: number;
  labels: { in: string; out: string } | null;
  /** `distribution`: a supply distribution point, swipes claim instead of opening (docs/supplies.md). */
  role: GateRole;
  /** When the cloud last set `role` (its clock); a guard's later switch wins over it (supply/gate-role.ts). */
  roleSetAt?: number;
  /** The guard's switch at the gate, when it is what sets `role` (supply/gate-role.ts); null otherwise. */
  roleSwitch: RoleSwitchRecord | null;
  /** `cloud` once the cloud has sent this gate's settings; `config` before. */
  source: 'cloud' | 'config';
}

/** A guard's switch of the role at the gate: the shared shape (`roleSwitchSchema`, docs/supplies.md "Switching at the gate"). */
export type RoleSwitchRecord = RoleSwitch;

export function effectiveGateSettings(config: EdgeConfig, cloud: GateSettings | undefined): EffectiveGateSettings {
  return {
    antiPassback: cloud?.antiPassback ?? config.antiPassback,
    yellowPolicy: cloud?.yellowPolicy ?? config.yellowPolicy,
    stalenessLimitMs: cloud?.stalenessLimitMs ?? config.stalenessLimitMs,
    unlockMs: cloud?.unlockMs ?? config.devices.turnstile?.pulseMs ?? 3_000,
    passageMs: cloud?.passageMs ?? config.timeouts.passageMs,
    labels: cloud?.labels ?? null,
    role: cloud?.role ?? 'entry',
    ...(cloud?.roleSetAt === undefined ? {} : { roleSetAt: cloud.roleSetAt }),
    roleSwitch: null,
    source: cloud ? 'cloud' : 'config',
  };
}

/** Puts the settings in force: the decision's context, the turnstile's times, the sync's idle probe. */
export function applyGateSettings(
  settings: EffectiveGateSettings,
  { gate, turnstile, sync }: { gate: GateContext; turnstile: TurnstileControl; sync: SyncConsumer | undefined },
): void {
  gate.antiPassback = settings.antiPassback;
  gate.yellowPolicy = settings.yellowPolicy;
  gate.stalenessLimitMs = settings.stalenessLimitMs;
  turnstile.configure({ pulseMs: settings.unlockMs, passageTimeoutMs: settings.passageMs });
  // The idle probe keeps a connected gate from looking stale under the limit in force.
  sync?.setProbeMs(syncProbeMs(settings.stalenessLimitMs));
}
