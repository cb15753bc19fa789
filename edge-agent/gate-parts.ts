/**
 * The parts of the gate process, built from its configuration: storage (SQLite replica and
 * journal, the clock's memory, the WAL checkpointer), the MQTT link with its token, the turnstile
 * and the decision's gate context. The agent (edge-agent.ts) wires them together and runs them.
 */
import type { BindingInterface } from '@serialport/bindings-interface';
import type { KeyRing, ParsedKeys } from '../shared/keys.ts';
import type { Logger } from '../shared/log.ts';
import { topics } from '../shared/topics.ts';
import { WalSync } from '../shared/wal-sync.ts';
import type { OversizedCounters } from './cloud-input-limits.ts';
import type { CloudReadiness } from './cloud-readiness.ts';
import type { EdgeConfig } from './config.ts';
import type { AlarmMessage, EntryEvent, GateStatus } from '../shared/schemas/mqtt.ts';
import type { Decision, GateContext } from './decision.ts';
import type { EdgeDevices, TurnstileDevice } from './devices.ts';
import { type GateDatabase, MetaTable, openGateDatabase } from './gate-database.ts';
import type { GateAlarms } from './gate-alarms.ts';
import { GateClock, metaClockMemory } from './gate-clock.ts';
import { JournalStore } from './journal-store.ts';
import { MqttLink, readTokenFile } from './mqtt-link.ts';
import { DeviceCertificateVerifier } from './device-certificate-verifier.ts';
import { VerifiedPassCache } from './pass-cache.ts';
import { ReplicaStore } from './replica-store.ts';
import type { DistributionOutcome } from './supply/distribution-point.ts';
import { SyncConsumer, syncProbeMs } from './sync-consumer.ts';
import { GateTokenStore } from './token-store.ts';
import { TurnstileControl } from './turnstile-control.ts';
import { type EventPublisher, Uplink } from './uplink.ts';
import { WalCheckpointer } from './wal-checkpointer.ts';

/** How the gate process is embedded (tests, the demo, benchmarks): `createEdgeAgent(config, options)`. */
export interface EdgeAgentOptions {
  logger?: Logger;
  /** Wall clock for decisions and timestamps (tests pin it). Default `Date.now`. */
  clock?: { now(): number };
  /** Devices to use instead of building drivers from `config.devices` (tests, embedding). */
  devices?: EdgeDevices;
  /** Serial binding for every driver built from the config (overrides `config.binding`). */
  binding?: BindingInterface;
  /** Reported in the status message. Default: package.json's version. */
  version?: string;
  /** Free bytes on the file system of a directory (tests). Default: `statfs`. */
  freeSpace?: (dir: string) => Promise<number>;
  /** The clock that never jumps and this boot's id (tests simulate restarts and reboots; gate-clock.ts). */
  monotonic?: () => number;
  bootId?: string | null;
}

/** What the agent emits (tests, the demo, embedding). */
export interface EdgeAgentEvents {
  decision: [event: EntryEvent | undefined, decision: Decision];
  /** A distribution point decided a claim (docs/supplies.md). */
  claim: [outcome: DistributionOutcome];
  alarm: [alarm: AlarmMessage];
  status: [status: GateStatus];
}

/** Bad input counted by the uplink (acks), the sync consumer (sync, changes) and the readiness (cloud status). */
export interface InputCounters {
  acks: Readonly<Uplink['counters']>;
  sync: Readonly<SyncConsumer['counters']>;
  readiness: Readonly<CloudReadiness['counters']>;
  /** Payloads refused unread for their size, per topic (cloud-input-limits.ts). */
  oversized: Readonly<OversizedCounters>;
}

export interface GateStorage {
  db: GateDatabase;
  checkpointer: WalCheckpointer | undefined;
  replica: ReplicaStore;
  journal: JournalStore;
  clock: GateClock;
}

