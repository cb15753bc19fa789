/**
 * Keeping one OSDP peripheral (PD) online, for the control panel (docs/devices.md §5): one loop per
 * PD brings it up (osdp_ID, osdp_CAP, the secure-channel handshake when a key is configured,
 * osdp_ISTAT; sequence 0), then sends queued commands first and osdp_POLL when idle, every
 * `pollIntervalMs`. Every send is one exchange on an `OsdpBus`: its own (given `path`) or one shared
 * with the other PDs on the same RS-485 line (given `bus`). A queued command wakes the loop and its
 * exchange goes before routine ones, so a command waits at most for the exchange already on the
 * wire, never for the next poll tick nor a dead neighbour's retries.
 *
 * After every retry of a command fails the PD is offline: status 'fault' (`faultReason` says why),
 * and the loop asks for its ID again with backoff until it answers. Frames, retries and the secure
 * channel are pd-exchange.ts; what the replies mean is control-panel.ts's (`hooks.onReport`).
 */
import type { Logger } from '../../shared/log.ts';
import { PortNotOpenError, ReplyCancelledError } from '../serial/errors.ts';
import type { DeviceStatus } from '../serial/port-options.ts';
import type { Timers } from '../serial/timers.ts';
import type { OsdpBus } from './bus.ts';
import { OsdpCommand, OsdpNakReason, OsdpReply, osdpCodeName } from './codes.ts';
import { encodeCapRequest, encodeIdRequest } from './commands.ts';
import { OsdpNakError, OsdpOfflineError, OsdpPayloadError } from './errors.ts';
import type { OsdpFrame } from './frame.ts';
import {
  describeFault,
  expectReply,
  isSecurityNak,
  OsdpExchange,
  type OsdpExchangeOptions,
  type OsdpLinkStats,
} from './pd-exchange.ts';
import { decodePdCap, decodePdId, type PdCapability, type PdIdentity } from './replies.ts';
import { OsdpSecureChannelError } from './secure-channel.ts';

/** How soon an offline PD is first asked for its ID again; doubles per failed bring-up. */
const OSDP_OFFLINE_RETRY_MS = 500;
/** Ceiling of that backoff: a PD that cannot be brought up is still tried this often. */
const OSDP_OFFLINE_RETRY_MAX_MS = 8_000;

export interface OsdpPdLinkOptions
  extends Pick<OsdpExchangeOptions, 'address' | 'replyTimeoutMs' | 'maxAttempts' | 'scbk' | 'installMode'> {
  bus: OsdpBus;
  /** Whether this link opened the bus itself (then its errors are this link's to report). */
  ownBus: boolean;
  pollIntervalMs: number;
  stats: OsdpLinkStats;
  log: Logger;
  timers: Timers;
  hooks: {
    /** Every reply the PD sends, opened; `online` is false while it is being brought up. */
    onReport(reply: OsdpFrame, online: boolean): void;
    /** A bring-up begins (what was reported during an earlier one is void). */
    onBringUp(): void;
    /** The PD is online; called after the status 'ok'. */
    onOnline(): void;
    onStatus(status: DeviceStatus): void;
    onError(err: Error): void;
  };
}

interface QueuedCommand {
  code: number;
  data: Buffer;
  resolve: (reply: OsdpFrame) => void;
  reject: (err: Error) => void;
}

