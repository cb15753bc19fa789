/**
 * The driver surfaces the edge agent uses, as structural types over the firmware-bridge classes
 * (same event maps), so the core runs against small fakes in tests and the real drivers in production.
 */
import type { IdCardReaderEvents } from '../firmware-bridge/idreader/driver.ts';
import type { OsdpControlPanel, OsdpControlPanelEvents } from '../firmware-bridge/osdp/control-panel.ts';
import type { QrScannerEvents } from '../firmware-bridge/qr/driver.ts';
import type { DeviceState, Direction } from '../shared/enums.ts';

/** A typed emitter that is started and stopped, whatever its concrete class. */
export interface DeviceEmitter<T extends { [K in keyof T]: unknown[] }> {
  on<K extends keyof T & string>(event: K, listener: (...args: T[K]) => void): unknown;
  off<K extends keyof T & string>(event: K, listener: (...args: T[K]) => void): unknown;
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly status: DeviceState;
}

export type IdCardReaderDevice = DeviceEmitter<IdCardReaderEvents>;
export type QrScannerDevice = DeviceEmitter<QrScannerEvents>;
export interface TurnstileDevice
  extends DeviceEmitter<OsdpControlPanelEvents>,
    Pick<OsdpControlPanel, 'unlock' | 'led' | 'buzz'> {}

/** A credential device of the lane (docs/lanes.md) with its name and the direction of who presents at it. */
export type LaneReader =
  | { kind: 'idreader'; name: string; direction: Direction; device: IdCardReaderDevice }
  | { kind: 'qr'; name: string; direction: Direction; device: QrScannerDevice }
  | { kind: 'osdp'; name: string; direction: Direction; device: OsdpReaderDevice };

/** An OSDP card reader PD (its own address on the turnstile's line): cards, keys, status. */
export type OsdpReaderDevice = DeviceEmitter<OsdpControlPanelEvents>;

export interface EdgeDevices {
  /** A single ID-card reader, named `idreader` (its direction from the config's reader of that name). */
  idreader?: IdCardReaderDevice;
  /** A single QR scanner, named `qr`. */
  qr?: QrScannerDevice;
  /** Any number of readers and scanners, each with its name and direction. */
  readers?: LaneReader[];
  turnstile?: TurnstileDevice;
}

/**
 * Every reader of the gate as one list: `readers`, then the single `idreader` and `qr` (tests and
 * the benchmarks hand those in), whose direction is the config's for the reader of that name.
 */
export function laneReaders(devices: EdgeDevices, directionOf: (name: string) => Direction | undefined): LaneReader[] {
  const list = [...(devices.readers ?? [])];
  if (devices.idreader && !list.some((r) => r.name === 'idreader')) {
    list.push({
      kind: 'idreader',
      name: 'idreader',
      direction: directionOf('idreader') ?? 'in',
      device: devices.idreader,
    });
  }
  if (devices.qr && !list.some((r) => r.name === 'qr')) {
    list.push({ kind: 'qr', name: 'qr', direction: directionOf('qr') ?? 'in', device: devices.qr });
  }
  return list;
}
