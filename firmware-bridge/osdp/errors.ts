/** Typed OSDP errors; each has a stable `code` (shared/errors.ts). */
import { AnxinError } from '../../shared/errors.ts';
import { osdpCodeName, osdpNakReasonName } from './codes.ts';

/** What can be read from a frame header even when the frame itself is refused (so a PD can NAK it). */
export interface OsdpFrameHeader {
  address: number;
  isReply: boolean;
  sequence: number;
  /** Present once the whole frame was available. */
  code?: number;
}

export type OsdpFrameProblem = 'start' | 'length' | 'ctrl' | 'integrity' | 'security-block';

/** Bytes that are not one well-formed plain-mode OSDP frame. */
export class OsdpFrameError extends AnxinError {
  readonly problem: OsdpFrameProblem;
  readonly header?: OsdpFrameHeader;

  constructor(problem: OsdpFrameProblem, message: string, header?: OsdpFrameHeader) {
    super('osdp-bad-frame', message, header);
    this.problem = problem;
    this.header = header;
  }
}

/** A payload whose length or content does not fit its command or reply. */
export class OsdpPayloadError extends AnxinError {
  constructor(what: string, message: string) {
    super('osdp-bad-payload', `${what}: ${message}`);
  }
}

/** The PD answered osdp_NAK. */
export class OsdpNakError extends AnxinError {
  readonly reason: number;

  constructor(command: number, reason: number) {
    super('osdp-nak', `PD refused ${osdpCodeName(command, false)} with NAK ${reason} (${osdpNakReasonName(reason)})`, {
      command,
      reason,
    });
    this.reason = reason;
  }
}

/** No valid reply after every retry. */
export class OsdpTimeoutError extends AnxinError {
  constructor(command: number, attempts: number, timeoutMs: number) {
    super('osdp-timeout', `no reply to ${osdpCodeName(command, false)} after ${attempts} attempts of ${timeoutMs} ms`, {
      command,
      attempts,
      timeoutMs,
    });
  }
}

/** A command issued while the control panel is stopped or the PD is not online. */
export class OsdpOfflineError extends AnxinError {
  constructor(command: number, why: string) {
    super('osdp-offline', `cannot send ${osdpCodeName(command, false)}: ${why}`, { command });
  }
}
