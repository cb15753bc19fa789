/**
 * The gate's device token, renewed by the cloud before it expires (docs/edge-agent.md, "Token
 * renewal"). gate.json holds the token `anxin gate add` issued; the cloud sends a fresh one over
 * the gate's own `cmd` topic (`renew-token`) well before expiry. The gate checks it — signed by a
 * key of its ring, for this gate and compound, role gate, expiring later than the current one —
 * writes it atomically beside its database (`renewed-token`, mode 0600: write, fsync, rename,
 * fsync the directory) and connects with it from the next (re)connect on. At start the later
 * expiring of the two valid tokens wins, so a token re-issued by hand into gate.json still counts.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyRing } from '../shared/keys.ts';
import type { Logger } from '../shared/log.ts';
import { verifyToken } from '../shared/token.ts';

const RENEWED_TOKEN_FILE = 'renewed-token';

export interface GateTokenStoreOptions {
  /** The gate's data directory, or `:memory:` (then a renewal lasts until the process ends). */
  dataDir: string;
  gateId: string;
  compoundId: string;
  ring: KeyRing;
  logger: Logger;
  now: () => number;
}

export class GateTokenStore {
  private token: string | undefined;
  private exp: number | undefined;

  constructor(
    private readonly options: GateTokenStoreOptions,
    configured: string | undefined,
  ) {
    const candidates = [configured, this.readStored()].flatMap((token) => {
      const exp = token === undefined ? undefined : this.check(token);
      return exp === undefined ? [] : [{ token: token!, exp }];
    });
    const best = candidates.sort((a, b) => b.exp - a.exp)[0];
    // A configured token that does not verify here (another deployment's key …) is still tried:
    // the broker is the judge; it only loses against a stored one that does verify.
    this.token = best?.token ?? configured;
    this.exp = best?.exp ?? (configured === undefined ? undefined : expOf(configured));
  }

  /** The token to connect with. */
  get current(): string | undefined {
    return this.token;
  }

  /** When the token in use expires (epoch ms), as its claims say. */
  get expiresAt(): number | undefined {
    return this.exp;
  }

  /**
   * Takes a renewed token: checked, stored durably, then used. Throws (with the reason) when it
   * is not a token of this gate, not newer than the current one, or cannot be stored.
   */
  accept(token: string): { exp: number } {
    const exp = this.check(token);
    if (exp === undefined) throw new Error('renewed token refused: not a valid gate token for this gate');
    if (this.exp !== undefined && exp <= this.exp)
      throw new Error('renewed token refused: expires no later than the current one');
    if (this.options.dataDir !== ':memory:') writeAtomically(this.options.dataDir, RENEWED_TOKEN_FILE, `${token}\n`);
    this.token = token;
    this.exp = exp;
    this.options.logger.info({ expiresAt: new Date(exp).toISOString() }, 'device token renewed');
    return { exp };
  }

  private check(token: string): number | undefined {
    const result = verifyToken(token, this.options.ring, this.options.now());
    if (!result.ok) return undefined;
    const { sub, role, compound, exp } = result.claims;
    if (sub !== this.options.gateId || role !== 'gate' || compound !== this.options.compoundId) return undefined;
    return exp;
  }

  private readStored(): string | undefined {
    if (this.options.dataDir === ':memory:') return undefined;
    try {
      return readFileSync(join(this.options.dataDir, RENEWED_TOKEN_FILE), 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  }
}

/** The `exp` claim of a token, unverified (for the status only). */
/** The `exp` a token carries, read without verifying it (for status reports only). */
export function expOf(token: string): number | undefined {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as {
      exp?: unknown;
    };
    return typeof claims.exp === 'number' ? claims.exp : undefined;
  } catch {
    return undefined;
  }
}

/** Write beside, fsync, rename over, fsync the directory: the file is the old one or the new one, whole. */
function writeAtomically(dir: string, name: string, text: string): void {
  const target = join(dir, name);
  const temporary = `${target}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600 });
  const fd = openSync(temporary, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, target);
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
