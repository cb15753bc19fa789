/**
 * Serial QR / barcode scanner (DEVICES.md §3): emits one `scan` per code read, with the
 * high-resolution time its last byte arrived (decision latency is measured from there).
 * The port is kept open across unplug/replug by `ManagedSerialPort`; status follows it.
 */
import { EventEmitter } from 'node:events';
import { AnxinError } from '../../shared/errors.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { ManagedSerialPort } from '../serial/managed-port.ts';
import type { DeviceStatus, SerialPortOptions } from '../serial/port-options.ts';
import type { Timers } from '../serial/timers.ts';
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

export class QrScannerDriver extends EventEmitter<QrScannerEvents> {
  readonly #port: ManagedSerialPort;
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
    });
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
    return this.#port.start();
  }

  async stop(): Promise<void> {
    await this.#port.stop();
    this.#parser.reset();
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
