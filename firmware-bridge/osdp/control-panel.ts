/**
 * The control-panel (CP) side of OSDP for one peripheral (PD) at one address (docs/devices.md §5):
 * a turnstile I/O board with an optional card reader, or any other PD on a shared line.
 *
 * Each CP runs one loop for its PD: it brings the PD online (osdp_ID, osdp_CAP, the secure-channel
 * handshake when a key is configured, osdp_ISTAT; sequence 0), then sends queued commands first and
 * osdp_POLL when idle, every `pollIntervalMs`. Every send is one exchange on an `OsdpBus`: its own
 * (given `path`) or one shared with the other PDs on the same RS-485 line (given `bus`). A queued
 * command wakes the loop and its exchange goes before routine ones, so `unlock()` waits at most for
 * the exchange already on the wire, never for the next poll tick nor a dead neighbour's retries.
 *
 * Sequence numbers: 0 once after a (re)start, then 1, 2, 3, 1 … A timed-out command is re-sent
 * byte for byte, same sequence number (and, in a secure session, the same MAC), which asks the PD
 * to repeat its last reply rather than act twice (an OUT must not pulse the turnstile twice). NAK
 * "sequence" resets to 0 and re-sends once. After every retry fails the PD is offline: status
 * 'fault', and the loop asks for its ID again with backoff until it answers.
 *
 * With `scbk` the PD is only ever driven through the secure channel (docs/devices.md §8): no
 * command but osdp_ID / osdp_CAP goes out in plaintext, a plaintext or badly MACed reply ends the
 * session (status 'fault', `faultReason` says why, re-handshake with backoff), never a downgrade.
 */
import { EventEmitter } from 'node:events';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { PortNotOpenError, ReplyCancelledError, ReplyTimeoutError } from '../serial/errors.ts';
import type { DeviceStatus, SerialPortOptions } from '../serial/port-options.ts';
import { systemTimers, type Timers } from '../serial/timers.ts';
import { OsdpBus } from './bus.ts';
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
import {
  checkScbk,
  chlngFrame,
  clientCryptogram,
  decodeCcrypt,
  deriveSessionKeys,
  encodeKeyset,
  initialRmac,
  newRandom,
  OsdpSecureChannelError,
  RMAC_I_ACCEPTED,
  SCBK_DEFAULT,
  ScReply,
  type ScKeyKind,
  Scs,
  SecureSession,
  sameSecret,
  scryptFrame,
  serverCryptogram,
} from './secure-channel.ts';
import { decodeWiegand26 } from './wiegand.ts';

export { OSDP_STALL_GRACE_MS, OSDP_STALL_SLACK_MS } from './bus.ts';

/** OSDP gives a PD 200 ms to answer before the CP may treat the message as lost. */
const OSDP_REPLY_TIMEOUT_MS = 200;
const OSDP_POLL_INTERVAL_MS = 50;
/** Sends of one command before the PD is declared offline (the first try plus two retries). */
const OSDP_MAX_ATTEMPTS = 3;
/** How soon an offline PD is first asked for its ID again; doubles per failed bring-up. */
const OSDP_OFFLINE_RETRY_MS = 500;
/** Ceiling of that backoff: a PD that cannot be brought up is still tried this often. */
const OSDP_OFFLINE_RETRY_MAX_MS = 8_000;
/** A PD that answered osdp_BUSY is asked again after this. */
const OSDP_BUSY_RETRY_MS = 20;

export type TurnstileInput = 'passed-in' | 'passed-out' | 'forced' | 'fire' | 'tamper';
const TURNSTILE_INPUTS: readonly TurnstileInput[] = ['passed-in', 'passed-out', 'forced', 'fire', 'tamper'];

/** docs/devices.md §4: input 0 passed in, 1 passed out, 2 intrusion/forced, 3 fire-alarm loop, 4 tamper. */
const DEFAULT_INPUT_MAP: Readonly<Record<number, TurnstileInput>> = {
  0: 'passed-in',
  1: 'passed-out',
  2: 'forced',
  3: 'fire',
  4: 'tamper',
};
/** docs/devices.md §4: output 0 unlock in, output 1 unlock out. */
const DEFAULT_OUTPUT_MAP = { unlockIn: 0, unlockOut: 1 } as const;
/** The fire-alarm loop is normally closed: an open loop (input inactive) means fire. */
const DEFAULT_NORMALLY_CLOSED: readonly TurnstileInput[] = ['fire'];

