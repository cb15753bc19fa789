/**
 * One budget for what the guards read ahead of aedes across all connections
 * (broker/unread-budget.ts, docs/deploy.md "Limits per connection"). Each connection alone may read
 * 2 MiB ahead, so eight clients sending 1.5 MiB each to a reader that takes nothing stay inside their
 * own limit — and without a budget the broker would hold all 12 MiB. Here, over real TCP on
 * 127.0.0.1, eight clients send to guarded connections (admitted gates) whose reader, standing in
 * for aedes, takes nothing until told to: with a 512 KiB budget the guards never hold more than the
 * budget plus one socket read per client, the clients are made to wait (counted) rather than
 * dropped or disconnected, and once the reader reads every byte arrives, in order, and the budget
 * is free again. The same with no budget holds everything, which is what the budget is for.
 */
import { randomBytes } from 'node:crypto';
import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_CONNECTION_LIMITS, GuardedConnection } from '../../broker/connection-guard.ts';
import { announcedPacketSize } from '../../broker/mqtt-framing.ts';
import { HELD_CHUNK_OVERHEAD_BYTES, UnreadBudget } from '../../broker/unread-budget.ts';
import { startTestBroker } from '../../testkit/broker.ts';
import { ring } from './fixtures.ts';

const CLIENTS = 8;
/** 1.5 MiB a client: below one connection's own 2 MiB limit, 12 MiB in all. */
const BYTES_PER_CLIENT = 1.5 * 1024 * 1024;
const BUDGET = 512 * 1024;
/**
 * A net.Socket reads at most 64 KiB at once: the one read per connection the budget may be passed
 * by, with its per-chunk charge (broker/unread-budget.ts).
 */
const ONE_READ = 64 * 1024 + HELD_CHUNK_OVERHEAD_BYTES;

interface Stand {
  server: Server;
  budget: UnreadBudget;
  waits: () => number;
  /** What each guarded connection handed its reader so far, once `startReading` was called. */
  readBytes: Buffer[][];
  guards: GuardedConnection[];
  /** The server's side of each connection, under its guard. */
  sockets: Socket[];
  refused: string[];
  startReading(): void;
}

let stand: Stand | undefined;
const clients: Socket[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const guard of stand?.guards ?? []) guard.destroy();
  await new Promise<void>((resolve) => (stand ? stand.server.close(() => resolve()) : resolve()));
  stand = undefined;
});

