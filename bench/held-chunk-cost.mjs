// What holding one socket read costs in memory when the peer sends one byte per TCP segment: the
// per-chunk floor the connection guard charges (HELD_CHUNK_OVERHEAD_BYTES, broker/unread-budget.ts).
// Lock-step over 127.0.0.1: the server holds every chunk it reads and answers it, and the client
// sends its next byte only then, so every read is one byte, as from a hostile client. Prints the
// growth of process.memoryUsage() (after gc) per held chunk.
//   node --expose-gc bench/held-chunk-cost.mjs [chunks=50000]
import { connect, createServer } from 'node:net';

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const chunks = Number(process.argv[2] ?? 50_000);
const held = [];
let bytes = 0;
let before;
const measure = () => {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage();
};

const server = createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    held.push(chunk);
    bytes += chunk.length;
    if (bytes === chunks) report();
    else socket.write('k');
  });
});

function report() {
  const after = measure();
  const per = (key) => Math.round((after[key] - before[key]) / held.length);
  console.log(
    JSON.stringify({
      node: process.version,
      chunks: held.length,
      bytes,
      perChunk: { rss: per('rss'), heapUsed: per('heapUsed'), external: per('external') },
    }),
  );
  process.exit(0);
}

server.listen(0, '127.0.0.1', () => {
  const client = connect(server.address().port, '127.0.0.1', () => {
    client.setNoDelay(true);
    before = measure();
    client.on('data', () => client.write(Buffer.from([0x41])));
    client.write(Buffer.from([0x41]));
  });
});
