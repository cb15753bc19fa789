/**
 * Snapshot flow control end to end (docs/cloud.md, "Snapshot flow control"): two new gates of a
 * compound of 100 000 persons take the whole snapshot (101 parts, some 25 MB each) through an
 * `anxin broker` process with its default per-connection limits — a client whose unsent backlog
 * passes 4 MiB is disconnected as a slow reader (broker/connection-guard.ts).
 *
 * Gate A stops reading after its first part: a proxy between it and the broker holds every byte
 * from the broker (a gate busy, or a link that hangs). While it is held, gate B takes its whole
 * snapshot. A cloud that pushed parts on PUBACK alone would queue A's 25 MB at the broker and get
 * A cut off; with flow control it keeps at most 2 MiB unacknowledged for A and waits for A's
 * `sync/ack`. Then A reads again and finishes. Checked: no slow-reader disconnect, one connection
 * per gate, both replicas at the compound's rev, and each cloud session ended `sent` with every
 * part acknowledged by its gate.
 *
 * Found with it: an earlier draft timed out because its fixture gave the residents card numbers
 * the contract refuses (`00000001` instead of `facility:number`). The gate refused every part, so
 * it never acked one, and the cloud paced parts out one a second to a gate that dropped them all.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { createKeysFile, parseKeysFile, publicOnly } from '../../shared/keys.ts';
import { signToken } from '../../shared/token.ts';
import { resident } from '../cloud/fixtures.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { eventually } from '../../testkit/deployment.ts';
import { collectSnapshot } from '../helpers/collect-snapshot.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COMPOUND = 'c-big';
const GATE_A = 'g-held';
const GATE_B = 'g-free';
const PERSONS = 100_000;
const LONG = 540_000;

interface LogLine {
  msg?: string;
  [key: string]: unknown;
}

/** A pino logger that keeps its JSON lines in memory, for assertions on what the cloud did. */
function capturingLogger(lines: LogLine[]) {
  return pino(
    { level: 'debug' },
    {
      write(chunk: string) {
        lines.push(JSON.parse(chunk) as LogLine);
      },
    },
  );
}

