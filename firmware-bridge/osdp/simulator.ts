/**
 * An OSDP peripheral (PD), plain mode, with a turnstile behind it (docs/devices.md §4, §5): what
 * `anxin sim turnstile` runs and what the control-panel tests talk to over a real serial line.
 *
 * Wiring follows the default map: output 0 unlocks "in", output 1 "out"; inputs 0 passed in,
 * 1 passed out, 2 intrusion/forced, 3 fire-alarm loop (normally closed, so 1 = no fire), 4 tamper.
 * After an unlock the turnstile acts out its `behaviour` after `passDelayMs`.
 *
 * As a PD it answers ID/CAP/ISTAT/OSTAT/OUT/LED/BUZ, reports in its reply to POLL (osdp_ISTATR
 * while input changes are waiting to be reported — every change, in order, so no short pulse is
 * lost between polls — then osdp_RAW for a presented card, else osdp_ACK), NAKs unknown commands
 * (3), bad check characters (1), bad lengths (2), security blocks (5) and out-of-order sequence
 * numbers (4), and answers a repeated sequence number with its last reply, unchanged.
 *
 * This file is the turnstile and the PD's answers to what it is asked; the PD's side of the link
 * (sequence numbers, repeats, NAKs, the secure channel) is sim-pd-link.ts, a port shared by several
 * simulated PDs sim-line.ts.
 */
import { EventEmitter } from 'node:events';
import { type Logger, silentLogger } from '../../shared/log.ts';
import type { DeviceStatus, SerialPortOptions } from '../serial/port-options.ts';
import { systemTimers, type Timers } from '../serial/timers.ts';
import { OsdpCommand, type OsdpCommandName, OsdpNakReason, OsdpReply } from './codes.ts';
import {
  type BuzzerCommand,
  decodeBuz,
  decodeLed,
  decodeOut,
  type LedCommand,
  type OutputCommand,
  OutputControl,
} from './commands.ts';
import { OsdpPayloadError } from './errors.ts';
import { OSDP_BROADCAST, OsdpFrame } from './frame.ts';
import type { OsdpDrop } from './parser.ts';
import {
  encodeInputStates,
  encodeOutputStates,
  encodePdCap,
  encodePdId,
  encodeRaw,
  PdCapabilityFunction,
  RawCardFormat,
} from './replies.ts';
import { checkScbk, decodeKeyset, type ScKeyKind } from './secure-channel.ts';
import { OsdpSimulatorLine, type SimulatedPd } from './sim-line.ts';
import { SimulatedPdLink } from './sim-pd-link.ts';
import { encodeWiegand26 } from './wiegand.ts';

export { OsdpSimulatorLine } from './sim-line.ts';

export type TurnstileBehaviour = 'pass' | 'timeout' | 'forced' | 'tailgate';
export const TURNSTILE_BEHAVIOURS: readonly TurnstileBehaviour[] = ['pass', 'timeout', 'forced', 'tailgate'];

export const SIMULATOR_PASS_DELAY_MS = 800;
/** How long a "passed" or "forced" contact stays closed. */
export const SIMULATOR_PULSE_MS = 150;
/** Between the two passes of a tailgate. */
const SIMULATOR_TAILGATE_GAP_MS = 300;

const INPUT = { passedIn: 0, passedOut: 1, forced: 2, fireLoop: 3, tamper: 4 } as const;
const INPUT_COUNT = 5;
const OUTPUT_COUNT = 2;
const OUTPUT_DIRECTION: Record<number, 'in' | 'out'> = { 0: 'in', 1: 'out' };

