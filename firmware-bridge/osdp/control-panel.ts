/**
 * The control-panel (CP) side of OSDP for one peripheral (PD) at one address (docs/devices.md §5):
 * a turnstile I/O board with an optional card reader, or any other PD on a shared line.
 *
 * This file is what the PD's replies and our commands mean: input contacts through the turnstile's
 * wiring (turnstile-contacts.ts: passed in/out, forced, the normally-closed fire loop, tamper),
 * card reads (card-read.ts), keypad keys, output states; unlock, LED, buzzer and key installation.
 * Keeping the PD online — bring-up, polling, a command queue ahead of the polls, offline backoff —
 * is pd-link.ts; frames, sequence numbers, retries and the secure channel are pd-exchange.ts.
 *
 * Sequence numbers: 0 once after a (re)start, then 1, 2, 3, 1 … A timed-out command is re-sent
 * byte for byte, same sequence number (and, in a secure session, the same MAC), which asks the PD
 * to repeat its last reply rather than act twice (an OUT must not pulse the turnstile twice).
 * With `scbk` the PD is only ever driven through the secure channel (docs/devices.md §8): no
 * command but osdp_ID / osdp_CAP goes out in plaintext, a plaintext or badly MACed reply ends the
 * session (status 'fault', `faultReason` says why, re-handshake with backoff), never a downgrade.
 */
import { EventEmitter } from 'node:events';
import { type Logger, silentLogger } from '../../shared/log.ts';
import type { DeviceStatus, SerialPortOptions } from '../serial/port-options.ts';
import { systemTimers, type Timers } from '../serial/timers.ts';
import { OsdpBus } from './bus.ts';
import { type OsdpCard, cardOfRawReply } from './card-read.ts';
import { OsdpCommand, OsdpReply } from './codes.ts';
import { encodeBuz, encodeLed, encodeOut, LedColour, type LedColourName, OutputControl } from './commands.ts';
import { OSDP_BROADCAST, type OsdpFrame } from './frame.ts';
import { expectReply, type OsdpLinkStats } from './pd-exchange.ts';
import { OsdpPdLink } from './pd-link.ts';
import { decodeInputStates, decodeKeypad, decodeOutputStates, type PdCapability, type PdIdentity } from './replies.ts';
import { checkScbk, encodeKeyset, OsdpSecureChannelError } from './secure-channel.ts';
import { type TurnstileInput, TurnstileContacts, type TurnstileWiring } from './turnstile-contacts.ts';

export { OSDP_STALL_GRACE_MS, OSDP_STALL_SLACK_MS } from './bus.ts';
export type { OsdpCard } from './card-read.ts';
export type { TurnstileInput } from './turnstile-contacts.ts';

/** OSDP gives a PD 200 ms to answer before the CP may treat the message as lost. */
const OSDP_REPLY_TIMEOUT_MS = 200;
const OSDP_POLL_INTERVAL_MS = 50;
/** Sends of one command before the PD is declared offline (the first try plus two retries). */
const OSDP_MAX_ATTEMPTS = 3;
const LED_TIMER_MAX = 0xffff;

export interface OsdpControlPanelOptions extends Partial<SerialPortOptions>, TurnstileWiring {
  /** A line shared with other PDs; without it the CP opens its own on `path` / `baudRate`. */
  bus?: OsdpBus;
  /** The PD's address, 0x00–0x7E. Default 0. */
  address?: number;
  /** Pause between polls when nothing is queued. Default 50 ms. */
  pollIntervalMs?: number;
  /** Wait for each reply. Default 200 ms. */
  replyTimeoutMs?: number;
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

export interface OsdpControlPanelEvents {
  /** An edge of a mapped input (from osdp_ISTATR), already corrected for normally-closed wiring. */
  input: [name: TurnstileInput, active: boolean];
  card: [card: OsdpCard];
  /** Keys typed on a reader's keypad (osdp_KEYPAD). */
  keypad: [keys: string];
  status: [status: DeviceStatus];
  error: [err: Error];
}

export interface OsdpControlPanelStats extends OsdpLinkStats {
  cards: number;
  /** Wiegand-26 reads refused for a parity error, reported as `format: 'raw'`. */
  parityErrors: number;
  badPayloads: number;
}

/** The numeric options, checked (a TypeError names the one that is wrong). */
function checkedTiming(options: OsdpControlPanelOptions) {
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
  return { address, pollIntervalMs, replyTimeoutMs, maxAttempts };
}

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
  readonly #link: OsdpPdLink;
  readonly #contacts: TurnstileContacts;
  readonly #log: Logger;
  #outputs: boolean[] = [];
  /** Input states reported while bringing the PD up: applied once it is online. */
  #bringUpInputs: boolean[] | undefined;

