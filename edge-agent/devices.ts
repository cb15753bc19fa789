/**
 * The driver surfaces the edge agent uses, as structural types over the firmware-bridge classes
 * (same event maps), so the core runs against small fakes in tests and the real drivers in production.
 */
import type { IdCardReaderEvents } from '../firmware-bridge/idreader/driver.ts';
import type { OsdpControlPanel, OsdpControlPanelEvents } from '../firmware-bridge/osdp/control-panel.ts';
import type { QrScannerEvents } from '../firmware-bridge/qr/driver.ts';
import type { DeviceState } from '../shared/enums.ts';

/** A typed emitter that is started and stopped, whatever its concrete class. */
export interface DeviceEmitter<T extends { [K in keyof T]: unknown[] }> {
  on<K extends keyof T & string>(event: K, listener: (...args: T[K]) => void): unknown;
  off<K extends keyof T & string>(event: K, listener: (...args: T[K]) => void): unknown;
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly status: DeviceState;
}

export type IdReaderDevice = DeviceEmitter<IdCardReaderEvents>;
export type QrScannerDevice = DeviceEmitter<QrScannerEvents>;
export interface TurnstileDevice
  extends DeviceEmitter<OsdpControlPanelEvents>,
    Pick<OsdpControlPanel, 'unlock' | 'led' | 'buzz'> {}

export interface EdgeDevices {
  idreader?: IdReaderDevice;
  qr?: QrScannerDevice;
  turnstile?: TurnstileDevice;
}
