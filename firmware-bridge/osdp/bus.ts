/**
 * One RS-485 line shared by several OSDP peripherals (PDs) at different addresses: a turnstile's
 * I/O board, a separate card reader, a display, the next lane's turnstile (docs/devices.md §5.3).
 *
 * RS-485 is half duplex: one exchange (a command and the wait for its reply) is on the wire at a
 * time. Each `OsdpControlPanel` asks the bus for one exchange at a time; the bus grants them in
 * order, urgent ones (queued commands such as an unlock) before routine ones (polls, bring-up,
 * retries). Every retry is a new request, so a PD that stopped answering holds the line for one
 * reply timeout at a time and an unlock for another PD waits at most for the exchange already on
 * the wire — never behind a dead PD's whole retry series.
 *
 * Reply timeouts are judged by elapsed time: after an event-loop stall the timer fires in the same
 * loop turn as the reply bytes that arrived meanwhile, but before they are read (timers run before
 * I/O). A timer that fires late re-arms for `OSDP_STALL_GRACE_MS` of running time, so a stall never
 * costs a spurious re-send.
 */
import { EventEmitter } from 'node:events';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { PortNotOpenError, ReplyCancelledError, ReplyTimeoutError } from '../serial/errors.ts';
import { ManagedSerialPort } from '../serial/managed-port.ts';
import type { DeviceStatus, SerialPortOptions } from '../serial/port-options.ts';
import { systemTimers, type Timers } from '../serial/timers.ts';
import type { OsdpFrame } from './frame.ts';
import { OsdpParser } from './parser.ts';

/**
 * A reply timer that fires this much later than asked was held up by a stalled event loop, not by
 * the PD; the wait is extended by `OSDP_STALL_GRACE_MS` of running time before it counts.
 */
export const OSDP_STALL_SLACK_MS = 10;
export const OSDP_STALL_GRACE_MS = 20;

export interface OsdpBusOptions extends SerialPortOptions {
  logger?: Logger;
  timers?: Timers;
  /** Monotonic clock in ms, for judging reply timeouts by elapsed time. Default `performance.now`. */
  now?: () => number;
}

export interface OsdpExchange {
  /** The PD's address: only its replies can answer. */
  address: number;
  bytes: Buffer;
  /** Which reply (of that address) answers it: the sequence number, in practice. */
  matches: (frame: OsdpFrame) => boolean;
  timeoutMs: number;
  /** Urgent exchanges (queued commands) go before routine ones (polls, bring-up, retries). */
  urgent: boolean;
  /** For errors: e.g. "OSDP reply to OUT". */
  what: string;
}

interface Request extends OsdpExchange {
  resolve: (frame: OsdpFrame) => void;
  reject: (err: Error) => void;
}

interface OnWire {
  request: Request;
  timer: unknown;
}

export interface OsdpBusEvents {
  open: [];
  close: [];
  status: [status: 'ok' | 'fault'];
  /** A reply nobody waited for (another address, a late reply after a timeout). */
  unexpected: [frame: OsdpFrame];
  error: [err: Error];
}

export class OsdpBus extends EventEmitter<OsdpBusEvents> {
  readonly path: string;
  readonly stats = { exchanges: 0, timeouts: 0, unexpectedReplies: 0, stallGraces: 0 };
  readonly #options: OsdpBusOptions;
  readonly #timers: Timers;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #queue: Request[] = [];
  #onWire: OnWire | undefined;
  #port: ManagedSerialPort | undefined;
  #parser: OsdpParser | undefined;
  #users = 0;
  #starting: Promise<void> | undefined;

  constructor(options: OsdpBusOptions) {
    super();
    this.path = options.path;
    this.#options = options;
    this.#timers = options.timers ?? systemTimers;
    this.#now = options.now ?? (() => performance.now());
    this.#log = (options.logger ?? silentLogger).child({ component: 'osdp.bus', path: options.path });
  }

  get isOpen(): boolean {
    return this.#port?.isOpen ?? false;
  }

  get status(): DeviceStatus {
    return this.#port?.status ?? 'absent';
  }

