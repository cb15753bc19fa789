/**
 * Ports for demo tests. `anxin demo --port P --gates N` binds P (the cloud) and P+1 … P+N (the
 * gate terminals), so a single free port is not enough: this finds `count` consecutive free ones.
 * The bases lie below Linux's ephemeral range (32768+), where outgoing connections take ports.
 */
import { createServer, type Server } from 'node:net';

function listen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function close(servers: Server[]): Promise<void> {
  return Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => {});
}

/** The first of `count` consecutive ports that were all free (held until all are checked, then released). */
export async function freePortRange(count: number, avoid: readonly number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count));
    if (avoid.some((p) => p >= base && p < base + count)) continue;
    const held: Server[] = [];
    for (let port = base; port < base + count; port++) {
      const server = await listen(port);
      if (!server) break;
      held.push(server);
    }
    await close(held);
    if (held.length === count) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}