/** A TCP proxy whose broker → gate direction can be held (bytes kept unread at the broker's side). */
async function startHoldingProxy(targetPort: number) {
  const upstreams = new Set<Socket>();
  let held = false;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    upstreams.add(upstream);
    if (held) upstream.pause();
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (!client.destroyed) client.write(chunk);
    });
    const close = () => {
      upstreams.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('close', close);
      s.on('error', close);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`,
    hold() {
      held = true;
      for (const u of upstreams) u.pause();
    },
    release() {
      held = false;
      for (const u of upstreams) u.resume();
    },
    async stop() {
      for (const u of upstreams) u.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('a snapshot of 100 000 persons to new gates, one of which stops reading', () => {
  const keysFile = createKeysFile();
  const keys = parseKeysFile(keysFile);
  const dir = mkdtempSync(join(tmpdir(), 'anxin-big-snapshot-'));
  const brokerLines: LogLine[] = [];
  const cloudLines: LogLine[] = [];
  let broker: ChildProcess | undefined;
  let brokerPort = 0;
  let cloud: TestCloud | undefined;
  const agents: EdgeAgent[] = [];
  let targetRev = 0;

  beforeAll(async () => {
    const publicKeys = join(dir, 'keys.public.json');
    writeFileSync(publicKeys, JSON.stringify(publicOnly(keysFile)), { mode: 0o600 });
    broker = spawn(
      process.execPath,
      ['bin/anxin.mjs', 'broker', '--port', '0', '--host', '127.0.0.1', '--keys', publicKeys],
      { cwd: ROOT, env: { ...process.env, ANXIN_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let pending = '';
    broker.stdout?.setEncoding('utf8');
    broker.stdout?.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('{')) brokerLines.push(JSON.parse(line) as LogLine);
      }
    });
    brokerPort = await eventually(
      () => brokerLines.find((l) => l.msg === 'broker listening')?.port as number | undefined,
      'the broker listening',
      60_000,
    );
    cloud = await startTestCloud({
      mqttUrl: `mqtt://127.0.0.1:${brokerPort}`,
      keysFile,
      logger: capturingLogger(cloudLines),
    });
    const { registry, store } = cloud.cloud.core;
    const actor = { username: 'test', role: 'admin' as const };
    await registry.createCompound({ id: COMPOUND, name: 'Big', timeZone: 'Asia/Shanghai' }, actor);
    for (const id of [GATE_A, GATE_B]) {
      await registry.registerGate({ id, compoundId: COMPOUND, name: id, antiPassback: false }, actor);
    }
    for (let from = 0; from < PERSONS; from += 10_000) {
      await store.upsertResidents(
        Array.from({ length: 10_000 }, (_, i) =>
          resident(`p-${String(from + i).padStart(6, '0')}`, COMPOUND, {
            householdId: `h-${String((from + i) >> 2).padStart(6, '0')}`,
            cards: [`1:${from + i}`],
          }),
        ),
      );
    }
    targetRev = (await collectSnapshot(store, COMPOUND)).rev;
  }, 300_000);

  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await cloud?.stop();
    if (broker && broker.exitCode === null) {
      const exited = new Promise((resolve) => broker?.once('exit', resolve));
      broker.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const startGate = async (gateId: string, url: string) => {
    const token = signToken(
      { sub: gateId, role: 'gate', compound: COMPOUND, exp: Date.now() + 3_600_000 },
      keys.signing!,
    );
    const agent = createEdgeAgent(
      parseEdgeConfig({
        gateId,
        compoundId: COMPOUND,
        // Held for as long as gate B's snapshot takes: no keepalive timeout may end it meanwhile.
        mqtt: { url, token, reconnectMs: 200, keepaliveSec: 600 },
        keys: publicOnly(keysFile),
        dataDir: join(dir, gateId),
        http: { enabled: false },
      }),
    );
    agents.push(agent);
    await agent.start();
    return agent;
  };

  it('the held gate is never cut off, both reach the rev, every part acknowledged', { timeout: LONG }, async () => {
    const proxy = await startHoldingProxy(brokerPort);
    try {
      const held = await startGate(GATE_A, proxy.url);
      await eventually(() => held.inputCounters.sync.chunksStaged >= 1, 'gate A staging its first part', LONG);
      proxy.hold();

      const free = await startGate(GATE_B, `mqtt://127.0.0.1:${brokerPort}`);
      await eventually(() => free.state().rev >= targetRev, `gate B at rev ${targetRev}`, LONG);
      expect(held.state().rev).toBe(0); // still held: A has not swapped in a snapshot it cannot have

      proxy.release();
      await eventually(() => held.state().rev >= targetRev, `gate A at rev ${targetRev}`, LONG);

      for (const agent of [held, free]) {
        expect(agent.state().rev).toBe(targetRev);
        expect(agent.inputCounters.sync.snapshotsApplied).toBe(1);
        expect(agent.inputCounters.sync.rejected).toBe(0);
      }
      // Never a slow reader, one connection per gate: nobody was cut off and had to reconnect.
      expect(brokerLines.filter((l) => l.msg === 'client does not read its messages; disconnecting')).toEqual([]);
      for (const gateId of [GATE_A, GATE_B]) {
        const connects = brokerLines.filter((l) => l.msg === 'client authenticated' && l.clientId === gateId);
        expect(connects, gateId).toHaveLength(1);
      }
      // Each gate's session ended once every part was acknowledged by the gate (sync/ack), not on pacing.
      // The flow's line says how far the gate acknowledged; the responder's how many parts there were.
      const ended = await eventually(() => {
        const lines = cloudLines.filter((l) => l.msg === 'snapshot session ended');
        return lines.length >= 4 ? lines : undefined;
      }, 'both snapshot sessions ended');
      for (const gateId of [GATE_A, GATE_B]) {
        const flow = ended.filter((l) => l.gateId === gateId && 'acked' in l);
        const answer = ended.filter((l) => l.gateId === gateId && 'parts' in l);
        expect(
          answer.map((l) => l.end),
          gateId,
        ).toEqual(['sent']);
        expect(answer[0]!.parts as number).toBeGreaterThan(50);
        expect(
          flow.map((l) => [l.end, l.acked]),
          gateId,
        ).toEqual([['sent', answer[0]!.parts]]);
      }
    } finally {
      await proxy.stop();
    }
  });
});
