/**
 * `/live` across two cloud instances on one real PostgreSQL (cloud/live/pg-live-fanout.ts): each
 * instance's hub with its own fan-out, pool and listening connection. What one publishes reaches
 * the other's listeners once each and in order — a burst of 600 entries in one turn too, packed
 * under the 8000-byte limit — its own listeners exactly once (not again from the database), and
 * nothing published `here` (gate statuses) crosses; what another client of the database NOTIFYs on
 * the channel — unsealed, sealed with another key, garbage — reaches no listener and is counted;
 * while nobody on an instance listens, the others' notifications are left unread there. A terminated listening connection is reported
 * as degraded, reopened with backoff, and the messages flow again. Waits on events, never on time.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { LiveHub, type LiveMessage } from '../../../cloud/live/live-hub.ts';
import { createLiveWire } from '../../../cloud/live/live-wire.ts';
import { type FanoutState, PgLiveFanout } from '../../../cloud/live/pg-live-fanout.ts';
import { silentLogger } from '../../../shared/log.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';

const entry = (gateId: string, seq: number, compoundId = 'c-1'): LiveMessage => ({
  type: 'entry',
  data: {
    gateId,
    compoundId,
    seq,
    ts: 1_790_000_000_000 + seq,
    direction: 'in',
    method: 'qr',
    result: 'granted',
    reason: 'ok',
    personId: `p-${seq}`,
    maskedName: '张*明',
    health: 'green',
    mode: 'normal',
    passed: true,
  },
});

interface Instance {
  hub: LiveHub;
  fanout: PgLiveFanout;
  pool: pg.Pool;
  name: string;
}

/** The deployment's seal key every instance of these tests shares. */
const KEY = Buffer.alloc(32, 7);
let db: TestDatabase;
const running: Instance[] = [];

beforeAll(async () => {
  db = await createTestDatabase('live_fanout');
});
afterEach(async () => {
  for (const i of running.splice(0)) {
    await i.fanout.stop();
    await i.pool.end();
  }
});
afterAll(() => db?.drop());

async function instance(name: string): Promise<Instance> {
  const hub = new LiveHub();
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const fanout = new PgLiveFanout({
    live: hub,
    pool,
    url: db.url,
    logger: silentLogger,
    applicationName: `anxin-live-${name}`,
    wire: createLiveWire(KEY, name),
    reconnectMs: 20,
    reconnectMaxMs: 200,
  });
  const started = { hub, fanout, pool, name };
  running.push(started);
  await fanout.start();
  expect(fanout.state).toBe('listening');
  return started;
}

