/**
 * The demo's password, from where `ps` does not show it (docs/security.md, "Files and secrets"):
 * a file or the environment, or the `--password` flag for a quick try.
 */
import { ConfigError } from '../../shared/errors.ts';
import { readPasswordFile } from '../password-file.ts';

export const DEFAULT_DEMO_PASSWORD = 'anxin-demo';

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
  const password = readPasswordFile(config.passwordFile).trim();
  if (password.length < 4) throw new ConfigError(['passwordFile: the first line must hold at least 4 characters']);
  return password;
}
