/** Typed errors of the serial plumbing (stable `code`s). */
import { AnxinError } from '../../shared/errors.ts';

/** A write was attempted while the port is closed (not started, stopped, or the device vanished). */
export class PortNotOpenError extends AnxinError {
  constructor(path: string, cause?: unknown) {
    super('port-not-open', `serial port ${path} is not open`, cause === undefined ? undefined : { cause });
  }
}

/** The path of an open port no longer names the device node it opened: unplugged, or replugged as another. */
export class DeviceNodeGoneError extends AnxinError {
  constructor(path: string, how: 'vanished' | 'replaced') {
    super('device-node-gone', `the device node behind ${path} ${how}`);
  }
}

/** No reply matching a request arrived in time. `what` names what was awaited. */
export class ReplyTimeoutError extends AnxinError {
  readonly what: string;
  readonly timeoutMs: number;

  constructor(what: string, timeoutMs: number) {
    super('reply-timeout', `no ${what} within ${timeoutMs} ms`);
    this.what = what;
    this.timeoutMs = timeoutMs;
  }
}

/** Pending waits were cancelled because the line closed or the component stopped. */
export class ReplyCancelledError extends AnxinError {
  constructor(reason: string) {
    super('reply-cancelled', `waiting for a reply was cancelled: ${reason}`);
  }
}
