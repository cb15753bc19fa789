/**
 * A serial QR scanner on the far end of a port (socat pty, virtual pair): `scan(text)` sends the
 * text and the configured suffix exactly as a scanner in continuous mode would (docs/devices.md §3).
 * It also recognises the trigger commands of `commands.ts` and reports them, so trigger wiring
 * can be tested end to end.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { ManagedSerialPort } from '../serial/managed-port.ts';
import type { DeviceStatus, SerialPortOptions } from '../serial/port-options.ts';
import { GM65_TRIGGER, HONEYWELL_TRIGGER_OFF, HONEYWELL_TRIGGER_ON } from './commands.ts';

export const QR_SUFFIXES = ['cr', 'lf', 'crlf', 'tab', 'none'] as const;
export type QrSuffix = (typeof QR_SUFFIXES)[number];

const SUFFIX_BYTES: Record<QrSuffix, Buffer> = {
  cr: Buffer.from('\r'),
  lf: Buffer.from('\n'),
  crlf: Buffer.from('\r\n'),
  tab: Buffer.from('\t'),
  none: Buffer.alloc(0),
};

const KNOWN_COMMANDS: Array<{ name: 'gm65' | 'honeywell-on' | 'honeywell-off'; bytes: Buffer }> = [
  { name: 'gm65', bytes: GM65_TRIGGER },
  { name: 'honeywell-on', bytes: HONEYWELL_TRIGGER_ON },
  { name: 'honeywell-off', bytes: HONEYWELL_TRIGGER_OFF },
];
const LONGEST_COMMAND = Math.max(...KNOWN_COMMANDS.map((c) => c.bytes.length));

export type QrSimulatorCommand = (typeof KNOWN_COMMANDS)[number]['name'];

export interface QrScannerSimulatorOptions extends SerialPortOptions {
  /** Default 'cr', the most common factory setting. */
  suffix?: QrSuffix;
  logger?: Logger;
  /** For tests: first reconnect delay. */
  reconnectInitialMs?: number;
}

/** Watches the host → scanner direction for trigger commands, keeping only a command's length of history. */
class CommandSpotter extends Writable {
  readonly #window = Buffer.alloc(LONGEST_COMMAND);
  #filled = 0;
  readonly #onCommand: (name: QrSimulatorCommand) => void;

  constructor(onCommand: (name: QrSimulatorCommand) => void) {
    super();
    this.#onCommand = onCommand;
  }

  reset(): void {
    this.#filled = 0;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    for (const byte of chunk) {
      if (this.#filled === LONGEST_COMMAND) this.#window.copyWithin(0, 1);
      else this.#filled++;
      this.#window[this.#filled - 1] = byte;
      const seen = this.#window.subarray(0, this.#filled);
      for (const command of KNOWN_COMMANDS) {
        const { length } = command.bytes;
        if (seen.length >= length && seen.subarray(seen.length - length).equals(command.bytes)) {
          this.#onCommand(command.name);
        }
      }
    }
    callback();
  }
}

export class QrScannerSimulator extends EventEmitter<{ command: [name: QrSimulatorCommand]; status: [DeviceStatus] }> {
  readonly #port: ManagedSerialPort;
  readonly #suffix: Buffer;
  readonly #log: Logger;

  constructor(options: QrScannerSimulatorOptions) {
    super();
    const suffix = options.suffix ?? 'cr';
    if (!QR_SUFFIXES.includes(suffix)) {
      throw new TypeError(`suffix must be one of ${QR_SUFFIXES.join(', ')}, got ${JSON.stringify(options.suffix)}`);
    }
    this.#suffix = SUFFIX_BYTES[suffix];
    this.#log = (options.logger ?? silentLogger).child({ component: 'sim.qr', path: options.path });
    this.#port = new ManagedSerialPort({
      path: options.path,
      baudRate: options.baudRate,
      binding: options.binding,
      logger: options.logger,
      reconnectInitialMs: options.reconnectInitialMs,
      parser: new CommandSpotter((name) => {
        this.#log.info({ command: name }, 'trigger command received');
        this.emit('command', name);
      }),
    });
    this.#port.on('status', (status) => this.emit('status', status));
  }

  get status(): DeviceStatus {
    return this.#port.status;
  }

  start(): Promise<void> {
    return this.#port.start();
  }

  stop(): Promise<void> {
    return this.#port.stop();
  }

  /** Sends one scan: the text as UTF-8, then the suffix. Rejects with `PortNotOpenError` while the port is down. */
  async scan(text: string): Promise<void> {
    await this.#port.write(Buffer.concat([Buffer.from(text, 'utf8'), this.#suffix]));
  }

  /** Sends raw bytes (tests: noise, half scans). */
  async sendRaw(bytes: Buffer): Promise<void> {
    await this.#port.write(bytes);
  }
}
