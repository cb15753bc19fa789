/**
 * The gate process (docs/architecture.md §1, `edge-agent/`): devices in, `decideEntry`, journal,
 * turnstile, uplink, sync, status, remote commands and the guard terminal, wired together.
 *
 * The path from a read to the unlock is synchronous and local (docs/architecture.md rule 1):
 * passages.ts decides over the SQLite replica, appends to the SQLite journal and commands the
 * turnstile. Everything on the network — events, alarms, status, sync — happens beside it,
 * fire-and-forget. The parts live in their own modules: gate-parts.ts builds them, lane-devices.ts
 * runs the devices, gate-commands.ts answers the cloud's commands, gate-alarms.ts and
 * gate-status.ts say how the gate is, terminal/ serves the guard.
 */
import { EventEmitter } from 'node:events';
import { type ParsedKeys, parseKeysFile, readKeysFile } from '../shared/keys.ts';
import { type Logger, silentLogger } from '../shared/log.ts';
import type { GateStatus } from '../shared/schemas/mqtt.ts';
import { packageVersion } from '../shared/version.ts';
import { startGateTimers, wireGate } from './gate-wiring.ts';
import { CloudReadiness } from './cloud-readiness.ts';
import type { EdgeConfig } from './config.ts';
import type { Credential, GateContext } from './decision.ts';
import { createDevices } from './device-factory.ts';
import { laneReaders } from './devices.ts';
import { EventLoopHealth } from './event-loop-health.ts';
import { AlarmWatch, GateAlarms } from './gate-alarms.ts';
import { GateClock } from './gate-clock.ts';
import { GateCommands } from './gate-commands.ts';
import type { GateDatabase } from './gate-database.ts';
import type { DistributionOutcome } from './supply/distribution-point.ts';
import { createSupplyRole, type GuardClaimRequest, type RoleDesk, type SupplyRole } from './supply/supply-role.ts';
import {
  createGateContext,
  createGateLink,
  createSyncConsumer,
  createTurnstileControl,
  createUplink,
  type EdgeAgentEvents,
  type EdgeAgentOptions,
  type GateStorage,
  type InputCounters,
  openGateStorage,
} from './gate-parts.ts';
import { applyGateSettings, type EffectiveGateSettings } from './gate-settings.ts';
import { GateReporter } from './gate-status.ts';
import type { JournalStore } from './journal-store.ts';
import { LaneDevices } from './lane-devices.ts';
import type { MqttLink } from './mqtt-link.ts';
import { PassageDesk, type PresentResult } from './passages.ts';
import type { ReplicaStore } from './replica-store.ts';
import type { SyncConsumer } from './sync-consumer.ts';
import { TerminalFeed } from './terminal/terminal-feed.ts';
import { TerminalServer } from './terminal/terminal-server.ts';
import type {
  GuardClaimReply,
  ManualOpenRequest,
  SupplyHousehold,
  TerminalBackend,
  TerminalState,
  TerminalUpdate,
} from './terminal/terminal-state.ts';
import type { GateTokenStore } from './token-store.ts';
import type { TurnstileControl } from './turnstile-control.ts';
import type { Uplink } from './uplink.ts';
import type { WalCheckpointer } from './wal-checkpointer.ts';

export type { EdgeAgentEvents, EdgeAgentOptions } from './gate-parts.ts';
export type { PresentResult } from './passages.ts';

export class EdgeAgent extends EventEmitter<EdgeAgentEvents> implements TerminalBackend {
  readonly config: EdgeConfig;
  private readonly log: Logger;
  private readonly logger: Logger;
  private readonly now: () => number;
  /** The wall clock checked against the cloud's (acks carry its time): skew and decision time. */
  private clock: GateClock;
  private readonly options: EdgeAgentOptions;
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
  private oversized!: InputCounters['oversized'];
  private turnstile!: TurnstileControl;
  private lane: LaneDevices | undefined;
  private gate!: GateContext;
  private desk!: PassageDesk;
  /** The distribution role's claim journal, uplink and point (supply/supply-role.ts). */
  private supply!: SupplyRole;
  private commands!: GateCommands;
  private watch!: AlarmWatch;
  /** Status to the cloud, state to the terminal (gate-status.ts); absent until the parts are built. */
  private reporter!: GateReporter;
  /** gate.json's defaults overlaid with the cloud's `gate.settings` (gate-settings.ts). */
  private settings!: EffectiveGateSettings;
  private terminal: TerminalServer | undefined;
  private running = false;
  private version = '0.0.0';
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly feed: TerminalFeed;
  private readonly alarms: GateAlarms;
  private readonly eventLoop = new EventLoopHealth();
  readonly counters = { decisions: 0, journalErrors: 0, commandsRejected: 0, alarms: 0 };
  /** Terminal requests refused for a foreign Host or Origin (terminal/request-guard.ts). */
  readonly terminalRefusals = { foreignHost: 0, foreignOrigin: 0 };