/** A TCP server on 127.0.0.1 whose every socket is guarded with one shared budget, and read by nobody yet. */
async function startStand(limit: number, limits = DEFAULT_CONNECTION_LIMITS): Promise<{ stand: Stand; port: number }> {
  let waits = 0;
  const budget = new UnreadBudget(limit, () => {
    waits += 1;
  });
  let reading = false;
  const guards: GuardedConnection[] = [];
  const sockets: Socket[] = [];
  const readBytes: Buffer[][] = [];
  const refused: string[] = [];
  const readAll = (guard: GuardedConnection, into: Buffer[]) => {
    for (let chunk = guard.read(); chunk !== null; chunk = guard.read()) into.push(chunk as Buffer);
  };
  const server = createServer((socket) => {
    sockets.push(socket);
    const guard = new GuardedConnection(
      socket,
      limits,
      { onRefused: (reason) => refused.push(reason), onSettled: () => {} },
      budget,
    );
    // Past CONNACK, as an admitted gate: the pre-sign-in screening no longer applies.
    guard.admit();
    const into: Buffer[] = [];
    guards.push(guard);
    readBytes.push(into);
    // aedes reads in paused mode, on 'readable'; this reader does the same once told to.
    guard.on('readable', () => {
      if (reading) readAll(guard, into);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const built: Stand = {
    server,
    budget,
    waits: () => waits,
    readBytes,
    guards,
    sockets,
    refused,
    startReading() {
      reading = true;
      for (const [i, guard] of guards.entries()) readAll(guard, readBytes[i]!);
    },
  };
  return { stand: built, port };
}

/**
 * One PUBLISH of `size` bytes in all: a fixed header announcing the rest (MQTT 3.1.1 §2.2), then
 * random bytes. The guard frames what an admitted client sends (broker/mqtt-framing.ts), so the
 * header is deliberate: the body is skipped whole and framing is the same on every run. Random bytes
 * from the first byte on were framed as packets of random sizes, and one in a few hundred runs
 * framed a PINGREQ (0xC0 0x00), which the guard cut out and answered: the test lost two bytes.
 */
function oneRandomPublish(size: number): Buffer {
  for (let lengthBytes = 1; lengthBytes <= 4; lengthBytes++) {
    const remaining = size - 1 - lengthBytes;
    if (remaining < 128 ** lengthBytes) {
      const head = [0x30];
      for (let left = remaining, i = 0; i < lengthBytes; i++, left = Math.floor(left / 128)) {
        head.push((left % 128) | (i < lengthBytes - 1 ? 0x80 : 0));
      }
      const packet = Buffer.concat([Buffer.from(head), randomBytes(remaining)]);
      expect(announcedPacketSize(packet)).toEqual({ total: size });
      return packet;
    }
  }
  throw new Error(`no MQTT packet is ${size} bytes`);
}

/** Each client sends PUBLISHes of random bytes (the connections are admitted already), so a byte out of place or lost shows. */
async function sendFromClients(port: number): Promise<Buffer[]> {
  // Two packets: one of 1.5 MiB would pass the largest packet a client may announce (`maxPacketBytes`).
  const payloads = Array.from({ length: CLIENTS }, () =>
    Buffer.concat([oneRandomPublish(BYTES_PER_CLIENT / 2), oneRandomPublish(BYTES_PER_CLIENT / 2)]),
  );
  await Promise.all(
    payloads.map(
      (payload) =>
        new Promise<void>((resolve, reject) => {
          const socket = connectTcp({ port, host: '127.0.0.1' }, () => {
            socket.write(payload);
            resolve();
          });
          socket.once('error', reject);
          clients.push(socket);
        }),
    ),
  );
  return payloads;
}

describe('the unread budget across connections (real TCP, 127.0.0.1)', () => {
  it('stops several clients past the budget instead of reading on, and loses nothing', async () => {
    const started = await startStand(BUDGET);
    stand = started.stand;
    const sent = await sendFromClients(started.port);
    await vi.waitFor(
      () => {
        expect(stand!.guards).toHaveLength(CLIENTS);
        expect(stand!.budget.full).toBe(true);
        // Every client has more to send than the budget leaves it: each one is stopped.
        expect(stand!.waits()).toBeGreaterThanOrEqual(CLIENTS - 1);
      },
      { timeout: 30_000, interval: 10 },
    );
    expect(stand.budget.peak).toBeLessThanOrEqual(BUDGET + CLIENTS * ONE_READ);
    // Backpressure, not a refusal: nobody was cut off; what the guards did not read waits in TCP.
    expect(stand.refused).toEqual([]);
    expect(clients.every((client) => !client.destroyed)).toBe(true);

    stand.startReading();
    await vi.waitFor(
      () => {
        for (const [i, chunks] of stand!.readBytes.entries()) {
          expect(
            chunks.reduce((n, c) => n + c.length, 0),
            `connection ${i}`,
          ).toBe(BYTES_PER_CLIENT);
        }
      },
      { timeout: 60_000, interval: 20 },
    );
    // Each connection got exactly one client's bytes, whole and in order.
    const got = stand.readBytes.map((chunks) => Buffer.concat(chunks));
    for (const payload of sent) expect(got.filter((g) => g.equals(payload))).toHaveLength(1);
    expect(stand.budget.peak).toBeLessThanOrEqual(BUDGET + CLIENTS * ONE_READ);
    expect(stand.budget.used).toBe(0);
    expect(stand.refused).toEqual([]);
  }, 120_000);

  it('without a budget the same clients make the guards hold far more (what the budget prevents)', async () => {
    const started = await startStand(Number.POSITIVE_INFINITY);
    stand = started.stand;
    await sendFromClients(started.port);
    await vi.waitFor(() => expect(stand!.budget.used).toBeGreaterThan(4 * (BUDGET + CLIENTS * ONE_READ)), {
      timeout: 30_000,
      interval: 10,
    });
    expect(stand.waits()).toBe(0);
  }, 60_000);
});

describe("one connection's own limit (real TCP, 127.0.0.1)", () => {
  it('stops a client past maxUnreadBytes with the budget far from full, and loses nothing', async () => {
    const maxUnreadBytes = 256 * 1024;
    const started = await startStand(64 * 1024 * 1024, { ...DEFAULT_CONNECTION_LIMITS, maxUnreadBytes });
    stand = started.stand;
    const payload = oneRandomPublish(4 * maxUnreadBytes);
    const client = connectTcp({ port: started.port, host: '127.0.0.1' }, () => client.write(payload));
    clients.push(client);
    await vi.waitFor(() => expect(stand!.budget.used).toBeGreaterThan(maxUnreadBytes), {
      timeout: 30_000,
      interval: 5,
    });
    // Stopped as soon as it held more than its limit, by its limit alone: the socket is not read,
    // nothing waits for the budget, nobody is cut off.
    expect(stand.sockets[0]!.isPaused()).toBe(true);
    expect(stand.budget.used).toBeLessThanOrEqual(maxUnreadBytes + ONE_READ);
    expect(stand.waits()).toBe(0);
    expect(stand.refused).toEqual([]);
    expect(client.destroyed).toBe(false);

    stand.startReading();
    await vi.waitFor(() => expect(Buffer.concat(stand!.readBytes[0]!).equals(payload)).toBe(true), {
      timeout: 30_000,
      interval: 10,
    });
    expect(stand.budget.used).toBe(0);
    expect(stand.budget.peak).toBeLessThanOrEqual(maxUnreadBytes + ONE_READ);
  });
});

describe('UnreadBudget', () => {
  it('resumes waiting connections in the order they stopped, only as many as the room holds', () => {
    let waits = 0;
    const budget = new UnreadBudget(256 * 1024, () => {
      waits += 1;
    });
    const resumed: string[] = [];
    budget.take(256 * 1024);
    expect(budget.full).toBe(true);
    for (const name of ['a', 'b', 'c', 'd']) budget.wait(() => resumed.push(name));
    expect(waits).toBe(4);
    budget.give(100 * 1024);
    // 100 KiB of room: two connections may each read one socket read (64 KiB) before checking again.
    expect(resumed).toEqual(['a', 'b']);
    budget.give(156 * 1024);
    expect(resumed).toEqual(['a', 'b', 'c', 'd']);
    expect(budget.used).toBe(0);
    expect(budget.peak).toBe(256 * 1024);
  });

  it('forgets a connection that leaves the line', () => {
    const budget = new UnreadBudget(1024);
    const resumed: string[] = [];
    const a = () => resumed.push('a');
    budget.take(1024);
    budget.wait(a);
    budget.wait(a);
    budget.leave(a);
    budget.give(1024);
    expect(resumed).toEqual([]);
  });
});

describe('the broker', () => {
  it('sizes the budget from the expected gates, or takes it as given, and reports it', async () => {
    const sized = await startTestBroker({ ring, expectedGates: 10 });
    const given = await startTestBroker({ ring, maxUnreadTotalBytes: 3 * 1024 * 1024 });
    try {
      expect(sized.server.stats()).toMatchObject({
        unreadBytes: 0,
        unreadPeakBytes: 0,
        unreadBudgetWaits: 0,
        unreadBudgetBytes: 10 * 512 * 1024,
      });
      expect(given.server.stats().unreadBudgetBytes).toBe(3 * 1024 * 1024);
    } finally {
      await Promise.all([sized.stop(), given.stop()]);
    }
  });
});
