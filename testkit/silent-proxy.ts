/**
 * A TCP proxy in front of a broker that can go silent like a dead host: every byte dropped both
 * ways, every connection left open (no FIN, no RST), new connections accepted and never answered —
 * the half-open link only an MQTT keepalive notices (docs/deploy.md, "A broker that dies silently").
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface SilentProxy {
  url: string;
  /** The broker stops answering: every byte dropped both ways, every connection left open. */
  silence(): void;
  /** The broker answers again (connections opened from now on). */
  revive(): void;
  stop(): Promise<void>;
}

export interface SilentProxyOptions {
  /** Every chunk a client sent that was passed on, with the number of its connection (1, 2, …). */
  onClientBytes?(connection: number, chunk: Buffer): void;
}

export async function startSilentProxy(targetPort: number, options: SilentProxyOptions = {}): Promise<SilentProxy> {
  let silent = false;
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const connection = ++connections;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (silent) return; // accepted, never answered: the dead host's half-open link
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('data', (chunk: Buffer) => {
      if (silent) return;
      options.onClientBytes?.(connection, chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!silent) client.write(chunk);
    });
    // While silent a dead host sends no FIN either: a close is passed on only while it answers.
    client.on('close', () => {
      if (!silent) upstream.destroy();
    });
    upstream.on('close', () => {
      if (!silent) client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    silence: () => {
      silent = true;
    },
    revive: () => {
      silent = false;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
