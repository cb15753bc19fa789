/**
 * The PD's side of the OSDP link, for the simulators (docs/devices.md §5.2, §8): sequence numbers
 * (a repeated one is answered with the last reply, unchanged; one out of order with NAK 4), NAKs for
 * frames the line's parser refused (1 bad check character, 2 bad length, 5 security block), and the
 * secure channel — osdp_CHLNG / osdp_SCRYPT answered, session commands opened and replies sealed,
 * plaintext refused by a keyed PD (NAK 6), osdp_KEYSET installing a new key once ACKed.
 *
 * What a command means to the device behind the PD is the simulator's (`answer`): simulator.ts.
 */
import type { Logger } from '../../shared/log.ts';
import { OsdpCommand, OsdpNakReason, OsdpReply } from './codes.ts';
import { OsdpPayloadError } from './errors.ts';
import { nextOsdpSequence, OSDP_BROADCAST, OsdpFrame, type OsdpSequence } from './frame.ts';
import type { OsdpDrop } from './parser.ts';
import { encodeNak } from './replies.ts';
import {
  ccryptFrame,
  clientCryptogram,
  decodeKeyset,
  deriveSessionKeys,
  initialRmac,
  keyKindOf,
  newRandom,
  rmacIFrame,
  SCBK_DEFAULT,
  type ScKeyKind,
  Scs,
  type SessionKeys,
  SecureSession,
  sameSecret,
  serverCryptogram,
} from './secure-channel.ts';

export interface SimulatedPdLinkStats {
  commands: number;
  repeats: number;
  naks: number;
  handshakes: number;
  secureFailures: number;
}

export interface SimulatedPdLinkOptions {
  address: number;
  /** The PD's own key (checked); then it answers only through the secure channel. */
  scbk: Buffer | undefined;
  /** A factory-fresh PD: accepts a handshake with SCBK-D and an osdp_KEYSET in that session. */
  installMode: boolean;
  /** osdp_PDID's data: its first 8 bytes are the cUID of the handshake. */
  pdid: Buffer;
  stats: SimulatedPdLinkStats;
  log: Logger;
  write(bytes: Buffer): void;
  /** The device's answer to a (plain or opened) command; an `OsdpPayloadError` becomes NAK 2. */
  answer(command: OsdpFrame, atHr: bigint): OsdpFrame;
  events: {
    command(frame: OsdpFrame): void;
    handshake(kind: ScKeyKind): void;
    secureFailure(reason: string): void;
    keyset(scbk: Buffer): void;
  };
}

export class SimulatedPdLink {
  readonly #o: SimulatedPdLinkOptions;
  #scbk: Buffer | undefined;
  #handshake: { keys: SessionKeys; rndA: Buffer; rndB: Buffer; kind: ScKeyKind } | undefined;
  #session: SecureSession | undefined;
  #lastSequence: OsdpSequence | undefined;
  #lastReply: Buffer | undefined;

  constructor(options: SimulatedPdLinkOptions) {
    this.#o = options;
    this.#scbk = options.scbk;
  }

  /** Whether the PD holds a key of its own (then it refuses plaintext and SCBK-D). */
  get keyed(): boolean {
    return this.#scbk !== undefined;
  }

  /** Whether the PD offers the secure channel at all (a key, or the install key). */
  get capable(): boolean {
    return this.#scbk !== undefined || this.#o.installMode;
  }

  /** Whether a secure session is established. */
  get secure(): boolean {
    return this.#session !== undefined;
  }

  /**
   * A restarted PD has forgotten the conversation: the CP will get NAK sequence until it restarts
   * at 0, and must handshake again (the key itself survives, as in a PD's non-volatile memory).
   */
  reset(): void {
    this.#lastSequence = undefined;
    this.#lastReply = undefined;
    this.#session = undefined;
    this.#handshake = undefined;
  }

