/**
 * The reader's side of the SAM_V wire (docs/devices.md §1), for tests, the demo and `anxin sim idreader`.
 * Answers every command as a reader does:
 *
 * - 10 FF reset SAM, 11 FF SAM status → 90; 12 FF read SAM id → 90 + 16 bytes;
 * - 20 01 find → 9F + 4 bytes with a card in the field, 80 without; after a successful read it
 *   answers 80 until the card has been lifted (`removeCard()`) and laid again;
 * - 20 02 select → 90 + 8 bytes after a successful find, else 81;
 * - 30 01 / 30 10 read → 90 + text, photo (and fingerprint) after a select, else 41;
 * - 60 nn set baud → 90 for nn 00..04 (the line speed of the simulator itself is not changed);
 * - anything else → 21; a command with a wrong checksum → 10; a LEN it cannot accept → 11.
 *
 * It keeps its port open across unplug/replug like the drivers (`ManagedSerialPort`).
 */
import { EventEmitter } from 'node:events';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { ManagedSerialPort } from '../serial/managed-port.ts';
import type { SerialPortOptions } from '../serial/port-options.ts';
import type { Timers } from '../serial/timers.ts';
import type { IdCard } from './driver.ts';
import { encodeReadReplyData, SAMV_BAUD_RATES, SAMV_SET_BAUD_COMMAND, SamvFrame, Sw3Code } from './frame.ts';
import { SamvParser } from './parser.ts';
import { encodeTextBlock } from './text-block.ts';

/** What `presentCard` takes: the card's printed fields; kind, photo (and fingerprint) are optional. */
export type SimulatedCard = Omit<IdCard, 'idNumberValid' | 'photo' | 'kind'> & Partial<IdCard>;

export interface IdCardReaderSimulatorOptions extends SerialPortOptions {
  logger?: Logger;
  /** For tests: reconnect timers. */
  timers?: Timers;
  /** Default `RECONNECT_INITIAL_MS`. */
  reconnectInitialMs?: number;
  /** The 16 bytes answered to 12 FF. */
  samId?: Buffer;
}

export interface IdCardReaderSimulatorEvents {
  /** Every well-formed command received (test hook). */
  command: [frame: SamvFrame];
  /** Every reply sent (test hook). */
  reply: [frame: SamvFrame];
}

const PHOTO_LENGTH = 1024;
const FINGERPRINT_LENGTH = 1024;

/** A stand-in for the WLT photo: its 'WLT' magic and deterministic filler (the driver keeps it opaque). */
export function samplePhoto(seed = 0): Buffer {
  const photo = Buffer.alloc(PHOTO_LENGTH);
  photo.write('WLT', 0, 'latin1');
  for (let i = 3; i < photo.length; i++) photo[i] = (i * 31 + seed * 17) & 0xff;
  return photo;
}

interface CardInField {
  text: Buffer;
  photo: Buffer;
  fingerprint: Buffer;
  /** Found by 20 01 since laid / last read. */
  found: boolean;
  selected: boolean;
  /** Read successfully; the reader will not find it again until it is lifted. */
  read: boolean;
}

export class IdCardReaderSimulator extends EventEmitter<IdCardReaderSimulatorEvents> {
  /** Commands answered, by CMD PARA hex (e.g. '2001'), plus 'checksum-error' and 'length-error'. */
  readonly counters: Record<string, number> = {};
  readonly #port: ManagedSerialPort;
  readonly #parser: SamvParser;
  readonly #log: Logger;
  readonly #samId: Buffer;
  #card: CardInField | undefined;