  constructor(config: EdgeConfig, options: EdgeAgentOptions = {}) {
    super();
    this.config = config;
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.log = this.logger.child({ component: 'edge.agent', gateId: config.gateId });
    const clock = options.clock;
    this.now = clock ? () => clock.now() : Date.now;
    this.clock = new GateClock({ wall: this.now });
    this.feed = new TerminalFeed(this.log);
    this.alarms = new GateAlarms({
      gateId: config.gateId,
      now: this.now,
      log: this.log,
      counters: this.counters,
      publisher: () => (this.running ? this.link : undefined),
      onAlarm: (alarm) => {
        this.feed.notify({ type: 'alarm', alarm });
        this.emit('alarm', alarm);
      },
    });
  }

  /** `http://host:port` of the guard terminal once started. */
  get terminalUrl(): string | undefined {
    const address = this.terminal?.address;
    return address && `http://${this.config.http.host}:${address.port}`;
  }

  get journalDepth(): number {
    return this.journal.depth();
  }

  async start(): Promise<void> {
    if (this.running) return;
    try {
      // Only the public ring and the pepper are used; a gate never needs a private key.
      const keys = this.config.keysFile ? readKeysFile(this.config.keysFile) : parseKeysFile(this.config.keys);
      this.version = this.options.version ?? packageVersion();
      this.openStorage();
      this.connectCloud(keys);
      this.buildLane(keys);
      this.listenToLink();
      await this.run();
    } catch (error) {
      // Leave nothing half-open (ports, the SQLite file, timers) behind a failed start.
      this.running = true;
      await this.stop().catch(() => {});
      throw error;
    }
  }

  /** The SQLite file: replica, journal (passages a restart interrupted are closed as not passed), clock. */
  private openStorage(): void {
    const storage: GateStorage = openGateStorage(this.config, {
      logger: this.logger,
      log: this.log,
      now: this.now,
      monotonic: this.options.monotonic,
      bootId: this.options.bootId,
      onDurable: () => {
        this.watch.journalDurable();
        if (this.running) this.uplink.pump();
      },
      onSyncError: (error) => this.watch.journalSyncFailed(error),
    });
    ({ db: this.db, checkpointer: this.checkpointer, replica: this.replica, journal: this.journal } = storage);
    this.clock = storage.clock;
    this.watch = new AlarmWatch({
      config: this.config,
      alarms: this.alarms,
      clock: this.clock,
      journalDepth: () => this.journal.depth(),
      freeSpace: this.options.freeSpace,
      running: () => this.running,
      changed: () => this.statusMaybeChanged(),
      log: this.log,
    });
  }

  /** The MQTT link, the uplink of the journal, the sync consumer, and the cloud's readiness. */
  private connectCloud(keys: ParsedKeys): void {
    const { config, logger } = this;
    ({ tokens: this.tokens, link: this.link } = createGateLink(config, {
      ring: keys.ring,
      log: this.log,
      logger,
      now: this.now,
      will: () => JSON.stringify({ ...this.status(), online: false }),
    }));
    this.uplink = createUplink(config, this.journal, this.link, logger, this.now);
    this.uplink.onPruned = () => this.watch.checkJournalDepth();
    this.sync = createSyncConsumer(config, this.replica, this.link, logger, this.now, this.alarms);
    this.sync.onReplicaChanged = () => this.replicaChanged();
    this.readiness = new CloudReadiness({ logger, fallbackMs: config.timeouts.cloudReadyMs });
  }

