/**
 * The control-panel (CP) side of OSDP, plain mode (docs/devices.md §4, §5), for a turnstile I/O board
 * and an optional card reader at one address on the bus.
 *
 * One command is on the wire at a time (RS-485 is half duplex). A single loop owns the bus: it
 * brings the PD online (osdp_ID, osdp_CAP, osdp_ISTAT, sequence 0), then sends queued commands
 * first and osdp_POLL when idle, every `pollIntervalMs`. A queued command wakes the loop at once,
 * so `unlock()` waits at most for the poll already on the wire, never for the next poll tick.
 *
 * Sequence numbers: 0 once after a (re)start, then 1, 2, 3, 1 … A timed-out command is re-sent
 * byte for byte, same sequence number, which asks the PD to repeat its last reply rather than act
 * twice (an OUT must not pulse the turnstile twice). NAK "sequence" resets to 0 and re-sends once.
 * After every retry fails the PD is offline: status 'fault', and the loop asks for its ID again
 * until it answers, so a replugged device recovers without anyone calling start() again.
 */
import { EventEmitter } from 'node:events';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { PortNotOpenError, ReplyCancelledError, ReplyTimeoutError } from '../serial/errors.ts';
import { ManagedSerialPort } from '../serial/managed-port.ts';
import type { DeviceStatus, SerialPortOptions } from '../serial/port-options.ts';
import { systemTimers, type Timers } from '../serial/timers.ts';
import { OsdpCommand, OsdpNakReason, OsdpReply, osdpCodeName } from './codes.ts';
import {
  encodeBuz,
  encodeCapRequest,
  encodeIdRequest,
  encodeLed,
  encodeOut,
  LedColour,
  type LedColourName,
  OutputControl,
} from './commands.ts';
import { OsdpNakError, OsdpOfflineError, OsdpPayloadError, OsdpTimeoutError } from './errors.ts';
import { nextOsdpSequence, OSDP_BROADCAST, OsdpFrame, type OsdpSequence } from './frame.ts';
import { OsdpParser } from './parser.ts';
import {
  decodeInputStates,
  decodeKeypad,
  decodeNak,
  decodeOutputStates,
  decodePdCap,
  decodePdId,
  decodeRaw,
  type PdCapability,
  type PdIdentity,
  RawCardFormat,
} from './replies.ts';
import { decodeWiegand26 } from './wiegand.ts';

/** OSDP gives a PD 200 ms to answer before the CP may treat the message as lost. */
export const OSDP_REPLY_TIMEOUT_MS = 200;
export const OSDP_POLL_INTERVAL_MS = 50;
/** Sends of one command before the PD is declared offline (the first try plus two retries). */
export const OSDP_MAX_ATTEMPTS = 3;
/** How soon an offline PD is first asked for its ID again; doubles per failed bring-up. */
export const OSDP_OFFLINE_RETRY_MS = 500;
/** Ceiling of that backoff: a PD that cannot be brought up is still tried this often. */
export const OSDP_OFFLINE_RETRY_MAX_MS = 8_000;
/**
 * A reply timer that fires this much later than asked was held up by a stalled event loop, not by
 * the PD: bytes that arrived meanwhile are still waiting to be read (timers run before I/O in a
 * loop turn). Such a wait is extended by `OSDP_STALL_GRACE_MS` of running time before it counts.
 */
export const OSDP_STALL_SLACK_MS = 10;
export const OSDP_STALL_GRACE_MS = 20;
/** A PD that answered osdp_BUSY is asked again after this. */
export const OSDP_BUSY_RETRY_MS = 20;

export type TurnstileInput = 'passed-in' | 'passed-out' | 'forced' | 'fire' | 'tamper';
export const TURNSTILE_INPUTS: readonly TurnstileInput[] = ['passed-in', 'passed-out', 'forced', 'fire', 'tamper'];

/** docs/devices.md §4: input 0 passed in, 1 passed out, 2 intrusion/forced, 3 fire-alarm loop, 4 tamper. */
export const DEFAULT_INPUT_MAP: Readonly<Record<number, TurnstileInput>> = {
  0: 'passed-in',
  1: 'passed-out',
  2: 'forced',
  3: 'fire',
  4: 'tamper',
};
/** docs/devices.md §4: output 0 unlock in, output 1 unlock out. */
export const DEFAULT_OUTPUT_MAP = { unlockIn: 0, unlockOut: 1 } as const;
/** The fire-alarm loop is normally closed: an open loop (input inactive) means fire. */
export const DEFAULT_NORMALLY_CLOSED: readonly TurnstileInput[] = ['fire'];

