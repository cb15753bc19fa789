/**
 * The WAL checkpoint thread (edge-agent/wal-checkpointer.ts): one second connection per gate
 * database, `wal_checkpoint(PASSIVE)` every `intervalMs`, results posted back. Plain CommonJS
 * loaded by path, so it runs the same under tsx, vitest and from a build (bin/build.mjs copies it).
 */
const { parentPort, workerData } = require('node:worker_threads');
if (workerData.started) {
  const started = new Int32Array(workerData.started);
  Atomics.store(started, 0, 1);
  Atomics.notify(started, 0);
}
const Database = require(workerData.betterSqlite3);
const open = new Map();
const checkpoint = (id, db) => {
  const startedAt = Date.now();
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ kind: 'checkpoint', id, startedAt, log: row.log, checkpointed: row.checkpointed });
  } catch (error) {
    parentPort.postMessage({ kind: 'error', id, message: error.message });
  }
};
parentPort.on('message', (message) => {
  if (message.kind === 'add') {
    try {
      const db = new Database(message.file, { fileMustExist: true });
      db.pragma('cache_size = -256');
      const timer = setInterval(() => checkpoint(message.id, db), message.intervalMs);
      open.set(message.id, { db, timer });
    } catch (error) {
      parentPort.postMessage({ kind: 'failed', id: message.id, message: error.message });
    }
  } else if (message.kind === 'remove') {
    const entry = open.get(message.id);
    open.delete(message.id);
    if (entry) {
      clearInterval(entry.timer);
      checkpoint(message.id, entry.db);
      entry.db.close();
    }
    parentPort.postMessage({ kind: 'removed', id: message.id });
  } else if (message.kind === 'exit') {
    parentPort.close();
  }
});