/** Collects what reaches `hub`'s listeners (of one compound, or all); `until(n)` resolves once n arrived. */
function listen(hub: LiveHub, compoundId?: string) {
  const got: LiveMessage[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  hub.subscribe((m) => {
    got.push(m);
    for (const w of waiters.filter((w) => got.length >= w.n)) w.resolve();
  }, compoundId);
  return {
    got,
    until: (n: number) =>
      new Promise<void>((resolve) => {
        if (got.length >= n) resolve();
        else waiters.push({ n, resolve });
      }),
  };
}

const stateOf = (fanout: PgLiveFanout, state: FanoutState) =>
  new Promise<void>((resolve) => {
    if (fanout.state === state) return resolve();
    const on = (s: FanoutState) => {
      if (s !== state) return;
      fanout.off('state', on);
      resolve();
    };
    fanout.on('state', on);
  });

/** A sentinel sent after the messages under test: when it arrived, anything sent before it has too. */
async function sentinelThrough(from: Instance, to: ReturnType<typeof listen>, seq: number): Promise<void> {
  const before = to.got.length;
  from.hub.publish(entry('g-sentinel', seq));
  await to.until(before + 1);
}

describe('PgLiveFanout on one PostgreSQL', () => {
  it("hands A's messages to B's listeners once, in order, by compound; A's own listeners once", async () => {
    const a = await instance('a');
    const b = await instance('b');
    const onA = listen(a.hub);
    const onB = listen(b.hub, 'c-1');
    const burst = Array.from({ length: 600 }, (_, i) => entry('g-1', i + 1));
    for (const m of burst) a.hub.publish(m);
    a.hub.publish(entry('g-9', 1, 'c-2')); // another compound: not for B's listener
    b.hub.publish(entry('g-2', 1)); // the other way round
    await onB.until(601);
    await sentinelThrough(a, onB, 10_000); // a duplicate or a late c-2 entry would be in by now
    const fromA = onB.got.filter((m) => m.data.gateId === 'g-1');
    expect(fromA).toEqual(burst);
    expect(onB.got.filter((m) => m.data.compoundId !== 'c-1')).toEqual([]);
    expect(onB.got.filter((m) => m.data.gateId === 'g-2')).toHaveLength(1);
    // A's listener: its own 600 + c-2 + sentinel once each, and B's one.
    await onA.until(603);
    expect(onA.got.filter((m) => m.data.gateId === 'g-1')).toHaveLength(600);
    expect(a.fanout.counters.notifications).toBeGreaterThan(1);
    expect(a.fanout.counters.notifications).toBeLessThan(100);
    expect(a.fanout.counters.dropped).toBe(0);
  });

  it('leaves the others’ notifications unread while nobody here listens, refusing forgeries all the same', async () => {
    const a = await instance('a');
    const b = await instance('b');
    for (let seq = 1; seq <= 5; seq++) a.hub.publish(entry('g-1', seq));
    await vi.waitFor(() => expect(b.fanout.counters.unread).toBeGreaterThanOrEqual(1), { timeout: 30_000 });
    // Unread, but not unchecked: a payload without the seal is still refused and counted.
    const stranger = new pg.Client({ connectionString: db.url });
    await stranger.connect();
    try {
      await stranger.query('SELECT pg_notify($1, $2)', [
        'anxin_live',
        JSON.stringify({ o: 'evil', m: [entry('g-evil', 1)] }),
      ]);
    } finally {
      await stranger.end();
    }
    await vi.waitFor(() => expect(b.fanout.counters.refused).toBe(1), { timeout: 30_000 });
    // Someone opens /live on B: what A sends from now on is read and shown (what was sent before is not replayed).
    const onB = listen(b.hub);
    await sentinelThrough(a, onB, 6);
    expect(onB.got.map((m) => m.data.gateId)).toEqual(['g-sentinel']);
    expect(b.fanout.counters).toMatchObject({ received: 1, refused: 1 });
    // A heard its own notifications too, with nobody listening: skipped as its own, not counted unread.
    expect(a.fanout.counters.unread).toBe(0);
  });

  it('shows nothing another client of the database NOTIFYs on the channel, and counts it', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const onB = listen(b.hub);
    // Any role that may connect may NOTIFY any channel: a well-formed payload without the seal, one
    // sealed with another key, one replaying a sealed payload's seal over other bytes, garbage.
    const forged = JSON.stringify({ o: 'evil', m: [entry('g-evil', 1)] });
    const other = createLiveWire(Buffer.alloc(32, 1), 'evil');
    const { createHmac } = await import('node:crypto');
    const wrongKey = createHmac('sha256', other.key).update(forged).digest('hex') + forged;
    const stranger = new pg.Client({ connectionString: db.url });
    await stranger.connect();
    try {
      for (const payload of [forged, wrongKey, `${'a'.repeat(64)}${forged}`, 'not a payload', '张'.repeat(2_000)]) {
        await stranger.query('SELECT pg_notify($1, $2)', ['anxin_live', payload]);
      }
    } finally {
      await stranger.end();
    }
    // A's genuine message after them: when it is in, the forged ones have been handled.
    await sentinelThrough(a, onB, 1);
    expect(onB.got.map((m) => m.data.gateId)).toEqual(['g-sentinel']);
    expect(b.fanout.counters).toMatchObject({ refused: 5, received: 1, invalid: 0 });
  });

  it('keeps messages published `here` (gate statuses) on their instance', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const onB = listen(b.hub);
    a.hub.publish(
      {
        type: 'status',
        data: {
          gateId: 'g-1',
          compoundId: 'c-1',
          online: true,
          ts: 1,
          mode: 'normal',
          rev: 0,
          journalDepth: 0,
          version: '1',
        } as unknown as Extract<LiveMessage, { type: 'status' }>['data'],
      },
      'here',
    );
    await sentinelThrough(a, onB, 1);
    expect(onB.got.map((m) => m.type)).toEqual(['entry']);
  });

  it('reports degraded while its listening connection is gone, reopens it and hears again', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const onB = listen(b.hub);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const reconnecting = stateOf(b.fanout, 'reconnecting');
      const { rowCount } = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'anxin-live-b'",
      );
      expect(rowCount).toBe(1);
      await reconnecting;
      expect(b.fanout.health()).toMatchObject({ status: 'degraded', liveFanout: 'reconnecting' });
      expect(String(b.fanout.health().liveFanoutError)).not.toBe('');
      await stateOf(b.fanout, 'listening');
      expect(b.fanout.health()).toEqual({ liveFanout: 'listening' });
      await sentinelThrough(a, onB, 7);
      expect(onB.got.at(-1)).toEqual(entry('g-sentinel', 7));
    } finally {
      await admin.end();
    }
  });

  it('keeps retrying while the database refuses the listener, and says why', async () => {
    const hub = new LiveHub();
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    const wrong = new URL(db.url);
    wrong.password = 'not-the-password';
    const fanout = new PgLiveFanout({
      live: hub,
      pool,
      url: wrong.toString(),
      logger: silentLogger,
      wire: createLiveWire(KEY),
      reconnectMs: 20,
      reconnectMaxMs: 40,
    });
    running.push({ hub, fanout, pool, name: 'refused' });
    await fanout.start();
    expect(fanout.state).toBe('reconnecting');
    expect(fanout.health()).toMatchObject({ status: 'degraded', liveFanoutError: expect.stringMatching(/password/) });
    // A further attempt is made (and refused) without anyone asking.
    await new Promise<void>((resolve) => {
      const check = () => {
        if (Number(fanout.health().liveFanoutFailedAttempts) >= 3) resolve();
        else setTimeout(check, 10);
      };
      check();
    });
    await fanout.stop();
    expect(fanout.state).toBe('stopped');
  });
});
