/**
 * A PD's secure channel base key on disk (docs/hardware.md, "Pairing the turnstile"): one line of
 * 32 hex digits in a file of the gate's data directory, mode 0600, owned by the gate's user.
 *
 * Reading refuses a file that others may read (as ssh does with a private key), anything but
 * the 32 hex digits, and files over a few hundred bytes (read only after checking the size).
 * Writing is atomic (a 0600 temp file, fsync, rename, fsync of the directory), so a crash never
 * leaves half a key. Errors name the file, never its content.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AnxinError } from '../../shared/errors.ts';
import { checkScbk, parseScbk } from './secure-channel.ts';

const MAX_KEY_FILE_BYTES = 256;

class OsdpKeyFileError extends AnxinError {
  constructor(path: string, problem: string) {
    super('osdp-key-file', `${path}: ${problem}`, { path });
  }
}

export function readScbkFile(path: string): Buffer {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch (err) {
    throw new OsdpKeyFileError(path, `cannot read the key file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!stat.isFile()) throw new OsdpKeyFileError(path, 'is not a file');
  if (stat.size > MAX_KEY_FILE_BYTES)
    throw new OsdpKeyFileError(path, `is ${stat.size} bytes; a key file holds 32 hex digits`);
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    throw new OsdpKeyFileError(
      path,
      `may be read by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it — a key others can read is no key`,
    );
  }
  try {
    return parseScbk(readFileSync(path, 'utf8'), 'the key file');
  } catch (err) {
    throw new OsdpKeyFileError(path, (err as Error).message);
  }
}

/** Writes `key` atomically with mode 0600. */
export function writeScbkFile(path: string, key: Uint8Array): void {
  const hex = `${checkScbk(key).toString('hex')}\n`;
  const temp = join(dirname(path), `.${process.pid}.${Date.now()}.scbk.tmp`);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, hex);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temp, path);
  } catch (err) {
    unlinkSync(temp);
    throw err;
  }
  try {
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  }
}