export interface OsdpControlPanelOptions extends SerialPortOptions {
  /** The PD's address, 0x00–0x7E. Default 0. */
  address?: number;
  /** Pause between polls when nothing is queued. Default 50 ms. */
  pollIntervalMs?: number;
  /** Wait for each reply. Default 200 ms. */
  replyTimeoutMs?: number;
  /** PD input number → meaning. Default `DEFAULT_INPUT_MAP`. */
  inputMap?: Record<number, TurnstileInput>;
  outputMap?: { unlockIn: number; unlockOut: number };
  /** Inputs wired normally closed, reported active when the PD says inactive. Default `['fire']`. */
  normallyClosed?: readonly TurnstileInput[];
  /** Sends per command before the PD counts as offline. Default 3. */
  maxAttempts?: number;
  logger?: Logger;
  timers?: Timers;
  /** Monotonic clock in ms, for judging reply timeouts by elapsed time. Default `performance.now`. */
  now?: () => number;
}

export interface OsdpCard {
  format: 'wiegand26' | 'raw';
  bits: number;
  facility?: number;
  number?: number;
  raw: Buffer;
}

export interface OsdpControlPanelEvents {
  /** An edge of a mapped input (from osdp_ISTATR), already corrected for normally-closed wiring. */
  input: [name: TurnstileInput, active: boolean];
  card: [card: OsdpCard];
  /** Keys typed on a reader's keypad (osdp_KEYPAD). */
  keypad: [keys: string];
  status: [status: DeviceStatus];
  error: [err: Error];
}

export interface OsdpControlPanelStats {
  commands: number;
  polls: number;
  retries: number;
  timeouts: number;
  naks: number;
  sequenceResets: number;
  /** Replies with another address or sequence number than the command on the wire. */
  unexpectedReplies: number;
  cards: number;
  /** Wiegand-26 reads refused for a parity error, reported as `format: 'raw'`. */
  parityErrors: number;
  badPayloads: number;
}

interface QueuedCommand {
  code: number;
  data: Buffer;
  resolve: (reply: OsdpFrame) => void;
  reject: (err: Error) => void;
}

const LED_TIMER_MAX = 0xffff;

export class OsdpControlPanel extends EventEmitter<OsdpControlPanelEvents> {
  readonly address: number;
  readonly stats: OsdpControlPanelStats = {
    commands: 0,
    polls: 0,
    retries: 0,
    timeouts: 0,
    naks: 0,
    sequenceResets: 0,
    unexpectedReplies: 0,
    cards: 0,
    parityErrors: 0,
    badPayloads: 0,
  };

  readonly #options: OsdpControlPanelOptions;
  readonly #pollIntervalMs: number;
  readonly #replyTimeoutMs: number;
  readonly #maxAttempts: number;
  readonly #inputMap: ReadonlyMap<number, TurnstileInput>;
  readonly #outputMap: { unlockIn: number; unlockOut: number };
  readonly #normallyClosed: ReadonlySet<TurnstileInput>;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #now: () => number;
  readonly #inputs = new Map<TurnstileInput, boolean>();

  #parser: OsdpParser | undefined;
  #port: ManagedSerialPort | undefined;
  #running = false;
  #online = false;
  #status: DeviceStatus = 'absent';
  #sequence: OsdpSequence = 0;
  #queue: QueuedCommand[] = [];
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #identity: PdIdentity | undefined;
  #capabilities: PdCapability[] = [];
  #outputs: boolean[] = [];
  /** The one exchange on the wire (RS-485 is half duplex): what it waits for and how it ends. */
  #pending: PendingReply | undefined;
  /** Input states reported while bringing the PD up: applied once it is online. */
  #bringUpInputs: boolean[] | undefined;
  #offlineRetryMs = OSDP_OFFLINE_RETRY_MS;
  #faultReason: string | undefined;

