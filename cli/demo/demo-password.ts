/**
 * The demo's password, from where `ps` does not show it (docs/security.md, "Files and secrets"):
 * a file or the environment, or the `--password` flag for a quick try.
 */
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../../shared/errors.ts';

export const DEFAULT_DEMO_PASSWORD = 'anxin-demo';
/** A password file larger than this is not a password file: refused before it is read. */
const MAX_PASSWORD_FILE_BYTES = 4096;

/**
 * The demo's password: `--password`/`ANXIN_PASSWORD`, or the first line of `--password-file`/
 * `ANXIN_PASSWORD_FILE` (not both), else the default. Throws ConfigError with `path: message` lines.
 */
export function demoPassword(
  config: { password?: string | undefined; passwordFile?: string | undefined },
  options: { onArgv?: boolean } = {},
): string {
  if (options.onArgv) {
    process.stderr.write(
      'anxin demo: note: --password is visible to other users (ps); prefer ANXIN_PASSWORD or --password-file\n',
    );
  }
  if (config.passwordFile === undefined) return config.password ?? DEFAULT_DEMO_PASSWORD;
  if (config.password !== undefined) {
    throw new ConfigError(['password: give either a password or a password file, not both']);
  }
  let size: number;
  try {
    size = statSync(config.passwordFile).size;
  } catch (err) {
    throw new ConfigError([`passwordFile: ${(err as Error).message}`]);
  }
  if (size > MAX_PASSWORD_FILE_BYTES) {
    throw new ConfigError([`passwordFile: larger than ${MAX_PASSWORD_FILE_BYTES} bytes; expected one line`]);
  }
  const password = (readFileSync(config.passwordFile, 'utf8').split(/\r?\n/)[0] ?? '').trim();
  if (password.length < 4) throw new ConfigError(['passwordFile: the first line must hold at least 4 characters']);
  return password;
}
