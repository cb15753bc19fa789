/**
 * Serial QR / barcode scanner (docs/devices.md §3): emits one `scan` per code read, with the
 * high-resolution time its last byte arrived (decision latency is measured from there).
 * The port is kept open across unplug/replug by `ManagedSerialPort`; status follows it.
 *
 * A command-triggered scanner (`trigger: 'gm65' | 'honeywell'`) reads only after a trigger
 * command, for as long as its own read timeout. At a gate it must always be ready, so the driver
 * keeps it armed: it triggers when the port opens, again right after every scan, and again every
 * `retriggerMs` while nothing was read (the scanner's read window having lapsed).
 */
import { EventEmitter } from 'node:events';
import { AnxinError } from '../../shared/errors.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { ManagedSerialPort } from '../serial/managed-port.ts';
import type { DeviceStatus, SerialPortOptions } from '../serial/port-options.ts';
import { systemTimers, type Timers } from '../serial/timers.ts';
import { TRIGGER_MODELS, type TriggerModel, triggerOffCommand, triggerOnCommand } from './commands.ts';
import { type QrLineCounters, QrLineParser, type QrScan, type QrTerminator } from './line-parser.ts';

export interface QrScannerOptions extends SerialPortOptions {
  /** Default 'auto' (CR, LF, CRLF or TAB). */
  terminator?: QrTerminator;
  /** Default 50 ms. */
  interByteTimeoutMs?: number;
  /** Default 512 bytes. */
  maxLength?: number;
  /** Default true. */
  stripAim?: boolean;
  /** Default 'none' (continuous / auto-sense scanners). */
  trigger?: TriggerModel;
  /**
   * Trigger mode only: re-arm the scanner after this long without a read. Default
   * `RETRIGGER_MS`; keep it at or below the read timeout configured in the scanner.
   */
  retriggerMs?: number;
  logger?: Logger;
  /** For tests: timers of the inter-byte timeout and of the reconnect backoff. */
  timers?: Timers;
  /** For tests: first reconnect delay (default `RECONNECT_INITIAL_MS`). */
  reconnectInitialMs?: number;
}

/** Extra facts about a scan; `lastByteAt` is what the contract requires. */
export interface QrScanInfo {
  lastByteAt: bigint;
  symbology?: string;
  endedBy: QrScan['endedBy'];
}

export interface QrScannerEvents {
  scan: [text: string, at: QrScanInfo];
  status: [status: DeviceStatus];
  error: [err: Error];
}

/** `trigger()` on a scanner configured with `trigger: 'none'`. */
export class TriggerNotConfiguredError extends AnxinError {
  constructor(path: string) {
    super('trigger-not-configured', `QR scanner ${path} has trigger 'none'; set trigger to 'gm65' or 'honeywell'`);
  }
}

/** Default re-arm period of a command-triggered scanner (GM65's default read window is 5 s). */
const RETRIGGER_MS = 3_000;

export class QrScannerDriver extends EventEmitter<QrScannerEvents> {
  readonly #port: ManagedSerialPort;
  readonly #timers: Timers;
  readonly #retriggerMs: number;
  #rearmTimer: unknown;
  #running = false;
  readonly #parser: QrLineParser;
  readonly #trigger: TriggerModel;
  readonly #log: Logger;
  readonly #path: string;

  constructor(options: QrScannerOptions) {
    super();
    this.#trigger = options.trigger ?? 'none';
    if (!TRIGGER_MODELS.includes(this.#trigger)) {
      throw new TypeError(
        `trigger must be one of ${TRIGGER_MODELS.join(', ')}, got ${JSON.stringify(options.trigger)}`,
      );
    }
    this.#retriggerMs = options.retriggerMs ?? RETRIGGER_MS;
    if (!Number.isInteger(this.#retriggerMs) || this.#retriggerMs < 100) {
      throw new TypeError(`retriggerMs must be an integer ≥ 100, got ${JSON.stringify(options.retriggerMs)}`);
    }
    this.#timers = options.timers ?? systemTimers;
    this.#path = options.path;
    this.#log = (options.logger ?? silentLogger).child({ component: 'firmware.qr', path: options.path });
    this.#parser = new QrLineParser({
      terminator: options.terminator,
      interByteTimeoutMs: options.interByteTimeoutMs,
      maxLength: options.maxLength,
      stripAim: options.stripAim,
      timers: options.timers,
    });
    this.#port = new ManagedSerialPort({
      path: options.path,
      baudRate: options.baudRate,
      binding: options.binding,
      parser: this.#parser,
      logger: options.logger,
      timers: options.timers,
      reconnectInitialMs: options.reconnectInitialMs,
    });
    this.#parser.on('data', (scan: QrScan) => {
      const info: QrScanInfo = { lastByteAt: scan.lastByteAt, endedBy: scan.endedBy };
      if (scan.symbology !== undefined) info.symbology = scan.symbology;
      this.#log.debug({ length: scan.text.length, endedBy: scan.endedBy }, 'scan');
      this.emit('scan', scan.text, info);
      this.#rearm(0);
    });
    this.#port.on('open', () => this.#rearm(0));
    this.#port.on('status', (status) => this.emit('status', status));
    this.#port.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  get status(): DeviceStatus {
    return this.#port.status;
  }

  /** Reads dropped or ended by timeout, per reason. */
  get counters(): Readonly<QrLineCounters> {
    return { ...this.#parser.counters };
  }

  /** Opens the port; a missing scanner leaves status 'fault' and is retried, it does not reject. */
  start(): Promise<void> {
    this.#running = true;
    return this.#port.start();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#timers.clearTimeout(this.#rearmTimer);
    this.#rearmTimer = undefined;
    await this.#port.stop();
    this.#parser.reset();
  }

  /** Trigger mode: arm the scanner after `delayMs`, and again every `retriggerMs` until a read. */
  #rearm(delayMs: number): void {
    if (this.#trigger === 'none' || !this.#running) return;
    this.#timers.clearTimeout(this.#rearmTimer);
    this.#rearmTimer = this.#timers.setTimeout(() => {
      this.#rearmTimer = undefined;
      if (!this.#running || !this.#port.isOpen) return;
      this.trigger().catch((err: Error) => this.#log.warn({ err: err.message }, 'cannot trigger the scanner'));
      this.#rearm(this.#retriggerMs);
    }, delayMs);
  }

  /** Starts a scan on a command-triggered scanner. Rejects with `PortNotOpenError` when the port is down. */
  async trigger(): Promise<void> {
    const command = triggerOnCommand(this.#trigger);
    if (!command) throw new TriggerNotConfiguredError(this.#path);
    await this.#port.write(command);
  }

  /** Stops a triggered scan where the model has a command for it (Honeywell); otherwise does nothing. */
  async cancelTrigger(): Promise<void> {
    const command = triggerOffCommand(this.#trigger);
    if (command) await this.#port.write(command);
  }
}