export interface StorageOptions {
  logger: Logger;
  /** The agent's logger: passages a restart interrupted are logged there. */
  log: Logger;
  now: () => number;
  monotonic?: (() => number) | undefined;
  bootId?: string | null | undefined;
  /** The WAL is on disk up to the last commit (the uplink may publish it). */
  onDurable: () => void;
  onSyncError: (error: Error) => void;
}

/**
 * Opens the gate's SQLite file: replica, journal, the clock's memory and the WAL's helpers. Passages
 * a restart interrupted (still waiting for the turnstile) are closed as not passed.
 */
export function openGateStorage(config: EdgeConfig, options: StorageOptions): GateStorage {
  // `full`: commits go to the WAL without waiting for the disk and a WalSync fsyncs it off the
  // event loop before anything is published (journal-store.ts), so the unlock never waits for an
  // fsync (measured p50 4 ms, p99 40–65 ms on the shared VM's disk).
  const syncOffLoop = config.journal.synchronous === 'full' && config.dataDir !== ':memory:';
  const db = openGateDatabase(config.dataDir, { synchronous: syncOffLoop ? 'normal' : config.journal.synchronous });
  // Nor for a WAL checkpoint: a worker thread runs them (wal-checkpointer.ts).
  const checkpointer = config.dataDir === ':memory:' ? undefined : new WalCheckpointer(db, { logger: options.logger });
  const replica = new ReplicaStore(db, { gateId: config.gateId });
  // The offset learned from the cloud is kept with the replica, so a restart keeps it (gate-clock.ts).
  const clock = new GateClock({
    wall: options.now,
    memory: metaClockMemory(new MetaTable(db)),
    toleranceMs: config.clock.toleranceMs,
    maxAgeMs: config.clock.maxAgeMs,
    ...(options.monotonic ? { monotonic: options.monotonic } : {}),
    ...(options.bootId !== undefined ? { bootId: options.bootId } : {}),
  });
  const journal = new JournalStore(
    db,
    replica,
    syncOffLoop
      ? { wal: new WalSync(`${db.name}-wal`), onDurable: options.onDurable, onError: options.onSyncError }
      : undefined,
    { keepAckedMs: config.journal.keepAckedMs, now: options.now },
  );
  const interrupted = journal.finalizeInterrupted();
  journal.sync();
  if (interrupted.length > 0)
    options.log.warn({ seqs: interrupted }, 'passages interrupted by a restart recorded as not passed');
  return { db, checkpointer, replica, journal, clock };
}

export interface LinkOptions {
  ring: KeyRing;
  /** The agent's logger (the token store's), and the root logger (the link's). */
  log: Logger;
  logger: Logger;
  now: () => number;
  /** The last will's payload: the status as offline. */
  will: () => string;
}

/**
 * The gate's token store and its MQTT link. A renewed token stored beside the database wins when
 * it expires later than the configured one (token-store.ts); the configured one is then the
 * fallback while the broker does not know the renewed one yet.
 */
export function createGateLink(config: EdgeConfig, options: LinkOptions): { tokens: GateTokenStore; link: MqttLink } {
  const configured = config.mqtt.tokenFile === undefined ? config.mqtt.token : readTokenFile(config.mqtt.tokenFile);
  const tokens = new GateTokenStore(
    {
      dataDir: config.dataDir,
      gateId: config.gateId,
      compoundId: config.compoundId,
      ring: options.ring,
      logger: options.log,
      now: options.now,
    },
    configured,
  );
  const token = tokens.current;
  const storedWins = token !== configured;
  const link = new MqttLink({
    url: config.mqtt.url,
    gateId: config.gateId,
    ...(storedWins
      ? { token: token!, ...(configured === undefined ? {} : { previousToken: configured }) }
      : {
          ...(config.mqtt.token === undefined ? {} : { token: config.mqtt.token }),
          ...(config.mqtt.tokenFile === undefined ? {} : { tokenFile: config.mqtt.tokenFile }),
        }),
    caFile: config.mqtt.caFile,
    subscriptions: [
      topics.gateAck(config.gateId),
      topics.gateCmd(config.gateId),
      topics.gateSync(config.gateId),
      topics.compoundChanges(config.compoundId),
      topics.cloudStatus(),
      // Answers and acks of the distribution role (docs/supplies.md); silent for an entry gate.
      topics.gateClaimAck(config.gateId),
    ],
    will: { topic: topics.gateStatus(config.gateId), payload: options.will },
    keepaliveSec: config.mqtt.keepaliveSec,
    reconnectMs: config.mqtt.reconnectMs,
    logger: options.logger,
  });
  return { tokens, link };
}

