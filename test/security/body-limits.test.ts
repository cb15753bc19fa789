/**
 * Body limits: every route refuses an oversized body with 413 before reading
 * it. Driven over a real TCP socket against the real node server, so the "before reading" part is
 * observable: a declared 200 MB body is answered while the client has sent only its headers, and a
 * chunked body is cut off near the limit — the client never has to produce 200 MB.
 */
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BODY_LIMIT } from '../../cloud/http/body-limits.ts';
import { createHarness, type Harness } from '../cloud/http/app-harness.ts';

const MB = 1024 * 1024;
let h: Harness;
let server: Server;
let port: number;

beforeAll(async () => {
  h = await createHarness();
  server = serve({ fetch: h.core.app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await h.close();
});

/** Opens a socket, sends `head`, then keeps feeding `chunk`s (if any) until the answer's status line arrives. */
async function send(
  head: string,
  feed?: { chunk: Buffer; frame: (chunk: Buffer) => Buffer; maxBytes: number },
): Promise<{ status: number; answer: string; bodyBytesSent: number }> {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let answer = '';
  let answered = false;
  const done = new Promise<void>((resolve) => {
    socket.on('data', (data) => {
      answer += data.toString('latin1');
      answered = true;
    });
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
  socket.write(head);
  let sent = 0;
  if (feed) {
    while (!answered && !socket.destroyed && sent < feed.maxBytes) {
      const ok = socket.write(feed.frame(feed.chunk));
      sent += feed.chunk.length;
      if (!ok) {
        await new Promise<void>((resolve) => {
          const settle = () => resolve();
          socket.once('drain', settle);
          socket.once('data', settle);
          socket.once('close', settle);
        });
      }
    }
  }
  await new Promise<void>((resolve) => {
    if (answered) resolve();
    else socket.once('data', () => resolve());
  });
  // The server closes the connection after a 413; other answers keep it alive.
  if (/^HTTP\/1\.1 413/.test(answer)) await done;
  socket.destroy();
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
  return { status, answer, bodyBytesSent: sent };
}

describe('body limits', () => {
  it('a declared 200 MB body to the unauthenticated login is refused with 413 before any of it is sent', async () => {
    const { status, answer, bodyBytesSent } = await send(
      `POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${200 * MB}\r\n\r\n`,
    );
    expect(bodyBytesSent).toBe(0);
    expect(status).toBe(413);
    expect(answer).toMatch(/connection: close/i);
    expect(answer).toContain('"code":"too-large"');
  });

  it('a chunked body with no length is cut off at the limit, long before 200 MB', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const { status, bodyBytesSent } = await send(
      'POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n',
      {
        chunk,
        frame: (c) => Buffer.concat([Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]),
        maxBytes: 200 * MB,
      },
    );
    expect(status).toBe(413);
    // The kernel's socket buffers take some megabytes before the answer reaches us; 200 MB never.
    expect(bodyBytesSent).toBeLessThan(40 * MB);
  });

  it('every route, authenticated or not, refuses a body over its limit and answers a body under it', async () => {
    const admin = await h.token('admin');
    const routes: [string, string][] = [
      ['POST', '/api/v1/auth/login'],
      ['POST', '/api/v1/compounds'],
      ['POST', '/api/v1/residents'],
      ['POST', '/api/v1/users'],
      ['PATCH', '/api/v1/residents/p-1'],
      ['POST', '/api/v1/no-such-route'],
    ];
    for (const [method, path] of routes) {
      const big = await h.core.app.request(path, {
        method,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: `{"x":"${'a'.repeat(DEFAULT_BODY_LIMIT)}"}`,
      });
      expect([method, path, big.status]).toEqual([method, path, 413]);
      const small = await h.core.app.request(path, {
        method,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: '{"x":"a"}',
      });
      expect(small.status).not.toBe(413);
    }
  });

  it('the health feed takes more than the default, up to its own limit', async () => {
    const { status, answer } = await send(
      `PUT /api/v1/health HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${21 * MB}\r\n\r\n`,
    );
    expect(status).toBe(413);
    expect(answer).toContain('"code":"too-large"');
  });

  it('the CSV import takes more than the default, up to its own limit', async () => {
    const csv = `compoundId,name\n${'c-1,x\n'.repeat(20_000)}`;
    expect(csv.length).toBeGreaterThan(DEFAULT_BODY_LIMIT);
    const res = await h.request('POST', '/api/v1/residents/import', {
      token: await h.token('manager', 'c-1'),
      raw: csv,
    });
    expect(res.status).not.toBe(413);
    const { status } = await send(
      `POST /api/v1/residents/import HTTP/1.1\r\nhost: x\r\ncontent-type: text/csv\r\ncontent-length: ${21 * MB}\r\n\r\n`,
    );
    expect(status).toBe(413);
  });
});

describe('/metrics', () => {
  const scrape = (address: string, token?: string) =>
    h.core.app.request('/metrics', token ? { headers: { authorization: `Bearer ${token}` } } : {}, {
      incoming: { socket: { remoteAddress: address } },
    });

  it('answers loopback callers and refuses others without a metrics token', async () => {
    expect((await scrape('127.0.0.1')).status).toBe(200);
    expect((await scrape('::1')).status).toBe(200);
    expect((await scrape('::ffff:127.0.0.1')).status).toBe(200);
    expect((await scrape('203.0.113.9')).status).toBe(403);
    expect((await scrape('203.0.113.9', 'guess')).status).toBe(403);
    // Over a real socket from 127.0.0.1.
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
  });
});

describe('data file modes', () => {
  it("the cloud's database and its WAL are 0600 even when created with a permissive umask", async () => {
    const { createKeysFile } = await import('../../shared/keys.ts');
    const { startTestCloud } = await import('../../testkit/cloud.ts');
    const { statSync, existsSync } = await import('node:fs');
    const previous = process.umask(0o022);
    try {
      const cloud = await startTestCloud({ keysFile: createKeysFile() });
      try {
        await fetch(`${cloud.baseUrl}/healthz`);
        for (const path of [cloud.dbPath, `${cloud.dbPath}-wal`]) {
          if (existsSync(path)) expect([path, statSync(path).mode & 0o777]).toEqual([path, 0o600]);
        }
        expect(existsSync(cloud.dbPath)).toBe(true);
      } finally {
        await cloud.stop();
      }
    } finally {
      process.umask(previous);
    }
  });
});
