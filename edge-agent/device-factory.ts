/** Builds the real firmware-bridge drivers a gate config names, on the OS or the in-process virtual binding. */
import type { BindingInterface } from '@serialport/bindings-interface';
import { IdCardReaderDriver } from '../firmware-bridge/idreader/driver.ts';
import { resolve } from 'node:path';
import { OsdpBus } from '../firmware-bridge/osdp/bus.ts';
import { OsdpControlPanel } from '../firmware-bridge/osdp/control-panel.ts';
import { readScbkFile } from '../firmware-bridge/osdp/key-file.ts';
import { QrScannerDriver } from '../firmware-bridge/qr/driver.ts';
import { VirtualBinding } from '../firmware-bridge/testing/virtual-binding.ts';
import { ConfigError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { EdgeConfig } from './config.ts';
import type { EdgeDevices, LaneReader } from './devices.ts';

/** The turnstile's key: a bad key file stops the gate with a config error rather than running it in plaintext. */
function turnstileKey(dataDir: string, file: string, reader?: string): Buffer {
  try {
    return readScbkFile(resolve(dataDir, file));
  } catch (err) {
    const where = reader ? `devices.readers (${reader}).scbkFile` : 'devices.turnstile.scbkFile';
    throw new ConfigError([`${where}: ${(err as Error).message}`]);
  }
}

/** Drops undefined members so optional driver options keep their own defaults. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

type Common = { binding?: BindingInterface };
type ReaderConfig = EdgeConfig['devices']['readers'][number];

export function createDevices(config: EdgeConfig, logger: Logger, bindingOverride?: BindingInterface): EdgeDevices {
  const binding = bindingOverride ?? (config.binding === 'virtual' ? VirtualBinding : undefined);
  const common: Common = binding ? { binding } : {};
  const devices: EdgeDevices = { readers: [] };
  for (const reader of config.devices.readers) {
    // OSDP readers are built with the turnstile's line, below.
    const serial = serialReader(reader, common, logger.child({ component: `device.${reader.name}` }));
    if (serial) devices.readers!.push(serial);
  }
  if (config.devices.turnstile) osdpLine(config, common, logger, devices);
  return devices;
}

/** An ID-card reader or a QR scanner on its own serial port; undefined for an OSDP reader. */
function serialReader(reader: ReaderConfig, common: Common, logger: Logger): LaneReader | undefined {
  if (reader.kind === 'idreader') {
    const device = new IdCardReaderDriver(
      defined({
        ...common,
        path: reader.path,
        baudRate: reader.baudRate,
        pollIntervalMs: reader.pollIntervalMs,
        cardTypeFlags: reader.cardTypeFlags,
        logger,
      }),
    );
    return { kind: 'idreader', name: reader.name, direction: reader.direction, device };
  }
  if (reader.kind === 'osdp') return undefined;
  const device = new QrScannerDriver(
    defined({
      ...common,
      path: reader.path,
      baudRate: reader.baudRate,
      terminator: reader.terminator,
      interByteTimeoutMs: reader.interByteTimeoutMs,
      maxLength: reader.maxLength,
      stripAim: reader.stripAim,
      trigger: reader.trigger,
      retriggerMs: reader.retriggerMs,
      logger,
    }),
  );
  return { kind: 'qr', name: reader.name, direction: reader.direction, device };
}

/** One line for the turnstile and every OSDP reader at other addresses on it (docs/devices.md §5.3). */
function osdpLine(config: EdgeConfig, common: Common, logger: Logger, devices: EdgeDevices): void {
  const turnstile = config.devices.turnstile!;
  const scbk = turnstile.scbkFile ? turnstileKey(config.dataDir, turnstile.scbkFile) : undefined;
  const bus = new OsdpBus(
    defined({
      ...common,
      path: turnstile.path,
      baudRate: turnstile.baudRate,
      logger: logger.child({ component: 'device.osdp-line' }),
    }),
  );
  for (const reader of config.devices.readers) {
    if (reader.kind !== 'osdp') continue;
    const key = reader.scbkFile ? turnstileKey(config.dataDir, reader.scbkFile, reader.name) : undefined;
    const device = new OsdpControlPanel(
      defined({
        bus,
        address: reader.address,
        pollIntervalMs: reader.pollIntervalMs,
        replyTimeoutMs: reader.replyTimeoutMs,
        scbk: key,
        // A reader has no turnstile contacts: no inputs to map.
        inputMap: {},
        logger: logger.child({ component: `device.${reader.name}` }),
      }),
    );
    devices.readers!.push({ kind: 'osdp', name: reader.name, direction: reader.direction, device });
  }
  const inputMap = turnstile.inputMap
    ? Object.fromEntries(Object.entries(turnstile.inputMap).map(([k, v]) => [Number(k), v]))
    : undefined;
  devices.turnstile = new OsdpControlPanel(
    defined({
      bus,
      address: turnstile.address,
      pollIntervalMs: turnstile.pollIntervalMs,
      replyTimeoutMs: turnstile.replyTimeoutMs,
      inputMap,
      outputMap: turnstile.outputMap,
      scbk,
      logger: logger.child({ component: 'device.turnstile' }),
    }),
  );
}