export interface OsdpControlPanelOptions extends Partial<SerialPortOptions> {
  /** A line shared with other PDs; without it the CP opens its own on `path` / `baudRate`. */
  bus?: OsdpBus;
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
  /**
   * The PD's secure channel base key (16 bytes). With it the PD is driven only through the secure
   * channel; without it, in plain mode. Never logged.
   */
  scbk?: Uint8Array;
  /** Handshake with the install key SCBK-D instead (pairing a factory-fresh PD). */
  installMode?: boolean;
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
  /** Replies with another address or sequence number than the command on the wire (on its own bus). */
  unexpectedReplies: number;
  cards: number;
  /** Wiegand-26 reads refused for a parity error, reported as `format: 'raw'`. */
  parityErrors: number;
  badPayloads: number;
  /** Secure-channel handshakes completed, and sessions ended by a failure (MAC, plaintext, cryptogram). */
  handshakes: number;
  secureFailures: number;
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
    handshakes: 0,
    secureFailures: 0,
  };

  readonly #bus: OsdpBus;
  readonly #ownBus: boolean;
  readonly #pollIntervalMs: number;
  readonly #replyTimeoutMs: number;
  readonly #maxAttempts: number;
  readonly #inputMap: ReadonlyMap<number, TurnstileInput>;
  readonly #outputMap: { unlockIn: number; unlockOut: number };
  readonly #normallyClosed: ReadonlySet<TurnstileInput>;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #inputs = new Map<TurnstileInput, boolean>();
  readonly #onBusOpen = () => this.#kick();
  readonly #onBusClose = () => this.#onPortLost();
  readonly #onBusStatus = (status: 'ok' | 'fault') => {
    if (status === 'fault') this.#setFault(`serial port ${this.#bus.path} unavailable`);
  };
  readonly #onBusError = (err: Error) => this.#emitError(err);
  readonly #onUnexpected = (frame: OsdpFrame) => {
    if (frame.address === this.address) this.stats.unexpectedReplies++;
  };

  #scbk: Buffer | undefined;
  #installMode: boolean;
  #session: SecureSession | undefined;
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
  /** Input states reported while bringing the PD up: applied once it is online. */
  #bringUpInputs: boolean[] | undefined;
  #offlineRetryMs = OSDP_OFFLINE_RETRY_MS;
  #faultReason: string | undefined;
  /** Who waits for the next bring-up to succeed (resolve) or fail (reject): `setKey`. */
  #bringUpWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

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
    if (!options.bus && (options.path === undefined || options.baudRate === undefined)) {
      throw new TypeError('either bus, or path and baudRate, are required');
    }
    this.address = address;
    this.#pollIntervalMs = pollIntervalMs;
    this.#replyTimeoutMs = replyTimeoutMs;
    this.#maxAttempts = maxAttempts;
    this.#inputMap = inputMap;
    this.#outputMap = { ...outputMap };
    this.#normallyClosed = new Set(options.normallyClosed ?? DEFAULT_NORMALLY_CLOSED);
    this.#scbk = options.scbk ? checkScbk(options.scbk) : undefined;
    this.#installMode = options.installMode ?? false;
    this.#timers = options.timers ?? systemTimers;
    const path = options.bus?.path ?? options.path!;
    this.#log = (options.logger ?? silentLogger).child({ component: 'osdp.cp', path, address });
    this.#ownBus = !options.bus;
    this.#bus =
      options.bus ??
      new OsdpBus({
        path: options.path!,
        baudRate: options.baudRate!,
        binding: options.binding,
        logger: options.logger,
        timers: this.#timers,
        now: options.now,
      });
    for (const name of inputMap.values()) this.#inputs.set(name, false);
  }

  /** 'absent' before start and after stop; 'ok' while the PD answers; 'fault' while the port or the PD is gone. */
  get status(): DeviceStatus {
    return this.#status;
  }

  /** Why the status is 'fault' (the last bring-up or link failure); undefined while 'ok'. Never holds key material. */
  get faultReason(): string | undefined {
    return this.#status === 'fault' ? this.#faultReason : undefined;
  }

  /** Whether commands currently travel in a secure-channel session. */
  get secure(): boolean {
    return this.#session !== undefined;
  }

  /** The bus this CP sends on (its own, or the shared one it was given). */
  get bus(): OsdpBus {
    return this.#bus;
  }

  /** Current state of every mapped input (normally-closed inputs already inverted). */
  get inputs(): ReadonlyMap<TurnstileInput, boolean> {
    return this.#inputs;
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
    this.#bus.on('open', this.#onBusOpen);
    this.#bus.on('close', this.#onBusClose);
    this.#bus.on('status', this.#onBusStatus);
    this.#bus.on('unexpected', this.#onUnexpected);
    if (this.#ownBus) this.#bus.on('error', this.#onBusError);
    this.#loop = this.#runLoop();
    await this.#bus.acquire();
    if (this.#bus.status === 'fault') this.#setFault(`serial port ${this.#bus.path} unavailable`);
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#online = false;
    this.#session = undefined;
    this.#bus.cancel(this.address, new OsdpOfflineError(OsdpCommand.POLL, 'control panel stopped'));
    for (const queued of this.#queue.splice(0))
      queued.reject(new OsdpOfflineError(queued.code, 'control panel stopped'));
    this.#kick();
    await this.#loop;
    this.#bus.off('open', this.#onBusOpen);
    this.#bus.off('close', this.#onBusClose);
    this.#bus.off('status', this.#onBusStatus);
    this.#bus.off('unexpected', this.#onUnexpected);
    this.#bus.off('error', this.#onBusError);
    await this.#bus.release();
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

  /**
   * osdp_KEYSET: installs `newScbk` in the PD, inside the current secure session (the data is
   * encrypted; a plaintext KEYSET is never sent). On the PD's ACK the CP switches to the new key
   * and brings the PD up again with it, so the promise resolves once the new key is proven by a
   * fresh handshake. Used by `anxin gate osdp-pair` for pairing (from SCBK-D) and rotation.
   */
  async setKey(newScbk: Uint8Array): Promise<void> {
    const key = checkScbk(newScbk, 'new SCBK');
    if (!this.#session) {
      throw new OsdpSecureChannelError('key', `PD ${this.address} has no secure session to install a key through`);
    }
    // Registered before the KEYSET goes out: the loop brings the PD up again as soon as it is ACKed.
    let waiter: { resolve: () => void; reject: (err: Error) => void } | undefined;
    const proven = new Promise<void>((resolve, reject) => {
      waiter = { resolve, reject };
      this.#bringUpWaiters.push(waiter);
    });
    proven.catch(() => {});
    try {
      const reply = await this.#enqueue(OsdpCommand.KEYSET, encodeKeyset(key));
      expectReply(reply, [OsdpReply.ACK], 'osdp_KEYSET');
    } catch (err) {
      this.#bringUpWaiters = this.#bringUpWaiters.filter((w) => w !== waiter);
      throw err;
    }
    try {
      await proven;
    } catch (err) {
      throw new OsdpSecureChannelError('key', `the PD did not come back with the new key: ${(err as Error).message}`);
    }
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
        if (!this.#bus.isOpen) {
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
        await this.#transact(OsdpCommand.POLL, Buffer.alloc(0), false);
        if (this.#queue.length === 0 && this.#running) await this.#idle(this.#pollIntervalMs);
      } catch (err) {
        await this.#onLoopError(err as Error);
      }
    }
  }

  async #runQueued(queued: QueuedCommand): Promise<void> {
    try {
      const reply = await this.#transact(queued.code, queued.data, true);
      if (queued.code === OsdpCommand.KEYSET && reply.code === OsdpReply.ACK) {
        // The PD holds the new key from now on: the next session must use it. Start over at once,
        // before anything else goes out under the old session.
        this.#scbk = Buffer.from(queued.data.subarray(2));
        this.#installMode = false;
        this.#log.info('OSDP PD accepted a new secure channel key; handshaking with it');
        this.#goOffline(`PD ${this.address} re-keyed`);
      }
      queued.resolve(reply);
    } catch (err) {
      queued.reject(err as Error);
      // A NAK or a bad payload leaves the PD online; the loop decides about everything else.
      if (!(err instanceof OsdpNakError || err instanceof OsdpPayloadError) || isSecurityNak(err)) throw err;
    }
  }

  /**
   * osdp_ID, osdp_CAP, the secure-channel handshake (with a key) and osdp_ISTAT from sequence 0:
   * what a CP does whenever a PD (re)appears. Only osdp_ID (and, with a key, the handshake) is
   * required: a PD that refuses CAP or ISTAT as unknown commands is still brought online, with no
   * capabilities known, or with its inputs learnt from its first report instead. Inputs reported
   * meanwhile (the fire loop open at power-up) are applied once the PD is online, so a listener
   * that reacts with `unlock()` finds it ready.
   */
  async #bringOnline(): Promise<void> {
    this.#sequence = 0;
    this.#session = undefined;
    this.#bringUpInputs = undefined;
    const id = await this.#transact(OsdpCommand.ID, encodeIdRequest(), false);
    expectReply(id, [OsdpReply.PDID], 'osdp_ID');
    this.#identity = decodePdId(id.data);
    const cap = await this.#optional(OsdpCommand.CAP, encodeCapRequest());
    if (cap) {
      expectReply(cap, [OsdpReply.PDCAP], 'osdp_CAP');
      this.#capabilities = decodePdCap(cap.data);
    } else {
      this.#capabilities = [];
    }
    if (this.#scbk || this.#installMode) await this.#handshake();
    const istat = await this.#optional(OsdpCommand.ISTAT, Buffer.alloc(0));
    if (istat) expectReply(istat, [OsdpReply.ISTATR], 'osdp_ISTAT');
    this.#online = true;
    this.#offlineRetryMs = OSDP_OFFLINE_RETRY_MS;
    this.#log.info(
      {
        serialNumber: this.#identity.serialNumber,
        capabilities: this.#capabilities.length,
        inputsKnown: !!istat,
        secure: !!this.#session,
      },
      'OSDP PD online',
    );
    this.#setStatus('ok');
    for (const waiter of this.#bringUpWaiters.splice(0)) waiter.resolve();
    const inputs = this.#bringUpInputs;
    this.#bringUpInputs = undefined;
    if (inputs) this.#applyInputs(inputs);
  }

  /**
   * SCS_11–14: osdp_CHLNG with a fresh RND.A → osdp_CCRYPT, whose client cryptogram proves the PD
   * holds the key → osdp_SCRYPT with ours → osdp_RMAC_I, the first link of the MAC chain.
   */
  async #handshake(): Promise<void> {
    const kind: ScKeyKind = this.#installMode ? 'install' : 'scbk';
    const scbk = this.#installMode ? SCBK_DEFAULT : this.#scbk!;
    const rndA = newRandom();
    const ccryptFrame = await this.#transact(OsdpCommand.CHLNG, rndA, false, (sequence) =>
      chlngFrame(this.address, sequence, kind, rndA).toBuffer(),
    );
    if (ccryptFrame.code !== ScReply.CCRYPT) {
      throw new OsdpSecureChannelError(
        'protocol',
        `PD answered osdp_CHLNG with ${osdpCodeName(ccryptFrame.code, true)} instead of osdp_CCRYPT`,
      );
    }
    const ccrypt = decodeCcrypt(ccryptFrame);
    const keys = deriveSessionKeys(scbk, rndA);
    if (!sameSecret(clientCryptogram(keys.sEnc, rndA, ccrypt.rndB), ccrypt.clientCryptogram)) {
      throw new OsdpSecureChannelError(
        'cryptogram',
        `PD ${this.address} does not hold the configured ${kind === 'install' ? 'install key (SCBK-D)' : 'key'}: its cryptogram does not verify`,
      );
    }
    const server = serverCryptogram(keys.sEnc, rndA, ccrypt.rndB);
    const rmacFrame = await this.#transact(OsdpCommand.SCRYPT, server, false, (sequence) =>
      scryptFrame(this.address, sequence, kind, server).toBuffer(),
    );
    if (
      rmacFrame.code !== ScReply.RMAC_I ||
      rmacFrame.securityBlock?.type !== Scs.RMAC_I ||
      rmacFrame.securityBlock.data[0] !== RMAC_I_ACCEPTED ||
      rmacFrame.data.length !== 16
    ) {
      throw new OsdpSecureChannelError('cryptogram', `PD ${this.address} refused our cryptogram (osdp_RMAC_I)`);
    }
    const rmac = initialRmac(keys, server);
    if (!sameSecret(rmac, rmacFrame.data)) {
      throw new OsdpSecureChannelError('rmac', `PD ${this.address}'s initial R-MAC does not verify`);
    }
    this.#session = new SecureSession(keys, rmac);
    this.stats.handshakes++;
  }

  /** An optional command: a NAK "unknown command" means "not supported here" and yields undefined instead of failing bring-up. */
  async #optional(code: number, data: Buffer): Promise<OsdpFrame | undefined> {
    try {
      return await this.#transact(code, data, false);
    } catch (err) {
      if (!(err instanceof OsdpNakError) || err.reason !== OsdpNakReason.UNKNOWN_COMMAND) throw err;
      this.#log.warn({ command: osdpCodeName(code, false), reason: err.reason }, 'PD refuses an optional command');
      return undefined;
    }
  }

  async #onLoopError(err: Error): Promise<void> {
    if (!this.#running) return;
    if (this.#online && (err instanceof OsdpNakError || err instanceof OsdpPayloadError) && !isSecurityNak(err)) {
      // A NAK to a POLL: log, count, keep the line going.
      this.#log.warn({ err: err.message }, 'OSDP command refused');
      this.#emitError(err);
      await this.#idle(this.#pollIntervalMs);
      return;
    }
    if (err instanceof OsdpSecureChannelError) this.stats.secureFailures++;
    const portGone = err instanceof PortNotOpenError || err instanceof ReplyCancelledError;
    const reason = portGone ? `serial port ${this.#bus.path} unavailable` : describeFault(err);
    if (this.#online || this.#status !== 'fault' || this.#faultReason !== reason) {
      // The first failure of a streak: say why; the retries that follow only repeat it.
      this.#log.warn({ err: err.message }, this.#online ? 'OSDP PD offline' : 'OSDP PD cannot be brought online');
      if (!portGone) this.#emitError(err);
    } else {
      this.#log.debug({ err: err.message }, 'OSDP PD still cannot be brought online');
    }
    const wasOnline = this.#online;
    this.#goOffline(`PD ${this.address} went offline`);
    this.#setFault(reason);
    if (!wasOnline) for (const waiter of this.#bringUpWaiters.splice(0)) waiter.reject(err);
    const wait = this.#offlineRetryMs;
    this.#offlineRetryMs = Math.min(this.#offlineRetryMs * 2, OSDP_OFFLINE_RETRY_MAX_MS);
    await this.#idle(wait);
  }

  #goOffline(why: string): void {
    this.#online = false;
    this.#session = undefined;
    this.#sequence = 0;
    for (const queued of this.#queue.splice(0)) {
      queued.reject(new OsdpOfflineError(queued.code, why));
    }
  }

  #onPortLost(): void {
    this.#goOffline(`PD ${this.address} went offline`);
    this.#setFault(`serial port ${this.#bus.path} lost`);
  }

  /**
   * Sends one command and returns its (opened) reply, handling retries, NAK and BUSY (docs/devices.md
   * §5.2). `build` makes the bytes for a given sequence number (the handshake's own frames);
   * otherwise the command is sealed in the session when there is one, plain when there is none.
   * Replies to polls (and any other command) are also dispatched to `#onPdReport`.
   */
  async #transact(
    code: number,
    data: Buffer,
    urgent: boolean,
    build?: (sequence: OsdpSequence) => Buffer,
  ): Promise<OsdpFrame> {
    const frameBytes = (sequence: OsdpSequence) => (build ? build(sequence) : this.#frameBytes(code, data, sequence));
    let sequence = this.#sequence;
    let bytes = frameBytes(sequence);
    let sequenceResetDone = false;
    if (code !== OsdpCommand.POLL) this.stats.commands++;
    for (let attempt = 1; ; attempt++) {
      let raw: OsdpFrame;
      try {
        raw = await this.#bus.exchange({
          address: this.address,
          bytes,
          matches: (frame) => frame.sequence === sequence,
          timeoutMs: this.#replyTimeoutMs,
          urgent,
          what: `OSDP reply to ${osdpCodeName(code, false)}`,
        });
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
      const reply = this.#open(raw, code);
      if (reply.code === OsdpReply.BUSY && attempt < this.#maxAttempts) {
        this.stats.retries++;
        await this.#idle(OSDP_BUSY_RETRY_MS);
        continue;
      }
      this.#sequence = nextOsdpSequence(sequence);
      if (reply.code === OsdpReply.NAK) {
        this.stats.naks++;
        const { reason } = decodeNak(reply.data);
        if (reason === OsdpNakReason.SEQUENCE && !sequenceResetDone && !this.#session && !build) {
          // The PD lost track (it restarted, or missed our sequence): start over from 0.
          sequenceResetDone = true;
          this.stats.sequenceResets++;
          this.#log.info({ command: osdpCodeName(code, false) }, 'OSDP NAK sequence; resetting to 0');
          sequence = 0;
          bytes = frameBytes(sequence);
          continue;
        }
        if (reason === OsdpNakReason.CHECK_CHARACTER && attempt < this.#maxAttempts) {
          // Our frame arrived damaged; the PD did nothing with it, so send it again as a new message.
          this.stats.retries++;
          sequence = this.#sequence;
          bytes = frameBytes(sequence);
          continue;
        }
        throw new OsdpNakError(code, reason);
      }
      this.#onPdReport(reply);
      return reply;
    }
  }

  /**
   * A reply as the application sees it: in a session, its MAC checked and its data decrypted; any
   * reply without the session's MAC then ends the session (no silent downgrade), a plain NAK
   * included (the PD dropped the session: it restarted, or our MAC failed on its side).
   */
  #open(raw: OsdpFrame, code: number): OsdpFrame {
    const session = this.#session;
    if (session) {
      if (!raw.securityBlock && raw.code === OsdpReply.NAK) {
        const { reason } = decodeNak(raw.data);
        throw new OsdpSecureChannelError(
          'plaintext',
          `PD ${this.address} left the secure channel: plain NAK ${reason} to ${osdpCodeName(code, false)}`,
        );
      }
      try {
        return session.openReply(raw);
      } catch (err) {
        if (err instanceof OsdpSecureChannelError) {
          throw new OsdpSecureChannelError(err.problem, `secure channel with PD ${this.address}: ${err.message}`);
        }
        throw err;
      }
    }
    if (raw.securityBlock && raw.securityBlock.type !== Scs.CCRYPT && raw.securityBlock.type !== Scs.RMAC_I) {
      throw new OsdpSecureChannelError(
        'protocol',
        `PD ${this.address} sent a secure-channel reply (SCS_${raw.securityBlock.type.toString(16)}) outside a session`,
      );
    }
    return raw;
  }

  #frameBytes(code: number, data: Buffer, sequence: OsdpSequence): Buffer {
    if (this.#session) return this.#session.sealCommand({ address: this.address, sequence, code, data });
    if (this.#scbk && code !== OsdpCommand.ID && code !== OsdpCommand.CAP) {
      // Never in plaintext to a keyed PD: only discovery goes out before the handshake.
      throw new OsdpSecureChannelError(
        'plaintext',
        `refusing to send ${osdpCodeName(code, false)} without a secure session`,
      );
    }
    return new OsdpFrame({ address: this.address, sequence, code, data }).toBuffer();
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

/** NAK 5 (no secure channel) and 6 (security conditions not met): the PD will not talk to us this way. */
function isSecurityNak(err: Error): boolean {
  return (
    err instanceof OsdpNakError &&
    (err.reason === OsdpNakReason.SECURE_CHANNEL_UNSUPPORTED || err.reason === OsdpNakReason.SECURITY_CONDITIONS)
  );
}

/** One line for an operator: what failed, without frame bytes (a secure-channel frame's bytes are not for logs). */
function describeFault(err: Error): string {
  if (err instanceof OsdpTimeoutError) return `PD not answering: ${err.message}`;
  if (err instanceof OsdpSecureChannelError) return `secure channel failed: ${err.message}`;
  if (isSecurityNak(err)) {
    return `PD refused for security: ${err.message} (it needs the secure channel, or does not offer it)`;
  }
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
