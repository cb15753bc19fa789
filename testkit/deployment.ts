/**
 * A whole deployment as real processes on 127.0.0.1, for the fault suites: `node bin/anxin.mjs
 * broker|cloud|edge …` as child processes with a temp data dir and free ports, so faults are real
 * signals (SIGKILL is a crash: no clean-up, no flush) and recovery happens with no help from the test.
 *
 *   const d = await Deployment.create({ gates: ['g1'] });
 *   await d.startBroker(); await d.startCloud(); await d.startEdge('g1');
 *   const { seq } = await d.manualOpen('g1');       // one journaled passage over the gate terminal
 *   await d.kill('cloud', 'SIGKILL'); await d.startCloud();
 *   await d.expectEveryPassageStoredOnce('g1');
 *   await d.close();
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { EdgeConfigInput } from '../edge-agent/config.ts';
import { GATE_DB_FILE } from '../edge-agent/gate-database.ts';
import type { TerminalState } from '../edge-agent/terminal/terminal-state.ts';
import type { HttpRole, Role } from '../shared/enums.ts';
import { createKeysFile, type KeysFile, type ParsedKeys, parseKeysFile, publicOnly } from '../shared/keys.ts';
import { AnxinProcess, brokerArgs, cloudArgs, eventually, tcpOpen } from './anxin-process.ts';
import { seedCloudDatabase, sessionToken, signedToken, visitorResident } from './cloud-seed.ts';
import { freePort } from './mosquitto.ts';
import { guardCookie, TEST_GUARD } from './terminal-guard.ts';

export { AnxinProcess, eventually, ROOT, tcpOpen } from './anxin-process.ts';

export const COMPOUND = 'c-rel';
export const PASSWORD = 'reliability-pw';
const HOUR = 3_600_000;

export interface DeploymentOptions {
  gates: string[];
  /** Broker `--revocations` file (created empty) when true. */
  revocations?: boolean;
  /**
   * Visitors of the compound, by person id: the people the suite's passes name. The cloud admits
   * only passages of the gate's own compound's people (cloud/ingest/event-admission.ts).
   */
  visitors?: readonly string[];
}

export interface EdgeOptions {
  /** Merged over the default gate.json (no devices, fast reconnects, short ack timeout). */
  config?: Partial<EdgeConfigInput>;
  /** The gate's MQTT token (default: a fresh valid gate token). */
  token?: string;
}

/** A deployment of real processes; one per suite. */
export class Deployment {
  readonly dir: string;
  readonly keysPath: string;
  readonly publicKeysPath: string;
  readonly revocationsPath: string;
  readonly cloudDb: string;
  readonly keys: ParsedKeys;
  readonly processes = new Map<string, AnxinProcess>();
  readonly terminalPorts = new Map<string, number>();

