/**
 * Faults survived (docs/security.md, "Faults survived"): a gate cut off from the network for a long stretch — 10,000 passages
 * journaled offline — then reconnecting while live passages keep coming. The gate's network is a
 * relay the test cuts (broker and cloud stay up); the gate runs in-process through its own API
 * (`present`) so that 10,000 decisions take seconds, not minutes. Ends with the common assertion:
 * seq 1 … lastSeq stored exactly once, journal empty, the gate back online.
 *
 * `ANXIN_SOAK_OUTAGE` (default 10000) sets the number of offline passages; `npm run soak` raises it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { createKeysFile, parseKeysFile, publicOnly } from '../../shared/keys.ts';
import { signToken } from '../../shared/token.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { eventually } from '../../testkit/deployment.ts';
import { NetworkCut } from './network-cut.ts';

const OFFLINE = Math.max(1, Number(process.env.ANXIN_SOAK_OUTAGE ?? 10_000));
const LIVE_DURING_DRAIN = 200;
const GATE = 'g-outage';
const COMPOUND = 'c-outage';

const keysFile = createKeysFile();
const keys = parseKeysFile(keysFile);
let broker: TestBroker;
let cloud: TestCloud;
let link: NetworkCut;
let agent: EdgeAgent;
let dir: string;

function storedSeqs(): number[] {
  const db = new Database(cloud.dbPath, { readonly: true });
  try {
    return db
      .prepare<[string], { seq: number }>('SELECT seq FROM events WHERE gate_id = ? ORDER BY seq')
      .all(GATE)
      .map((r) => r.seq);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-outage-'));
  broker = await startTestBroker({ ring: keys.ring });
  cloud = await startTestCloud({ mqttUrl: broker.url, keysFile });
  await cloud.cloud.core.store.createCompound({ id: COMPOUND, name: 'Outage', timeZone: 'Asia/Shanghai' }, Date.now());
  await cloud.cloud.core.store.createGate(
    { id: GATE, compoundId: COMPOUND, name: GATE, antiPassback: false },
    Date.now(),
  );
  link = new NetworkCut({ host: '127.0.0.1', port: broker.port });
  await link.start();
  const token = signToken({ sub: GATE, role: 'gate', compound: COMPOUND, exp: Date.now() + 3_600_000 }, keys.signing!);
  agent = createEdgeAgent(
    parseEdgeConfig({
      gateId: GATE,
      compoundId: COMPOUND,
      mqtt: { url: link.url, token, reconnectMs: 200 },
      keys: publicOnly(keysFile),
      dataDir: dir,
      http: { enabled: false },
      timeouts: { ackMs: 3_000 },
      // Power-loss durability costs an fsync per passage; a process crash is what this suite is about.
      journal: { synchronous: 'normal' },
    }),
  );
  await agent.start();
  await eventually(() => agent.status().online, 'the gate online');
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await link?.stop();
  await cloud?.stop();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('a gate offline for a long stretch', () => {
  it(`journals ${OFFLINE} passages offline and delivers all of them, once, while live traffic continues`, {
    timeout: 150_000,
  }, async () => {
    const present = () => agent.present({ method: 'manual', direction: 'in', guard: 'outage-test' });
    present();
    await eventually(() => storedSeqs().length === 1 && agent.journalDepth === 0, 'the first passage stored and acked');

    link.disconnect();
    await eventually(() => !agent.status().online, 'the gate to notice the outage');
    for (let i = 0; i < OFFLINE; i++) {
      const { event } = present();
      expect(event?.seq).toBe(i + 2);
    }
    expect(agent.journalDepth).toBe(OFFLINE);
    expect(storedSeqs()).toHaveLength(1);

    // Reconnect; live passages keep being decided while the backlog drains behind them.
    link.restore();
    let live = 0;
    const liveTraffic = setInterval(() => {
      if (live < LIVE_DURING_DRAIN) {
        present();
        live += 1;
      }
    }, 2);
    try {
      await eventually(
        () => live >= LIVE_DURING_DRAIN && agent.status().online && agent.journalDepth === 0,
        'the backlog and the live passages acknowledged',
        120_000,
      );
    } finally {
      clearInterval(liveTraffic);
    }
    const total = 1 + OFFLINE + LIVE_DURING_DRAIN;
    const stored = storedSeqs();
    expect(stored.length).toBe(total);
    expect(stored).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const health = (await (await fetch(`${cloud.baseUrl}/healthz`)).json()) as { status: string; mqtt: string };
    expect(health).toMatchObject({ status: 'ok', mqtt: 'connected' });
  });
});