  nak(sequence: OsdpSequence, reason: number): OsdpFrame {
    this.#o.stats.naks++;
    return new OsdpFrame({
      address: this.#o.address,
      isReply: true,
      sequence,
      code: OsdpReply.NAK,
      data: encodeNak(reason),
    });
  }

  /** A frame for this PD that the line's parser refused. */
  handleDrop(drop: OsdpDrop): void {
    const header = drop.header;
    if (!header || header.isReply || !this.#isForMe(header.address)) return;
    const reason =
      drop.reason === 'integrity'
        ? OsdpNakReason.CHECK_CHARACTER
        : drop.reason === 'security-block'
          ? OsdpNakReason.SECURE_CHANNEL_UNSUPPORTED
          : drop.reason === 'length'
            ? OsdpNakReason.COMMAND_LENGTH
            : undefined;
    if (reason === undefined) return;
    // The damaged frame's sequence number cannot be trusted: answer it, but do not remember it.
    this.#send(this.nak(header.sequence as OsdpSequence, reason), false);
  }

  #isForMe(address: number): boolean {
    return address === this.#o.address || address === OSDP_BROADCAST;
  }

  /** A frame the line parsed, addressed to this PD (or broadcast). */
  handleFrame(frame: OsdpFrame, atHr: bigint): void {
    if (frame.isReply || !this.#isForMe(frame.address)) return;
    this.#o.stats.commands++;
    this.#o.events.command(frame);
    const sequence = frame.sequence;
    if (sequence !== 0 && sequence === this.#lastSequence && this.#lastReply) {
      this.#o.stats.repeats++;
      this.#o.log.debug({ sequence }, 'repeated sequence number: sending the last reply again');
      this.#o.write(this.#lastReply);
      return;
    }
    const expected = this.#lastSequence === undefined ? undefined : nextOsdpSequence(this.#lastSequence);
    if (sequence !== 0 && sequence !== expected) {
      this.#send(this.nak(sequence, OsdpNakReason.SEQUENCE), false);
      return;
    }
    const secured = this.#secureLayer(frame);
    if (secured?.isReply) {
      // The secure layer answered itself (handshake, or a refusal).
      this.#send(secured, !(secured.code === OsdpReply.NAK && !secured.securityBlock));
      return;
    }
    const command = secured ?? frame;
    let reply: OsdpFrame;
    try {
      reply = this.#o.answer(command, atHr);
    } catch (err) {
      if (!(err instanceof OsdpPayloadError)) throw err;
      reply = this.nak(sequence, OsdpNakReason.COMMAND_LENGTH);
    }
    const session = this.#session;
    if (session && secured) {
      const bytes = session.sealReply({ address: this.#o.address, sequence, code: reply.code, data: reply.data });
      this.#lastSequence = sequence;
      this.#lastReply = bytes;
      this.#o.write(bytes);
      if (command.code === OsdpCommand.KEYSET && reply.code === OsdpReply.ACK) this.#installKey(command.data);
      return;
    }
    this.#send(reply, true);
  }

  /**
   * Returns a reply frame when the secure layer answers on its own (handshake messages, refusals),
   * the opened (plain) command of a session message, or undefined for a plaintext command the PD
   * may answer in plaintext.
   */
  #secureLayer(frame: OsdpFrame): OsdpFrame | undefined {
    const block = frame.securityBlock;
    if (!block) {
      if (this.#session) this.#endSession('a plaintext command during a session');
      const discovery = frame.code === OsdpCommand.ID || frame.code === OsdpCommand.CAP;
      if (this.#scbk && !discovery) return this.nak(frame.sequence, OsdpNakReason.SECURITY_CONDITIONS);
      return undefined;
    }
    if (!this.capable) return this.nak(frame.sequence, OsdpNakReason.SECURE_CHANNEL_UNSUPPORTED);
    switch (block.type) {
      case Scs.CHLNG:
        return this.#onChlng(frame);
      case Scs.SCRYPT:
        return this.#onScrypt(frame);
      case Scs.COMMAND_MAC:
      case Scs.COMMAND_ENCRYPTED: {
        const session = this.#session;
        if (!session) return this.nak(frame.sequence, OsdpNakReason.SECURITY_CONDITIONS);
        try {
          return session.openCommand(frame);
        } catch (err) {
          this.#endSession((err as Error).message);
          return this.nak(frame.sequence, OsdpNakReason.SECURITY_CONDITIONS);
        }
      }
      default:
        return this.nak(frame.sequence, OsdpNakReason.SECURITY_CONDITIONS);
    }
  }

  #onChlng(frame: OsdpFrame): OsdpFrame {
    this.#session = undefined;
    const kind = keyKindOf(frame.securityBlock!.data[0]);
    // A keyed PD never falls back to the install key; an unkeyed one has nothing but the install key.
    const key =
      kind === 'scbk'
        ? this.#scbk
        : kind === 'install' && !this.#scbk && this.#o.installMode
          ? SCBK_DEFAULT
          : undefined;
    if (!key || frame.code !== OsdpCommand.CHLNG || frame.data.length !== 8) {
      this.#failHandshake(`osdp_CHLNG for a key this PD does not use (${kind ?? 'unknown'})`);
      return this.nak(frame.sequence, OsdpNakReason.SECURITY_CONDITIONS);
    }
    const rndA = Buffer.from(frame.data);
    const rndB = newRandom();
    const keys = deriveSessionKeys(key, rndA);
    this.#handshake = { keys, rndA, rndB, kind: kind! };
    // cUID: the first 8 bytes of osdp_PDID (vendor, model, version, serial number).
    const cuid = this.#o.pdid.subarray(0, 8);
    return ccryptFrame(this.#o.address, frame.sequence, kind!, cuid, rndB, clientCryptogram(keys.sEnc, rndA, rndB));
  }

  #onScrypt(frame: OsdpFrame): OsdpFrame {
    const pending = this.#handshake;
    this.#handshake = undefined;
    if (!pending || frame.code !== OsdpCommand.SCRYPT || frame.data.length !== 16) {
      this.#failHandshake('osdp_SCRYPT without a challenge');
      return this.nak(frame.sequence, OsdpNakReason.SECURITY_CONDITIONS);
    }
    const expected = serverCryptogram(pending.keys.sEnc, pending.rndA, pending.rndB);
    if (!sameSecret(expected, frame.data)) {
      this.#failHandshake("the control panel's cryptogram does not verify (wrong key)");
      return rmacIFrame(this.#o.address, frame.sequence, false, Buffer.alloc(16));
    }
    const rmac = initialRmac(pending.keys, expected);
    this.#session = new SecureSession(pending.keys, rmac);
    this.#o.stats.handshakes++;
    this.#o.log.info({ key: pending.kind }, 'secure channel established');
    this.#o.events.handshake(pending.kind);
    return rmacIFrame(this.#o.address, frame.sequence, true, rmac);
  }

  #installKey(data: Buffer): void {
    const key = decodeKeyset(data);
    this.#scbk = key;
    this.#o.log.info('osdp_KEYSET: new secure channel key installed');
    this.#o.events.keyset(Buffer.from(key));
  }

  #failHandshake(reason: string): void {
    this.#o.stats.secureFailures++;
    this.#o.log.warn({ reason }, 'secure channel handshake refused');
    this.#o.events.secureFailure(reason);
  }

  #endSession(reason: string): void {
    this.#session = undefined;
    this.#o.stats.secureFailures++;
    this.#o.log.warn({ reason }, 'secure channel session ended');
    this.#o.events.secureFailure(reason);
  }

  #send(reply: OsdpFrame, remember: boolean): void {
    const bytes = reply.toBuffer();
    if (remember) {
      this.#lastSequence = reply.sequence;
      this.#lastReply = bytes;
    }
    this.#o.write(bytes);
  }
}
