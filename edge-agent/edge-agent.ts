/**
 * The gate process (docs/architecture.md "edge-agent"): devices in, `decideEntry`, journal, turnstile,
 * uplink, sync, status, remote commands and the guard terminal, wired together.
 *
 * The path from a read to the unlock is synchronous and local (docs/architecture.md rule 1): decide over the SQLite
 * replica, append to the SQLite journal, command the turnstile. Everything on the network —
 * events, alarms, status, sync — happens beside it, fire-and-forget.
 */
import { EventEmitter } from 'node:events';
import { statfs } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { BindingInterface } from '@serialport/bindings-interface';
import { type ServerType, serve } from '@hono/node-server';
import type { IdCard } from '../firmware-bridge/idreader/driver.ts';
import type { OsdpCard } from '../firmware-bridge/osdp/control-panel.ts';
import type { AlarmKind, DeviceState, Direction } from '../shared/enums.ts';
import { type ParsedKeys, parseKeysFile, readKeysFile } from '../shared/keys.ts';
import { type Logger, silentLogger } from '../shared/log.ts';
import { maskName } from '../shared/masking.ts';
import {
  type AlarmMessage,
  ackMessageSchema,
  type CommandResult,
  commandSchema,
  type EntryEvent,
  type GateStatus,
} from '../shared/schemas/mqtt.ts';
import { topics } from '../shared/topics.ts';
import { CONTRACT_VERSION, packageVersion } from '../shared/version.ts';
import { expOf, GateTokenStore } from './token-store.ts';
import type { EdgeConfig } from './config.ts';
import { type Credential, type Decision, decideEntry, type GateContext } from './decision.ts';
import { createDevices } from './device-factory.ts';
import { type DeviceEmitter, type EdgeDevices, type LaneReader, laneReaders } from './devices.ts';
import { type GateDatabase, openGateDatabase } from './gate-database.ts';
import { CloudReadiness } from './cloud-readiness.ts';
import { GateClock, metaClockMemory } from './gate-clock.ts';
import { MetaTable } from './gate-database.ts';
import { type EffectiveGateSettings, effectiveGateSettings } from './gate-settings.ts';
import { type JournalEntry, JournalStore } from './journal-store.ts';
import { WalCheckpointer } from './wal-checkpointer.ts';
import { MqttLink, readTokenFile } from './mqtt-link.ts';
import { VerifiedPassCache } from './pass-cache.ts';
import { EventLoopHealth } from './event-loop-health.ts';
import { REASON_TEXT, TONE_COLOUR, TONE_ICON, TURNSTILE_FAULT_TEXT } from './reason-text.ts';
import { gateMetrics } from './terminal/gate-metrics.ts';
import { GuardSessions } from './terminal/guard-session.ts';
import { WalSync } from '../shared/wal-sync.ts';
import { ReplicaStore } from './replica-store.ts';
import { SyncConsumer, syncProbeMs } from './sync-consumer.ts';
import { createTerminalApp } from './terminal/terminal-app.ts';
import type {
  ManualOpenRequest,
  TerminalAlarm,
  TerminalBackend,
  TerminalScan,
  TerminalState,
  TerminalUpdate,
} from './terminal/terminal-state.ts';
import { TurnstileControl } from './turnstile-control.ts';
import { Uplink } from './uplink.ts';

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

/** How often the gate checks the free space left for its journal. */
const FREE_SPACE_CHECK_MS = 10_000;

async function statfsFreeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

export interface PresentResult {
  decision: Decision;
  /** The journaled event (undefined only if the journal could not be written). */
  event: EntryEvent | undefined;
  /** Resolves with the final event once the turnstile confirmed or timed out (at once when not applicable). */
  passage: Promise<EntryEvent | undefined>;
}

export interface EdgeAgentEvents {
  decision: [event: EntryEvent | undefined, decision: Decision];
  alarm: [alarm: AlarmMessage];
  status: [status: GateStatus];
}

const RECENT_SCANS = 20;
const RECENT_ALARMS = 20;
/** Alarms raised while offline are kept (newest) and sent on reconnect. */
const QUEUED_ALARMS = 100;
const SEEN_COMMANDS = 200;
/** The journal-full alarm clears only once the depth is well below the limit again. */
const JOURNAL_ALARM_HYSTERESIS = 0.9;

export class EdgeAgent extends EventEmitter<EdgeAgentEvents> implements TerminalBackend {
  readonly config: EdgeConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  /** The wall clock checked against the cloud's (acks carry its time): skew and decision time. */
  private clock: GateClock;
  /** A `clock-skew` alarm is up (raised once per episode). */
  private clockAlarmed = false;
  private readonly options: EdgeAgentOptions;
  private devices: EdgeDevices = {};
  /** Every credential device of the lane with its name and direction (docs/lanes.md). */
  private readers: LaneReader[] = [];
  private keys: ParsedKeys | undefined;
  private db: GateDatabase | undefined;
  private replica!: ReplicaStore;
  private journal!: JournalStore;
  private checkpointer: WalCheckpointer | undefined;
  private uplink!: Uplink;
  private sync!: SyncConsumer;
  private link!: MqttLink;
  private tokens!: GateTokenStore;
  /** Link up and the cloud subscribed: only then are events and sync requests sent (cloud-readiness.ts). */
  private readiness!: CloudReadiness;
  private turnstile!: TurnstileControl;
  private gate!: GateContext;
  /** gate.json's defaults overlaid with the cloud's `gate.settings` (gate-settings.ts). */
  private settings!: EffectiveGateSettings;
  private http: ServerType | undefined;
  private httpAddress: AddressInfo | undefined;
  private running = false;
  private version = '0.0.0';
  private journalDeep = false;
  private diskLow = false;
  private journalWriteFailing = false;
  private journalSyncFailing = false;
  private lastStatusKey = '';
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly passages = new Set<Promise<unknown>>();
  private readonly recentScans: TerminalScan[] = [];
  private readonly recentAlarms: TerminalAlarm[] = [];
  private readonly queuedAlarms: AlarmMessage[] = [];
  private readonly seenCommands = new Map<string, CommandResult>();
  private readonly terminalListeners = new Set<(update: TerminalUpdate) => void>();
  private readonly deviceCleanups: (() => void)[] = [];
  private readonly eventLoop = new EventLoopHealth();
  private guardSessions: GuardSessions | undefined;
  private scanKey = 0;
  readonly counters = { decisions: 0, journalErrors: 0, commandsRejected: 0, alarms: 0 };
  /** Terminal requests refused for a foreign Host or Origin (terminal/request-guard.ts). */
  readonly terminalRefusals = { foreignHost: 0, foreignOrigin: 0 };

