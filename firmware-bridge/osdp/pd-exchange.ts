/**
 * The OSDP link to one PD, frame by frame (docs/devices.md §5.2, §8): one command out, its reply
 * back, on an `OsdpBus`. Sequence numbers (0 once after a (re)start, then 1, 2, 3, 1 …); a timed-out
 * command re-sent byte for byte with the same sequence number (and, in a secure session, the same
 * MAC), so the PD repeats its last reply instead of acting twice; NAK "sequence" starts over at 0
 * once; osdp_BUSY asked again. With a key the PD is only ever driven through the secure channel:
 * the handshake (SCS_11–14), every command sealed, every reply's MAC checked — a plaintext or badly
 * MACed reply ends the session, never a downgrade.
 *
 * What the commands and replies mean (a turnstile's contacts, a card read) is not this file's
 * business: control-panel.ts. When to bring the PD up, poll it or give up on it: pd-link.ts.
 */
import type { Logger } from '../../shared/log.ts';
import { ReplyTimeoutError } from '../serial/errors.ts';
import type { OsdpBus } from './bus.ts';
import { OsdpCommand, OsdpNakReason, OsdpReply, osdpCodeName } from './codes.ts';
import { OsdpNakError, OsdpPayloadError, OsdpTimeoutError } from './errors.ts';
import { nextOsdpSequence, OsdpFrame, type OsdpSequence } from './frame.ts';
import { decodeNak } from './replies.ts';
import {
  chlngFrame,
  clientCryptogram,
  decodeCcrypt,
  deriveSessionKeys,
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

/** A PD that answered osdp_BUSY is asked again after this. */
const OSDP_BUSY_RETRY_MS = 20;

/** What the link to a PD counts (part of the control panel's `stats`). */
export interface OsdpLinkStats {
  commands: number;
  polls: number;
  retries: number;
  timeouts: number;
  naks: number;
  sequenceResets: number;
  /** Replies with another address or sequence number than the command on the wire (on its own bus). */
  unexpectedReplies: number;
  /** Secure-channel handshakes completed, and sessions ended by a failure (MAC, plaintext, cryptogram). */
  handshakes: number;
  secureFailures: number;
}

export interface OsdpExchangeOptions {
  bus: OsdpBus;
  address: number;
  replyTimeoutMs: number;
  /** Sends per command before it fails with `OsdpTimeoutError`. */
  maxAttempts: number;
  /** The PD's secure channel base key (checked); without it, plain mode. */
  scbk: Buffer | undefined;
  /** Handshake with the install key SCBK-D instead (pairing a factory-fresh PD). */
  installMode: boolean;
  stats: OsdpLinkStats;
  log: Logger;
  /** A pause the owner may end early (it is stopping): the BUSY wait. */
  idle(ms: number): Promise<void>;
  /** Every reply that reaches the application (opened, not a NAK): what the PD reports. */
  onReply(reply: OsdpFrame): void;
}

/** NAK 5 (no secure channel) and 6 (security conditions not met): the PD will not talk to us this way. */
export function isSecurityNak(err: Error): boolean {
  return (
    err instanceof OsdpNakError &&
    (err.reason === OsdpNakReason.SECURE_CHANNEL_UNSUPPORTED || err.reason === OsdpNakReason.SECURITY_CONDITIONS)
  );
}

/** One line for an operator: what failed, without frame bytes (a secure-channel frame's bytes are not for logs). */
export function describeFault(err: Error): string {
  if (err instanceof OsdpTimeoutError) return `PD not answering: ${err.message}`;
  if (err instanceof OsdpSecureChannelError) return `secure channel failed: ${err.message}`;
  if (isSecurityNak(err)) {
    return `PD refused for security: ${err.message} (it needs the secure channel, or does not offer it)`;
  }
  if (err instanceof OsdpNakError) return `PD refused bring-up: ${err.message}`;
  if (err instanceof OsdpPayloadError) return `PD answered nonsense during bring-up: ${err.message}`;
  return err.message;
}

/** Throws `OsdpPayloadError` unless `reply` is one of `codes`. */
export function expectReply(reply: OsdpFrame, codes: readonly number[], what: string): void {
  if (!codes.includes(reply.code)) {
    throw new OsdpPayloadError(what, `unexpected reply ${osdpCodeName(reply.code, true)}`);
  }
}

export class OsdpExchange {
  readonly #o: OsdpExchangeOptions;
  #scbk: Buffer | undefined;
  #installMode: boolean;
  #session: SecureSession | undefined;
  #sequence: OsdpSequence = 0;

  constructor(options: OsdpExchangeOptions) {
    this.#o = options;
    this.#scbk = options.scbk;
    this.#installMode = options.installMode;
  }

  /** Whether commands currently travel in a secure-channel session. */
  get secure(): boolean {
    return this.#session !== undefined;
  }

  /** Whether bring-up must handshake (a key, or the install key). */
  get keyed(): boolean {
    return this.#scbk !== undefined || this.#installMode;
  }

  /** The PD is gone or starts over: sequence 0, no session. */
  reset(): void {
    this.#sequence = 0;
    this.#session = undefined;
  }

  /** The PD holds `scbk` from now on (its osdp_KEYSET was ACKed): the next session uses it. */
  rekey(scbk: Buffer): void {
    this.#scbk = scbk;
    this.#installMode = false;
  }

  /**
   * Sends one command and returns its (opened) reply, handling retries, NAK and BUSY (docs/devices.md
   * §5.2). `build` makes the bytes for a given sequence number (the handshake's own frames);
   * otherwise the command is sealed in the session when there is one, plain when there is none.
   */
  async transact(
    code: number,
    data: Buffer,
    urgent: boolean,
    build?: (sequence: OsdpSequence) => Buffer,
  ): Promise<OsdpFrame> {
    const { stats, log } = this.#o;
    const frameBytes = (sequence: OsdpSequence) => (build ? build(sequence) : this.#frameBytes(code, data, sequence));
    let sequence = this.#sequence;
    let bytes = frameBytes(sequence);
    let sequenceResetDone = false;
    if (code !== OsdpCommand.POLL) stats.commands++;
    for (let attempt = 1; ; attempt++) {
      const raw = await this.#exchange(code, bytes, sequence, urgent, attempt);
      if (!raw) continue;
      const reply = this.#open(raw, code);
      if (reply.code === OsdpReply.BUSY && attempt < this.#o.maxAttempts) {
        stats.retries++;
        await this.#o.idle(OSDP_BUSY_RETRY_MS);
        continue;
      }
      this.#sequence = nextOsdpSequence(sequence);
      if (reply.code === OsdpReply.NAK) {
        stats.naks++;
        const { reason } = decodeNak(reply.data);
        if (reason === OsdpNakReason.SEQUENCE && !sequenceResetDone && !this.#session && !build) {
          // The PD lost track (it restarted, or missed our sequence): start over from 0.
          sequenceResetDone = true;
          stats.sequenceResets++;
          log.info({ command: osdpCodeName(code, false) }, 'OSDP NAK sequence; resetting to 0');
          sequence = 0;
          bytes = frameBytes(sequence);
          continue;
        }
        if (reason === OsdpNakReason.CHECK_CHARACTER && attempt < this.#o.maxAttempts) {
          // Our frame arrived damaged; the PD did nothing with it, so send it again as a new message.
          stats.retries++;
          sequence = this.#sequence;
          bytes = frameBytes(sequence);
          continue;
        }
        throw new OsdpNakError(code, reason);
      }
      this.#o.onReply(reply);
      return reply;
    }
  }

  /** One send of `bytes` and its reply; undefined when the reply timed out and another try is due. */
  async #exchange(
    code: number,
    bytes: Buffer,
    sequence: OsdpSequence,
    urgent: boolean,
    attempt: number,
  ): Promise<OsdpFrame | undefined> {
    try {
      return await this.#o.bus.exchange({
        address: this.#o.address,
        bytes,
        matches: (frame) => frame.sequence === sequence,
        timeoutMs: this.#o.replyTimeoutMs,
        urgent,
        what: `OSDP reply to ${osdpCodeName(code, false)}`,
      });
    } catch (err) {
      if (!(err instanceof ReplyTimeoutError)) throw err;
      if (attempt >= this.#o.maxAttempts) {
        this.#o.stats.timeouts++;
        throw new OsdpTimeoutError(code, attempt, this.#o.replyTimeoutMs);
      }
      // Same bytes, same sequence number: "send your last reply again" if the PD did get it.
      this.#o.stats.retries++;
      this.#o.log.debug({ command: osdpCodeName(code, false), sequence, attempt }, 'OSDP reply timeout; retrying');
      return undefined;
    }
  }

  /**
   * SCS_11–14: osdp_CHLNG with a fresh RND.A → osdp_CCRYPT, whose client cryptogram proves the PD
   * holds the key → osdp_SCRYPT with ours → osdp_RMAC_I, the first link of the MAC chain.
   */
  async handshake(): Promise<void> {
    const address = this.#o.address;
    const kind: ScKeyKind = this.#installMode ? 'install' : 'scbk';
    const scbk = this.#installMode ? SCBK_DEFAULT : this.#scbk!;
    const rndA = newRandom();
    const ccryptFrame = await this.transact(OsdpCommand.CHLNG, rndA, false, (sequence) =>
      chlngFrame(address, sequence, kind, rndA).toBuffer(),
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
        `PD ${address} does not hold the configured ${kind === 'install' ? 'install key (SCBK-D)' : 'key'}: its cryptogram does not verify`,
      );
    }
    const server = serverCryptogram(keys.sEnc, rndA, ccrypt.rndB);
    const rmacFrame = await this.transact(OsdpCommand.SCRYPT, server, false, (sequence) =>
      scryptFrame(address, sequence, kind, server).toBuffer(),
    );
    if (
      rmacFrame.code !== ScReply.RMAC_I ||
      rmacFrame.securityBlock?.type !== Scs.RMAC_I ||
      rmacFrame.securityBlock.data[0] !== RMAC_I_ACCEPTED ||
      rmacFrame.data.length !== 16
    ) {
      throw new OsdpSecureChannelError('cryptogram', `PD ${address} refused our cryptogram (osdp_RMAC_I)`);
    }
    const rmac = initialRmac(keys, server);
    if (!sameSecret(rmac, rmacFrame.data)) {
      throw new OsdpSecureChannelError('rmac', `PD ${address}'s initial R-MAC does not verify`);
    }
    this.#session = new SecureSession(keys, rmac);
    this.#o.stats.handshakes++;
  }

  /**
   * A reply as the application sees it: in a session, its MAC checked and its data decrypted; any
   * reply without the session's MAC then ends the session (no silent downgrade), a plain NAK
   * included (the PD dropped the session: it restarted, or our MAC failed on its side).
   */
  #open(raw: OsdpFrame, code: number): OsdpFrame {
    const address = this.#o.address;
    const session = this.#session;
    if (session) {
      if (!raw.securityBlock && raw.code === OsdpReply.NAK) {
        const { reason } = decodeNak(raw.data);
        throw new OsdpSecureChannelError(
          'plaintext',
          `PD ${address} left the secure channel: plain NAK ${reason} to ${osdpCodeName(code, false)}`,
        );
      }
      try {
        return session.openReply(raw);
      } catch (err) {
        if (err instanceof OsdpSecureChannelError) {
          throw new OsdpSecureChannelError(err.problem, `secure channel with PD ${address}: ${err.message}`);
        }
        throw err;
      }
    }
    if (raw.securityBlock && raw.securityBlock.type !== Scs.CCRYPT && raw.securityBlock.type !== Scs.RMAC_I) {
      throw new OsdpSecureChannelError(
        'protocol',
        `PD ${address} sent a secure-channel reply (SCS_${raw.securityBlock.type.toString(16)}) outside a session`,
      );
    }
    return raw;
  }

  #frameBytes(code: number, data: Buffer, sequence: OsdpSequence): Buffer {
    const address = this.#o.address;
    if (this.#session) return this.#session.sealCommand({ address, sequence, code, data });
    if (this.#scbk && code !== OsdpCommand.ID && code !== OsdpCommand.CAP) {
      // Never in plaintext to a keyed PD: only discovery goes out before the handshake.
      throw new OsdpSecureChannelError(
        'plaintext',
        `refusing to send ${osdpCodeName(code, false)} without a secure session`,
      );
    }
    return new OsdpFrame({ address, sequence, code, data }).toBuffer();
  }
}