export interface OsdpTurnstileSimulatorOptions extends SerialPortOptions {
  /** A port shared with simulated PDs at other addresses; without it the simulator opens `path` itself. */
  line?: OsdpSimulatorLine;
  address?: number;
  /**
   * The PD's secure channel base key: it then answers only through the secure channel (osdp_ID and
   * osdp_CAP excepted) and refuses install-mode handshakes and plaintext (NAK 6).
   */
  scbk?: Uint8Array;
  /**
   * A factory-fresh PD: without a key of its own it accepts a handshake with SCBK-D and an
   * osdp_KEYSET in that session. Without `scbk` or this, the PD has no secure channel (NAK 5).
   */
  installMode?: boolean;
  passDelayMs?: number;
  behaviour?: TurnstileBehaviour;
  /**
   * Commands this PD refuses with osdp_NAK 3 (unknown command), as some boards do with the
   * optional ones (osdp_ISTAT, osdp_CAP, osdp_BUZ …): for testing that a control panel copes.
   */
  nakCommands?: readonly OsdpCommandName[];
  logger?: Logger;
  timers?: Timers;
}

export interface OsdpTurnstileSimulatorEvents {
  /** Test hook: an OUT pulsed an unlock output; `atHr` is `process.hrtime.bigint()` when the frame was parsed. */
  unlock: [direction: 'in' | 'out', atHr: bigint];
  led: [led: LedCommand];
  buzz: [buzzer: BuzzerCommand];
  /** Every command addressed to this PD, after it was parsed. */
  command: [frame: OsdpFrame];
  status: [status: DeviceStatus];
  /** A secure session was established (`handshake`) or ended by a failure (`secure-failure`, with why). */
  handshake: [kind: ScKeyKind];
  'secure-failure': [reason: string];
  /** osdp_KEYSET installed a new key (the key itself, for whoever persists it; never logged). */
  keyset: [scbk: Buffer];
}

/** osdp_PDID of a simulated PD: vendor "AXG", model 1, serial number 0x10000 + address. */
function simulatedPdId(address: number): Buffer {
  return encodePdId({
    vendorCode: Buffer.from([0x41, 0x58, 0x47]),
    model: 1,
    version: 1,
    serialNumber: 0x00010000 + address,
    firmware: { major: 1, minor: 0, build: 0 },
  });
}

export class OsdpTurnstileSimulator extends EventEmitter<OsdpTurnstileSimulatorEvents> implements SimulatedPd {
  readonly address: number;
  readonly stats = { commands: 0, repeats: 0, naks: 0, unlocks: 0, passes: 0, handshakes: 0, secureFailures: 0 };

  readonly #options: OsdpTurnstileSimulatorOptions;
  readonly #passDelayMs: number;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #pending = new Set<unknown>();
  readonly #nakCommands: ReadonlySet<number>;
  #behaviour: TurnstileBehaviour;
  #line: OsdpSimulatorLine | undefined;
  #ownLine: boolean;
  #started = false;
  readonly #link: SimulatedPdLink;
  readonly #pdid: Buffer;

  /** Raw contact states, as the PD reports them. The fire loop starts closed (no fire). */
  #inputs: boolean[] = [false, false, false, true, false];
  #outputs: boolean[] = Array.from({ length: OUTPUT_COUNT }, () => false);
  /** Input snapshots not yet reported to the CP, oldest first. */
  #inputReports: boolean[][] = [];
  #cardReports: Buffer[] = [];