  constructor(config: EdgeConfig, options: EdgeAgentOptions = {}) {
    super();
    this.config = config;
    this.options = options;
    this.log = (options.logger ?? silentLogger).child({ component: 'edge.agent', gateId: config.gateId });
    const clock = options.clock;
    this.now = clock ? () => clock.now() : Date.now;
    this.clock = new GateClock({ wall: this.now });
  }

  /** `http://host:port` of the guard terminal once started. */
  get terminalUrl(): string | undefined {
    if (!this.httpAddress) return undefined;
    return `http://${this.config.http.host}:${this.httpAddress.port}`;
  }

  get journalDepth(): number {
    return this.journal.depth();
  }

  async start(): Promise<void> {
    if (this.running) return;
    try {
      await this.startComponents();
    } catch (error) {
      // Leave nothing half-open (ports, the SQLite file, timers) behind a failed start.
      this.running = true;
      await this.stop().catch(() => {});
      throw error;
    }
  }

  private async startComponents(): Promise<void> {
    const { config } = this;
    const logger = this.options.logger ?? silentLogger;
    // Only the public ring and the pepper are used; a gate never needs a private key.
    this.keys = config.keysFile ? readKeysFile(config.keysFile) : parseKeysFile(config.keys);
    this.version = this.options.version ?? packageVersion();

    // `full`: commits go to the WAL without waiting for the disk and a WalSync fsyncs it off the
    // event loop before anything is published (journal-store.ts), so the unlock never waits for an
    // fsync (measured p50 4 ms, p99 40–65 ms on the shared VM's disk).
    const syncOffLoop = config.journal.synchronous === 'full' && config.dataDir !== ':memory:';
    this.db = openGateDatabase(config.dataDir, { synchronous: syncOffLoop ? 'normal' : config.journal.synchronous });
    // Nor for a WAL checkpoint: a worker thread runs them (wal-checkpointer.ts).
    if (config.dataDir !== ':memory:') this.checkpointer = new WalCheckpointer(this.db, { logger });
    this.replica = new ReplicaStore(this.db, { gateId: config.gateId });
    // The offset learned from the cloud is kept with the replica, so a restart keeps it (gate-clock.ts).
    this.clock = new GateClock({
      wall: this.now,
      memory: metaClockMemory(new MetaTable(this.db)),
      toleranceMs: config.clock.toleranceMs,
      maxAgeMs: config.clock.maxAgeMs,
      ...(this.options.monotonic ? { monotonic: this.options.monotonic } : {}),
      ...(this.options.bootId !== undefined ? { bootId: this.options.bootId } : {}),
    });
    this.journal = new JournalStore(
      this.db,
      this.replica,
      syncOffLoop
        ? {
            wal: new WalSync(`${this.db.name}-wal`),
            onDurable: () => this.journalDurable(),
            onError: (error) => this.journalSyncFailed(error),
          }
        : undefined,
      { keepAckedMs: config.journal.keepAckedMs, now: this.now },
    );
    const interrupted = this.journal.finalizeInterrupted();
    this.journal.sync();
    if (interrupted.length > 0)
      this.log.warn({ seqs: interrupted }, 'passages interrupted by a restart recorded as not passed');

    const statusTopic = topics.gateStatus(config.gateId);
    const configured = config.mqtt.tokenFile === undefined ? config.mqtt.token : readTokenFile(config.mqtt.tokenFile);
    this.tokens = new GateTokenStore(
      {
        dataDir: config.dataDir,
        gateId: config.gateId,
        compoundId: config.compoundId,
        ring: this.keys.ring,
        logger: this.log,
        now: this.now,
      },
      configured,
    );
    const token = this.tokens.current;
    const storedWins = token !== configured;
    this.link = new MqttLink({
      url: config.mqtt.url,
      gateId: config.gateId,
      // A renewed token stored beside the database wins when it expires later (token-store.ts).
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
      ],
      will: { topic: statusTopic, payload: () => JSON.stringify({ ...this.status(), online: false }) },
      keepaliveSec: config.mqtt.keepaliveSec,
      reconnectMs: config.mqtt.reconnectMs,
      logger,
    });
    this.uplink = new Uplink({
      gateId: config.gateId,
      journal: this.journal,
      publisher: this.link,
      logger,
      now: this.now,
      batchSize: config.journal.batchSize,
      maxInFlight: config.journal.maxInFlight,
      ackTimeoutMs: config.timeouts.ackMs,
    });
    this.uplink.onPruned = () => this.checkJournalDepth();
    this.sync = new SyncConsumer({
      gateId: config.gateId,
      compoundId: config.compoundId,
      replica: this.replica,
      publisher: this.link,
      logger,
      now: this.now,
      retryMs: config.timeouts.syncRetryMs,
      // An idle gate asks now and then, so that a connected gate never looks stale (docs/architecture.md).
      probeMs: syncProbeMs(config.stalenessLimitMs),
    });
    this.sync.onReplicaChanged = () => this.replicaChanged();

