/**
 * National ID-card reader (SAM_V, docs/devices.md §1). Polls find → select → read and emits one `card`
 * per presentation, with the high-resolution time the read reply's last byte arrived.
 *
 * "Once per presentation": a reader following docs/devices.md refuses to find a card again after a
 * successful read until it has been lifted; some readers re-read a card that stays in the field.
 * Either way the driver remembers the last card it reported and reports the same card again only
 * after `absentAfterMisses` consecutive "no card" answers to find (SW3 80) — i.e. after it has
 * seen the reader empty. A card the driver cannot parse is `rejected`, also once per presentation.
 *
 * Status: 'absent' before start and after stop; 'fault' while the port is gone (it is reopened
 * with backoff by `ManagedSerialPort`), while the reader does not answer (`FAULT_AFTER_TIMEOUTS`
 * timeouts in a row) or while its SAM reports a failure; 'ok' otherwise.
 *
 * Privacy: names and ID numbers are never logged.
 */
import { EventEmitter } from 'node:events';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { ReplyCancelledError, ReplyTimeoutError } from '../serial/errors.ts';
import { ManagedSerialPort } from '../serial/managed-port.ts';
import type { DeviceStatus, SerialPortOptions } from '../serial/port-options.ts';
import { ReplyWaiter } from '../serial/reply-waiter.ts';
import { systemTimers, type Timers } from '../serial/timers.ts';
import {
  decodeReadReplyData,
  type ReadLayout,
  type SamvCommandName,
  SamvFrame,
  SamvStatusError,
  Sw3Code,
  type Sw3Status,
} from './frame.ts';
import { SamvParser, type SamvParserStats } from './parser.ts';
import { type CardTypeFlags, decodeTextBlock, type IdCardText, resolveCardTypeFlags } from './text-block.ts';

export type { CardKind, CardTypeFlags, Sex } from './text-block.ts';

/** A card as read: the decoded text block plus the photo (WLT, vendor-compressed, kept opaque). */
export interface IdCard extends IdCardText {
  photo: Buffer;
  /** Only with `readLayout: 'text-photo-fingerprint'` (30 10); may be empty. */
  fingerprint?: Buffer;
}

/** docs/devices.md §1: poll no faster than every ~300 ms. */
const MIN_POLL_INTERVAL_MS = 300;
const DEFAULT_POLL_INTERVAL_MS = 500;
/** Floor with `unsafeFastPollingForTests`, so tests run in milliseconds, not seconds. */
const TEST_MIN_POLL_INTERVAL_MS = 5;

/**
 * Reply timeouts, in one place. A read reply is 1295 bytes (2314 with a fingerprint): ~113 ms on
 * the wire at 115200 baud, ~1.35 s at 9600, plus the SAM's own work (typically a few hundred ms).
 */
const ID_CARD_READER_TIMEOUTS = {
  samStatusMs: 1_000,
  findMs: 500,
  selectMs: 500,
  readMs: 3_000,
} as const;
export type IdCardReaderTimeouts = { -readonly [K in keyof typeof ID_CARD_READER_TIMEOUTS]: number };

/** Consecutive unanswered commands after which the reader counts as faulty. */
const FAULT_AFTER_TIMEOUTS = 3;

export interface IdCardReaderOptions extends SerialPortOptions {
  /** Pause between two poll cycles (≥ 300 ms; default 500). */
  pollIntervalMs?: number;
  logger?: Logger;
  /** Test-only: allows `pollIntervalMs` down to 5 ms. Never set in production (docs/devices.md §1). */
  unsafeFastPollingForTests?: boolean;
  /** '30 01' text + photo (default) or '30 10' text + photo + fingerprint. */
  readLayout?: ReadLayout;
  /** Ask the SAM for its status (11 FF) each time the port opens (default true). */
  checkSamOnOpen?: boolean;
  /** "No card" answers in a row after which the same card counts as a new presentation (default 2). */
  absentAfterMisses?: number;
  /**
   * Type flags at text offset 248 of the permit layouts (docs/devices.md §1: unconfirmed guesses).
   * Default `{ permit: 'J', foreign: 'I' }`; each a single printable character, not space, the two
   * distinct. A card with any other non-blank flag is `rejected`.
   */
  cardTypeFlags?: Partial<CardTypeFlags>;
  /** Overrides of `ID_CARD_READER_TIMEOUTS` (slow line speeds, slow readers; short ones in tests). */
  timeouts?: Partial<IdCardReaderTimeouts>;
  /** For tests: timers of the poll loop, reply timeouts and reconnect backoff. */
  timers?: Timers;
  /** For tests: first reconnect delay (default `RECONNECT_INITIAL_MS`). */
  reconnectInitialMs?: number;
  /** Default `RECONNECT_MAX_MS`. */
  reconnectMaxMs?: number;
}

