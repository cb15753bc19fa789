/**
 * The WAL checkpoint thread (shared/sqlite/wal-checkpointer.ts): one second connection per
 * database, `wal_checkpoint(PASSIVE)` every `intervalMs`, results posted back. A database added
 * with `escalateAbovePages` gets `wal_checkpoint(RESTART)` instead whenever the last PASSIVE left
 * more frames than that in the WAL (a writer that never pauses keeps PASSIVE from ever letting the
 * WAL rewind): it waits — here, not on the writer's thread — for the write lock, copies the few
 * frames PASSIVE has not, and so lets the next commit rewind the WAL; it gives up after the
 * connection's busy timeout (`escalateBusyMs`). Plain CommonJS loaded by path, so it runs the same
 * under tsx, vitest and from a build (bin/build.mjs copies it).
 */
const { parentPort, workerData } = require('node:worker_threads');
if (workerData.started) {
  const started = new Int32Array(workerData.started);
  Atomics.store(started, 0, 1);
  Atomics.notify(started, 0);
}
const Database = require(workerData.betterSqlite3);
const open = new Map();
/** Frames written during a PASSIVE pass that are few enough for RESTART to copy while holding the write lock. */
const RESTART_AFTER_FRAMES = 256;
/**
 * Before a RESTART (which blocks commits while it runs), PASSIVE passes copy what the writer added
 * meanwhile until a pass finds little new; RESTART then copies only that. Undefined: the WAL
 * rewound meanwhile (no RESTART needed), or a pass found it busy.
 */
const converge = (db, lastLog) => {
  let log = lastLog;
  for (let pass = 0; pass < 4; pass++) {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    if (row.busy !== 0 || row.log < log) return undefined;
    const added = row.log - log;
    log = row.log;
    if (added <= RESTART_AFTER_FRAMES) break;
  }
  return 'RESTART';
};
/** Rounds the worker leaves a database's checkpoints to its commits once its WAL passed twice the bound. */
const BACKSTOP_ROUNDS = 5;
const checkpoint = (id, entry) => {
  if (entry.skip > 0) {
    entry.skip -= 1;
    return;
  }
  const startedAt = Date.now();
  try {
    const escalate = entry.escalateAbovePages > 0 && entry.lastLog > entry.escalateAbovePages;
    const mode = (escalate && converge(entry.db, entry.lastLog)) || 'PASSIVE';
    const [row] = entry.db.pragma(`wal_checkpoint(${mode})`);
    // A complete RESTART lets the next commit rewind the WAL: no reason to escalate again before.
    // (-1: busy before it could even look at the WAL; keep what the last one saw.)
    if (mode === 'RESTART' && row.busy === 0 && row.checkpointed === row.log) entry.lastLog = 0;
    else if (row.log >= 0) entry.lastLog = row.log;
    // The writer outruns this thread: its commits checkpoint (wal-checkpointer.ts turns them back on
    // from this report); out of their way — a checkpoint here would make theirs find the WAL busy.
    if (entry.escalateAbovePages > 0 && row.log > 2 * entry.escalateAbovePages) entry.skip = BACKSTOP_ROUNDS;
    const { log, checkpointed, busy } = row;
    parentPort.postMessage({ kind: 'checkpoint', id, startedAt, mode, busy: busy !== 0, log, checkpointed });
  } catch (error) {
    parentPort.postMessage({ kind: 'error', id, message: error.message });
  }
};
parentPort.on('message', (message) => {
  if (message.kind === 'add') {
    try {
      const db = new Database(message.file, { fileMustExist: true, timeout: message.escalateBusyMs });
      db.pragma('cache_size = -256');
      const entry = { db, timer: undefined, lastLog: 0, skip: 0, escalateAbovePages: message.escalateAbovePages };
      entry.timer = setInterval(() => checkpoint(message.id, entry), message.intervalMs);
      open.set(message.id, entry);
    } catch (error) {
      parentPort.postMessage({ kind: 'failed', id: message.id, message: error.message });
    }
  } else if (message.kind === 'remove') {
    const entry = open.get(message.id);
    open.delete(message.id);
    if (entry) {
      clearInterval(entry.timer);
      entry.skip = 0;
      checkpoint(message.id, entry);
      entry.db.close();
    }
    parentPort.postMessage({ kind: 'removed', id: message.id });
  } else if (message.kind === 'exit') {
    parentPort.close();
  }
});