    this.devices = this.options.devices ?? createDevices(config, logger, this.options.binding);
    this.readers = laneReaders(this.devices, (name) => config.devices.readers.find((r) => r.name === name)?.direction);
    this.turnstile = new TurnstileControl({
      ...(this.devices.turnstile ? { device: this.devices.turnstile } : {}),
      logger,
      now: this.now,
      pulseMs: config.devices.turnstile?.pulseMs ?? 3_000,
      passageTimeoutMs: config.timeouts.passageMs,
      tailgateWindowMs: config.timeouts.tailgateWindowMs,
    });
    this.turnstile.on('alarm', (kind, detail) => this.raiseAlarm(kind, detail));
    this.turnstile.on('fire', (active) => {
      this.gate.fireAlarm = active;
      this.statusMaybeChanged();
    });
    this.turnstile.on('freePassage', (direction) => this.recordFreePassage(direction));
    this.gate = {
      gateId: config.gateId,
      compoundId: config.compoundId,
      ring: this.keys.ring,
      pepper: this.keys.pepper,
      antiPassback: config.antiPassback,
      yellowPolicy: config.yellowPolicy,
      stalenessLimitMs: config.stalenessLimitMs,
      fireAlarm: false,
      passCache: new VerifiedPassCache(),
    };
    this.applySettings();

    this.readiness = new CloudReadiness({ logger, fallbackMs: config.timeouts.cloudReadyMs });
    // The backlog and the sync request go out when the cloud can hear them, not merely when the
    // broker is back (docs/edge-agent.md "Cloud readiness").
    this.readiness.on('ready', (why) => {
      this.log.info(
        { why, journalDepth: this.journal.depth() },
        'cloud ready: resending the unacked and asking for sync',
      );
      this.uplink.connectionUp();
      this.sync.connectionUp();
    });
    this.readiness.on('unready', () => {
      this.uplink.connectionDown();
      this.sync.connectionDown();
    });
    this.link.on('up', () => {
      this.readiness.connectionUp();
      this.publishStatus();
      this.flushAlarms();
      this.statusMaybeChanged();
    });
    this.link.on('down', () => {
      this.readiness.connectionDown();
      this.uplink.connectionDown();
      this.sync.connectionDown();
      this.statusMaybeChanged();
    });
    this.link.on('message', (topic, payload) => this.route(topic, payload));
    this.link.on('state', () => this.statusMaybeChanged());

    this.running = true;
    this.eventLoop.start();
    this.turnstile.start();
    this.turnstile.setFreeByMode(this.replica.mode() === 'emergency-open');
    this.uplink.start();
    this.sync.start();
    await this.startDevices();
    if (config.http.enabled) await this.startHttp();
    this.link.start();