  private constructor(
    readonly options: DeploymentOptions,
    readonly keysFile: KeysFile,
    readonly brokerPort: number,
    readonly cloudPort: number,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'anxin-reliability-'));
    this.keysPath = join(this.dir, 'keys.json');
    this.publicKeysPath = join(this.dir, 'keys.public.json');
    this.revocationsPath = join(this.dir, 'revoked.txt');
    this.cloudDb = join(this.dir, 'cloud', 'cloud.db');
    this.keys = parseKeysFile(keysFile);
    writeFileSync(this.keysPath, JSON.stringify(keysFile), { mode: 0o600 });
    writeFileSync(this.publicKeysPath, JSON.stringify(publicOnly(keysFile)));
    writeFileSync(this.revocationsPath, '');
  }

  static async create(options: DeploymentOptions): Promise<Deployment> {
    const deployment = new Deployment(options, createKeysFile(), await freePort(), await freePort());
    await deployment.seedCloudDatabase();
    return deployment;
  }

  /** Broker, cloud and an edge agent per gate, each gate online: where most fault scenarios start. */
  static async running(options: DeploymentOptions): Promise<Deployment> {
    const d = await Deployment.create(options);
    await d.startBroker();
    await d.startCloud();
    for (const gateId of options.gates) {
      await d.startEdge(gateId);
      await eventually(async () => (await d.gateState(gateId))?.online, `gate ${gateId} online`);
    }
    return d;
  }

  get mqttUrl(): string {
    return `mqtt://127.0.0.1:${this.brokerPort}`;
  }

  get cloudUrl(): string {
    return `http://127.0.0.1:${this.cloudPort}`;
  }

  /** The compound, its gates and three logins, written before the cloud first starts. */
  private async seedCloudDatabase(): Promise<void> {
    mkdirSync(join(this.dir, 'cloud'), { recursive: true });
    const now = Date.now();
    await seedCloudDatabase(this.cloudDb, {
      compounds: [COMPOUND],
      gates: this.options.gates.map((gateId) => ({ gateId, compoundId: COMPOUND })),
      residents: (this.options.visitors ?? []).map((personId) => visitorResident(personId, COMPOUND, now)),
      users: [
        { username: 'admin', role: 'admin' },
        { username: 'manager', role: 'manager' },
        { username: 'guard', role: 'guard', compoundId: COMPOUND },
      ],
      password: PASSWORD,
    });
  }

  /** A token signed with the deployment key (MQTT password or HTTP bearer). */
  token(sub: string, role: Role, over: { exp?: number; compound?: string; jti?: string } = {}): string {
    const compound = over.compound ?? (role === 'gate' || role === 'guard' ? COMPOUND : undefined);
    return signedToken(this.keys, {
      sub,
      role,
      exp: over.exp ?? Date.now() + HOUR,
      ...(compound ? { compound } : {}),
      ...(over.jti ? { jti: over.jti } : {}),
    });
  }

  /** A bearer token of a session opened in the cloud's database (cloud/auth/session-service.ts). */
  httpToken(role: HttpRole): string {
    return sessionToken(this.cloudDb, this.keys, {
      username: role,
      role,
      ...(role === 'guard' ? { compound: COMPOUND } : {}),
    });
  }

  private process(name: string, args: string[]): AnxinProcess {
    let proc = this.processes.get(name);
    if (!proc) {
      proc = new AnxinProcess(name, args);
      this.processes.set(name, proc);
    }
    return proc;
  }

  async startBroker(): Promise<void> {
    const proc = this.process(
      'broker',
      brokerArgs({
        port: this.brokerPort,
        publicKeysPath: this.publicKeysPath,
        ...(this.options.revocations ? { revocationsPath: this.revocationsPath } : {}),
      }),
    );
    proc.spawn();
    await eventually(
      () => tcpOpen(this.brokerPort),
      'the broker to listen',
      20_000,
      () => proc.output,
    );
  }

  async startCloud(): Promise<void> {
    const proc = this.process(
      'cloud',
      cloudArgs({ port: this.cloudPort, mqttUrl: this.mqttUrl, db: this.cloudDb, keysPath: this.keysPath }),
    );
    proc.spawn();
    await eventually(
      async () => (await this.cloudHealth())?.mqtt === 'connected',
      'the cloud to serve and reach the broker',
      20_000,
      () => proc.output,
    );
  }

  async cloudHealth(): Promise<{ status: string; mqtt?: string } | undefined> {
    try {
      const res = await fetch(`${this.cloudUrl}/healthz`);
      return res.ok ? ((await res.json()) as { status: string; mqtt?: string }) : undefined;
    } catch {
      return undefined;
    }
  }

  gateDataDir(gateId: string): string {
    return join(this.dir, 'gates', gateId);
  }

  gateDbPath(gateId: string): string {
    return join(this.gateDataDir(gateId), GATE_DB_FILE);
  }

  /** Writes gate.json (first time) and starts `anxin edge`; resolves once its terminal answers. */
  async startEdge(gateId: string, options: EdgeOptions = {}): Promise<void> {
    let port = this.terminalPorts.get(gateId);
    if (port === undefined) {
      port = await freePort();
      this.terminalPorts.set(gateId, port);
      const config: EdgeConfigInput = {
        gateId,
        compoundId: COMPOUND,
        mqtt: {
          url: this.mqttUrl,
          token: options.token ?? this.token(gateId, 'gate', { exp: Date.now() + 365 * 24 * HOUR }),
          reconnectMs: 200,
        },
        keysFile: this.publicKeysPath,
        dataDir: this.gateDataDir(gateId),
        http: { port, host: '127.0.0.1' },
        terminal: { guards: [TEST_GUARD] },
        timeouts: { ackMs: 2_000, syncRetryMs: 2_000 },
        statusIntervalMs: 2_000,
        ...options.config,
      };
      writeFileSync(join(this.dir, `${gateId}.json`), JSON.stringify(config, null, 2));
    }
    const proc = this.process(gateId, ['edge', '--config', join(this.dir, `${gateId}.json`)]);
    proc.spawn();
    await eventually(
      () => this.gateState(gateId),
      `gate ${gateId}'s terminal`,
      20_000,
      () => proc.output,
    );
  }

  /** One sign-in per gate at a time (concurrent bursts share it; the gate checks one PIN at a time). */
  private readonly guardCookies = new Map<string, Promise<string>>();

  /** A request to the gate terminal's guard API, signing in as the test guard when needed (again after a restart). */
  private async guardFetch(gateId: string, path: string, init: RequestInit = {}): Promise<Response> {
    const base = `http://127.0.0.1:${this.terminalPorts.get(gateId)}`;
    for (let attempt = 0; ; attempt++) {
      let pending = this.guardCookies.get(gateId);
      if (!pending) {
        pending = guardCookie(base);
        this.guardCookies.set(gateId, pending);
        pending.catch(() => this.guardCookies.delete(gateId));
      }
      const cookie = await pending;
      const res = await fetch(`${base}${path}`, { ...init, headers: { ...(init.headers ?? {}), cookie } });
      if (res.status !== 401 || attempt > 0) return res;
      if (this.guardCookies.get(gateId) === pending) this.guardCookies.delete(gateId);
    }
  }

  /** Any guard route of the gate's terminal, signed in as the test guard (e.g. a supply claim). */
  guardRequest(gateId: string, path: string, init: RequestInit = {}): Promise<Response> {
    return this.guardFetch(gateId, path, init);
  }

  async gateState(gateId: string): Promise<TerminalState | undefined> {
    try {
      const res = await this.guardFetch(gateId, '/api/state');
      return res.ok ? ((await res.json()) as TerminalState) : undefined;
    } catch {
      return undefined;
    }
  }

  /** One passage through the gate terminal's manual open: journaled before the answer comes back. */
  async manualOpen(gateId: string, reason = 'reliability'): Promise<number | null> {
    const res = await this.guardFetch(gateId, '/api/open', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason, direction: 'in' }),
    });
    if (!res.ok) throw new Error(`manual open: HTTP ${res.status}`);
    return ((await res.json()) as { seq: number | null }).seq;
  }

  /**
   * `count` passages, `concurrency` requests at a time. Requests that fail because the gate died
   * are counted, not thrown (their passages may or may not have been journaled).
   */
  async burst(gateId: string, count: number, concurrency = 8): Promise<{ seqs: number[]; failed: number }> {
    const seqs: number[] = [];
    let failed = 0;
    let next = 0;
    const worker = async () => {
      while (next < count) {
        next += 1;
        try {
          const seq = await this.manualOpen(gateId);
          if (seq !== null) seqs.push(seq);
        } catch {
          failed += 1;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { seqs, failed };
  }

  async kill(name: string, signal: NodeJS.Signals): Promise<void> {
    const proc = this.processes.get(name);
    if (!proc) throw new Error(`no process ${name}`);
    await proc.kill(signal);
  }

  /**
   * Stops a process where it stands (SIGSTOP) without ending it — its sockets stay open, so no one
   * sees it leave — until `resume`. A test holds a part still this way to line events up for certain.
   */
  pause(name: string): void {
    const pid = this.processes.get(name)?.pid;
    if (pid === undefined) throw new Error(`no process ${name}`);
    process.kill(pid, 'SIGSTOP');
  }

  resume(name: string): void {
    const pid = this.processes.get(name)?.pid;
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
  }

  /** Seqs of `gateId` in the cloud's database, ascending, duplicates included (read-only connection). */
  storedSeqs(gateId: string): number[] {
    const db = new Database(this.cloudDb, { readonly: true, fileMustExist: true });
    try {
      return db
        .prepare<[string], { seq: number }>('SELECT seq FROM events WHERE gate_id = ? ORDER BY seq')
        .all(gateId)
        .map((r) => r.seq);
    } finally {
      db.close();
    }
  }

  /** A comparable picture of everything the cloud stores that bad input must not change. */
  storeSnapshot(): Record<string, unknown> {
    const db = new Database(this.cloudDb, { readonly: true, fileMustExist: true });
    try {
      const tables = [
        'events',
        'gate_acks',
        'residents',
        'passes',
        'change_log',
        'compounds',
        'gates',
        'alarms',
        'commands',
      ];
      return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all()]));
    } finally {
      db.close();
    }
  }

  /** The gate journal's persisted last seq (read-only; the gate may be running, WAL allows it). */
  gateLastSeq(gateId: string): number {
    const db = new Database(this.gateDbPath(gateId), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'journal.lastSeq'").get();
      return Number(row?.value ?? 0);
    } finally {
      db.close();
    }
  }

  /**
   * The assertion every fault scenario ends with: the gate is online with an empty journal, the
   * cloud holds seq 1 … lastSeq of the gate exactly once (no gap, no duplicate), every seq the
   * gate confirmed is among them, and every process is up and healthy with no exit we did not cause.
   */
  async expectEveryPassageStoredOnce(gateId: string, confirmed: readonly number[] = [], timeoutMs = 30_000) {
    const proc = this.processes.get(gateId);
    await eventually(
      async () => {
        const s = await this.gateState(gateId);
        return s?.online === true && s.journalDepth === 0;
      },
      `gate ${gateId} online with every passage acknowledged`,
      timeoutMs,
      () => `${proc?.output ?? ''}\ncloud:\n${this.processes.get('cloud')?.output ?? ''}`,
    );
    const lastSeq = this.gateLastSeq(gateId);
    const stored = this.storedSeqs(gateId);
    assert.equal(stored.length, lastSeq, `gate ${gateId}: stored passages vs. the journal's last seq`);
    assert.deepEqual(
      stored,
      Array.from({ length: lastSeq }, (_, i) => i + 1),
    );
    const storedSet = new Set(stored);
    assert.deepEqual(
      confirmed.filter((seq) => !storedSet.has(seq)),
      [],
      'confirmed passages missing from the cloud',
    );
    await this.expectAllHealthy();
    return { lastSeq };
  }

  async expectAllHealthy(): Promise<void> {
    for (const proc of this.processes.values()) {
      assert.deepEqual(proc.unexpectedExits, [], proc.output);
      assert.equal(proc.running, true, `${proc.name} is running`);
    }
    if (this.processes.has('cloud')) {
      const health = await eventually(() => this.cloudHealth(), 'cloud /healthz');
      assert.deepEqual({ status: health.status, mqtt: health.mqtt }, { status: 'ok', mqtt: 'connected' });
    }
    for (const gateId of this.terminalPorts.keys()) {
      if (!this.processes.get(gateId)?.running) continue;
      const state = await this.gateState(gateId);
      assert.equal(state?.online, true, `gate ${gateId} online`);
    }
  }

  async close(): Promise<void> {
    // Gates first (their last status needs the broker), then the cloud, then the broker.
    const order = [...this.processes.values()].sort((a, b) => rank(a.name) - rank(b.name));
    for (const proc of order) {
      if (!proc.running) continue;
      // A paused process would not act on SIGTERM before it is continued.
      if (proc.pid !== undefined) process.kill(proc.pid, 'SIGCONT');
      const exited = proc.kill('SIGTERM');
      const timer = setTimeout(() => void proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function rank(name: string): number {
  if (name === 'broker') return 2;
  if (name === 'cloud') return 1;
  return 0;
}