/** Publishes the journal's fsynced events and prunes what the cloud acknowledged (uplink.ts). */
export function createUplink(
  config: EdgeConfig,
  journal: JournalStore,
  publisher: EventPublisher,
  logger: Logger,
  now: () => number,
): Uplink {
  return new Uplink({
    gateId: config.gateId,
    journal,
    publisher,
    logger,
    now,
    batchSize: config.journal.batchSize,
    maxInFlight: config.journal.maxInFlight,
    ackTimeoutMs: config.timeouts.ackMs,
  });
}

/** Applies the cloud's snapshots and changes to the replica (sync-consumer.ts); unreadable changes raise an alarm. */
export function createSyncConsumer(
  config: EdgeConfig,
  replica: ReplicaStore,
  publisher: EventPublisher,
  logger: Logger,
  now: () => number,
  alarms?: Pick<GateAlarms, 'raise'>,
): SyncConsumer {
  return new SyncConsumer({
    onInvalidChanges: (detail) => alarms?.raise('sync-change-invalid', detail),
    gateId: config.gateId,
    compoundId: config.compoundId,
    replica,
    publisher,
    logger,
    now,
    retryMs: config.timeouts.syncRetryMs,
    // An idle gate asks now and then, so that a connected gate never looks stale (docs/architecture.md).
    probeMs: syncProbeMs(config.stalenessLimitMs),
  });
}

export function createTurnstileControl(
  config: EdgeConfig,
  device: TurnstileDevice | undefined,
  logger: Logger,
  now: () => number,
): TurnstileControl {
  return new TurnstileControl({
    ...(device ? { device } : {}),
    logger,
    now,
    pulseMs: config.devices.turnstile?.pulseMs ?? 3_000,
    passageTimeoutMs: config.timeouts.passageMs,
    tailgateWindowMs: config.timeouts.tailgateWindowMs,
  });
}

/**
 * What the pure decision needs to know about this gate (decision.ts); the settings overlay it later.
 * With the replica: its pass cache forgets what the replica revokes or replaces, and the certificates
 * it receives by sync are verified in the background (device-certificate-verifier.ts).
 */
export function createGateContext(
  config: EdgeConfig,
  keys: ParsedKeys,
  replica?: ReplicaStore,
  log?: Logger,
): GateContext {
  const passCache = new VerifiedPassCache();
  if (replica) {
    const verifier = new DeviceCertificateVerifier({
      certificates: replica.certificates,
      ring: keys.ring,
      isOpen: () => replica.isOpen(),
      ...(log ? { log } : {}),
    });
    replica.certificates.listener = passCache;
    replica.certificates.onUnverified = () => verifier.wake();
    verifier.start();
  }
  return {
    gateId: config.gateId,
    compoundId: config.compoundId,
    ring: keys.ring,
    pepper: keys.pepper,
    antiPassback: config.antiPassback,
    yellowPolicy: config.yellowPolicy,
    stalenessLimitMs: config.stalenessLimitMs,
    fireAlarm: false,
    passCache,
    // A device pass's frame is accepted within the same tolerance the clock itself is held to.
    clockToleranceMs: config.clock.toleranceMs,
  };
}