  constructor(options: IdCardReaderSimulatorOptions) {
    super();
    this.#log = (options.logger ?? silentLogger).child({ component: 'sim.idreader', path: options.path });
    this.#samId = options.samId ?? Buffer.from('0501000020180614000000010000a1b2', 'hex');
    if (this.#samId.length !== 16) throw new TypeError(`samId must be 16 bytes, got ${this.#samId.length}`);
    this.#parser = new SamvParser({
      onDiscard: (reason) => {
        if (reason === 'checksum') this.#answer('checksum-error', SamvFrame.reply(Sw3Code.checksumError));
        else if (reason === 'length') this.#answer('length-error', SamvFrame.reply(Sw3Code.lengthError));
      },
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
    this.#parser.on('data', (frame: SamvFrame) => this.#onCommand(frame));
    // A simulator has nobody to report to; ManagedSerialPort already logs and retries.
    this.#port.on('error', () => {});
  }

  /** Whether a card lies in the field. */
  get cardPresent(): boolean {
    return this.#card !== undefined;
  }

  get portStatus(): ManagedSerialPort['status'] {
    return this.#port.status;
  }

  start(): Promise<void> {
    return this.#port.start();
  }

  async stop(): Promise<void> {
    await this.#port.stop();
    this.#parser.reset();
  }

  /** Lays a card on the reader (replacing one already there): a new presentation. */
  presentCard(card: SimulatedCard): void {
    const text = encodeTextBlock(card);
    this.presentRawCard(text, card.photo ?? samplePhoto(), card.fingerprint);
  }

  /** Lays a card with an arbitrary text block, e.g. a layout the driver must reject. */
  presentRawCard(text: Buffer, photo: Buffer = samplePhoto(), fingerprint?: Buffer): void {
    this.#card = {
      text: Buffer.from(text),
      photo: Buffer.from(photo),
      fingerprint: fingerprint ? Buffer.from(fingerprint) : Buffer.alloc(FINGERPRINT_LENGTH),
      found: false,
      selected: false,
      read: false,
    };
    this.#log.debug('card laid on the reader');
  }

  /** Lifts the card off the reader. */
  removeCard(): void {
    this.#card = undefined;
    this.#log.debug('card lifted');
  }

  #onCommand(frame: SamvFrame): void {
    this.emit('command', frame);
    this.#answer(frame.body.subarray(0, 2).toString('hex'), this.#replyTo(frame));
  }

  /** The reader's state machine (docs/devices.md §1, read cycle). */
  #replyTo(frame: SamvFrame): SamvFrame {
    const card = this.#card;
    if (frame.isCommand('resetSam') || frame.isCommand('samStatus')) {
      if (card) card.found = card.selected = false;
      return SamvFrame.reply(Sw3Code.success);
    }
    if (frame.isCommand('readSamId')) return SamvFrame.reply(Sw3Code.success, this.#samId);
    if (frame.isCommand('findCard')) {
      if (!card || card.read) return SamvFrame.reply(Sw3Code.noCard);
      card.found = true;
      card.selected = false;
      return SamvFrame.reply(Sw3Code.findSuccess, Buffer.alloc(4));
    }
    if (frame.isCommand('selectCard')) {
      if (!card?.found) return SamvFrame.reply(Sw3Code.selectFailed);
      card.selected = true;
      return SamvFrame.reply(Sw3Code.success, Buffer.alloc(8));
    }
    if (frame.isCommand('readTextPhoto') || frame.isCommand('readTextPhotoFingerprint')) {
      if (!card?.selected) return SamvFrame.reply(Sw3Code.readFailed);
      card.read = true;
      card.found = card.selected = false;
      const fingerprint = frame.isCommand('readTextPhotoFingerprint') ? card.fingerprint : undefined;
      return SamvFrame.reply(Sw3Code.success, encodeReadReplyData({ text: card.text, photo: card.photo, fingerprint }));
    }
    if (frame.cmd === SAMV_SET_BAUD_COMMAND && frame.para < SAMV_BAUD_RATES.length) {
      return SamvFrame.reply(Sw3Code.success);
    }
    return SamvFrame.reply(Sw3Code.commandError);
  }

  #answer(counter: string, reply: SamvFrame): void {
    this.counters[counter] = (this.counters[counter] ?? 0) + 1;
    this.emit('reply', reply);
    this.#port.write(reply.toBuffer()).catch((err: Error) => {
      this.#log.debug({ err: err.message }, 'reply lost: port not open');
    });
  }
}
