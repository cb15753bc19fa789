/**
 * Port options shared by every device driver and simulator in firmware-bridge.
 * The binding is injectable so the same drivers run on a real tty, a socat pty, `MockBinding`
 * in tests, or the in-process `VirtualBinding` in the demo.
 */
import type { BindingInterface } from '@serialport/bindings-interface';
import type { DeviceState } from '../../shared/enums.ts';

export type { BindingInterface, DeviceState };

export interface SerialPortOptions {
  /** The port's path: `/dev/ttyUSB0`, a socat pty link, or a `virtual:<name>:a|b` path. */
  path: string;
  /** Line speed; 8N1 is assumed everywhere (docs/devices.md §1, §3, §5). */
  baudRate: number;
  /** Default: the real OS binding (`autoDetect()` from `@serialport/bindings-cpp`). */
  binding?: BindingInterface;
}

/** 'ok' = open and working, 'fault' = configured but gone or failing, 'absent' = not started. */
export type DeviceStatus = DeviceState;
