/**
 * One serial port that stays useful while devices come and go: it opens the port, forwards every
 * received byte into a caller-supplied parser, and when the port vanishes (USB unplugged, socat
 * killed) or cannot be opened it reports 'fault' and keeps reopening it with exponential backoff.
 *
 * The parser outlives reconnects: bytes are written into it rather than piped, so closing a port
 * never ends the parser, and its optional `reset()` drops half-received frames after a reconnect.
 */
import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import { autoDetect } from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { PortNotOpenError } from './errors.ts';
import type { BindingInterface, DeviceStatus, SerialPortOptions } from './port-options.ts';
import { systemTimers, type Timers } from './timers.ts';

/** First reopen attempt after a loss; doubles per failure up to the maximum. */
export const RECONNECT_INITIAL_MS = 200;
/** Ceiling of the reopen backoff: a replugged device is back within this. */
export const RECONNECT_MAX_MS = 5_000;

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
}

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

  #running = false;
  #status: DeviceStatus = 'absent';
  #stream: SerialPortStream | undefined;
  #detach: (() => void) | undefined;
  #retryTimer: unknown;
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
