/**
 * The gate's events wired to the parts that act on them: the turnstile's alarms, fire input and
 * free passages; the MQTT link's ups and downs; the cloud's readiness, which lets the journal's
 * backlog, the claims and the sync request go out only when the cloud can hear them
 * (docs/edge-agent.md "Cloud readiness"); and the periodic status, heartbeat and disk checks.
 */
import type { Logger } from '../shared/log.ts';
import { CloudInputLimits } from './cloud-input-limits.ts';
import { routeCloudMessage } from './cloud-messages.ts';
import type { CloudReadiness } from './cloud-readiness.ts';
import type { EdgeConfig } from './config.ts';
import type { GateContext } from './decision.ts';
import type { AlarmWatch, GateAlarms } from './gate-alarms.ts';
import type { GateClock } from './gate-clock.ts';
import type { GateCommands } from './gate-commands.ts';
import type { JournalStore } from './journal-store.ts';
import type { MqttLink } from './mqtt-link.ts';
import type { PassageDesk } from './passages.ts';
import type { ReplicaStore } from './replica-store.ts';
import type { ClaimUplink } from './supply/claim-uplink.ts';
import type { SyncConsumer } from './sync-consumer.ts';
import type { TurnstileControl } from './turnstile-control.ts';
import type { Uplink } from './uplink.ts';

/** How often the gate checks the free space left for its journal. */
const FREE_SPACE_CHECK_MS = 10_000;

export interface WiredParts {
  config: Pick<EdgeConfig, 'gateId' | 'compoundId'>;
  turnstile: TurnstileControl;
  readiness: CloudReadiness;
  link: MqttLink;
  uplink: Uplink;
  sync: SyncConsumer;
  claims: ClaimUplink;
  commands: GateCommands;
  gate: GateContext;
  desk: PassageDesk;
  alarms: GateAlarms;
  journal: JournalStore;
  replica: ReplicaStore;
  clock: GateClock;
  watch: AlarmWatch;
  now: () => number;
  log: Logger;
}

export interface WiringHooks {
  /** Something the status shows may have changed. */
  changed(): void;
  publishStatus(): void;
}

/** Wires the parts; returns the size limits the cloud's messages are held to (their counters). */
export function wireGate(p: WiredParts, hooks: WiringHooks): CloudInputLimits {
  p.turnstile.on('alarm', (kind, detail) => p.alarms.raise(kind, detail));
  p.turnstile.on('fire', (active) => {
    p.gate.fireAlarm = active;
    hooks.changed();
  });
  p.turnstile.on('freePassage', (direction) => p.desk.recordFreePassage(direction));
  const senders = [p.uplink, p.sync, p.claims];
  p.readiness.on('ready', (why) => {
    p.log.info({ why, journalDepth: p.journal.depth() }, 'cloud ready: resending the unacked and asking for sync');
    for (const sender of senders) sender.connectionUp();
  });
  p.readiness.on('unready', () => {
    for (const sender of senders) sender.connectionDown();
  });
  p.link.on('up', () => {
    p.readiness.connectionUp();
    hooks.publishStatus();
    p.alarms.flush();
    hooks.changed();
  });
  p.link.on('down', () => {
    p.readiness.connectionDown();
    for (const sender of senders) sender.connectionDown();
    hooks.changed();
  });
  // A valid ack is cloud contact (staleness) and, when it says, the cloud's time (skew).
  const onAck = (cloudTs: number | undefined) => {
    p.replica.touchCloudContact(p.now());
    if (cloudTs !== undefined) {
      p.clock.observeCloudTime(cloudTs);
      p.watch.checkClock();
    }
  };
  const limits = new CloudInputLimits({
    now: p.now,
    log: p.log,
    onOversized: (detail) => p.alarms.raise('cloud-message-oversized', detail),
  });
  const owners = { ...p.config, ...p, limits, onAck };
  p.link.on('message', (topic, payload) => routeCloudMessage(owners, topic, payload));
  p.link.on('state', () => hooks.changed());
  return limits;
}

/** The status check (at most every 5 s), the heartbeat and the disk check; unref'd, for `clearInterval`. */
export function startGateTimers(
  statusIntervalMs: number,
  hooks: Pick<WiringHooks, 'changed' | 'publishStatus'> & { checkFreeSpace(): Promise<void> },
): NodeJS.Timeout[] {
  const timers = [
    setInterval(() => hooks.changed(), Math.min(statusIntervalMs, 5_000)),
    setInterval(() => hooks.publishStatus(), statusIntervalMs),
    setInterval(() => void hooks.checkFreeSpace(), FREE_SPACE_CHECK_MS),
  ];
  for (const t of timers) t.unref();
  return timers;
}
