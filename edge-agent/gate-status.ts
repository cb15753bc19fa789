/**
 * The gate's health as others see it: the `status` message (docs/contract.md §2), `GET /healthz`
 * of the terminal's port, the guard panel's state, and the key that says whether anything a
 * person would care about changed since the last publish (docs/edge-agent.md "Health").
 */
import type { GateStatus } from '../shared/schemas/mqtt.ts';
import { topics } from '../shared/topics.ts';
import { CONTRACT_VERSION } from '../shared/version.ts';
import type { EdgeConfig } from './config.ts';
import type { EventLoopHealth } from './event-loop-health.ts';
import type { AlarmWatch, GateAlarms } from './gate-alarms.ts';
import type { ClockInfo, GateClock } from './gate-clock.ts';
import type { EffectiveGateSettings } from './gate-settings.ts';
import type { JournalStore } from './journal-store.ts';
import type { LaneDevices } from './lane-devices.ts';
import type { MqttLink } from './mqtt-link.ts';
import type { ReplicaStore } from './replica-store.ts';
import { roleViewOf, roundOnScreen } from './supply/gate-role.ts';
import { type GateMetricsInput, gateMetrics } from './terminal/gate-metrics.ts';
import type { TerminalFeed } from './terminal/terminal-feed.ts';
import type { TerminalState } from './terminal/terminal-state.ts';
import { expOf, type GateTokenStore } from './token-store.ts';
import type { TurnstileControl } from './turnstile-control.ts';

export interface StatusInputs {
  link: MqttLink | undefined;
  mode: GateStatus['mode'];
  rev: number;
  journalDepth: number;
  devices: GateStatus['devices'];
  version: string;
  ts: number;
  stale: boolean;
  fire: boolean;
  journalFull: boolean;
  eventLoop: EventLoopHealth;
  clock: ClockInfo;
  tokenExpiresAt: number | undefined;
  /** The settings in force: the role and the guard's switch of it travel in the status. */
  settings: EffectiveGateSettings;
}

/** The `status` message, as it would be published now. */
function composeStatus(i: StatusInputs): GateStatus {
  return {
    online: i.link?.connected ?? false,
    mode: i.mode,
    rev: i.rev,
    journalDepth: i.journalDepth,
    devices: i.devices,
    version: i.version,
    ts: i.ts,
    stale: i.stale,
    fire: i.fire,
    journalFull: i.journalFull,
    ...healthFields(i),
    ...clockFields(i.clock),
    contract: CONTRACT_VERSION,
    ...(i.tokenExpiresAt === undefined ? {} : { tokenExpiresAt: i.tokenExpiresAt }),
    ...roleFields(i.settings),
  };
}

/** The role in force, and the guard's switch when it is what sets it (docs/supplies.md, "Switching at the gate"). */
function roleFields(settings: EffectiveGateSettings): Pick<GateStatus, 'role' | 'roleSwitch'> {
  const s = settings.roleSwitch;
  return {
    role: settings.role,
    ...(s ? { roleSwitch: { role: s.role, by: s.by, at: s.at, reason: s.reason } } : {}),
  };
}

function clockFields(info: ClockInfo): Pick<GateStatus, 'clockSkewMs' | 'clockSource' | 'clockAgeMs'> {
  return {
    clockSource: info.source,
    ...(info.skewMs === undefined ? {} : { clockSkewMs: info.skewMs }),
    ...(info.ageMs === undefined ? {} : { clockAgeMs: info.ageMs }),
  };
}

/**
 * `degraded` and why: the MQTT link is down (refused or unreachable), a configured device is
 * faulty, the data is stale, the journal is full, or the event loop is too slow. The gate keeps
 * deciding through all of these; the guard, `/healthz` and the cloud are told.
 */
function healthFields(i: StatusInputs): Pick<GateStatus, 'health' | 'problems' | 'eventLoopP99Ms'> {
  const problems: string[] = [];
  const link = i.link?.linkState ?? 'stopped';
  if (link !== 'connected') problems.push(`mqtt-${link}`);
  for (const [name, state] of Object.entries(i.devices)) if (state === 'fault') problems.push(`${name}-fault`);
  if (i.stale) problems.push('stale');
  if (i.journalFull) problems.push('journal-full');
  if (i.eventLoop.degraded) problems.push('event-loop-slow');
  return {
    health: problems.length === 0 ? 'ok' : 'degraded',
    problems,
    eventLoopP99Ms: i.eventLoop.snapshot().p99Ms,
  };
}

/** The body of `GET /healthz`. */
function healthzBody(
  status: GateStatus,
  link: MqttLink | undefined,
  eventLoop: EventLoopHealth,
): { status: 'ok' | 'degraded' } & Record<string, unknown> {
  const failure = link?.lastFailure;
  return {
    status: status.health ?? 'ok',
    problems: status.problems ?? [],
    mqtt: {
      state: link?.linkState ?? 'stopped',
      ...(failure?.error ? { lastError: failure.error } : {}),
      failedAttempts: failure?.attempts ?? 0,
    },
    online: status.online,
    stale: status.stale ?? false,
    rev: status.rev,
    journalDepth: status.journalDepth,
    devices: status.devices,
    eventLoop: eventLoop.snapshot(),
    version: status.version,
  };
}