  /** Opens the port for one more user (a control panel); the first call opens it. */
  async acquire(): Promise<void> {
    this.#users++;
    if (this.#users === 1) {
      this.#parser = new OsdpParser({ integrity: ['crc16'], timers: this.#timers });
      this.#parser.on('data', (frame: OsdpFrame) => this.#onFrame(frame));
      this.#port = new ManagedSerialPort({
        path: this.#options.path,
        baudRate: this.#options.baudRate,
        binding: this.#options.binding,
        parser: this.#parser,
        logger: this.#options.logger,
        timers: this.#timers,
      });
      this.#port.on('open', () => {
        this.emit('open');
        this.#pump();
      });
      this.#port.on('close', () => {
        this.#cancelAll(new ReplyCancelledError('serial port closed'));
        this.emit('close');
      });
      this.#port.on('status', (status) => this.emit('status', status));
      this.#port.on('error', (err) => {
        if (this.listenerCount('error') > 0) this.emit('error', err);
      });
      this.#starting = this.#port.start();
    }
    await this.#starting;
  }

  /** One user fewer; the last one closes the port. */
  async release(): Promise<void> {
    if (this.#users === 0) return;
    this.#users--;
    if (this.#users > 0) return;
    this.#cancelAll(new ReplyCancelledError('bus closed'));
    await this.#port?.stop();
    this.#parser?.destroy();
    this.#port = undefined;
    this.#parser = undefined;
  }

  /** Cancels what one PD has queued or on the wire (it stopped, or went offline). */
  cancel(address: number, err: Error): void {
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const request = this.#queue[i]!;
      if (request.address !== address) continue;
      this.#queue.splice(i, 1);
      request.reject(err);
    }
    if (this.#onWire?.request.address === address) this.#finish(undefined, err);
  }

  /**
   * Sends `bytes` when the line is free (urgent requests first) and resolves with the matching reply,
   * or rejects with `ReplyTimeoutError` after `timeoutMs` of running time, `PortNotOpenError` when
   * the port is closed.
   */
  exchange(exchange: OsdpExchange): Promise<OsdpFrame> {
    if (!this.isOpen) return Promise.reject(new PortNotOpenError(this.path));
    return new Promise<OsdpFrame>((resolve, reject) => {
      const request: Request = { ...exchange, resolve, reject };
      if (request.urgent) {
        // After the urgent ones already waiting, before every routine one.
        const at = this.#queue.findIndex((r) => !r.urgent);
        this.#queue.splice(at < 0 ? this.#queue.length : at, 0, request);
      } else {
        this.#queue.push(request);
      }
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#onWire || this.#queue.length === 0) return;
    const port = this.#port;
    if (!port?.isOpen) {
      this.#cancelAll(new PortNotOpenError(this.path));
      return;
    }
    const request = this.#queue.shift()!;
    const onWire: OnWire = { request, timer: undefined };
    this.#onWire = onWire;
    this.stats.exchanges++;
    const deadline = this.#now() + request.timeoutMs;
    const hardDeadline = deadline + 10 * request.timeoutMs;
    const arm = (ms: number) => {
      const due = this.#now() + ms;
      onWire.timer = this.#timers.setTimeout(() => {
        if (this.#onWire !== onWire) return;
        const now = this.#now();
        if (now - due > OSDP_STALL_SLACK_MS && now < hardDeadline) {
          // The loop stalled: let pending I/O be read before calling the reply lost.
          this.stats.stallGraces++;
          arm(OSDP_STALL_GRACE_MS);
          return;
        }
        if (now < deadline) {
          arm(deadline - now);
          return;
        }
        this.stats.timeouts++;
        this.#finish(undefined, new ReplyTimeoutError(request.what, request.timeoutMs));
      }, ms);
    };
    arm(request.timeoutMs);
    port.write(request.bytes).catch((err: Error) => {
      if (this.#onWire === onWire) this.#finish(undefined, err);
    });
  }

  #finish(frame: OsdpFrame | undefined, err?: Error): void {
    const onWire = this.#onWire;
    if (!onWire) return;
    this.#onWire = undefined;
    this.#timers.clearTimeout(onWire.timer);
    if (err) onWire.request.reject(err);
    else onWire.request.resolve(frame!);
    // Let the settled promise's continuation queue its next request before choosing one.
    queueMicrotask(() => this.#pump());
  }

  #onFrame(frame: OsdpFrame): void {
    if (!frame.isReply) return; // our own commands echoed on a two-wire bus
    const onWire = this.#onWire;
    if (onWire && frame.address === onWire.request.address && onWire.request.matches(frame)) {
      this.#finish(frame);
      return;
    }
    this.stats.unexpectedReplies++;
    this.#log.debug({ frame: frame.toString() }, 'OSDP reply nobody waited for');
    this.emit('unexpected', frame);
  }

  #cancelAll(err: Error): void {
    for (const request of this.#queue.splice(0)) request.reject(err);
    if (this.#onWire) this.#finish(undefined, err);
  }
}