  constructor(options: OsdpControlPanelOptions) {
    super();
    const address = options.address ?? 0;
    if (!Number.isInteger(address) || address < 0 || address >= OSDP_BROADCAST) {
      throw new TypeError(`address must be 0–126 (0x7F is broadcast), got ${options.address}`);
    }
    const pollIntervalMs = options.pollIntervalMs ?? OSDP_POLL_INTERVAL_MS;
    if (!Number.isFinite(pollIntervalMs) || pollIntervalMs < 0) {
      throw new TypeError(`pollIntervalMs must be ≥ 0, got ${options.pollIntervalMs}`);
    }
    const replyTimeoutMs = options.replyTimeoutMs ?? OSDP_REPLY_TIMEOUT_MS;
    if (!Number.isFinite(replyTimeoutMs) || replyTimeoutMs <= 0) {
      throw new TypeError(`replyTimeoutMs must be > 0, got ${options.replyTimeoutMs}`);
    }
    const maxAttempts = options.maxAttempts ?? OSDP_MAX_ATTEMPTS;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new TypeError(`maxAttempts must be a positive integer, got ${options.maxAttempts}`);
    }
    const inputMap = new Map<number, TurnstileInput>();
    for (const [key, name] of Object.entries(options.inputMap ?? DEFAULT_INPUT_MAP)) {
      const input = Number(key);
      if (!Number.isInteger(input) || input < 0 || input > 0xff) {
        throw new TypeError(`inputMap key must be an input number 0–255, got ${JSON.stringify(key)}`);
      }
      if (!TURNSTILE_INPUTS.includes(name)) {
        throw new TypeError(`inputMap[${key}] must be one of ${TURNSTILE_INPUTS.join(', ')}, got ${name}`);
      }
      inputMap.set(input, name);
    }
    const outputMap = options.outputMap ?? DEFAULT_OUTPUT_MAP;
    for (const [key, output] of Object.entries(outputMap)) {
      if (!Number.isInteger(output) || output < 0 || output > 0xff) {
        throw new TypeError(`outputMap.${key} must be an output number 0–255, got ${output}`);
      }
    }
    this.address = address;
    this.#options = options;
    this.#pollIntervalMs = pollIntervalMs;
    this.#replyTimeoutMs = replyTimeoutMs;
    this.#maxAttempts = maxAttempts;
    this.#inputMap = inputMap;
    this.#outputMap = { ...outputMap };
    this.#normallyClosed = new Set(options.normallyClosed ?? DEFAULT_NORMALLY_CLOSED);
    this.#log = (options.logger ?? silentLogger).child({ component: 'osdp.cp', path: options.path, address });
    this.#timers = options.timers ?? systemTimers;
    this.#now = options.now ?? (() => performance.now());
    for (const name of inputMap.values()) this.#inputs.set(name, false);
  }

  /** 'absent' before start and after stop; 'ok' while the PD answers; 'fault' while the port or the PD is gone. */
  get status(): DeviceStatus {
    return this.#status;
  }

  /** Current state of every mapped input (normally-closed inputs already inverted). */
  get inputs(): ReadonlyMap<TurnstileInput, boolean> {
    return this.#inputs;
  }

  /** Why the status is 'fault' (the last bring-up or link failure); undefined while 'ok'. Never holds key material. */
  get faultReason(): string | undefined {
    return this.#status === 'fault' ? this.#faultReason : undefined;
  }

  /** What the PD said about itself in osdp_PDID, once online. */
  get identity(): PdIdentity | undefined {
    return this.#identity;
  }

  get capabilities(): readonly PdCapability[] {
    return this.#capabilities;
  }

  /** Output states from the last osdp_OSTATR, if the PD sent one. */
  get outputs(): readonly boolean[] {
    return this.#outputs;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#online = false;
    this.#offlineRetryMs = OSDP_OFFLINE_RETRY_MS;
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
    this.#port.on('open', () => this.#kick());
    this.#port.on('close', () => this.#onPortLost());
    this.#port.on('status', (status) => {
      if (status === 'fault') this.#setFault(`serial port ${this.#options.path} unavailable`);
    });
    this.#port.on('error', (err) => this.#emitError(err));
    this.#loop = this.#runLoop();
    await this.#port.start();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#online = false;
    this.#cancelPending(new OsdpOfflineError(OsdpCommand.POLL, 'control panel stopped'));
    for (const queued of this.#queue.splice(0))
      queued.reject(new OsdpOfflineError(queued.code, 'control panel stopped'));
    this.#kick();
    await this.#loop;
    await this.#port?.stop();
    this.#parser?.destroy();
    this.#port = undefined;
    this.#parser = undefined;
    this.#status = 'absent';
  }

  /** osdp_OUT: temporary on of the mapped unlock output for `pulseMs` (rounded up to 100 ms). Resolves on ACK. */
  async unlock(direction: 'in' | 'out', pulseMs: number): Promise<void> {
    const output = direction === 'in' ? this.#outputMap.unlockIn : this.#outputMap.unlockOut;
    const timer = toTenthsOfSecond('pulseMs', pulseMs, 1);
    const data = encodeOut([{ output, control: OutputControl.TEMPORARY_ON, timer }]);
    const reply = await this.#enqueue(OsdpCommand.OUT, data);
    expectReply(reply, [OsdpReply.ACK, OsdpReply.OSTATR], 'osdp_OUT');
  }

  /** osdp_LED: LED 0 of reader 0 shows `colour` steadily for `ms`, then returns to its permanent state. */
  async led(colour: LedColourName, ms: number): Promise<void> {
    if (!(colour in LedColour)) throw new TypeError(`colour must be one of ${Object.keys(LedColour).join(', ')}`);
    const code = LedColour[colour];
    const timer = Math.min(toTenthsOfSecond('ms', ms, 1), LED_TIMER_MAX);
    const data = encodeLed([
      {
        reader: 0,
        led: 0,
        temporary: { control: 2, onTime: 1, offTime: 0, onColour: code, offColour: code, timer },
        permanent: { control: 0, onTime: 0, offTime: 0, onColour: 0, offColour: 0 },
      },
    ]);
    expectReply(await this.#enqueue(OsdpCommand.LED, data), [OsdpReply.ACK], 'osdp_LED');
  }

  /** osdp_BUZ: `count` beeps of 100 ms on, 100 ms off, default tone. */
  async buzz(count: number): Promise<void> {
    if (!Number.isInteger(count) || count < 1 || count > 0xff)
      throw new RangeError(`count must be 1–255, got ${count}`);
    const data = encodeBuz({ reader: 0, tone: 2, onTime: 1, offTime: 1, count });
    expectReply(await this.#enqueue(OsdpCommand.BUZ, data), [OsdpReply.ACK], 'osdp_BUZ');
  }

  #enqueue(code: number, data: Buffer): Promise<OsdpFrame> {
    if (!this.#running) return Promise.reject(new OsdpOfflineError(code, 'control panel not started'));
    if (!this.#online) return Promise.reject(new OsdpOfflineError(code, `PD ${this.address} is offline`));
    return new Promise<OsdpFrame>((resolve, reject) => {
      this.#queue.push({ code, data, resolve, reject });
      this.#kick();
    });
  }

  /** Ends the loop's idle wait early (a command was queued, the port opened, or we are stopping). */
  #kick(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #idle(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.#timers.setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        this.#timers.clearTimeout(timer);
        resolve();
      };
    });
  }

  async #runLoop(): Promise<void> {
    while (this.#running) {
      try {
        if (!this.#port?.isOpen) {
          await this.#idle(this.#offlineRetryMs);
          continue;
        }
        if (!this.#online) {
          await this.#bringOnline();
          continue;
        }
        const queued = this.#queue.shift();
        if (queued) {
          await this.#runQueued(queued);
          continue;
        }
        this.stats.polls++;
        await this.#transact(OsdpCommand.POLL, Buffer.alloc(0));
        if (this.#queue.length === 0 && this.#running) await this.#idle(this.#pollIntervalMs);
      } catch (err) {
        await this.#onLoopError(err as Error);
      }
    }
  }

  async #runQueued(queued: QueuedCommand): Promise<void> {
    try {
      queued.resolve(await this.#transact(queued.code, queued.data));
    } catch (err) {
      queued.reject(err as Error);
      // A NAK or a bad payload leaves the PD online; the loop decides about everything else.
      if (!(err instanceof OsdpNakError || err instanceof OsdpPayloadError)) throw err;
    }
  }

  /**
   * osdp_ID, osdp_CAP and osdp_ISTAT from sequence 0: what a CP does whenever a PD (re)appears.
   * Only osdp_ID is required: a PD that refuses CAP or ISTAT (NAK) is still brought online, with
   * no capabilities known, or with its inputs learnt from its first report instead.
   * Inputs reported meanwhile (the fire loop open at power-up) are applied once the PD is online,
   * so a listener that reacts with `unlock()` finds it ready.
   */
  async #bringOnline(): Promise<void> {
    this.#sequence = 0;
    this.#bringUpInputs = undefined;
    const id = await this.#transact(OsdpCommand.ID, encodeIdRequest());
    expectReply(id, [OsdpReply.PDID], 'osdp_ID');
    this.#identity = decodePdId(id.data);
    const cap = await this.#optional(OsdpCommand.CAP, encodeCapRequest());
    if (cap) {
      expectReply(cap, [OsdpReply.PDCAP], 'osdp_CAP');
      this.#capabilities = decodePdCap(cap.data);
    } else {
      this.#capabilities = [];
    }
    const istat = await this.#optional(OsdpCommand.ISTAT, Buffer.alloc(0));
    if (istat) expectReply(istat, [OsdpReply.ISTATR], 'osdp_ISTAT');
    this.#online = true;
    this.#offlineRetryMs = OSDP_OFFLINE_RETRY_MS;
    this.#log.info(
      { serialNumber: this.#identity.serialNumber, capabilities: this.#capabilities.length, inputsKnown: !!istat },
      'OSDP PD online',
    );
    this.#setStatus('ok');
    const inputs = this.#bringUpInputs;
    this.#bringUpInputs = undefined;
    if (inputs) this.#applyInputs(inputs);
  }

  /** An optional command: a NAK means "not supported here" and yields undefined instead of failing bring-up. */
  async #optional(code: number, data: Buffer): Promise<OsdpFrame | undefined> {
    try {
      return await this.#transact(code, data);
    } catch (err) {
      if (!(err instanceof OsdpNakError) || err.reason === OsdpNakReason.SEQUENCE) throw err;
      this.#log.warn({ command: osdpCodeName(code, false), reason: err.reason }, 'PD refuses an optional command');
      return undefined;
    }
  }

  async #onLoopError(err: Error): Promise<void> {
    if (!this.#running) return;
    if (this.#online && (err instanceof OsdpNakError || err instanceof OsdpPayloadError)) {
      // A NAK to a POLL: log, count, keep the line going.
      this.#log.warn({ err: err.message }, 'OSDP command refused');
      this.#emitError(err);
      await this.#idle(this.#pollIntervalMs);
      return;
    }
    const portGone = err instanceof PortNotOpenError || err instanceof ReplyCancelledError;
    if (this.#online) {
      this.#log.warn({ err: err.message }, 'OSDP PD offline');
      if (!portGone) this.#emitError(err);
    } else if (this.#status !== 'fault') {
      // The first failed bring-up of a streak: say why; the retries that follow only repeat it.
      this.#log.warn({ err: err.message }, 'OSDP PD cannot be brought online');
      if (!portGone) this.#emitError(err);
    } else {
      this.#log.debug({ err: err.message }, 'OSDP PD still cannot be brought online');
    }
    this.#goOffline();
    this.#setFault(portGone ? `serial port ${this.#options.path} unavailable` : describeFault(err));
    const wait = this.#offlineRetryMs;
    this.#offlineRetryMs = Math.min(this.#offlineRetryMs * 2, OSDP_OFFLINE_RETRY_MAX_MS);
    await this.#idle(wait);
  }

  #goOffline(): void {
    this.#online = false;
    this.#sequence = 0;
    for (const queued of this.#queue.splice(0)) {
      queued.reject(new OsdpOfflineError(queued.code, `PD ${this.address} went offline`));
    }
  }

  #onPortLost(): void {
    this.#cancelPending(new ReplyCancelledError('serial port closed'));
    this.#goOffline();
    this.#setFault(`serial port ${this.#options.path} lost`);
  }

  /**
   * Sends one command and returns its reply, handling retries, NAK and BUSY (docs/devices.md §5).
   * Replies to polls (and any other command) are also dispatched to `#onPdReport`.
   */
  async #transact(code: number, data: Buffer): Promise<OsdpFrame> {
    let sequence = this.#sequence;
    let bytes = this.#frameBytes(code, data, sequence);
    let sequenceResetDone = false;
    if (code !== OsdpCommand.POLL) this.stats.commands++;
    for (let attempt = 1; ; attempt++) {
      let reply: OsdpFrame;
      try {
        reply = await this.#sendAndWait(code, bytes, sequence);
      } catch (err) {
        if (!(err instanceof ReplyTimeoutError)) throw err;
        if (attempt >= this.#maxAttempts) {
          this.stats.timeouts++;
          throw new OsdpTimeoutError(code, attempt, this.#replyTimeoutMs);
        }
        // Same bytes, same sequence number: "send your last reply again" if the PD did get it.
        this.stats.retries++;
        this.#log.debug({ command: osdpCodeName(code, false), sequence, attempt }, 'OSDP reply timeout; retrying');
        continue;
      }
      if (reply.code === OsdpReply.BUSY && attempt < this.#maxAttempts) {
        this.stats.retries++;
        await this.#idle(OSDP_BUSY_RETRY_MS);
        continue;
      }
      this.#sequence = nextOsdpSequence(sequence);
      if (reply.code === OsdpReply.NAK) {
        this.stats.naks++;
        const { reason } = decodeNak(reply.data);
        if (reason === OsdpNakReason.SEQUENCE && !sequenceResetDone) {
          // The PD lost track (it restarted, or missed our sequence): start over from 0.
          sequenceResetDone = true;
          this.stats.sequenceResets++;
          this.#log.info({ command: osdpCodeName(code, false) }, 'OSDP NAK sequence; resetting to 0');
          sequence = 0;
          bytes = this.#frameBytes(code, data, sequence);
          continue;
        }
        if (reason === OsdpNakReason.CHECK_CHARACTER && attempt < this.#maxAttempts) {
          // Our frame arrived damaged; the PD did nothing with it, so send it again as a new message.
          this.stats.retries++;
          sequence = this.#sequence;
          bytes = this.#frameBytes(code, data, sequence);
          continue;
        }
        throw new OsdpNakError(code, reason);
      }
      this.#onPdReport(reply);
      return reply;
    }
  }

  #frameBytes(code: number, data: Buffer, sequence: OsdpSequence): Buffer {
    return new OsdpFrame({ address: this.address, sequence, code, data }).toBuffer();
  }

  async #sendAndWait(code: number, bytes: Buffer, sequence: OsdpSequence): Promise<OsdpFrame> {
    const port = this.#port;
    if (!port) throw new OsdpOfflineError(code, 'control panel stopped');
    const reply = this.#awaitReply(
      (frame) => frame.address === this.address && frame.sequence === sequence,
      `OSDP reply to ${osdpCodeName(code, false)}`,
    );
    // The wait is settled by #cancelPending if the write fails; never leave that rejection unobserved.
    reply.catch(() => {});
    try {
      await port.write(bytes);
    } catch (err) {
      this.#cancelPending(err as Error);
      throw err;
    }
    return reply;
  }

  /**
   * Waits `replyTimeoutMs` for a matching reply, judged by elapsed time rather than by when the
   * timer callback happens to run: after an event-loop stall the timer fires in the same loop turn
   * as the reply bytes that arrived meanwhile, but before they are read. A late timer therefore
   * re-arms for `OSDP_STALL_GRACE_MS`, and the wait ends only once the loop ran on time past the
   * deadline — no spurious re-send of a command the PD answered (docs/devices.md §5.2).
   */
  #awaitReply(matches: (frame: OsdpFrame) => boolean, what: string): Promise<OsdpFrame> {
    this.#cancelPending(new ReplyCancelledError('superseded'));
    return new Promise<OsdpFrame>((resolve, reject) => {
      const pending: PendingReply = { matches, resolve, reject, timer: undefined };
      const deadline = this.#now() + this.#replyTimeoutMs;
      const hardDeadline = deadline + 10 * this.#replyTimeoutMs;
      const arm = (ms: number) => {
        const due = this.#now() + ms;
        pending.timer = this.#timers.setTimeout(() => {
          const now = this.#now();
          const stalled = now - due > OSDP_STALL_SLACK_MS;
          if (stalled && now < hardDeadline) {
            arm(OSDP_STALL_GRACE_MS);
            return;
          }
          if (now < deadline) {
            arm(deadline - now);
            return;
          }
          if (this.#pending === pending) this.#pending = undefined;
          reject(new ReplyTimeoutError(what, this.#replyTimeoutMs));
        }, ms);
      };
      this.#pending = pending;
      arm(this.#replyTimeoutMs);
    });
  }

  #cancelPending(err: Error): void {
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = undefined;
    this.#timers.clearTimeout(pending.timer);
    pending.reject(err);
  }

  #onFrame(frame: OsdpFrame): void {
    if (!frame.isReply) return; // our own commands echoed on a two-wire bus
    const pending = this.#pending;
    if (pending?.matches(frame)) {
      this.#pending = undefined;
      this.#timers.clearTimeout(pending.timer);
      pending.resolve(frame);
      return;
    }
    this.stats.unexpectedReplies++;
    this.#log.debug({ frame: frame.toString() }, 'OSDP reply nobody waited for');
  }

  /** What a PD reports on its own initiative: inputs, card reads, keys, outputs. */
  #onPdReport(reply: OsdpFrame): void {
    try {
      switch (reply.code) {
        case OsdpReply.ISTATR: {
          const states = decodeInputStates(reply.data);
          if (this.#online) this.#applyInputs(states);
          else this.#bringUpInputs = states;
          break;
        }
        case OsdpReply.OSTATR:
          this.#outputs = decodeOutputStates(reply.data);
          break;
        case OsdpReply.RAW:
          this.#onRaw(reply.data);
          break;
        case OsdpReply.KEYPAD:
          this.emit('keypad', decodeKeypad(reply.data).keys);
          break;
        default:
          break;
      }
    } catch (err) {
      this.stats.badPayloads++;
      this.#log.warn({ err: (err as Error).message, frame: reply.toString() }, 'OSDP reply payload refused');
      this.#emitError(err as Error);
    }
  }

  #applyInputs(states: boolean[]): void {
    for (const [input, name] of this.#inputMap) {
      const raw = states[input];
      if (raw === undefined) continue;
      const active = this.#normallyClosed.has(name) ? !raw : raw;
      if (this.#inputs.get(name) === active) continue;
      this.#inputs.set(name, active);
      this.#log.info({ input: name, active }, 'turnstile input');
      this.emit('input', name, active);
    }
  }

  #onRaw(data: Buffer): void {
    const raw = decodeRaw(data);
    this.stats.cards++;
    if (raw.format === RawCardFormat.WIEGAND && raw.bitCount === 26) {
      const decoded = decodeWiegand26(raw.data, raw.bitCount);
      if (decoded.ok) {
        this.emit('card', {
          format: 'wiegand26',
          bits: 26,
          facility: decoded.facility,
          number: decoded.number,
          raw: raw.data,
        });
        return;
      }
      // Never guess a facility/number from a misread: hand it on as raw bits.
      this.stats.parityErrors++;
      this.#log.warn({ problem: decoded.problem }, 'Wiegand-26 card refused');
    }
    this.emit('card', { format: 'raw', bits: raw.bitCount, raw: raw.data });
  }

  #setFault(reason: string): void {
    this.#faultReason = reason;
    this.#setStatus('fault');
  }

  #setStatus(status: DeviceStatus): void {
    if (this.#status === status || !this.#running) return;
    this.#status = status;
    this.emit('status', status);
  }

  #emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

interface PendingReply {
  matches: (frame: OsdpFrame) => boolean;
  resolve: (frame: OsdpFrame) => void;
  reject: (err: Error) => void;
  timer: unknown;
}

/** One line for an operator: what failed, without frame bytes (a secure-channel frame's bytes are not for logs). */
function describeFault(err: Error): string {
  if (err instanceof OsdpTimeoutError) return `PD not answering: ${err.message}`;
  if (err instanceof OsdpNakError) return `PD refused bring-up: ${err.message}`;
  if (err instanceof OsdpPayloadError) return `PD answered nonsense during bring-up: ${err.message}`;
  return err.message;
}

function toTenthsOfSecond(what: string, ms: number, min: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`${what} must be ≥ 0, got ${ms}`);
  const tenths = Math.max(min, Math.ceil(ms / 100));
  if (tenths > 0xffff) throw new RangeError(`${what} must be at most 6553500 ms, got ${ms}`);
  return tenths;
}

function expectReply(reply: OsdpFrame, codes: readonly number[], what: string): void {
  if (!codes.includes(reply.code)) {
    throw new OsdpPayloadError(what, `unexpected reply ${osdpCodeName(reply.code, true)}`);
  }
}
