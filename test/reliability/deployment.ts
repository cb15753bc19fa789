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
import { issueSessionInFile } from '../../cloud/auth/sqlite-session-store.ts';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { hashPassword } from '../../cloud/auth/password-hash.ts';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import type { EdgeConfigInput } from '../../edge-agent/config.ts';
import { GATE_DB_FILE } from '../../edge-agent/gate-database.ts';
import type { TerminalState } from '../../edge-agent/terminal/terminal-state.ts';
import type { HttpRole, Role } from '../../shared/enums.ts';
import { createKeysFile, type KeysFile, type ParsedKeys, parseKeysFile, publicOnly } from '../../shared/keys.ts';
import { signToken } from '../../shared/token.ts';
import { freePort } from '../../testkit/mosquitto.ts';
import { guardCookie, TEST_GUARD } from '../helpers/terminal-guard.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const COMPOUND = 'c-rel';
export const PASSWORD = 'reliability-pw';
const HOUR = 3_600_000;

/** Resolves once `check()` holds; polls every 25 ms; throws with `what` (and `detail()`) after `ms`. */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  ms = 15_000,
  detail: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** One `anxin …` child process, restartable with the same arguments. */
export class AnxinProcess {
  child: ChildProcess | undefined;
  output = '';
  /** Exits the test did not ask for (a crash the system should never have). */
  readonly unexpectedExits: string[] = [];
  private expectingExit = false;

  constructor(
    readonly name: string,
    readonly args: string[],
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  spawn(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.expectingExit = false;
    const child = spawn(process.execPath, ['bin/anxin.mjs', ...this.args], {
      cwd: ROOT,
      env: { ...process.env, ANXIN_LOG_LEVEL: 'warn', NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const append = (chunk: Buffer) => {
      // Keep the tail only: a long run must not grow the test's memory without bound.
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    child.once('exit', (code, signal) => {
      if (!this.expectingExit) this.unexpectedExits.push(`${this.name} exited (code ${code}, signal ${signal})`);
    });
    this.child = child;
  }

  /** Sends `signal` and waits for the exit. */
  async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.child;
    if (!child || !this.running) return { code: child?.exitCode ?? null, signal: child?.signalCode ?? null };
    this.expectingExit = true;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, sig) => resolve({ code, signal: sig })),
    );
    child.kill(signal);
    return exited;
  }
}

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
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(this.dir, 'cloud'), { recursive: true });
    const store = new SqliteCloudStore({ path: this.cloudDb });
    const now = Date.now();
    await store.createCompound({ id: COMPOUND, name: 'Reliability', timeZone: 'Asia/Shanghai' }, now);
    for (const id of this.options.gates) {
      await store.createGate({ id, compoundId: COMPOUND, name: id, antiPassback: false }, now);
    }
    await store.upsertResidents(
      (this.options.visitors ?? []).map((personId) => ({
        personId,
        compoundId: COMPOUND,
        householdId: null,
        kind: 'visitor' as const,
        name: '访客',
        maskedName: '访*',
        idSealed: null,
        idHash: null,
        maskedIdNumber: null,
        phone: null,
        cards: [],
        elderly: false,
        validFrom: null,
        validTo: null,
        active: true,
        health: 'unknown' as const,
        healthTs: null,
        createdAt: now,
        updatedAt: now,
      })),
    );
    const passwordHash = await hashPassword(PASSWORD);
    for (const [username, role] of [
      ['admin', 'admin'],
      ['manager', 'manager'],
      ['guard', 'guard'],
    ] as const) {
      await store.createUser({
        username,
        passwordHash,
        role,
        compoundId: role === 'guard' ? COMPOUND : null,
        createdAt: now,
      });
    }
    await store.close();
  }

  /** A token signed with the deployment key (MQTT password or HTTP bearer). */
  token(sub: string, role: Role, over: { exp?: number; compound?: string; jti?: string } = {}): string {
    const signing = this.keys.signing;
    if (!signing) throw new Error('no signing key');
    const compound = over.compound ?? (role === 'gate' || role === 'guard' ? COMPOUND : undefined);
    return signToken(
      {
        sub,
        role,
        exp: over.exp ?? Date.now() + HOUR,
        ...(compound ? { compound } : {}),
        ...(over.jti ? { jti: over.jti } : {}),
      },
      signing,
    );
  }

  /** A bearer token of a session opened in the cloud's database (cloud/auth/session-book.ts). */
  httpToken(role: HttpRole): string {
    const signing = this.keys.signing;
    if (!signing) throw new Error('no signing key');
    const compound = role === 'guard' ? COMPOUND : undefined;
    return issueSessionInFile(
      this.cloudDb,
      signing,
      { username: role, role, ...(compound ? { compound } : {}) },
      (path) => new Database(path),
    ).token;
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
    const proc = this.process('broker', [
      'broker',
      '--port',
      String(this.brokerPort),
      '--host',
      '127.0.0.1',
      '--keys',
      this.publicKeysPath,
      ...(this.options.revocations ? ['--revocations', this.revocationsPath] : []),
    ]);
    proc.spawn();
    await eventually(
      () => tcpOpen(this.brokerPort),
      'the broker to listen',
      20_000,
      () => proc.output,
    );
  }

  async startCloud(): Promise<void> {
    const proc = this.process('cloud', [
      'cloud',
      '--port',
      String(this.cloudPort),
      '--host',
      '127.0.0.1',
      '--mqtt',
      this.mqttUrl,
      '--db',
      this.cloudDb,
      '--keys',
      this.keysPath,
    ]);
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
    expect(stored.length).toBe(lastSeq);
    expect(stored).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
    const storedSet = new Set(stored);
    expect(confirmed.filter((seq) => !storedSet.has(seq))).toEqual([]);
    await this.expectAllHealthy();
    return { lastSeq };
  }

  async expectAllHealthy(): Promise<void> {
    for (const proc of this.processes.values()) {
      expect(proc.unexpectedExits, proc.output).toEqual([]);
      expect(proc.running, `${proc.name} is running`).toBe(true);
    }
    if (this.processes.has('cloud')) {
      const health = await eventually(() => this.cloudHealth(), 'cloud /healthz');
      expect(health).toMatchObject({ status: 'ok', mqtt: 'connected' });
    }
    for (const gateId of this.terminalPorts.keys()) {
      if (!this.processes.get(gateId)?.running) continue;
      const state = await this.gateState(gateId);
      expect(state?.online, `gate ${gateId} online`).toBe(true);
    }
  }

  async close(): Promise<void> {
    // Gates first (their last status needs the broker), then the cloud, then the broker.
    const order = [...this.processes.values()].sort((a, b) => rank(a.name) - rank(b.name));
    for (const proc of order) {
      if (!proc.running) continue;
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

export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