  constructor(options: OsdpControlPanelOptions) {
    super();
    const timing = checkedTiming(options);
    this.#contacts = new TurnstileContacts(options);
    if (!options.bus && (options.path === undefined || options.baudRate === undefined)) {
      throw new TypeError('either bus, or path and baudRate, are required');
    }
    this.address = timing.address;
    const timers = options.timers ?? systemTimers;
    const path = options.bus?.path ?? options.path!;
    this.#log = (options.logger ?? silentLogger).child({ component: 'osdp.cp', path, address: timing.address });
    this.#bus =
      options.bus ??
      new OsdpBus({
        path: options.path!,
        baudRate: options.baudRate!,
        binding: options.binding,
        logger: options.logger,
        timers,
        now: options.now,
      });
    this.#link = new OsdpPdLink({
      ...timing,
      bus: this.#bus,
      ownBus: !options.bus,
      scbk: options.scbk ? checkScbk(options.scbk) : undefined,
      installMode: options.installMode ?? false,
      stats: this.stats,
      log: this.#log,
      timers,
      hooks: {
        onReport: (reply, online) => this.#onPdReport(reply, online),
        onBringUp: () => {
          this.#bringUpInputs = undefined;
        },
        onOnline: () => this.#onOnline(),
        onStatus: (status) => this.emit('status', status),
        onError: (err) => this.#emitError(err),
      },
    });
  }

  /** 'absent' before start and after stop; 'ok' while the PD answers; 'fault' while the port or the PD is gone. */
  get status(): DeviceStatus {
    return this.#link.status;
  }

  /** Why the status is 'fault' (the last bring-up or link failure); undefined while 'ok'. Never holds key material. */
  get faultReason(): string | undefined {
    return this.#link.faultReason;
  }

  /** Whether commands currently travel in a secure-channel session. */
  get secure(): boolean {
    return this.#link.secure;
  }

  /** The bus this CP sends on (its own, or the shared one it was given). */
  get bus(): OsdpBus {
    return this.#bus;
  }

  /** Current state of every mapped input (normally-closed inputs already inverted). */
  get inputs(): ReadonlyMap<TurnstileInput, boolean> {
    return this.#contacts.states;
  }

  /** What the PD said about itself in osdp_PDID, once online. */
  get identity(): PdIdentity | undefined {
    return this.#link.identity;
  }

  get capabilities(): readonly PdCapability[] {
    return this.#link.capabilities;
  }

  /** Output states from the last osdp_OSTATR, if the PD sent one. */
  get outputs(): readonly boolean[] {
    return this.#outputs;
  }

  start(): Promise<void> {
    return this.#link.start();
  }

  stop(): Promise<void> {
    return this.#link.stop();
  }

  /** osdp_OUT: temporary on of the mapped unlock output for `pulseMs` (rounded up to 100 ms). Resolves on ACK. */
  async unlock(direction: 'in' | 'out', pulseMs: number): Promise<void> {
    const output = this.#contacts.unlockOutput(direction);
    const timer = toTenthsOfSecond('pulseMs', pulseMs, 1);
    const data = encodeOut([{ output, control: OutputControl.TEMPORARY_ON, timer }]);
    const reply = await this.#link.send(OsdpCommand.OUT, data);
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
    expectReply(await this.#link.send(OsdpCommand.LED, data), [OsdpReply.ACK], 'osdp_LED');
  }

  /** osdp_BUZ: `count` beeps of 100 ms on, 100 ms off, default tone. */
  async buzz(count: number): Promise<void> {
    if (!Number.isInteger(count) || count < 1 || count > 0xff)
      throw new RangeError(`count must be 1–255, got ${count}`);
    const data = encodeBuz({ reader: 0, tone: 2, onTime: 1, offTime: 1, count });
    expectReply(await this.#link.send(OsdpCommand.BUZ, data), [OsdpReply.ACK], 'osdp_BUZ');
  }

  /**
   * osdp_KEYSET: installs `newScbk` in the PD, inside the current secure session (the data is
   * encrypted; a plaintext KEYSET is never sent). On the PD's ACK the CP switches to the new key
   * and brings the PD up again with it, so the promise resolves once the new key is proven by a
   * fresh handshake. Used by `anxin gate osdp-pair` for pairing (from SCBK-D) and rotation.
   */
  async setKey(newScbk: Uint8Array): Promise<void> {
    const key = checkScbk(newScbk, 'new SCBK');
    if (!this.#link.secure) {
      throw new OsdpSecureChannelError('key', `PD ${this.address} has no secure session to install a key through`);
    }
    // Registered before the KEYSET goes out: the loop brings the PD up again as soon as it is ACKed.
    const bringUp = this.#link.nextBringUp();
    try {
      const reply = await this.#link.send(OsdpCommand.KEYSET, encodeKeyset(key));
      expectReply(reply, [OsdpReply.ACK], 'osdp_KEYSET');
    } catch (err) {
      bringUp.cancel();
      throw err;
    }
    try {
      await bringUp.proven;
    } catch (err) {
      throw new OsdpSecureChannelError('key', `the PD did not come back with the new key: ${(err as Error).message}`);
    }
  }

  /**
   * Inputs reported while the PD was brought up (the fire loop open at power-up) are applied once it
   * is online, so a listener that reacts with `unlock()` finds it ready.
   */
  #onOnline(): void {
    const inputs = this.#bringUpInputs;
    this.#bringUpInputs = undefined;
    if (inputs) this.#applyInputs(inputs);
  }

  /** What a PD reports on its own initiative: inputs, card reads, keys, outputs. */
  #onPdReport(reply: OsdpFrame, online: boolean): void {
    try {
      switch (reply.code) {
        case OsdpReply.ISTATR: {
          const states = decodeInputStates(reply.data);
          if (online) this.#applyInputs(states);
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
    for (const [name, active] of this.#contacts.apply(states)) {
      this.#log.info({ input: name, active }, 'turnstile input');
      this.emit('input', name, active);
    }
  }

  #onRaw(data: Buffer): void {
    const { card, parityProblem } = cardOfRawReply(data);
    this.stats.cards++;
    if (parityProblem) {
      this.stats.parityErrors++;
      this.#log.warn({ problem: parityProblem }, 'Wiegand-26 card refused');
    }
    this.emit('card', card);
  }

  #emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

function toTenthsOfSecond(what: string, ms: number, min: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`${what} must be ≥ 0, got ${ms}`);
  const tenths = Math.max(min, Math.ceil(ms / 100));
  if (tenths > 0xffff) throw new RangeError(`${what} must be at most 6553500 ms, got ${ms}`);
  return tenths;
}