  /** The devices, the turnstile, the decision's context, and what handles passages and commands. */
  private buildLane(keys: ParsedKeys): void {
    const { config } = this;
    const devices = this.options.devices ?? createDevices(config, this.logger, this.options.binding);
    const readers = laneReaders(devices, (name) => config.devices.readers.find((r) => r.name === name)?.direction);
    this.turnstile = createTurnstileControl(config, devices.turnstile, this.logger, this.now);
    this.gate = createGateContext(config, keys, this.replica, this.log);
    this.desk = new PassageDesk({
      gateId: config.gateId,
      now: this.now,
      log: this.log,
      counters: this.counters,
      gate: this.gate,
      clock: this.clock,
      replica: this.replica,
      journal: this.journal,
      turnstile: this.turnstile,
      uplink: this.uplink,
      feed: this.feed,
      watch: this.watch,
      open: () => this.db !== undefined,
      turnstileDown: () => devices.turnstile?.status === 'fault',
      changed: () => this.statusMaybeChanged(),
      onDecision: (event, decision) => this.emit('decision', event, decision),
    });
    this.supply = createSupplyRole(config, {
      db: this.db!,
      replica: this.replica,
      publisher: this.link,
      feed: this.feed,
      gate: this.gate,
      logger: this.logger,
      log: this.log,
      now: this.now,
      changed: () => this.statusMaybeChanged(),
      onClaim: (outcome) => this.emit('claim', outcome),
      clock: this.clock,
      settingsChanged: () => this.replicaChanged(),
    });
    this.applySettings();
    this.lane = new LaneDevices({
      readers,
      turnstile: devices.turnstile,
      turnstileCardDirection: config.devices.turnstile?.cardDirection ?? 'in',
      // A distribution point claims supplies with a swipe instead of opening (docs/supplies.md).
      present: (credential, readAt) => {
        if (this.settings.role === 'distribution') void this.claim(credential, readAt);
        else this.present(credential, readAt);
      },
      raiseAlarm: (kind, detail) => this.alarms.raise(kind, detail),
      changed: () => this.statusMaybeChanged(),
      log: this.log,
    });
    this.buildReporting();
  }

  /** Status and state (gate-status.ts), and the cloud's commands (gate-commands.ts). */
  private buildReporting(): void {
    const { config } = this;
    this.reporter = new GateReporter({
      config,
      version: this.version,
      now: this.now,
      link: this.link,
      tokens: this.tokens,
      replica: this.replica,
      journal: this.journal,
      turnstile: this.turnstile,
      lane: this.lane!,
      watch: this.watch,
      alarms: this.alarms,
      clock: this.clock,
      eventLoop: this.eventLoop,
      feed: this.feed,
      settings: () => this.settings,
      running: () => this.running,
      onStatus: (status) => this.emit('status', status),
    });
    this.commands = new GateCommands({
      gateId: config.gateId,
      link: this.link,
      tokens: this.tokens,
      counters: this.counters,
      log: this.log,
      target: {
        manualOpen: (request) => this.manualOpen(request),
        requestFullResync: () => this.sync.requestFullResync(),
        tokenRenewed: () => this.publishStatus(),
        restartDevices: async () => {
          await this.lane?.restart();
          this.statusMaybeChanged();
        },
      },
    });
  }

  /** The turnstile's, the readiness' and the link's events. */
  private listenToLink(): void {
    this.oversized = wireGate(
      {
        config: this.config,
        turnstile: this.turnstile,
        readiness: this.readiness,
        link: this.link,
        uplink: this.uplink,
        sync: this.sync,
        claims: this.supply.uplink,
        commands: this.commands,
        gate: this.gate,
        desk: this.desk,
        alarms: this.alarms,
        journal: this.journal,
        replica: this.replica,
        clock: this.clock,
        watch: this.watch,
        now: this.now,
        log: this.log,
      },
      {
        changed: () => this.statusMaybeChanged(),
        publishStatus: () => this.publishStatus(),
      },
    ).counters;
  }

  /** Starts what was built, in order: local first (devices, terminal), then the network. */
  private async run(): Promise<void> {
    const { config } = this;
    this.running = true;
    this.eventLoop.start();
    this.turnstile.start();
    this.turnstile.setFreeByMode(this.replica.mode() === 'emergency-open');
    this.uplink.start();
    this.sync.start();
    this.supply.uplink.start();
    await this.lane!.start();
    if (config.http.enabled) {
      this.terminal = new TerminalServer({
        config,
        logger: this.log,
        backend: this,
        now: this.now,
        counters: this.terminalRefusals,
        onLockout: (detail) => this.alarms.raise('tamper', detail),
      });
      await this.terminal.start();
    }
    this.link.start();

    this.timers.push(
      ...startGateTimers(config.statusIntervalMs, {
        changed: () => this.statusMaybeChanged(),
        publishStatus: () => this.publishStatus(),
        checkFreeSpace: () => this.checkFreeSpace(),
      }),
    );
    await this.checkFreeSpace();
    const started = { version: this.version, rev: this.replica.rev(), mode: this.replica.mode() };
    this.log.info({ ...started, journalDepth: this.journal.depth(), terminal: this.terminalUrl }, 'edge agent started');
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.eventLoop.stop();
    // Members are absent when stop() cleans up after a failed start.
    this.turnstile?.stop();
    await this.desk?.settle();
    await this.lane?.stop();
    this.readiness?.stop();
    this.uplink?.stop();
    this.sync?.stop();
    this.supply?.close();
    if (this.link?.connected) this.reporter.publishOffline();
    await this.link?.stop();
    await this.terminal?.stop();
    this.feed.clear();
    this.journal?.close();
    await this.checkpointer?.stop();
    this.checkpointer = undefined;
    this.db?.close();
    this.db = undefined;
    this.log.info('edge agent stopped');
  }