export class OsdpPdLink {
  readonly address: number;
  readonly #o: OsdpPdLinkOptions;
  readonly #exchange: OsdpExchange;
  readonly #log: Logger;
  readonly #onBusOpen = () => this.#kick();
  readonly #onBusClose = () => this.#onPortLost();
  readonly #onBusStatus = (status: 'ok' | 'fault') => {
    if (status === 'fault') this.#setFault(`serial port ${this.#o.bus.path} unavailable`);
  };
  readonly #onBusError = (err: Error) => this.#o.hooks.onError(err);
  readonly #onUnexpected = (frame: OsdpFrame) => {
    if (frame.address === this.address) this.#o.stats.unexpectedReplies++;
  };

  #running = false;
  #online = false;
  #status: DeviceStatus = 'absent';
  #queue: QueuedCommand[] = [];
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #identity: PdIdentity | undefined;
  #capabilities: PdCapability[] = [];
  #offlineRetryMs = OSDP_OFFLINE_RETRY_MS;
  #faultReason: string | undefined;
  /** Who waits for the next bring-up to succeed (resolve) or fail (reject): `setKey`. */
  #bringUpWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(options: OsdpPdLinkOptions) {
    this.address = options.address;
    this.#o = options;
    this.#log = options.log;
    this.#exchange = new OsdpExchange({
      ...options,
      idle: (ms) => this.#idle(ms),
      onReply: (reply) => options.hooks.onReport(reply, this.#online),
    });
  }

  get status(): DeviceStatus {
    return this.#status;
  }

  get faultReason(): string | undefined {
    return this.#status === 'fault' ? this.#faultReason : undefined;
  }

  get secure(): boolean {
    return this.#exchange.secure;
  }

  get identity(): PdIdentity | undefined {
    return this.#identity;
  }

  get capabilities(): readonly PdCapability[] {
    return this.#capabilities;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    const bus = this.#o.bus;
    this.#running = true;
    this.#online = false;
    this.#offlineRetryMs = OSDP_OFFLINE_RETRY_MS;
    bus.on('open', this.#onBusOpen);
    bus.on('close', this.#onBusClose);
    bus.on('status', this.#onBusStatus);
    bus.on('unexpected', this.#onUnexpected);
    if (this.#o.ownBus) bus.on('error', this.#onBusError);
    this.#loop = this.#runLoop();
    await bus.acquire();
    if (bus.status === 'fault') this.#setFault(`serial port ${bus.path} unavailable`);
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    const bus = this.#o.bus;
    this.#running = false;
    this.#online = false;
    this.#exchange.reset();
    bus.cancel(this.address, new OsdpOfflineError(OsdpCommand.POLL, 'control panel stopped'));
    for (const queued of this.#queue.splice(0))
      queued.reject(new OsdpOfflineError(queued.code, 'control panel stopped'));
    this.#kick();
    await this.#loop;
    bus.off('open', this.#onBusOpen);
    bus.off('close', this.#onBusClose);
    bus.off('status', this.#onBusStatus);
    bus.off('unexpected', this.#onUnexpected);
    bus.off('error', this.#onBusError);
    await bus.release();
    this.#status = 'absent';
  }

  /** Queues a command ahead of the polls; resolves with its reply (NAKs and timeouts reject). */
  send(code: number, data: Buffer): Promise<OsdpFrame> {
    if (!this.#running) return Promise.reject(new OsdpOfflineError(code, 'control panel not started'));
    if (!this.#online) return Promise.reject(new OsdpOfflineError(code, `PD ${this.address} is offline`));
    return new Promise<OsdpFrame>((resolve, reject) => {
      this.#queue.push({ code, data, resolve, reject });
      this.#kick();
    });
  }

  /** Resolves once the next bring-up succeeds, rejects if it fails; register before causing it. */
  nextBringUp(): { proven: Promise<void>; cancel(): void } {
    let waiter: { resolve: () => void; reject: (err: Error) => void } | undefined;
    const proven = new Promise<void>((resolve, reject) => {
      waiter = { resolve, reject };
      this.#bringUpWaiters.push(waiter);
    });
    proven.catch(() => {});
    return { proven, cancel: () => (this.#bringUpWaiters = this.#bringUpWaiters.filter((w) => w !== waiter)) };
  }

  /** Ends the loop's idle wait early (a command was queued, the port opened, or we are stopping). */
  #kick(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #idle(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.#o.timers.setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        this.#o.timers.clearTimeout(timer);
        resolve();
      };
    });
  }

  async #runLoop(): Promise<void> {
    while (this.#running) {
      try {
        if (!this.#o.bus.isOpen) {
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
        this.#o.stats.polls++;
        await this.#exchange.transact(OsdpCommand.POLL, Buffer.alloc(0), false);
        if (this.#queue.length === 0 && this.#running) await this.#idle(this.#o.pollIntervalMs);
      } catch (err) {
        await this.#onLoopError(err as Error);
      }
    }
  }

  async #runQueued(queued: QueuedCommand): Promise<void> {
    try {
      const reply = await this.#exchange.transact(queued.code, queued.data, true);
      if (queued.code === OsdpCommand.KEYSET && reply.code === OsdpReply.ACK) {
        // The PD holds the new key from now on: the next session must use it. Start over at once,
        // before anything else goes out under the old session.
        this.#exchange.rekey(Buffer.from(queued.data.subarray(2)));
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
   * capabilities known, or with its inputs learnt from its first report instead.
   */
  async #bringOnline(): Promise<void> {
    this.#exchange.reset();
    this.#o.hooks.onBringUp();
    const id = await this.#exchange.transact(OsdpCommand.ID, encodeIdRequest(), false);
    expectReply(id, [OsdpReply.PDID], 'osdp_ID');
    this.#identity = decodePdId(id.data);
    const cap = await this.#optional(OsdpCommand.CAP, encodeCapRequest());
    if (cap) {
      expectReply(cap, [OsdpReply.PDCAP], 'osdp_CAP');
      this.#capabilities = decodePdCap(cap.data);
    } else {
      this.#capabilities = [];
    }
    if (this.#exchange.keyed) await this.#exchange.handshake();
    const istat = await this.#optional(OsdpCommand.ISTAT, Buffer.alloc(0));
    if (istat) expectReply(istat, [OsdpReply.ISTATR], 'osdp_ISTAT');
    this.#online = true;
    this.#offlineRetryMs = OSDP_OFFLINE_RETRY_MS;
    this.#log.info(
      {
        serialNumber: this.#identity.serialNumber,
        capabilities: this.#capabilities.length,
        inputsKnown: !!istat,
        secure: this.#exchange.secure,
      },
      'OSDP PD online',
    );
    this.#setStatus('ok');
    for (const waiter of this.#bringUpWaiters.splice(0)) waiter.resolve();
    this.#o.hooks.onOnline();
  }

  /** An optional command: a NAK "unknown command" means "not supported here" and yields undefined instead of failing bring-up. */
  async #optional(code: number, data: Buffer): Promise<OsdpFrame | undefined> {
    try {
      return await this.#exchange.transact(code, data, false);
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
      this.#o.hooks.onError(err);
      await this.#idle(this.#o.pollIntervalMs);
      return;
    }
    if (err instanceof OsdpSecureChannelError) this.#o.stats.secureFailures++;
    const portGone = err instanceof PortNotOpenError || err instanceof ReplyCancelledError;
    const reason = portGone ? `serial port ${this.#o.bus.path} unavailable` : describeFault(err);
    if (this.#online || this.#status !== 'fault' || this.#faultReason !== reason) {
      // The first failure of a streak: say why; the retries that follow only repeat it.
      this.#log.warn({ err: err.message }, this.#online ? 'OSDP PD offline' : 'OSDP PD cannot be brought online');
      if (!portGone) this.#o.hooks.onError(err);
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
    this.#exchange.reset();
    for (const queued of this.#queue.splice(0)) {
      queued.reject(new OsdpOfflineError(queued.code, why));
    }
  }

  #onPortLost(): void {
    this.#goOffline(`PD ${this.address} went offline`);
    this.#setFault(`serial port ${this.#o.bus.path} lost`);
  }

  #setFault(reason: string): void {
    this.#faultReason = reason;
    this.#setStatus('fault');
  }

  #setStatus(status: DeviceStatus): void {
    if (this.#status === status || !this.#running) return;
    this.#status = status;
    this.#o.hooks.onStatus(status);
  }
}