export interface IdCardReaderEvents {
  card: [card: IdCard, at: { frameEndAt: bigint }];
  /** A card the reader read but we cannot parse (unknown layout, or SW3 40 unknown card type) — never misread. */
  rejected: [reason: string];
  status: [status: DeviceStatus];
  error: [err: Error];
}

export interface IdCardReaderCounters {
  cycles: number;
  cards: number;
  rejected: number;
  timeouts: number;
  /** Replies nobody waited for (late replies after a timeout). */
  unsolicited: number;
  /** Failures reported by the reader, by SW3 name. */
  statuses: Record<string, number>;
}

const READ_COMMAND: Record<ReadLayout, SamvCommandName> = {
  'text-photo': 'readTextPhoto',
  'text-photo-fingerprint': 'readTextPhotoFingerprint',
};

/** A failure reply carries no data; success replies have a fixed shape per command (docs/devices.md §1). */
const isFailure = (frame: SamvFrame): boolean =>
  frame.body.length === 3 && frame.sw3 !== Sw3Code.success && frame.sw3 !== Sw3Code.findSuccess;
const REPLY_SHAPES: Record<'samStatus' | 'find' | 'select' | 'read', (frame: SamvFrame) => boolean> = {
  samStatus: (frame) => frame.body.length === 3,
  find: (frame) => (frame.sw3 === Sw3Code.findSuccess && frame.replyData.length === 4) || isFailure(frame),
  select: (frame) => (frame.sw3 === Sw3Code.success && frame.replyData.length === 8) || isFailure(frame),
  read: (frame) => (frame.sw3 === Sw3Code.success && frame.replyData.length >= 4) || isFailure(frame),
};

/** The poll cycle stopped early; not an error worth reporting (port lost, driver stopped). */
class CycleAborted extends Error {}

export class IdCardReaderDriver extends EventEmitter<IdCardReaderEvents> {
  readonly counters: IdCardReaderCounters = {
    cycles: 0,
    cards: 0,
    rejected: 0,
    timeouts: 0,
    unsolicited: 0,
    statuses: {},
  };
  readonly #port: ManagedSerialPort;
  readonly #parser: SamvParser;
  readonly #waiter: ReplyWaiter<SamvFrame>;
  readonly #timers: Timers;
  readonly #log: Logger;
  readonly #pollIntervalMs: number;
  readonly #readLayout: ReadLayout;
  readonly #checkSamOnOpen: boolean;
  readonly #absentAfterMisses: number;
  readonly #timeouts: IdCardReaderTimeouts;
  readonly #cardTypeFlags: Readonly<CardTypeFlags>;

  #running = false;
  #status: DeviceStatus = 'absent';
  #pollTimer: unknown;
  #cycle: Promise<void> | undefined;
  #samPending = false;
  #samFault = false;
  #timeoutsInARow = 0;
  /** Text block (hex) of the card last reported or rejected, until the reader is seen empty. */
  #presentKey: string | undefined;
  #missesInARow = 0;
  #lastReportedFailure: string | undefined;

