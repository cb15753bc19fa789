/**
 * A password read from a file instead of the command line, where `ps` would show it
 * (docs/security.md, "Files and secrets"): its first line, from a file refused unread when it is
 * larger than a password file can be.
 */
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../shared/errors.ts';

/** A password file larger than this is not a password file: refused before it is read. */
const MAX_PASSWORD_FILE_BYTES = 4096;

/** The first line of `path`, as written; a ConfigError (`passwordFile: …`) when it cannot be used. */
export function readPasswordFile(path: string): string {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw new ConfigError([`passwordFile: ${(err as Error).message}`]);
  }
  if (size > MAX_PASSWORD_FILE_BYTES) {
    throw new ConfigError([`passwordFile: larger than ${MAX_PASSWORD_FILE_BYTES} bytes; expected one line`]);
  }
  return readFileSync(path, 'utf8').split(/\r?\n/)[0] ?? '';
}
