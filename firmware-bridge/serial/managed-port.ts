/**
 * One serial port that stays useful while devices come and go: it opens the port, forwards every
 * received byte into a caller-supplied parser, and when the port vanishes (USB unplugged, socat
 * killed) or cannot be opened it reports 'fault' and keeps reopening it with exponential backoff.
 *
 * The parser outlives reconnects: bytes are written into it rather than piped, so closing a port
 * never ends the parser, and its optional `reset()` drops half-received frames after a reconnect.
 *
 * A port that only listens (a QR scanner, a device simulator) learns of a loss only if the kernel
 * wakes its pending read, and now and then it does not: the hang-up of a pty whose master went away
 * is missed, and the port would stay open on a dead descriptor, deaf for good. So an OS port also
 * watches its device node: when the path vanishes, or now names another node (the udev link or the
 * socat link re-created for a replugged device), the port counts as lost and is reopened.
 */
import { EventEmitter } from 'node:events';
import { lstat, stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { autoDetect } from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { DeviceNodeGoneError, PortNotOpenError } from './errors.ts';
import type { BindingInterface, DeviceStatus, SerialPortOptions } from './port-options.ts';
import { systemTimers, type Timers } from './timers.ts';

/** First reopen attempt after a loss; doubles per failure up to the maximum. */
export const RECONNECT_INITIAL_MS = 200;
/** Ceiling of the reopen backoff: a replugged device is back within this. */
export const RECONNECT_MAX_MS = 5_000;
/** How often an open OS port checks that its path still names the device it opened. */
const NODE_WATCH_MS = 500;

/** A parser the port writes into; `reset()` (optional) forgets partial input after a reconnect. */
export type PortParser = Writable & { reset?(): void };

export interface ManagedSerialPortOptions extends SerialPortOptions {
  /** Receives every byte read from the port. Never ended by the port. */
  parser: PortParser;
  logger?: Logger;
  timers?: Timers;
  /** Default `RECONNECT_INITIAL_MS`. */
  reconnectInitialMs?: number;
  /** Default `RECONNECT_MAX_MS`. */
  reconnectMaxMs?: number;
  /**
   * Period of the device-node watch, ms; default `NODE_WATCH_MS`, 0 turns it off. It runs only on
   * the OS binding: a virtual or mock port has no node to watch.
   */
  nodeWatchMs?: number;
}

/** What identifies the device node behind a path: the link itself and the node it resolves to. */
interface NodeIdentity {
  linkIno: number;
  linkCtimeMs: number;
  rdev: number;
  ino: number;
}

async function nodeIdentity(path: string): Promise<NodeIdentity | undefined> {
  try {
    const [link, node] = await Promise.all([lstat(path), stat(path)]);
    return { linkIno: link.ino, linkCtimeMs: link.ctimeMs, rdev: node.rdev, ino: node.ino };
  } catch {
    return undefined;
  }
}

const sameNode = (a: NodeIdentity, b: NodeIdentity) =>
  a.linkIno === b.linkIno && a.linkCtimeMs === b.linkCtimeMs && a.rdev === b.rdev && a.ino === b.ino;

export interface ManagedSerialPortEvents {
  open: [];
  /** The port closed; `err` says why when it vanished. Not emitted by `stop()`. */
  close: [err: Error | null];
  status: [status: 'ok' | 'fault'];
  error: [err: Error];
}

let defaultBinding: BindingInterface | undefined;
/** Loaded lazily so a process that only uses virtual or mock ports never touches the native binding. */
function osBinding(): BindingInterface {
  defaultBinding ??= autoDetect() as BindingInterface;
  return defaultBinding;
}

export class ManagedSerialPort extends EventEmitter<ManagedSerialPortEvents> {
  readonly path: string;
  readonly baudRate: number;
  readonly #binding: BindingInterface | undefined;
  readonly #parser: PortParser;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #nodeWatchMs: number;

  #running = false;
  #status: DeviceStatus = 'absent';
  #stream: SerialPortStream | undefined;
  #detach: (() => void) | undefined;
  #retryTimer: unknown;
  #watchTimer: unknown;
  #backoffMs: number;
  /** Bumped by every open attempt and by stop(), so a stale attempt knows to discard its result. */
  #generation = 0;
  #pendingWrites = new Set<(err: Error) => void>();
  #faultReported = false;

  constructor(options: ManagedSerialPortOptions) {
    super();
    if (typeof options.path !== 'string' || options.path === '') {
      throw new TypeError(`path must be a non-empty string, got ${JSON.stringify(options.path)}`);
    }
    if (!Number.isInteger(options.baudRate) || options.baudRate <= 0) {
      throw new TypeError(`baudRate must be a positive integer, got ${options.baudRate}`);
    }
    this.path = options.path;
    this.baudRate = options.baudRate;
    this.#binding = options.binding;
    this.#parser = options.parser;
    this.#log = (options.logger ?? silentLogger).child({ component: 'serial', path: options.path });
    this.#timers = options.timers ?? systemTimers;
    this.#initialBackoffMs = options.reconnectInitialMs ?? RECONNECT_INITIAL_MS;
    this.#maxBackoffMs = options.reconnectMaxMs ?? RECONNECT_MAX_MS;
    this.#nodeWatchMs = options.binding === undefined ? (options.nodeWatchMs ?? NODE_WATCH_MS) : 0;
    this.#backoffMs = this.#initialBackoffMs;
  }

  /** 'absent' before start and after stop. */
  get status(): DeviceStatus {
    return this.#status;
  }

  get isOpen(): boolean {
    return this.#stream?.isOpen ?? false;
  }

  /**
   * Opens the port. Resolves after the first attempt whether or not it succeeded: a device missing
   * at boot is a 'fault' to report and retry, not a reason for the gate to stop.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#backoffMs = this.#initialBackoffMs;
    await this.#tryOpen();
  }

  /** Closes the port and stops reconnecting. Pending writes reject with `PortNotOpenError`. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#generation++;
    this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const stream = this.#stream;
    this.#dropStream();
    if (stream?.isOpen) {
      await new Promise<void>((resolve) => stream.close(() => resolve()));
    }
    stream?.destroy();
    this.#status = 'absent';
  }

  /** Writes; resolves once the binding took the bytes and, if this write filled the stream's buffer, it drained. */
  write(data: Buffer): Promise<void> {
    const stream = this.#stream;
    if (!stream?.isOpen) return Promise.reject(new PortNotOpenError(this.path));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: Error | null) => {
        if (settled) return;
        settled = true;
        this.#pendingWrites.delete(finish);
        if (err) reject(err instanceof PortNotOpenError ? err : new PortNotOpenError(this.path, err.message));
        else resolve();
      };
      this.#pendingWrites.add(finish);
      let written = false;
      let drained = true;
      const finishWhenFlushed = () => {
        if (written && drained) finish();
      };
      const flowing = stream.write(data, (err) => {
        if (err) return finish(err);
        written = true;
        finishWhenFlushed();
      });
      // Listen now: a stream emits 'drain' before it calls the write callback that emptied it.
      if (!flowing) {
        drained = false;
        stream.once('drain', () => {
          drained = true;
          finishWhenFlushed();
        });
      }
    });
  }

  async #tryOpen(): Promise<void> {
    const generation = ++this.#generation;
    let stream: SerialPortStream;
    // Taken before the open, so a node replaced while opening is noticed at the first check.
    const node = this.#nodeWatchMs > 0 ? await nodeIdentity(this.path) : undefined;
    try {
      stream = new SerialPortStream({
        binding: this.#binding ?? osBinding(),
        path: this.path,
        baudRate: this.baudRate,
        autoOpen: false,
      });
      await new Promise<void>((resolve, reject) => stream.open((err) => (err ? reject(err) : resolve())));
    } catch (err) {
      if (generation !== this.#generation) return;
      this.#onOpenFailed(err as Error);
      return;
    }
    if (generation !== this.#generation || !this.#running) {
      // stop() (or another attempt) overtook this one while the binding was opening.
      if (stream.isOpen) stream.close(() => stream.destroy());
      return;
    }
    this.#attach(stream);
    this.#backoffMs = this.#initialBackoffMs;
    this.#faultReported = false;
    this.#parser.reset?.();
    this.#log.info({ baudRate: this.baudRate }, 'serial port open');
    this.#setStatus('ok');
    this.emit('open');
    if (node) this.#watchNode(stream, node);
  }

  /** Checks now and then that the path still names the node `stream` opened (see the file comment). */
  #watchNode(stream: SerialPortStream, opened: NodeIdentity): void {
    this.#watchTimer = this.#timers.setTimeout(async () => {
      this.#watchTimer = undefined;
      const now = await nodeIdentity(this.path);
      if (this.#stream !== stream) return;
      if (now && sameNode(now, opened)) {
        this.#watchNode(stream, opened);
        return;
      }
      this.#onLost(new DeviceNodeGoneError(this.path, now ? 'replaced' : 'vanished'));
      if (stream.isOpen) stream.close(() => {});
    }, this.#nodeWatchMs);
  }

  #attach(stream: SerialPortStream): void {
    const onData = (chunk: Buffer) => this.#parser.write(chunk);
    const onClose = (err: Error | null) => this.#onLost(err);
    const onError = (err: Error) => {
      this.#log.warn({ err: err.message }, 'serial port error');
      this.#emitError(err);
      if (!stream.isOpen) this.#onLost(err);
    };
    stream.on('data', onData);
    stream.on('close', onClose);
    stream.on('error', onError);
    this.#stream = stream;
    this.#detach = () => {
      stream.off('data', onData);
      stream.off('close', onClose);
      stream.off('error', onError);
      // A late error from a discarded stream must not crash the process.
      stream.on('error', () => {});
    };
  }

  #dropStream(): void {
    this.#timers.clearTimeout(this.#watchTimer);
    this.#watchTimer = undefined;
    this.#detach?.();
    this.#detach = undefined;
    this.#stream = undefined;
    const lost = new PortNotOpenError(this.path, 'port closed');
    for (const finish of [...this.#pendingWrites]) finish(lost);
  }

  #onLost(err: Error | null): void {
    const stream = this.#stream;
    if (!stream) return;
    this.#dropStream();
    stream.destroy();
    if (!this.#running) return;
    this.#log.warn({ err: err?.message }, 'serial port lost; reopening');
    this.#setStatus('fault');
    this.emit('close', err);
    this.#scheduleRetry();
  }

  #onOpenFailed(err: Error): void {
    if (!this.#running) return;
    // Report the first failure of a streak; the retries that follow would only repeat it.
    if (!this.#faultReported) {
      this.#faultReported = true;
      this.#log.warn({ err: err.message }, 'cannot open serial port; retrying');
      this.#emitError(err);
    } else {
      this.#log.debug({ err: err.message, retryInMs: this.#backoffMs }, 'serial port still unavailable');
    }
    this.#setStatus('fault');
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#maxBackoffMs);
    this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = this.#timers.setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#running) void this.#tryOpen();
    }, delay);
  }

  #setStatus(status: 'ok' | 'fault'): void {
    if (this.#status === status) return;
    this.#status = status;
    this.emit('status', status);
  }

  #emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
