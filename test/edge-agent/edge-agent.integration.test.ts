/**
 * Real pieces end to end: `node bin/anxin.mjs edge` as a child process, the device simulators on
 * the other ends of socat pty pairs (OS serial binding), an anxin broker on 127.0.0.1, and a
 * minimal cloud that stores by seq and acks cumulatively. The broker goes away while 1,000 cards
 * are read; it comes back; the agent is killed with SIGKILL in the middle of draining, restarted,
 * and every journaled event must be stored exactly once, having arrived in seq order.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerServer, createBrokerServer } from '../../broker/server.ts';
import type { EdgeConfigInput } from '../../edge-agent/config.ts';
import { RECONNECT_MAX_MS } from '../../edge-agent/mqtt-link.ts';
import type { TerminalState } from '../../edge-agent/terminal/terminal-state.ts';
import { IdCardReaderSimulator } from '../../firmware-bridge/idreader/simulator.ts';
import { OsdpTurnstileSimulator } from '../../firmware-bridge/osdp/simulator.ts';
import { QrScannerSimulator } from '../../firmware-bridge/qr/simulator.ts';
import { openPtyPair, type PtyPair } from '../../testkit/socat.ts';
import { CloudStandIn, waitFor } from './cloud-stand-in.ts';
import {
  BASE_CHANGES,
  COMPOUND,
  GATE,
  gateKeysFile,
  gateToken,
  HOUR,
  ID_NUMBERS,
  pass,
  ring,
  signingKey,
} from './fixtures.ts';
import { guardCookie, TEST_GUARD } from '../../testkit/terminal-guard.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CARDS_OFFLINE = 1_000;
const CARDS_WHILE_DRAINING = 20;

/** The gate journal's last seq, read from its database (WAL: the running gate does not mind). */
function journaledSeq(): number {
  const db = new Database(join(dir, 'gate', 'gate.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'journal.lastSeq'").get();
    return Number(row?.value ?? 0);
  } finally {
    db.close();
  }
}
const SNAPSHOT_REV = 5;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let dir: string;
let brokerPort: number;
let broker: BrokerServer | undefined;
let cloud: CloudStandIn;
let pairs: PtyPair[] = [];
let qrSim: QrScannerSimulator;
let idSim: IdCardReaderSimulator;
let turnstileSim: OsdpTurnstileSimulator;
let configPath: string;
let httpPort: number;
let child: ChildProcess | undefined;
let childOutput = '';

async function startBroker(): Promise<void> {
  broker = createBrokerServer({ keys: ring, port: brokerPort, host: '127.0.0.1' });
  await broker.start();
}

async function stopBroker(): Promise<void> {
  await broker?.stop();
  broker = undefined;
}

function startAgent(): ChildProcess {
  const proc = spawn(process.execPath, ['bin/anxin.mjs', 'edge', '--config', configPath], {
    cwd: ROOT,
    env: { ...process.env, ANXIN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.on('data', (chunk: Buffer) => {
    childOutput += chunk.toString();
  });
  proc.stderr?.on('data', (chunk: Buffer) => {
    childOutput += chunk.toString();
  });
  child = proc;
  return proc;
}

function exitOf(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  }
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
}

let cookie: string | undefined;
/** The guard panel's state (signing in again after the agent restarted: sessions live in its memory). */
async function terminalState(): Promise<TerminalState | undefined> {
  try {
    const base = `http://127.0.0.1:${httpPort}`;
    cookie ??= await guardCookie(base);
    const response = await fetch(`${base}/api/state`, { headers: { cookie } });
    if (response.status === 401) {
      cookie = undefined;
      return undefined;
    }
    return (await response.json()) as TerminalState;
  } catch {
    cookie = undefined;
    return undefined;
  }
}

/** Polls the agent's terminal state until `check` holds. */
async function waitForState(
  check: (s: TerminalState) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<TerminalState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await terminalState();
    if (state && check(state)) return state;
    if (child?.exitCode !== null && child?.exitCode !== undefined) {
      throw new Error(`the edge agent exited (${child.exitCode}) while waiting for ${what}:\n${childOutput}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last state ${JSON.stringify(state)}\n${childOutput}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-edge-it-'));
  brokerPort = await freePort();
  httpPort = await freePort();
  await startBroker();
  cloud = new CloudStandIn(`mqtt://127.0.0.1:${brokerPort}`, signingKey);
  cloud.snapshot = { rev: SNAPSHOT_REV, records: BASE_CHANGES };
  await cloud.start();

  const [qrPair, idPair, turnstilePair] = await Promise.all([openPtyPair(), openPtyPair(), openPtyPair()]);
  pairs = [qrPair!, idPair!, turnstilePair!];
  qrSim = new QrScannerSimulator({ path: qrPair!.b, baudRate: 115200, suffix: 'cr' });
  idSim = new IdCardReaderSimulator({ path: idPair!.b, baudRate: 115200 });
  turnstileSim = new OsdpTurnstileSimulator({
    path: turnstilePair!.b,
    baudRate: 115200,
    passDelayMs: 30,
    behaviour: 'pass',
  });
  await Promise.all([qrSim.start(), idSim.start(), turnstileSim.start()]);

  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify(gateKeysFile()));
  const config: EdgeConfigInput = {
    gateId: GATE,
    compoundId: COMPOUND,
    mqtt: { url: `mqtt://127.0.0.1:${brokerPort}`, token: gateToken(), reconnectMs: 200 },
    keysFile,
    dataDir: join(dir, 'gate'),
    http: { port: httpPort, host: '127.0.0.1' },
    terminal: { guards: [TEST_GUARD] },
    devices: {
      qr: { path: qrPair!.a, baudRate: 115200, direction: 'in' },
      idreader: { path: idPair!.a, baudRate: 115200, direction: 'in', pollIntervalMs: 300 },
      turnstile: { path: turnstilePair!.a, baudRate: 115200, pollIntervalMs: 2, pulseMs: 1_000, cardDirection: 'in' },
    },
    // The gate may reconnect before the cloud has resubscribed; its first drain messages are then
    // lost and resent when no ack comes within ackMs.
    timeouts: { passageMs: 3_000, ackMs: 1_500 },
    // Small batches and a slow cloud so that the drain takes long enough to be killed in the middle.
    journal: { batchSize: 100, maxInFlight: 2 },
  };
  configPath = join(dir, 'gate.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exitOf(child);
  }
  await Promise.allSettled([qrSim?.stop(), idSim?.stop(), turnstileSim?.stop()]);
  await Promise.allSettled(pairs.map((p) => p.close()));
  await cloud?.stop();
  await stopBroker();
  rmSync(dir, { recursive: true, force: true });
});

describe('edge agent process + simulators over socat + broker + acking cloud', () => {
  it('loses nothing through a broker outage, 1,000 offline scans and a SIGKILL mid-drain', async () => {
    startAgent();
    await waitForState(
      (s) => s.online && s.rev === SNAPSHOT_REV && Object.values(s.devices).every((d) => d === 'ok'),
      'the agent online, synced and with its three devices',
    );
    await waitFor(() => cloud.statuses.some((s) => s.online && s.rev === SNAPSHOT_REV), 'its retained status');

    // A granted QR pass over the scanner pty opens the OSDP turnstile, which reports the passage.
    const now = Date.now();
    await qrSim.scan(pass('alice', { notBefore: now - HOUR, expiresAt: now + HOUR }));
    await waitFor(() => cloud.stored.get(1)?.passed === true, 'the confirmed QR passage', 10_000).catch(async (e) => {
      throw new Error(
        `${e.message}: ${JSON.stringify([...cloud.stored.values()])} ${JSON.stringify(await terminalState())}\n${childOutput}`,
      );
    });
    expect(cloud.stored.get(1)).toMatchObject({ method: 'qr', result: 'granted', personId: 'alice', direction: 'in' });

    // A red resident's ID card over the SAM_V pty is refused.
    idSim.presentCard({
      name: '王五',
      sex: 'female',
      nationCode: '01',
      birthDate: '1880-01-01',
      address: '广东省',
      idNumber: ID_NUMBERS.bob,
      authority: '公安局',
      validFrom: '2010-01-01',
      validTo: null,
    });
    await waitFor(() => cloud.stored.get(2)?.reason === 'health-red', 'the refused ID card', 10_000);
    idSim.removeCard();
    expect(cloud.stored.get(2)?.method).toBe('idcard');
    await waitForState((s) => s.journalDepth === 0, 'both acked');

    // The broker goes away; the gate keeps deciding and journaling.
    await stopBroker();
    await waitForState((s) => !s.online, 'the agent offline');
    const storedBefore = cloud.stored.size;
    for (let i = 1; i <= CARDS_OFFLINE; i++) turnstileSim.presentCard(1, i);
    await waitForState((s) => s.journalDepth === CARDS_OFFLINE, `${CARDS_OFFLINE} journaled offline`, 40_000);
    expect(cloud.stored.size).toBe(storedBefore);

    // Back online with a slow cloud; more scans arrive while the backlog drains; SIGKILL mid-stream.
    cloud.ackDelayMs = 150;
    await startBroker();
    // A long outage (1,000 scans on a loaded machine) has taken the gate's backoff to its ceiling:
    // it comes back within one longest wait (plus jitter), not at once.
    await waitForState((s) => s.online, 'the agent back online', RECONNECT_MAX_MS * 1.5 + 10_000);
    for (let i = 1; i <= CARDS_WHILE_DRAINING; i++) turnstileSim.presentCard(2, i);
    await waitFor(() => cloud.stored.size >= storedBefore + 300, 'the drain under way', 20_000).catch(async (e) => {
      throw new Error(
        `${e.message}: stored ${cloud.stored.size}, cloud connected ${cloud.client?.connected}, messages ${cloud.messages.length}, state ${JSON.stringify(await terminalState())}\n${childOutput}`,
      );
    });
    const storedAtKill = cloud.stored.size;
    expect(storedAtKill).toBeLessThan(storedBefore + CARDS_OFFLINE);
    // Every card laid while draining has been journaled (the gate answered it) before the kill.
    await waitFor(() => journaledSeq() >= storedBefore + CARDS_OFFLINE + CARDS_WHILE_DRAINING, 'the cards journaled');
    const journaledAtKill = journaledSeq();
    child!.kill('SIGKILL');
    expect(await exitOf(child!)).toMatchObject({ signal: 'SIGKILL' });
    await waitFor(() => cloud.statuses.at(-1)?.online === false, 'the last will');

    // Restarted, the agent replays everything not acknowledged.
    startAgent();
    await waitForState((s) => s.online && s.journalDepth === 0, 'the journal drained after the restart', 30_000);
    const seqs = cloud.seqs();
    const last = seqs[seqs.length - 1]!;
    expect(seqs).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    expect(cloud.ackedUpTo).toBe(last);
    // Each seq first arrived after every lower one: the gate sends in seq order, replays included.
    expect(cloud.firstArrival).toEqual(seqs);
    const cardEvents = [...cloud.stored.values()].filter((e) => e.method === 'card');
    expect(cardEvents.every((e) => e.reason === 'unknown-person' && e.result === 'denied' && e.passed === null)).toBe(
      true,
    );
    // Everything journaled before the SIGKILL arrived, each card exactly once.
    expect(last).toBeGreaterThanOrEqual(journaledAtKill);
    expect(cardEvents.length).toBe(CARDS_OFFLINE + CARDS_WHILE_DRAINING);
    expect([...cloud.arrivals.values()].some((n) => n > 1)).toBe(true);

    // The next scan gets the next seq: seqs are never reused across the crash.
    turnstileSim.presentCard(3, 1);
    await waitFor(() => cloud.stored.has(last + 1), 'the next seq');

    // SIGTERM: a clean stop, exit 0, retained status offline.
    child!.kill('SIGTERM');
    expect(await exitOf(child!)).toEqual({ code: 0, signal: null });
    await waitFor(() => cloud.statuses.at(-1)?.online === false, 'the offline status');
  }, 240_000);
});