    const tick = Math.min(config.statusIntervalMs, 5_000);
    const statusTimer = setInterval(() => this.statusMaybeChanged(), tick);
    const heartbeat = setInterval(() => this.publishStatus(), config.statusIntervalMs);
    const diskTimer = setInterval(() => void this.checkFreeSpace(), FREE_SPACE_CHECK_MS);
    for (const t of [statusTimer, heartbeat, diskTimer]) t.unref();
    this.timers.push(statusTimer, heartbeat, diskTimer);
    await this.checkFreeSpace();
    this.log.info(
      {
        version: this.version,
        rev: this.replica.rev(),
        mode: this.replica.mode(),
        journalDepth: this.journal.depth(),
        terminal: this.terminalUrl,
      },
      'edge agent started',
    );
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.eventLoop.stop();
    // Members are absent when stop() cleans up after a failed start.
    this.turnstile?.stop();
    await Promise.allSettled([...this.passages]);
    await this.stopDevices();
    this.readiness?.stop();
    this.uplink?.stop();
    this.sync?.stop();
    if (this.link?.connected) {
      this.link.publish(topics.gateStatus(this.config.gateId), JSON.stringify({ ...this.status(), online: false }), {
        qos: 1,
        retain: true,
      });
    }
    await this.link?.stop();
    await this.stopHttp();
    this.terminalListeners.clear();
    this.journal?.close();
    await this.checkpointer?.stop();
    this.checkpointer = undefined;
    this.db?.close();
    this.db = undefined;
    this.log.info('edge agent stopped');
  }

  // ---- decisions ----

  /** Decides a credential as if a device had read it (the devices call this too). */
  present(credential: Credential, readAt?: bigint): PresentResult {
    const startedAt = readAt ?? process.hrtime.bigint();
    const now = this.now();
    // Pass validity is judged at the cloud-checked time when the wall clock has jumped (gate-clock.ts).
    const decision = decideEntry(credential, this.gate, this.replica, this.clock.decisionNow());
    const decisionMs = Math.min(60_000, Math.max(0, Number(process.hrtime.bigint() - startedAt) / 1e6));
    this.counters.decisions += 1;
    const granted = decision.result === 'granted';
    const awaitTurnstile = granted && this.turnstile.hasDevice;
    const entry: JournalEntry = {
      gateId: this.config.gateId,
      ts: now,
      direction: decision.direction,
      method: decision.method,
      result: decision.result,
      reason: decision.reason,
      health: decision.health,
      mode: decision.mode,
      passed: null,
      decisionMs: Math.round(decisionMs * 1000) / 1000,
      ...(decision.personId ? { personId: decision.personId } : {}),
      ...(decision.idHash ? { idHash: decision.idHash } : {}),
      ...(decision.passId ? { passId: decision.passId } : {}),
      ...(decision.guard ? { guard: decision.guard } : {}),
      ...(granted && decision.effects.householdExit ? { quotaHousehold: decision.effects.householdExit } : {}),
      ...(decision.openReason ? { openReason: decision.openReason } : {}),
    };
    const key = ++this.scanKey;
    const event = this.appendToJournal(entry, !awaitTurnstile, granted ? decision.effects : undefined);

    let passage: Promise<EntryEvent | undefined>;
    if (granted) {
      passage = this.turnstile.authorise(decision.direction).then((passed) => {
        if (!awaitTurnstile || !event || !this.db) return event;
        const final = this.journal.finalize(event.seq, passed, decision.effects);
        this.uplink.pump();
        if (final) this.pushScan(this.scanOf(key, decision, final, false));
        return final ?? event;
      });
      this.track(passage);
    } else {
      this.turnstile.deny();
      passage = Promise.resolve(event);
    }
    this.uplink.pump();
    this.pushScan(this.scanOf(key, decision, event, awaitTurnstile));
    this.emit('decision', event, decision);
    this.log.debug({ seq: event?.seq, reason: decision.reason, method: decision.method }, 'decided');
    return { decision, event, passage };
  }

  /** The terminal's and the `open` command's manual passage. */
  manualOpen(request: ManualOpenRequest): { seq: number | null } {
    const { event } = this.present({
      method: 'manual',
      direction: request.direction,
      guard: request.guard,
      reason: request.reason,
    });
    this.log.info(
      { seq: event?.seq, guard: request.guard, reason: request.reason, direction: request.direction },
      'manual open',
    );
    return { seq: event?.seq ?? null };
  }

  private appendToJournal(
    entry: JournalEntry,
    final: boolean,
    effects: Decision['effects'] | undefined,
  ): EntryEvent | undefined {
    try {
      const event = this.journal.append(entry, { final, ...(effects ? { effects } : {}) });
      this.journalWriteFailing = false;
      this.checkJournalDepth();
      return event;
    } catch (error) {
      // The gate still acts on its decision (people must not be locked in), but loudly: every
      // unrecorded passage is counted and logged, the alarm is raised once per failing streak.
      this.counters.journalErrors += 1;
      this.log.error({ err: (error as Error).message }, 'journal write failed; this passage is not recorded');
      if (!this.journalWriteFailing) {
        this.journalWriteFailing = true;
        this.raiseAlarm('journal-full', `journal write failed: ${(error as Error).message}`);
      }
      return undefined;
    }
  }

  private journalDurable(): void {
    this.journalSyncFailing = false;
    if (this.running) this.uplink.pump();
  }

  private journalSyncFailed(error: Error): void {
    this.log.error({ err: error.message }, 'journal fsync failed; events are held back until it succeeds');
    if (this.journalSyncFailing || !this.running) return;
    this.journalSyncFailing = true;
    this.raiseAlarm('journal-full', `journal fsync failed: ${error.message}`);
  }

  private recordFreePassage(direction: Direction): void {
    const event = this.appendToJournal(
      {
        gateId: this.config.gateId,
        ts: this.now(),
        direction,
        method: 'free',
        result: 'granted',
        reason: 'free-passage',
        health: 'unknown',
        mode: this.replica.mode(),
        passed: true,
        decisionMs: 0,
      },
      true,
      undefined,
    );
    this.uplink.pump();
    if (event) {
      const text = REASON_TEXT['free-passage'];
      this.pushScan({
        ...this.baseScan(event),
        key: ++this.scanKey,
        ...text,
        colour: TONE_COLOUR[text.tone],
        icon: TONE_ICON[text.tone],
        maskedName: null,
        waiting: false,
      });
    }
  }

  private track(promise: Promise<unknown>): void {
    this.passages.add(promise);
    void promise.finally(() => this.passages.delete(promise));
  }

  // ---- devices ----

  private async startDevices(): Promise<void> {
    const { turnstile } = this.devices;
    for (const reader of this.readers) {
      const { direction } = reader;
      if (reader.kind === 'idreader') {
        const idreader = reader.device;
        const onCard = (card: IdCard, at: { frameEndAt: bigint }) =>
          this.present(
            {
              method: 'idcard',
              direction,
              card: {
                idNumber: card.idNumber,
                idNumberValid: card.idNumberValid,
                validTo: card.validTo,
                maskedName: maskName(card.name),
              },
            },
            at.frameEndAt,
          );
        const onRejected = (why: string) => {
          this.log.info({ reason: why, device: reader.name }, 'card not supported');
          this.present({
            method: 'idcard',
            direction,
            card: { idNumber: '', idNumberValid: false, validTo: null, unsupported: true },
          });
        };
        idreader.on('card', onCard);
        idreader.on('rejected', onRejected);
        this.deviceCleanups.push(() => {
          idreader.off('card', onCard);
          idreader.off('rejected', onRejected);
        });
        this.watchDevice(reader.name, idreader);
      } else if (reader.kind === 'osdp') {
        const osdp = reader.device;
        const onCard = (card: OsdpCard) => this.present({ method: 'card', direction, card: osdpCardNumber(card) });
        osdp.on('card', onCard);
        this.deviceCleanups.push(() => osdp.off('card', onCard));
        this.watchDevice(reader.name, osdp);
      } else {
        const qr = reader.device;
        const onScan = (text: string, at: { lastByteAt: bigint }) =>
          this.present({ method: 'qr', direction, text }, at.lastByteAt);
        qr.on('scan', onScan);
        this.deviceCleanups.push(() => qr.off('scan', onScan));
        this.watchDevice(reader.name, qr);
      }
    }
    if (turnstile) {
      const onCard = (card: OsdpCard) =>
        this.present({
          method: 'card',
          direction: this.config.devices.turnstile?.cardDirection ?? 'in',
          card: osdpCardNumber(card),
        });
      turnstile.on('card', onCard);
      this.deviceCleanups.push(() => turnstile.off('card', onCard));
      this.watchDevice('turnstile', turnstile);
    }
    await this.startEachDevice();
  }

  /** Every device with its name: the lane's readers and the turnstile. */
  private namedDevices(): [string, { start(): Promise<void>; stop(): Promise<void> }][] {
    const list: [string, { start(): Promise<void>; stop(): Promise<void> }][] = this.readers.map((r) => [
      r.name,
      r.device,
    ]);
    if (this.devices.turnstile) list.push(['turnstile', this.devices.turnstile]);
    return list;
  }

  /** Device health: a fault raises an alarm; every change goes into the status. */
  private watchDevice<T extends { status: [DeviceState]; error: [Error] } & { [K in keyof T]: unknown[] }>(
    name: string,
    device: DeviceEmitter<T>,
  ): void {
    const onStatus = (status: DeviceState) => {
      if (status === 'fault') {
        // A driver that knows why (an OSDP PD that cannot be brought up, a failed secure channel) says so.
        const reason = (device as { faultReason?: string }).faultReason;
        this.raiseAlarm('device-fault', reason ? `${name}: ${reason}` : `${name} not responding`);
      }
      this.statusMaybeChanged();
    };
    const onError = (error: Error) => this.log.warn({ device: name, err: error.message }, 'device error');
    device.on('status', onStatus as (...args: T['status']) => void);
    device.on('error', onError as (...args: T['error']) => void);
    this.deviceCleanups.push(() => {
      device.off('status', onStatus as (...args: T['status']) => void);
      device.off('error', onError as (...args: T['error']) => void);
    });
  }

  private async startEachDevice(): Promise<void> {
    await Promise.all(
      this.namedDevices().map(async ([name, device]) => {
        try {
          await device.start();
        } catch (error) {
          // A missing device must not stop the gate: it keeps deciding with the others.
          this.log.error({ device: name, err: (error as Error).message }, 'device failed to start');
          this.raiseAlarm('device-fault', `${name} failed to start: ${(error as Error).message}`);
        }
      }),
    );
  }

  private async stopEachDevice(): Promise<void> {
    await Promise.all(
      this.namedDevices().map(async ([name, device]) => {
        try {
          await device.stop();
        } catch (error) {
          this.log.warn({ device: name, err: (error as Error).message }, 'device failed to stop');
        }
      }),
    );
  }

  private async stopDevices(): Promise<void> {
    for (const cleanup of this.deviceCleanups.splice(0)) cleanup();
    await this.stopEachDevice();
  }

  private deviceStates(): GateStatus['devices'] {
    // The contract's status has one state per kind: `fault` if any device of that kind is faulty.
    const kindState = (kind: LaneReader['kind']): DeviceState => {
      const states = this.readers.filter((r) => r.kind === kind).map((r) => r.device.status);
      if (states.length === 0) return 'absent';
      return states.find((state) => state !== 'ok') ?? 'ok';
    };
    return {
      idreader: kindState('idreader'),
      qr: kindState('qr'),
      turnstile: this.devices.turnstile?.status ?? 'absent',
    };
  }

  // ---- MQTT messages ----

  private route(topic: string, payload: Buffer): void {
    const { gateId, compoundId } = this.config;
    if (topic === topics.gateAck(gateId)) {
      this.observeAck(payload);
      this.uplink.handleAck(payload);
    } else if (topic === topics.gateSync(gateId)) this.sync.handleSync(payload);
    else if (topic === topics.compoundChanges(compoundId)) this.sync.handleChanges(payload);
    else if (topic === topics.gateCmd(gateId)) void this.handleCommand(payload);
    else if (topic === topics.cloudStatus()) this.readiness.handleStatus(payload);
    else this.log.warn({ topic }, 'message on an unexpected topic ignored');
  }

  /**
   * A valid ack is cloud contact (staleness) and carries the cloud's time (`ts`); a malformed one
   * is neither. The uplink validates and counts the ack itself.
   */
  private observeAck(payload: Buffer): void {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString());
    } catch {
      return;
    }
    const ack = ackMessageSchema.safeParse(json);
    if (!ack.success) return;
    this.replica.touchCloudContact(this.now());
    if (ack.data.ts !== undefined) {
      this.clock.observeCloudTime(ack.data.ts);
      this.checkClock();
    }
  }

  /** One `clock-skew` alarm per episode; it clears once the wall clock is back within half the tolerance. */
  private checkClock(): void {
    const info = this.clock.info();
    if (info.skewed && !this.clockAlarmed) {
      this.clockAlarmed = true;
      const days = (info.skewMs! / 86_400_000).toFixed(2);
      this.raiseAlarm(
        'clock-skew',
        `wall clock ${info.skewMs! > 0 ? 'ahead of' : 'behind'} the cloud by ${Math.abs(info.skewMs!)} ms (${days} d); ` +
          `passes are judged by the cloud-checked time (${info.source})`,
      );
    } else if (
      this.clockAlarmed &&
      (info.skewMs === undefined || Math.abs(info.skewMs) <= this.config.clock.toleranceMs / 2)
    ) {
      this.clockAlarmed = false;
    }
  }

  /** Bad input counters of the uplink (acks) and the sync consumer (sync, changes), for monitoring and tests. */
  get inputCounters(): {
    acks: Readonly<Uplink['counters']>;
    sync: Readonly<SyncConsumer['counters']>;
    readiness: Readonly<CloudReadiness['counters']>;
  } {
    return { acks: this.uplink.counters, sync: this.sync.counters, readiness: this.readiness.counters };
  }

  private async handleCommand(payload: Buffer): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString());
    } catch {
      json = undefined;
    }
    const parsed = commandSchema.safeParse(json);
    if (!parsed.success) {
      this.counters.commandsRejected += 1;
      const cmdId = (json as { cmdId?: unknown } | undefined)?.cmdId;
      this.log.warn(
        { cmdId, issues: parsed.error.issues.length, counter: this.counters.commandsRejected },
        'command rejected',
      );
      if (typeof cmdId === 'string' && /^[a-z0-9-]{1,64}$/.test(cmdId)) {
        this.answer({ cmdId, ok: false, error: 'invalid command' });
      }
      return;
    }
    const cmd = parsed.data;
    const seen = this.seenCommands.get(cmd.cmdId);
    if (seen) {
      // QoS 1 may deliver a command twice; a repeated open must not open twice.
      this.answer(seen);
      return;
    }
    let result: CommandResult;
    try {
      switch (cmd.kind) {
        case 'open': {
          const { seq } = this.manualOpen({
            direction: cmd.direction ?? 'in',
            reason: cmd.reason ?? 'remote open',
            guard: cmd.by ?? 'cloud',
          });
          result =
            seq === null
              ? { cmdId: cmd.cmdId, ok: false, error: 'journal write failed' }
              : { cmdId: cmd.cmdId, ok: true };
          break;
        }
        case 'resync':
          result = this.sync.requestFullResync()
            ? { cmdId: cmd.cmdId, ok: true }
            : { cmdId: cmd.cmdId, ok: false, error: 'offline' };
          break;
        case 'renew-token': {
          if (cmd.token === undefined) {
            result = { cmdId: cmd.cmdId, ok: false, error: 'no token' };
            break;
          }
          this.tokens.accept(cmd.token);
          this.link.setToken(cmd.token);
          result = { cmdId: cmd.cmdId, ok: true };
          this.publishStatus();
          break;
        }
        case 'reboot-devices':
          await this.stopEachDevice();
          await this.startEachDevice();
          result = { cmdId: cmd.cmdId, ok: true };
          this.statusMaybeChanged();
          break;
      }
    } catch (error) {
      result = { cmdId: cmd.cmdId, ok: false, error: (error as Error).message.slice(0, 500) };
    }
    this.seenCommands.set(cmd.cmdId, result);
    if (this.seenCommands.size > SEEN_COMMANDS) this.seenCommands.delete(this.seenCommands.keys().next().value!);
    this.answer(result);
  }

  private answer(result: CommandResult): void {
    this.link.publish(topics.gateCmdResult(this.config.gateId), JSON.stringify(result), { qos: 1 });
  }

  // ---- alarms, status, terminal ----

  private raiseAlarm(kind: AlarmKind, detail: string): void {
    const alarm: AlarmMessage = { kind, ts: this.now(), detail: detail.slice(0, 500) };
    this.counters.alarms += 1;
    this.log.warn({ kind, detail }, 'alarm');
    this.recentAlarms.unshift(alarm);
    this.recentAlarms.length = Math.min(this.recentAlarms.length, RECENT_ALARMS);
    this.notify({ type: 'alarm', alarm });
    if (!this.running || !this.link.publish(topics.gateAlarms(this.config.gateId), JSON.stringify(alarm), { qos: 1 })) {
      this.queuedAlarms.push(alarm);
      if (this.queuedAlarms.length > QUEUED_ALARMS) this.queuedAlarms.shift();
    }
    this.emit('alarm', alarm);
  }

  private flushAlarms(): void {
    while (this.queuedAlarms.length > 0) {
      const alarm = this.queuedAlarms[0]!;
      if (!this.link.publish(topics.gateAlarms(this.config.gateId), JSON.stringify(alarm), { qos: 1 })) return;
      this.queuedAlarms.shift();
    }
  }

  private checkJournalDepth(): void {
    const depth = this.journal.depth();
    const limit = this.config.journal.alarmDepth;
    if (!this.journalDeep && depth >= limit) {
      this.journalDeep = true;
      this.raiseAlarm(
        'journal-full',
        `journal holds ${depth} unacknowledged events (alarm depth ${limit}); nothing is dropped`,
      );
      this.statusMaybeChanged();
    } else if (this.journalDeep && depth < limit * JOURNAL_ALARM_HYSTERESIS) {
      this.journalDeep = false;
      this.statusMaybeChanged();
    }
  }

  /** Low disk for the journal raises `journal-full` before SQLite would fail a write; clears at twice the reserve. */
  private async checkFreeSpace(): Promise<void> {
    const reserve = this.config.journal.minFreeBytes;
    if (reserve === 0 || this.config.dataDir === ':memory:') return;
    let free: number;
    try {
      free = await (this.options.freeSpace ?? statfsFreeBytes)(this.config.dataDir);
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'cannot read the free disk space');
      return;
    }
    if (!this.running) return;
    if (!this.diskLow && free < reserve) {
      this.diskLow = true;
      this.raiseAlarm(
        'journal-full',
        `${Math.floor(free / 1048576)} MiB free for the journal (reserve ${Math.floor(reserve / 1048576)} MiB); nothing is dropped yet`,
      );
      this.statusMaybeChanged();
    } else if (this.diskLow && free >= 2 * reserve) {
      this.diskLow = false;
      this.statusMaybeChanged();
    }
  }

  /** The status flag: the journal is deep, or the disk under it is nearly full. */
  private get journalFull(): boolean {
    return this.journalDeep || this.diskLow;
  }

  private replicaChanged(): void {
    this.turnstile.setFreeByMode(this.replica.mode() === 'emergency-open');
    this.applySettings();
    this.statusMaybeChanged();
  }

  /** The cloud's settings for this gate, as the replica holds them (they hold offline and across restarts). */
  private applySettings(): void {
    const settings = effectiveGateSettings(this.config, this.replica.gateSettings(this.config.gateId));
    const before = this.settings;
    this.settings = settings;
    this.gate.antiPassback = settings.antiPassback;
    this.gate.yellowPolicy = settings.yellowPolicy;
    this.gate.stalenessLimitMs = settings.stalenessLimitMs;
    this.turnstile.configure({ pulseMs: settings.unlockMs, passageTimeoutMs: settings.passageMs });
    // The idle probe keeps a connected gate from looking stale under the limit in force.
    this.sync?.setProbeMs(syncProbeMs(settings.stalenessLimitMs));
    if (before && JSON.stringify(before) !== JSON.stringify(settings)) {
      this.log.info({ settings }, 'gate settings changed by the cloud');
      const { lastScans: _s, alarms: _a, ...state } = this.state();
      this.notify({ type: 'state', state });
    }
  }

  /** The settings in force and where they come from (terminal, tests). */
  get gateSettings(): Readonly<EffectiveGateSettings> {
    return this.settings;
  }

  private isStale(): boolean {
    const last = this.replica.lastCloudContactAt();
    return last === null || this.now() - last > this.settings.stalenessLimitMs;
  }

  /** The `status` message (docs/contract.md), as it would be published now. */
  status(): GateStatus {
    return {
      online: this.link?.connected ?? false,
      mode: this.replica.mode(),
      rev: this.replica.rev(),
      journalDepth: this.journal.depth(),
      devices: this.deviceStates(),
      version: this.version,
      ts: this.now(),
      stale: this.isStale(),
      fire: this.turnstile.fireAlarm,
      journalFull: this.journalFull,
      ...this.healthFields(),
      ...this.clockFields(),
      contract: CONTRACT_VERSION,
      ...(this.tokenExpiry() === undefined ? {} : { tokenExpiresAt: this.tokenExpiry() }),
    };
  }

  private clockFields(): Pick<GateStatus, 'clockSkewMs' | 'clockSource' | 'clockAgeMs'> {
    const info = this.clock.info();
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
  private healthFields(): Pick<GateStatus, 'health' | 'problems' | 'eventLoopP99Ms'> {
    const problems: string[] = [];
    const link = this.link?.linkState ?? 'stopped';
    if (link !== 'connected') problems.push(`mqtt-${link}`);
    const devices = this.deviceStates();
    for (const [name, state] of Object.entries(devices)) if (state === 'fault') problems.push(`${name}-fault`);
    if (this.replica && this.isStale()) problems.push('stale');
    if (this.journalFull) problems.push('journal-full');
    if (this.eventLoop.degraded) problems.push('event-loop-slow');
    return {
      health: problems.length === 0 ? 'ok' : 'degraded',
      problems,
      eventLoopP99Ms: this.eventLoop.snapshot().p99Ms,
    };
  }

  /** `GET /healthz` of the terminal's port. */
  health(): { status: 'ok' | 'degraded' } & Record<string, unknown> {
    const status = this.status();
    const failure = this.link?.lastFailure;
    return {
      status: status.health ?? 'ok',
      problems: status.problems ?? [],
      mqtt: {
        state: this.link?.linkState ?? 'stopped',
        ...(failure?.error ? { lastError: failure.error } : {}),
        failedAttempts: failure?.attempts ?? 0,
      },
      online: status.online,
      stale: status.stale ?? false,
      rev: status.rev,
      journalDepth: status.journalDepth,
      devices: status.devices,
      eventLoop: this.eventLoop.snapshot(),
      version: status.version,
    };
  }

  /** `GET /metrics` of the terminal's port (Prometheus text). */
  metrics(): string {
    return gateMetrics({
      gateId: this.config.gateId,
      status: this.status(),
      linkState: this.link?.linkState ?? 'stopped',
      eventLoop: this.eventLoop.snapshot(),
      counters: this.counters,
      terminal: this.terminalRefusals,
      guards: this.guardSessions?.counters ?? { signIns: 0, failures: 0, lockouts: 0 },
    });
  }

  /**
   * The expiry of the token the link presents: while the broker refuses a renewed token and the
   * link falls back to the previous one, the cloud must see the previous one's expiry, so its
   * renewal retries and its expiry alarm still fire (cloud/tokens/gate-token-renewal.ts).
   */
  private tokenExpiry(): number | undefined {
    if (this.link?.usingPreviousToken) {
      const inUse = this.link.tokenInUse;
      return inUse === undefined ? undefined : expOf(inUse);
    }
    return this.tokens?.expiresAt;
  }

  private publishStatus(): void {
    if (!this.running) return;
    const status = this.status();
    this.link.publish(topics.gateStatus(this.config.gateId), JSON.stringify(status), { qos: 1, retain: true });
    this.emit('status', status);
  }

  /** Publishes status and updates the terminal when something a person would care about changed. */
  private statusMaybeChanged(): void {
    if (!this.running) return;
    this.checkClock();
    const { online, mode, rev, devices, stale, fire, journalFull, clockSource, health, problems } = this.status();
    const clockSkewed = this.clock.info().skewed;
    const key = JSON.stringify({
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
    if (key === this.lastStatusKey) return;
    this.lastStatusKey = key;
    this.publishStatus();
    const { lastScans: _s, alarms: _a, ...state } = this.state();
    this.notify({ type: 'state', state });
  }

  state(): TerminalState {
    const status = this.status();
    return {
      gateId: this.config.gateId,
      compoundId: this.config.compoundId,
      mode: status.mode,
      rev: status.rev,
      online: status.online,
      stale: status.stale ?? false,
      fire: status.fire ?? false,
      journalDepth: status.journalDepth,
      journalFull: this.journalFull,
      devices: status.devices,
      labels: this.settings.labels,
      clock: this.clock.info(),
      health: status.health ?? 'ok',
      problems: status.problems ?? [],
      eventLoopP99Ms: status.eventLoopP99Ms ?? 0,
      lastScans: [...this.recentScans],
      alarms: [...this.recentAlarms],
    };
  }

  subscribe(listener: (update: TerminalUpdate) => void): () => void {
    this.terminalListeners.add(listener);
    return () => this.terminalListeners.delete(listener);
  }

  private notify(update: TerminalUpdate): void {
    for (const listener of this.terminalListeners) {
      try {
        listener(update);
      } catch (error) {
        this.log.warn({ err: (error as Error).message }, 'terminal listener failed');
      }
    }
  }

  private baseScan(
    event: EntryEvent,
  ): Omit<
    TerminalScan,
    'key' | 'tone' | 'colour' | 'icon' | 'maskedName' | 'zh' | 'en' | 'nextZh' | 'nextEn' | 'waiting'
  > {
    return {
      seq: event.seq,
      ts: event.ts,
      direction: event.direction,
      method: event.method,
      result: event.result,
      reason: event.reason,
      health: event.health,
      passed: event.passed,
      ...(event.guard ? { guard: event.guard } : {}),
    };
  }

  private scanOf(key: number, decision: Decision, event: EntryEvent | undefined, waiting: boolean): TerminalScan {
    // A grant with a configured turnstile that is not working must not read as "go".
    const turnstileDown = decision.result === 'granted' && this.devices.turnstile?.status === 'fault';
    const fault = TURNSTILE_FAULT_TEXT;
    const display = turnstileDown
      ? { ...fault, colour: TONE_COLOUR[fault.tone], icon: TONE_ICON[fault.tone] }
      : decision.display;
    return {
      key,
      seq: event?.seq ?? null,
      ts: event?.ts ?? this.now(),
      direction: decision.direction,
      method: decision.method,
      result: decision.result,
      reason: decision.reason,
      health: decision.health,
      tone: display.tone,
      colour: display.colour,
      icon: display.icon,
      maskedName: decision.display.maskedName,
      zh: display.zh,
      en: display.en,
      nextZh: display.nextZh,
      nextEn: display.nextEn,
      passed: event?.passed ?? null,
      waiting,
      ...(decision.guard ? { guard: decision.guard } : {}),
      ...(decision.openReason ? { openReason: decision.openReason } : {}),
    };
  }

  private pushScan(scan: TerminalScan): void {
    const index = this.recentScans.findIndex((s) => s.key === scan.key);
    if (index >= 0) this.recentScans[index] = scan;
    else {
      this.recentScans.unshift(scan);
      this.recentScans.length = Math.min(this.recentScans.length, RECENT_SCANS);
    }
    this.notify({ type: 'scan', scan });
    this.statusMaybeChanged();
  }

  /** The lanes of the result screen: configured, or the directions the gate's readers face. */
  private screenLanes(): Direction[] {
    const configured = this.config.terminal.lanes;
    if (configured) return [...new Set(configured)];
    const lanes = new Set<Direction>(this.config.devices.readers.map((r) => r.direction));
    if (lanes.size === 0) lanes.add('in');
    return (['in', 'out'] as const).filter((d) => lanes.has(d));
  }

  private async startHttp(): Promise<void> {
    const terminal = this.config.terminal;
    this.guardSessions = new GuardSessions({
      guards: terminal.guards,
      idleMs: terminal.sessionIdleMs,
      maxMs: terminal.sessionMaxMs,
      now: this.now,
      logger: this.log,
      onLockout: (detail) => this.raiseAlarm('tamper', detail),
    });
    const app = createTerminalApp({
      backend: this,
      sessions: this.guardSessions,
      screen: { lanes: this.screenLanes(), holdMs: terminal.holdMs, clearMs: terminal.clearMs },
      listenHost: this.config.http.host,
      allowedHosts: terminal.allowedHosts,
      secureCookie: terminal.secureCookie,
      now: this.now,
      health: () => this.health(),
      metrics: () => this.metrics(),
      counters: this.terminalRefusals,
    });
    const { port, host } = this.config.http;
    await new Promise<void>((resolve, reject) => {
      const server = serve({ fetch: app.fetch, port, hostname: host }, (info) => {
        this.httpAddress = info;
        resolve();
      });
      server.once('error', reject);
      this.http = server;
    });
  }

  private async stopHttp(): Promise<void> {
    const server = this.http;
    this.http = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // SSE streams never end by themselves.
      if ('closeAllConnections' in server) server.closeAllConnections();
    });
  }
}

export function createEdgeAgent(config: EdgeConfig, options: EdgeAgentOptions = {}): EdgeAgent {
  return new EdgeAgent(config, options);
}

/** `facility:number` of a Wiegand-26 read; null for anything else (a misread never matches a card). */
function osdpCardNumber(card: OsdpCard): string | null {
  return card.format === 'wiegand26' && card.facility !== undefined && card.number !== undefined
    ? `${card.facility}:${card.number}`
    : null;
}
