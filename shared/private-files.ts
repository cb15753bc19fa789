/**
 * Data folders and files readable by their owner only (docs/security.md, "Where personal data
 * lives"): a data directory 0700, a database and its WAL/SHM companions 0600 — whatever the umask
 * that created them, and also when they existed before with looser modes.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';

/**
 * Creates `dir` (and any missing parents, all 0700) and takes the group's and others' access to
 * `dir` itself away (0700 for a folder its owner may write). Existing parents
 * are not touched, nor is `dir` when it is the working directory, the home directory or `/` — a
 * database named without a folder (`--db cloud.db`) does not close the user's own folder.
 */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const full = resolve(dir);
  if (full === process.cwd() || full === homedir() || full === '/') return;
  // Takes away the group's and others' bits and never adds the owner's: a folder its owner made
  // read-only (0555) stays unwritable (0500), and the gate says so instead of writing into it.
  chmodSync(full, statSync(full).mode & 0o700);
}

/** Makes each existing path 0600 (a missing one is skipped: SQLite creates its WAL and SHM lazily). */
export function privateFiles(paths: readonly string[]): void {
  for (const path of paths) {
    try {
      chmodSync(path, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** A SQLite database file and its WAL and shared-memory companions. */
export function sqliteFiles(file: string): string[] {
  return [file, `${file}-wal`, `${file}-shm`];
}