  constructor(options: IdCardReaderOptions) {
    super();
    const fast = options.unsafeFastPollingForTests === true;
    const floor = fast ? TEST_MIN_POLL_INTERVAL_MS : MIN_POLL_INTERVAL_MS;
    const interval = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    if (!Number.isFinite(interval) || interval < floor) {
      throw new TypeError(
        `pollIntervalMs must be a number ≥ ${floor}${fast ? '' : ' (docs/devices.md §1)'}, got ${options.pollIntervalMs}`,
      );
    }
    const layout = options.readLayout ?? 'text-photo';
    if (!(layout in READ_COMMAND)) {
      throw new TypeError(`readLayout must be 'text-photo' or 'text-photo-fingerprint', got ${JSON.stringify(layout)}`);
    }
    const misses = options.absentAfterMisses ?? 2;
    if (!Number.isInteger(misses) || misses < 1) {
      throw new TypeError(`absentAfterMisses must be an integer ≥ 1, got ${options.absentAfterMisses}`);
    }
    this.#timeouts = { ...ID_CARD_READER_TIMEOUTS, ...options.timeouts };
    for (const [name, ms] of Object.entries(this.#timeouts)) {
      if (!Number.isFinite(ms) || ms <= 0) throw new TypeError(`timeouts.${name} must be a positive number, got ${ms}`);
    }
    this.#cardTypeFlags = resolveCardTypeFlags(options.cardTypeFlags);
    this.#pollIntervalMs = interval;
    this.#readLayout = layout;
    this.#checkSamOnOpen = options.checkSamOnOpen ?? true;
    this.#absentAfterMisses = misses;
    this.#timers = options.timers ?? systemTimers;
    this.#log = (options.logger ?? silentLogger).child({ component: 'firmware.idreader', path: options.path });
    this.#waiter = new ReplyWaiter<SamvFrame>(this.#timers);
    this.#parser = new SamvParser();
    this.#port = new ManagedSerialPort({
      path: options.path,
      baudRate: options.baudRate,
      binding: options.binding,
      parser: this.#parser,
      logger: options.logger,
      timers: options.timers,
      reconnectInitialMs: options.reconnectInitialMs,
      reconnectMaxMs: options.reconnectMaxMs,
    });
    this.#parser.on('data', (frame: SamvFrame) => {
      if (!this.#waiter.offer(frame)) {
        this.counters.unsolicited += 1;
        this.#log.debug({ frame: frame.toString() }, 'reply nobody waited for');
      }
    });
    this.#port.on('open', () => {
      this.#samPending = this.#checkSamOnOpen;
      this.#timeoutsInARow = 0;
      this.#updateStatus();
    });
    this.#port.on('close', () => {
      // A card lifted during the outage and laid again must count; see docs/devices.md.
      this.#presentKey = undefined;
      this.#waiter.cancelAll(new ReplyCancelledError('serial port lost'));
    });
    this.#port.on('status', () => this.#updateStatus());
    this.#port.on('error', (err) => this.#emitError(err));
  }

  get status(): DeviceStatus {
    return this.#status;
  }

  /** Frames cut, bytes dropped and why (see `SamvParser`). */
  get parserStats(): Readonly<SamvParserStats> {
    return { ...this.#parser.stats };
  }

  /** Opens the port and starts polling. A missing reader leaves status 'fault' and is retried; this does not reject. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.#port.start();
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#timers.clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#waiter.cancelAll(new ReplyCancelledError('driver stopped'));
    await this.#cycle;
    await this.#port.stop();
    this.#parser.reset();
    this.#presentKey = undefined;
    this.#missesInARow = 0;
    this.#updateStatus();
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return;
    this.#pollTimer = this.#timers.setTimeout(() => {
      this.#pollTimer = undefined;
      this.#cycle = this.#runCycle().finally(() => {
        this.#cycle = undefined;
        this.#schedule(this.#pollIntervalMs);
      });
    }, delayMs);
  }

  async #runCycle(): Promise<void> {
    if (!this.#port.isOpen) return;
    this.counters.cycles += 1;
    try {
      if (this.#samPending) await this.#checkSam();
      await this.#pollCard();
    } catch (err) {
      if (err instanceof CycleAborted || err instanceof ReplyCancelledError) return;
      this.#emitError(err as Error);
    }
  }

  async #checkSam(): Promise<void> {
    const reply = await this.#request('samStatus', 'samStatus', this.#timeouts.samStatusMs);
    this.#samPending = false;
    const failed = reply.sw3 !== Sw3Code.success;
    if (failed) this.#noteFailure('SAM status', reply.status, true);
    if (failed !== this.#samFault) {
      this.#samFault = failed;
      this.#updateStatus();
    }
  }

  async #pollCard(): Promise<void> {
    const found = await this.#request('findCard', 'find', this.#timeouts.findMs);
    if (found.sw3 === Sw3Code.noCard) {
      this.#missesInARow += 1;
      if (this.#missesInARow >= this.#absentAfterMisses) this.#presentKey = undefined;
      return;
    }
    this.#missesInARow = 0;
    if (found.sw3 !== Sw3Code.findSuccess) {
      this.#onCardFailure('find', found.status);
      return;
    }

    const selected = await this.#request('selectCard', 'select', this.#timeouts.selectMs);
    if (selected.sw3 !== Sw3Code.success) {
      this.#onCardFailure('select', selected.status);
      return;
    }

    const read = await this.#request(READ_COMMAND[this.#readLayout], 'read', this.#timeouts.readMs);
    const frameEndAt = read.receivedAt ?? process.hrtime.bigint();
    if (read.sw3 !== Sw3Code.success) {
      this.#onCardFailure('read', read.status);
      return;
    }
    this.#lastReportedFailure = undefined;
    this.#onRead(read, frameEndAt);
  }

  #onRead(read: SamvFrame, frameEndAt: bigint): void {
    let blocks: ReturnType<typeof decodeReadReplyData>;
    try {
      blocks = decodeReadReplyData(read.replyData, this.#readLayout);
    } catch (err) {
      this.#reject(`read-reply:${read.replyData.length}`, (err as Error).message);
      return;
    }
    const key = blocks.text.toString('hex');
    if (key === this.#presentKey) return; // the same card, still (or again) in the field
    const decoded = decodeTextBlock(blocks.text, { cardTypeFlags: this.#cardTypeFlags });
    if (!decoded.ok) {
      this.#reject(key, decoded.reason);
      return;
    }
    this.#presentKey = key;
    const card: IdCard = { ...decoded.card, photo: blocks.photo };
    if (blocks.fingerprint) card.fingerprint = blocks.fingerprint;
    this.counters.cards += 1;
    this.#log.info({ kind: card.kind, idNumberValid: card.idNumberValid }, 'card read');
    this.emit('card', card, { frameEndAt });
  }

  #reject(key: string, reason: string): void {
    if (key === this.#presentKey) return;
    this.#presentKey = key;
    this.counters.rejected += 1;
    this.#log.warn({ reason }, 'card rejected');
    this.emit('rejected', reason);
  }

  /** A card is in the field but a step failed: SW3 40 is a card we cannot read; others are retried next cycle. */
  #onCardFailure(step: string, status: Sw3Status): void {
    if (status.code === 0x40) {
      this.#reject('sw3-40', `the reader reports an unknown card type (${step}: SW3 0x40)`);
      return;
    }
    // Select/read failing now and then is a card moved mid-read (docs/devices.md §1: 81, 41): retried quietly.
    const routine = status.code === Sw3Code.selectFailed || status.code === Sw3Code.readFailed;
    this.#noteFailure(step, status, !routine);
  }

  /** Counts a failure status; reports it as an error once per streak of the same failure. */
  #noteFailure(step: string, status: Sw3Status, report: boolean): void {
    this.counters.statuses[status.name] = (this.counters.statuses[status.name] ?? 0) + 1;
    this.#log.debug({ step, sw3: status.code, name: status.name }, 'reader reported a failure');
    const signature = `${step}:${status.code}`;
    if (!report || signature === this.#lastReportedFailure) return;
    this.#lastReportedFailure = signature;
    this.#emitError(new SamvStatusError(step, status));
  }

  /** Sends one command and waits for the reply of the expected shape. */
  async #request(command: SamvCommandName, shape: keyof typeof REPLY_SHAPES, timeoutMs: number): Promise<SamvFrame> {
    if (!this.#running) throw new CycleAborted();
    const reply = this.#waiter.waitFor(REPLY_SHAPES[shape], timeoutMs, `${shape} reply`);
    // Handled from the start: a stop() or a lost port during the write below rejects it before it
    // is awaited, and an unhandled rejection ends a Node process.
    reply.catch(() => undefined);
    try {
      await this.#port.write(SamvFrame.namedCommand(command).toBuffer());
    } catch {
      this.#waiter.cancelAll(new ReplyCancelledError('write failed'));
      await reply.catch(() => undefined);
      throw new CycleAborted();
    }
    try {
      const frame = await reply;
      if (this.#timeoutsInARow > 0) {
        this.#timeoutsInARow = 0;
        this.#updateStatus();
      }
      return frame;
    } catch (err) {
      if (err instanceof ReplyTimeoutError) {
        this.counters.timeouts += 1;
        this.#timeoutsInARow += 1;
        this.#log.debug({ command, timeoutMs }, 'no reply');
        if (this.#timeoutsInARow === FAULT_AFTER_TIMEOUTS) {
          this.#emitError(err);
          this.#updateStatus();
        }
        throw new CycleAborted();
      }
      throw err;
    }
  }

  #updateStatus(): void {
    let status: DeviceStatus;
    if (!this.#running) status = 'absent';
    else if (this.#port.status !== 'ok') status = 'fault';
    else if (this.#samFault || this.#timeoutsInARow >= FAULT_AFTER_TIMEOUTS) status = 'fault';
    else status = 'ok';
    if (status === this.#status) return;
    this.#status = status;
    this.#log.info({ status }, 'ID-card reader status');
    this.emit('status', status);
  }

  #emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
