/** Builds the real firmware-bridge drivers a gate config names, on the OS or the in-process virtual binding. */
import type { BindingInterface } from '@serialport/bindings-interface';
import { IdCardReaderDriver } from '../firmware-bridge/idreader/driver.ts';
import { resolve } from 'node:path';
import { OsdpBus } from '../firmware-bridge/osdp/bus.ts';
import { OsdpControlPanel } from '../firmware-bridge/osdp/control-panel.ts';
import { readScbkFile } from '../firmware-bridge/osdp/key-file.ts';
import { QrScannerDriver } from '../firmware-bridge/qr/driver.ts';
import { VirtualBinding } from '../firmware-bridge/serial/virtual-binding.ts';
import { ConfigError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { EdgeConfig } from './config.ts';
import type { EdgeDevices } from './devices.ts';

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

export function createDevices(config: EdgeConfig, logger: Logger, bindingOverride?: BindingInterface): EdgeDevices {
  const binding = bindingOverride ?? (config.binding === 'virtual' ? VirtualBinding : undefined);
  const common = binding ? { binding } : {};
  const { readers, turnstile } = config.devices;
  const devices: EdgeDevices = { readers: [] };
  for (const reader of readers) {
    const readerLogger = logger.child({ component: `device.${reader.name}` });
    if (reader.kind === 'idreader') {
      const device = new IdCardReaderDriver(
        defined({
          ...common,
          path: reader.path,
          baudRate: reader.baudRate,
          pollIntervalMs: reader.pollIntervalMs,
          cardTypeFlags: reader.cardTypeFlags,
          logger: readerLogger,
        }),
      );
      devices.readers!.push({ kind: 'idreader', name: reader.name, direction: reader.direction, device });
    } else if (reader.kind === 'osdp') {
      // Built below, once the turnstile's line exists.
    } else {
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
          logger: readerLogger,
        }),
      );
      devices.readers!.push({ kind: 'qr', name: reader.name, direction: reader.direction, device });
    }
  }
  if (turnstile) {
    const scbk = turnstile.scbkFile ? turnstileKey(config.dataDir, turnstile.scbkFile) : undefined;
    // One line for the turnstile and every OSDP reader at other addresses on it (docs/devices.md §5.3).
    const bus = new OsdpBus(
      defined({
        ...common,
        path: turnstile.path,
        baudRate: turnstile.baudRate,
        logger: logger.child({ component: 'device.osdp-line' }),
      }),
    );
    for (const reader of readers) {
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
  return devices;
}
