/**
 * A TCP proxy on 127.0.0.1 in front of an HTTP server, for browser suites that need a network
 * that misbehaves the way real ones do: `stall()` stops every byte from the server to the browser
 * on the live-stream connections while keeping them open (a proxy or Wi-Fi that hangs), `resume()`
 * lets them flow again. Other connections (pages, API calls) are not touched.
 *
 *   const proxy = await startStallProxy(cloud.httpPort);
 *   page.goto(`${proxy.url}/console`); proxy.stall(); … proxy.resume(); await proxy.stop();
 */
import { connect, createServer, type Socket } from 'node:net';

export interface StallProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Holds every server → browser byte of the `/api/v1/live` connections, open or opened later. */
  stall(): void;
  /** Lets the held connections flow again. */
  resume(): void;
  /** Live-stream connections seen so far. */
  readonly liveConnections: number;
  stop(): Promise<void>;
}

export async function startStallProxy(targetPort: number): Promise<StallProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket; live: boolean }>();
  let stalled = false;
  let liveConnections = 0;
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { client, upstream, live: false };
    pairs.add(pair);
    client.on('data', (chunk) => {
      // A kept-alive connection may carry other requests first; once it carries the live stream's
      // request it carries nothing else (HTTP/1.1 does not interleave responses).
      if (!pair.live && /^GET \/api\/v1\/live[?\s]/.test(chunk.subarray(0, 64).toString('latin1'))) {
        pair.live = true;
        liveConnections += 1;
        if (stalled) upstream.pause();
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!client.destroyed) client.write(chunk);
    });
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    stall() {
      stalled = true;
      for (const pair of pairs) if (pair.live) pair.upstream.pause();
    },
    resume() {
      stalled = false;
      for (const pair of pairs) if (pair.live) pair.upstream.resume();
    },
    get liveConnections() {
      return liveConnections;
    },
    async stop() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