  /** Decides a credential as if a device had read it (the devices call this too). */
  present(credential: Credential, readAt?: bigint): PresentResult {
    return this.desk.present(credential, readAt);
  }

  /** The terminal's and the `open` command's manual passage. */
  manualOpen(request: ManualOpenRequest): { seq: number | null } {
    return this.desk.manualOpen(request);
  }

  /** A swipe at a distribution point: the allocation shown, the claim decided and journaled. */
  claim(credential: Credential, readAt?: bigint): Promise<DistributionOutcome> {
    return this.supply.claim(credential, readAt);
  }

  /** The terminal's guard claim for a household member without a card. */
  guardClaim(request: GuardClaimRequest): Promise<GuardClaimReply> {
    return this.supply.guardClaim(request, this.settings.role);
  }

  /** The terminal's household lookup (members masked, the current round, a claim). */
  supplyHousehold(householdId: string): SupplyHousehold {
    return this.supply.point.household(householdId);
  }

  /** The guard's switch of the role at the terminal, and the gate's own audit of it (supply/gate-role.ts). */
  get roles(): RoleDesk {
    return this.supply.roleDesk;
  }

  /** Bad input counters: acks, sync and changes, the cloud's status, payloads over their size limit. */
  get inputCounters(): InputCounters {
    const { uplink, sync, readiness, oversized } = this;
    return { acks: uplink.counters, sync: sync.counters, readiness: readiness.counters, oversized };
  }

  /** The periodic check of the disk under the journal (gate-alarms.ts). */
  private async checkFreeSpace(): Promise<void> {
    await this.watch.checkFreeSpace();
  }

  private replicaChanged(): void {
    this.turnstile.setFreeByMode(this.replica.mode() === 'emergency-open');
    this.applySettings();
    this.statusMaybeChanged();
  }

  /** The cloud's settings as the replica holds them (offline, across restarts), a guard's role switch over them. */
  private applySettings(): void {
    const settings = this.supply.settings();
    const before = this.settings;
    this.settings = settings;
    applyGateSettings(settings, { gate: this.gate, turnstile: this.turnstile, sync: this.sync });
    if (before && JSON.stringify(before) !== JSON.stringify(settings)) {
      this.log.info({ settings }, 'gate settings changed');
      this.reporter.notifyState();
    }
  }

  /** The settings in force and where they come from (terminal, tests). */
  get gateSettings(): Readonly<EffectiveGateSettings> {
    return this.settings;
  }

  /** The `status` message (docs/contract.md §2), as it would be published now. */
  status(): GateStatus {
    return this.reporter.status();
  }

  /** `GET /healthz` of the terminal's port. */
  health(): { status: 'ok' | 'degraded' } & Record<string, unknown> {
    return this.reporter.health();
  }

  /** `GET /metrics` of the terminal's port (Prometheus text). */
  metrics(): string {
    return this.reporter.metrics({
      counters: this.counters,
      terminal: this.terminalRefusals,
      guards: this.terminal?.guardCounters ?? { signIns: 0, failures: 0, lockouts: 0 },
    });
  }

  private publishStatus(): void {
    this.reporter?.publish();
  }

  private statusMaybeChanged(): void {
    this.reporter?.maybeChanged();
  }

  state(): TerminalState {
    return this.reporter.state();
  }

  subscribe(listener: (update: TerminalUpdate) => void): () => void {
    return this.feed.subscribe(listener);
  }
}

export function createEdgeAgent(config: EdgeConfig, options: EdgeAgentOptions = {}): EdgeAgent {
  return new EdgeAgent(config, options);
}