  constructor(options: OsdpTurnstileSimulatorOptions) {
    super();
    const address = options.address ?? 0;
    if (!Number.isInteger(address) || address < 0 || address >= OSDP_BROADCAST) {
      throw new TypeError(`address must be 0–126, got ${options.address}`);
    }
    const passDelayMs = options.passDelayMs ?? SIMULATOR_PASS_DELAY_MS;
    if (!Number.isFinite(passDelayMs) || passDelayMs < 0) {
      throw new TypeError(`passDelayMs must be ≥ 0, got ${options.passDelayMs}`);
    }
    const behaviour = options.behaviour ?? 'pass';
    if (!TURNSTILE_BEHAVIOURS.includes(behaviour)) {
      throw new TypeError(`behaviour must be one of ${TURNSTILE_BEHAVIOURS.join(', ')}, got ${behaviour}`);
    }
    this.address = address;
    this.#options = options;
    this.#passDelayMs = passDelayMs;
    this.#behaviour = behaviour;
    this.#nakCommands = new Set(
      (options.nakCommands ?? []).map((name) => {
        const code = OsdpCommand[name];
        if (code === undefined) throw new TypeError(`nakCommands: no OSDP command ${JSON.stringify(name)}`);
        return code;
      }),
    );
    this.#log = (options.logger ?? silentLogger).child({ component: 'osdp.sim', path: options.path, address });
    this.#timers = options.timers ?? systemTimers;
    this.#ownLine = !options.line;
    this.#line = options.line;
    this.#pdid = simulatedPdId(address);
    this.#link = new SimulatedPdLink({
      address,
      scbk: options.scbk ? checkScbk(options.scbk) : undefined,
      installMode: options.installMode ?? false,
      pdid: this.#pdid,
      stats: this.stats,
      log: this.#log,
      write: (bytes) => this.#write(bytes),
      answer: (command, atHr) => this.#answer(command, atHr),
      events: {
        command: (frame) => this.emit('command', frame),
        handshake: (kind) => this.emit('handshake', kind),
        secureFailure: (reason) => this.emit('secure-failure', reason),
        keyset: (scbk) => this.emit('keyset', scbk),
      },
    });
  }

  /** Whether the PD holds a key of its own (then it refuses plaintext and SCBK-D). */
  get keyed(): boolean {
    return this.#link.keyed;
  }

  /** Whether a secure session is established. */
  get secure(): boolean {
    return this.#link.secure;
  }

  get behaviour(): TurnstileBehaviour {
    return this.#behaviour;
  }

  get status(): DeviceStatus {
    return this.#started ? (this.#line?.status ?? 'absent') : 'absent';
  }

  /** Raw input contact states (index = input number). */
  get inputs(): readonly boolean[] {
    return this.#inputs;
  }

  get outputs(): readonly boolean[] {
    return this.#outputs;
  }

  readonly #onLineStatus = (status: DeviceStatus) => this.emit('status', status);

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    if (this.#ownLine) {
      this.#line = new OsdpSimulatorLine({
        path: this.#options.path,
        baudRate: this.#options.baudRate,
        binding: this.#options.binding,
        logger: this.#options.logger,
        timers: this.#timers,
      });
    }
    this.#line!.on('status', this.#onLineStatus);
    await this.#line!.attach(this);
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    for (const timer of this.#pending) this.#timers.clearTimeout(timer);
    this.#pending.clear();
    this.#line?.off('status', this.#onLineStatus);
    await this.#line?.detach(this);
    if (this.#ownLine) this.#line = undefined;
    this.#link.reset();
  }

  setBehaviour(behaviour: TurnstileBehaviour): void {
    if (!TURNSTILE_BEHAVIOURS.includes(behaviour)) {
      throw new TypeError(`behaviour must be one of ${TURNSTILE_BEHAVIOURS.join(', ')}, got ${behaviour}`);
    }
    this.#behaviour = behaviour;
  }

  /** Opens (true) or closes the normally-closed fire-alarm loop. */
  setFireAlarm(open: boolean): void {
    this.#setInputs({ [INPUT.fireLoop]: !open });
  }

  setTamper(on: boolean): void {
    this.#setInputs({ [INPUT.tamper]: on });
  }

  /** Someone pushes through without an unlock: the intrusion detector and the direction's pass contact close together. */
  forcePassage(direction: 'in' | 'out'): void {
    const passed = direction === 'in' ? INPUT.passedIn : INPUT.passedOut;
    this.#pulse([INPUT.forced, passed]);
  }

  /** A Wiegand-26 card on the reader on this bus: reported once, as osdp_RAW, in a reply to POLL. */
  presentCard(facility: number, number: number): void {
    const { bitCount, data } = encodeWiegand26({ facility, number });
    this.#cardReports.push(encodeRaw({ reader: 0, format: RawCardFormat.WIEGAND, bitCount, data }));
  }

  /** Raw card bits of any format (e.g. a deliberately corrupted read). */
  presentRawCard(bitCount: number, data: Buffer, format: number = RawCardFormat.WIEGAND): void {
    this.#cardReports.push(encodeRaw({ reader: 0, format, bitCount, data }));
  }

  #after(ms: number, action: () => void): void {
    const timer = this.#timers.setTimeout(() => {
      this.#pending.delete(timer);
      action();
    }, ms);
    this.#pending.add(timer);
  }

  /** The pulse that last closed each contact: only its own end opens it again. */
  readonly #pulseOf = new Map<number, symbol>();

  #setInputs(changes: Record<number, boolean>): void {
    const next = [...this.#inputs];
    for (const [input, state] of Object.entries(changes)) next[Number(input)] = state;
    if (next.every((state, i) => state === this.#inputs[i])) return;
    this.#inputs = next;
    this.#inputReports.push(next);
  }

  /**
   * Closes the contacts for `SIMULATOR_PULSE_MS`. A pulse due while the same contact is still
   * closed from the last one (two passages close together) first ends that one, so the control
   * panel sees two edges rather than none, and the earlier pulse's end no longer cuts this one short.
   */
  #pulse(inputs: number[]): void {
    const restart = inputs.filter((i) => this.#inputs[i] === true);
    if (restart.length > 0) this.#setInputs(Object.fromEntries(restart.map((i) => [i, false])));
    this.#setInputs(Object.fromEntries(inputs.map((i) => [i, true])));
    const pulse = Symbol('pulse');
    for (const i of inputs) this.#pulseOf.set(i, pulse);
    this.#after(SIMULATOR_PULSE_MS, () => {
      const ending = inputs.filter((i) => this.#pulseOf.get(i) === pulse);
      for (const i of ending) this.#pulseOf.delete(i);
      this.#setInputs(Object.fromEntries(ending.map((i) => [i, false])));
    });
  }

  #pass(direction: 'in' | 'out'): void {
    this.stats.passes++;
    this.#pulse([direction === 'in' ? INPUT.passedIn : INPUT.passedOut]);
  }

  #onUnlock(direction: 'in' | 'out'): void {
    switch (this.#behaviour) {
      case 'pass':
        this.#after(this.#passDelayMs, () => this.#pass(direction));
        break;
      case 'tailgate':
        this.#after(this.#passDelayMs, () => this.#pass(direction));
        this.#after(this.#passDelayMs + SIMULATOR_PULSE_MS + SIMULATOR_TAILGATE_GAP_MS, () => this.#pass(direction));
        break;
      case 'forced':
        this.#after(this.#passDelayMs, () => this.forcePassage(direction));
        break;
      case 'timeout':
        break;
    }
  }

  /** A frame for this PD that the line's parser refused. @internal */
  handleDrop(drop: OsdpDrop): void {
    this.#link.handleDrop(drop);
  }

  /** A frame the line parsed, addressed to this PD (or broadcast). @internal */
  handleFrame(frame: OsdpFrame, atHr: bigint): void {
    this.#link.handleFrame(frame, atHr);
  }

  #answer(command: OsdpFrame, atHr: bigint): OsdpFrame {
    const reply = (code: number, data: Buffer = Buffer.alloc(0)) =>
      new OsdpFrame({
        address: this.address,
        isReply: true,
        sequence: command.sequence,
        code,
        data,
        integrity: command.integrity,
      });
    if (this.#nakCommands.has(command.code)) return this.#link.nak(command.sequence, OsdpNakReason.UNKNOWN_COMMAND);
    switch (command.code) {
      case OsdpCommand.POLL:
        return this.#pollReply(reply);
      case OsdpCommand.ID:
        return reply(OsdpReply.PDID, this.#pdid);
      case OsdpCommand.KEYSET:
        // Only ever inside a session (the secure layer refuses it otherwise), its data encrypted.
        if (!this.#link.secure) return this.#link.nak(command.sequence, OsdpNakReason.SECURITY_CONDITIONS);
        decodeKeyset(command.data);
        return reply(OsdpReply.ACK);
      case OsdpCommand.CAP:
        return reply(
          OsdpReply.PDCAP,
          encodePdCap([
            { function: PdCapabilityFunction.CONTACT_STATUS_MONITORING, compliance: 1, count: INPUT_COUNT },
            { function: PdCapabilityFunction.OUTPUT_CONTROL, compliance: 2, count: OUTPUT_COUNT },
            { function: PdCapabilityFunction.CARD_DATA_FORMAT, compliance: 1, count: 0 },
            { function: PdCapabilityFunction.READER_LED_CONTROL, compliance: 2, count: 1 },
            { function: PdCapabilityFunction.READER_AUDIBLE_OUTPUT, compliance: 2, count: 1 },
            { function: PdCapabilityFunction.CHECK_CHARACTER_SUPPORT, compliance: 1, count: 0 },
            {
              function: PdCapabilityFunction.COMMUNICATION_SECURITY,
              compliance: this.#link.capable ? 1 : 0,
              count: 0,
            },
          ]),
        );
      case OsdpCommand.ISTAT:
        // The current state supersedes every change not yet reported.
        this.#inputReports = [];
        return reply(OsdpReply.ISTATR, encodeInputStates(this.#inputs));
      case OsdpCommand.OSTAT:
        return reply(OsdpReply.OSTATR, encodeOutputStates(this.#outputs));
      case OsdpCommand.OUT:
        for (const out of decodeOut(command.data)) this.#applyOutput(out, atHr);
        return reply(OsdpReply.ACK);
      case OsdpCommand.LED:
        for (const led of decodeLed(command.data)) this.emit('led', led);
        return reply(OsdpReply.ACK);
      case OsdpCommand.BUZ:
        this.emit('buzz', decodeBuz(command.data));
        return reply(OsdpReply.ACK);
      default:
        return this.#link.nak(command.sequence, OsdpNakReason.UNKNOWN_COMMAND);
    }
  }

  #pollReply(reply: (code: number, data?: Buffer) => OsdpFrame): OsdpFrame {
    const inputs = this.#inputReports.shift();
    if (inputs) return reply(OsdpReply.ISTATR, encodeInputStates(inputs));
    const card = this.#cardReports.shift();
    if (card) return reply(OsdpReply.RAW, card);
    return reply(OsdpReply.ACK);
  }

  #applyOutput(out: OutputCommand, atHr: bigint): void {
    if (out.output >= OUTPUT_COUNT) throw new OsdpPayloadError('osdp_OUT', `no output ${out.output}`);
    switch (out.control) {
      case OutputControl.TEMPORARY_ON: {
        this.#outputs[out.output] = true;
        this.#after(out.timer * 100, () => {
          this.#outputs[out.output] = false;
        });
        const direction = OUTPUT_DIRECTION[out.output]!;
        this.stats.unlocks++;
        this.emit('unlock', direction, atHr);
        this.#onUnlock(direction);
        break;
      }
      case OutputControl.PERMANENT_ON_ABORT_TIMER:
      case OutputControl.PERMANENT_ON_AFTER_TIMER:
        this.#outputs[out.output] = true;
        break;
      case OutputControl.PERMANENT_OFF_ABORT_TIMER:
      case OutputControl.PERMANENT_OFF_AFTER_TIMER:
      case OutputControl.TEMPORARY_OFF:
        this.#outputs[out.output] = false;
        break;
      default:
        break;
    }
  }

  #write(bytes: Buffer): void {
    this.#line?.write(bytes).catch((err: Error) => this.#log.warn({ err: err.message }, 'simulator write failed'));
  }
}
