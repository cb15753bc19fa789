/**
 * The set of revoked tokens, as entries of `shared/revocation-entry.ts`: a token id (`jti`), or
 * `sub:<subject>@<epoch ms>` for every token of that subject issued before that instant — what
 * the cloud writes when a gate is stolen. Two sources, unioned: entries pushed at run time
 * (`revoke()`, e.g. by an embedding cloud) and a file the cloud or an operator writes, re-read
 * whenever it changes. The file is watched two ways because neither is enough alone: `fs.watch`
 * on the directory reacts at once and survives the write-to-temp-then-rename pattern, and a slow
 * poll catches what inotify misses (network and overlay file systems).
 *
 * File format: one entry per line, each ended by a newline; blank lines and `#` comments ignored.
 * A JSON array of strings (`["jti1","jti2"]`) is accepted too. A file caught half-written (a line
 * file without its final newline, JSON that does not parse) is ignored until it is whole, and
 * change events are debounced, so a writer that truncates then writes never briefly empties the list.
 */
import { type FSWatcher, readFileSync, type StatsListener, unwatchFile, watch, watchFile } from 'node:fs';
import { basename, dirname } from 'node:path';
import { AnxinError } from '../shared/errors.ts';
import { type Logger, silentLogger } from '../shared/log.ts';
import { parseSubjectRevocation, type RevocableToken } from '../shared/revocation-entry.ts';

const DEFAULT_REVOCATION_POLL_MS = 2_000;
/** Quiet time after the last change event before the file is read. */
const REVOCATION_DEBOUNCE_MS = 100;

export interface RevocationListOptions {
  /** Revocation file to load and watch. */
  file?: string;
  /** Ids revoked from the start. */
  jtis?: Iterable<string>;
  /** Poll interval of the file, ms (default 2000). */
  pollMs?: number;
  logger?: Logger;
  /** Called with the ids that became revoked by `revoke()` or a file reload. */
  onRevoked?: (jtis: string[]) => void;
}

/** The revocation file could not be read or parsed at start-up. */
class RevocationFileError extends AnxinError {
  constructor(file: string, cause: unknown) {
    super('invalid-revocations', `${file}: ${(cause as Error).message ?? String(cause)}`);
  }
}

export function parseRevocationFile(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const parsed: unknown = JSON.parse(trimmed);
    if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string')) {
      throw new TypeError('a JSON revocation file must be an array of strings');
    }
    return parsed.map((v) => v.trim()).filter((v) => v.length > 0);
  }
  if (text.length > 0 && !text.endsWith('\n')) throw new TypeError('the last line has no newline (half-written?)');
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line.length > 0);
}

export class RevocationList {
  readonly #pushed = new Set<string>();
  #fromFile = new Set<string>();
  /** subject → the latest "issued before" cut-off among both sources (derived, for O(1) checks). */
  #subjects = new Map<string, number>();
  readonly #options: RevocationListOptions;
  readonly #log: Logger;
  #watcher?: FSWatcher;
  #polling?: StatsListener;
  #debounce?: NodeJS.Timeout;
  #reloads = 0;
  #reloadErrors = 0;

  constructor(options: RevocationListOptions = {}) {
    this.#options = options;
    this.#log = (options.logger ?? silentLogger).child({ component: 'broker.revocations' });
    for (const jti of options.jtis ?? []) this.#pushed.add(jti);
    this.#indexSubjects();
  }

  has(entry: string): boolean {
    return this.#pushed.has(entry) || this.#fromFile.has(entry);
  }

  /** Is this verified token revoked, by its id or by a cut-off for its subject? */
  isRevoked(token: RevocableToken): boolean {
    if (this.has(token.jti)) return true;
    const cutoff = this.#subjects.get(token.sub);
    return cutoff !== undefined && token.iat < cutoff;
  }

  #indexSubjects(): void {
    const subjects = new Map<string, number>();
    for (const entry of [...this.#pushed, ...this.#fromFile]) {
      const parsed = parseSubjectRevocation(entry);
      if (parsed) subjects.set(parsed.subject, Math.max(parsed.before, subjects.get(parsed.subject) ?? 0));
    }
    this.#subjects = subjects;
  }

  get size(): number {
    return new Set([...this.#pushed, ...this.#fromFile]).size;
  }

  get stats(): { size: number; reloads: number; reloadErrors: number } {
    return { size: this.size, reloads: this.#reloads, reloadErrors: this.#reloadErrors };
  }

  /** Adds an entry: a `jti`, or `subjectRevocation(sub, before)`. */
  revoke(entry: string): void {
    if (this.has(entry)) {
      this.#pushed.add(entry);
      return;
    }
    this.#pushed.add(entry);
    this.#indexSubjects();
    this.#options.onRevoked?.([entry]);
  }

  /**
   * Loads the file once and starts watching it. A file that does not exist yet is an empty list
   * (the cloud creates it on the first revocation; a fresh deployment has none) and is picked up
   * when it appears; a file that exists but cannot be read or parsed is an error.
   */
  start(): void {
    const file = this.#options.file;
    if (!file) return;
    try {
      this.#fromFile = new Set(parseRevocationFile(readFileSync(file, 'utf8')));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new RevocationFileError(file, error);
      this.#fromFile = new Set();
      this.#log.info({ file }, 'revocation file does not exist yet: nothing revoked; watching for it');
    }
    this.#indexSubjects();
    this.#reloads++;
    this.#log.info({ file, size: this.#fromFile.size }, 'revocation list loaded');
    const name = basename(file);
    try {
      this.#watcher = watch(dirname(file), (_event, changed) => {
        if (changed === null || changed === name) this.#scheduleReload();
      });
      this.#watcher.on('error', (error) =>
        this.#log.warn({ err: error }, 'revocation file watch failed; polling only'),
      );
    } catch (error) {
      this.#log.warn({ err: error }, 'cannot watch the revocation file; polling only');
    }
    this.#polling = () => this.#scheduleReload();
    watchFile(file, { interval: this.#options.pollMs ?? DEFAULT_REVOCATION_POLL_MS, persistent: false }, this.#polling);
  }

  #scheduleReload(): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => this.reload(), REVOCATION_DEBOUNCE_MS);
    this.#debounce.unref();
  }

  /**
   * Re-reads the file. A file that vanished or does not parse keeps the previous list: during an
   * outage of whoever writes it, forgetting revocations would re-admit revoked devices.
   */
  reload(): void {
    const file = this.#options.file;
    if (!file) return;
    let next: Set<string>;
    try {
      next = new Set(parseRevocationFile(readFileSync(file, 'utf8')));
    } catch (error) {
      this.#reloadErrors++;
      this.#log.warn({ file, err: error }, 'revocation file unreadable; keeping the previous list');
      return;
    }
    const added = [...next].filter((jti) => !this.has(jti));
    this.#fromFile = next;
    this.#indexSubjects();
    this.#reloads++;
    if (added.length > 0) {
      this.#log.info({ file, added: added.length, size: this.size }, 'revocation list reloaded');
      this.#options.onRevoked?.(added);
    }
  }

  stop(): void {
    clearTimeout(this.#debounce);
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#polling && this.#options.file) unwatchFile(this.#options.file, this.#polling);
    this.#polling = undefined;
  }
}
