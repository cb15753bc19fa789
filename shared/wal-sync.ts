/**
 * Makes a SQLite database's write-ahead log durable with `fsync` on the libuv thread pool, so the
 * event loop never waits for the disk: the gate's journal (the unlock of the turnstile must not
 * wait) and the cloud's store (ingest goes on while a batch's acks wait for the disk) both use it,
 * so "durable" means the same on both ends of docs/architecture.md rule 2. (The one file of `shared/` that touches the
 * file system: a primitive both SQLite owners must share, not a contract.)
 *
 * The database runs with `synchronous = NORMAL`: a commit is written to the WAL (the OS page
 * cache) at once and survives a crash of the process; only a power cut can lose it until the WAL
 * is fsynced. `fsync` flushes the file whatever descriptor it is called on, so syncing our own
 * read-only descriptor of `<db>-wal` makes every frame SQLite wrote before the call durable —
 * which is exactly what `synchronous = FULL` does at each commit, minus the wait. SQLite keeps one
 * WAL file (same inode) for as long as the database is open; it only rewinds it after a
 * checkpoint, which it syncs itself.
 *
 * The first sync also syncs the directory, as SQLite does for a newly created WAL, so the file's
 * name survives a power cut too.
 */
import { close, fsync, open } from 'node:fs';
import { dirname } from 'node:path';

export class WalSync {
  private fd: number | undefined;
  private directorySynced = false;
  private closed = false;

  constructor(readonly walPath: string) {}

  /** Calls back once everything written to the WAL before this call is on stable storage. */
  sync(done: (error: Error | null) => void): void {
    if (this.closed) {
      done(new Error('WAL sync closed'));
    } else if (this.fd !== undefined) {
      this.syncFile(this.fd, done);
    } else {
      open(this.walPath, 'r', (error, fd) => {
        if (error) done(error);
        else if (this.closed) close(fd, () => done(new Error('WAL sync closed')));
        else {
          this.fd = fd;
          this.syncFile(fd, done);
        }
      });
    }
  }

  close(): void {
    this.closed = true;
    const { fd } = this;
    this.fd = undefined;
    // An fsync still running on the pool holds its own reference to the file.
    if (fd !== undefined) close(fd, () => {});
  }

  private syncFile(fd: number, done: (error: Error | null) => void): void {
    fsync(fd, (error) => {
      if (error || this.directorySynced) {
        done(error);
        return;
      }
      open(dirname(this.walPath), 'r', (openError, dirFd) => {
        if (openError) {
          done(openError);
          return;
        }
        fsync(dirFd, (syncError) => {
          close(dirFd, () => {});
          if (!syncError) this.directorySynced = true;
          done(syncError);
        });
      });
    });
  }
}