/**
 * The expiry of the token the link presents: while the broker refuses a renewed token and the
 * link falls back to the previous one, the cloud must see the previous one's expiry, so its
 * renewal retries and its expiry alarm still fire (cloud/tokens/gate-token-renewal.ts).
 */
function tokenExpiry(link: MqttLink | undefined, tokens: GateTokenStore | undefined): number | undefined {
  if (link?.usingPreviousToken) {
    const inUse = link.tokenInUse;
    return inUse === undefined ? undefined : expOf(inUse);
  }
  return tokens?.expiresAt;
}

/** What a person would care about in a status: a change of it is published and shown at once. */
function statusKey(status: GateStatus, clockSkewed: boolean): string {
  const { online, mode, rev, devices, stale, fire, journalFull, clockSource, health, problems, role } = status;
  return JSON.stringify({
    role,
    roleSwitchAt: status.roleSwitch?.at,
    online,
    mode,
    rev,
    devices,
    stale,
    fire,
    journalFull,
    clockSource,
    clockSkewed,
    health,
    problems,
  });
}

export interface GateReporterOptions {
  config: Pick<EdgeConfig, 'gateId' | 'compoundId'>;
  version: string;
  now: () => number;
  link: MqttLink;
  tokens: GateTokenStore;
  replica: ReplicaStore;
  journal: JournalStore;
  turnstile: TurnstileControl;
  lane: LaneDevices;
  watch: AlarmWatch;
  alarms: GateAlarms;
  clock: GateClock;
  eventLoop: EventLoopHealth;
  feed: TerminalFeed;
  /** The settings in force (they change with the cloud's `gate.settings`). */
  settings: () => EffectiveGateSettings;
  running: () => boolean;
  onStatus: (status: GateStatus) => void;
}

/**
 * Tells the cloud (retained `status`), the terminal (state updates) and `/healthz` how the gate
 * is: at once when something a person would care about changed, and as a heartbeat.
 */
export class GateReporter {
  private lastKey = '';

  constructor(private readonly o: GateReporterOptions) {}

  isStale(): boolean {
    const last = this.o.replica.lastCloudContactAt();
    return last === null || this.o.now() - last > this.o.settings().stalenessLimitMs;
  }

  status(): GateStatus {
    const { o } = this;
    return composeStatus({
      link: o.link,
      mode: o.replica.mode(),
      rev: o.replica.rev(),
      journalDepth: o.journal.depth(),
      devices: o.lane.states(),
      version: o.version,
      ts: o.now(),
      stale: this.isStale(),
      fire: o.turnstile.fireAlarm,
      journalFull: o.watch.journalFull,
      eventLoop: o.eventLoop,
      clock: o.clock.info(),
      tokenExpiresAt: tokenExpiry(o.link, o.tokens),
      settings: o.settings(),
    });
  }

  publish(): void {
    if (!this.o.running()) return;
    const status = this.status();
    this.o.link.publish(topics.gateStatus(this.o.config.gateId), JSON.stringify(status), { qos: 1, retain: true });
    this.o.onStatus(status);
  }

  /** Publishes status and updates the terminal when something a person would care about changed. */
  maybeChanged(): void {
    if (!this.o.running()) return;
    this.o.watch.checkClock();
    const key = statusKey(this.status(), this.o.clock.info().skewed);
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.publish();
    this.notifyState();
  }

  /** The guard panel's state (terminal-state.ts). */
  state(): TerminalState {
    const status = this.status();
    return {
      gateId: this.o.config.gateId,
      compoundId: this.o.config.compoundId,
      mode: status.mode,
      rev: status.rev,
      online: status.online,
      stale: status.stale ?? false,
      fire: status.fire ?? false,
      journalDepth: status.journalDepth,
      journalFull: this.o.watch.journalFull,
      devices: status.devices,
      labels: this.o.settings().labels,
      role: roleViewOf(this.o.settings(), status.mode),
      round: this.o.settings().role === 'distribution' ? roundOnScreen(this.o.replica.supply, this.o.now()) : null,
      clock: this.o.clock.info(),
      health: status.health ?? 'ok',
      problems: status.problems ?? [],
      eventLoopP99Ms: status.eventLoopP99Ms ?? 0,
      lastScans: this.o.feed.lastScans,
      alarms: this.o.alarms.recent,
    };
  }

  /** The retained status as offline, before a clean stop closes the link (the last will is for the unclean one). */
  publishOffline(): void {
    const payload = JSON.stringify({ ...this.status(), online: false });
    this.o.link.publish(topics.gateStatus(this.o.config.gateId), payload, { qos: 1, retain: true });
  }

  /** `GET /healthz` of the terminal's port. */
  health(): { status: 'ok' | 'degraded' } & Record<string, unknown> {
    return healthzBody(this.status(), this.o.link, this.o.eventLoop);
  }

  /** `GET /metrics` of the terminal's port (Prometheus text). */
  metrics(counts: Pick<GateMetricsInput, 'counters' | 'terminal' | 'guards'>): string {
    return gateMetrics({
      gateId: this.o.config.gateId,
      status: this.status(),
      linkState: this.o.link.linkState,
      eventLoop: this.o.eventLoop.snapshot(),
      ...counts,
    });
  }

  notifyState(): void {
    const { lastScans: _s, alarms: _a, ...state } = this.state();
    this.o.feed.notify({ type: 'state', state });
  }
}
