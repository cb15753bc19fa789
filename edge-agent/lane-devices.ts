/**
 * The lane's devices as the agent runs them: every reader's reads become credentials, every
 * device's faults become alarms and status, and a device that fails to start does not stop the
 * gate (it keeps deciding with the others).
 */
import type { IdCard } from '../firmware-bridge/idreader/driver.ts';
import type { OsdpCard } from '../firmware-bridge/osdp/control-panel.ts';
import type { AlarmKind, DeviceState, Direction } from '../shared/enums.ts';
import type { Logger } from '../shared/log.ts';
import { maskName } from '../shared/masking.ts';
import type { GateStatus } from '../shared/schemas/mqtt.ts';
import type { Credential } from './decision.ts';
import type { DeviceEmitter, IdCardReaderDevice, LaneReader, TurnstileDevice } from './devices.ts';

export interface LaneDevicesOptions {
  readers: LaneReader[];
  turnstile: TurnstileDevice | undefined;
  /** Who presents a card at the turnstile's own reader (config `devices.turnstile.cardDirection`). */
  turnstileCardDirection: Direction;
  present: (credential: Credential, readAt?: bigint) => void;
  raiseAlarm: (kind: AlarmKind, detail: string) => void;
  /** A device's state changed. */
  changed: () => void;
  log: Logger;
}

type Startable = { start(): Promise<void>; stop(): Promise<void> };

/** `facility:number` of a Wiegand-26 read; null for anything else (a misread never matches a card). */
function osdpCardNumber(card: OsdpCard): string | null {
  return card.format === 'wiegand26' && card.facility !== undefined && card.number !== undefined
    ? `${card.facility}:${card.number}`
    : null;
}

export class LaneDevices {
  private readonly cleanups: (() => void)[] = [];

  constructor(private readonly o: LaneDevicesOptions) {}

  /** Listens to every device, then starts them all. */
  async start(): Promise<void> {
    for (const reader of this.o.readers) this.listenToReader(reader);
    const { turnstile } = this.o;
    if (turnstile) {
      const onCard = (card: OsdpCard) =>
        this.o.present({ method: 'card', direction: this.o.turnstileCardDirection, card: osdpCardNumber(card) });
      turnstile.on('card', onCard);
      this.cleanups.push(() => turnstile.off('card', onCard));
      this.watch('turnstile', turnstile);
    }
    await this.startEach();
  }

  async stop(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    await this.stopEach();
  }

  /** The `reboot-devices` command: every device stopped and started again, listeners kept. */
  async restart(): Promise<void> {
    await this.stopEach();
    await this.startEach();
  }

  /** The contract's status has one state per kind: `fault` if any device of that kind is faulty. */
  states(): GateStatus['devices'] {
    const kindState = (kind: LaneReader['kind']): DeviceState => {
      const states = this.o.readers.filter((r) => r.kind === kind).map((r) => r.device.status);
      if (states.length === 0) return 'absent';
      return states.find((state) => state !== 'ok') ?? 'ok';
    };
    return {
      idreader: kindState('idreader'),
      qr: kindState('qr'),
      turnstile: this.o.turnstile?.status ?? 'absent',
    };
  }

  private listenToReader(reader: LaneReader): void {
    const { direction } = reader;
    if (reader.kind === 'idreader') {
      this.listenToIdCardReader(reader.name, reader.device, direction);
    } else if (reader.kind === 'osdp') {
      const osdp = reader.device;
      const onCard = (card: OsdpCard) => this.o.present({ method: 'card', direction, card: osdpCardNumber(card) });
      osdp.on('card', onCard);
      this.cleanups.push(() => osdp.off('card', onCard));
      this.watch(reader.name, osdp);
    } else {
      const qr = reader.device;
      const onScan = (text: string, at: { lastByteAt: bigint }) =>
        this.o.present({ method: 'qr', direction, text }, at.lastByteAt);
      qr.on('scan', onScan);
      this.cleanups.push(() => qr.off('scan', onScan));
      this.watch(reader.name, qr);
    }
  }

  private listenToIdCardReader(name: string, idreader: IdCardReaderDevice, direction: Direction): void {
    const onCard = (card: IdCard, at: { frameEndAt: bigint }) =>
      this.o.present(
        {
          method: 'idcard',
          direction,
          card: {
            idNumber: card.idNumber,
            idNumberValid: card.idNumberValid,
            validTo: card.validTo,
            maskedName: maskName(card.name),
          },
        },
        at.frameEndAt,
      );
    const onRejected = (why: string) => {
      this.o.log.info({ reason: why, device: name }, 'card not supported');
      this.o.present({
        method: 'idcard',
        direction,
        card: { idNumber: '', idNumberValid: false, validTo: null, unsupported: true },
      });
    };
    idreader.on('card', onCard);
    idreader.on('rejected', onRejected);
    this.cleanups.push(() => {
      idreader.off('card', onCard);
      idreader.off('rejected', onRejected);
    });
    this.watch(name, idreader);
  }

  /** Device health: a fault raises an alarm; every change goes into the status. */
  private watch<T extends { status: [DeviceState]; error: [Error] } & { [K in keyof T]: unknown[] }>(
    name: string,
    device: DeviceEmitter<T>,
  ): void {
    const onStatus = (status: DeviceState) => {
      if (status === 'fault') {
        // A driver that knows why (an OSDP PD that cannot be brought up, a failed secure channel) says so.
        const reason = (device as { faultReason?: string }).faultReason;
        this.o.raiseAlarm('device-fault', reason ? `${name}: ${reason}` : `${name} not responding`);
      }
      this.o.changed();
    };
    const onError = (error: Error) => this.o.log.warn({ device: name, err: error.message }, 'device error');
    device.on('status', onStatus as (...args: T['status']) => void);
    device.on('error', onError as (...args: T['error']) => void);
    this.cleanups.push(() => {
      device.off('status', onStatus as (...args: T['status']) => void);
      device.off('error', onError as (...args: T['error']) => void);
    });
  }

  /** Every device with its name: the lane's readers and the turnstile. */
  private named(): [string, Startable][] {
    const list: [string, Startable][] = this.o.readers.map((r) => [r.name, r.device]);
    if (this.o.turnstile) list.push(['turnstile', this.o.turnstile]);
    return list;
  }

  private async startEach(): Promise<void> {
    await Promise.all(
      this.named().map(async ([name, device]) => {
        try {
          await device.start();
        } catch (error) {
          this.o.log.error({ device: name, err: (error as Error).message }, 'device failed to start');
          this.o.raiseAlarm('device-fault', `${name} failed to start: ${(error as Error).message}`);
        }
      }),
    );
  }

  private async stopEach(): Promise<void> {
    await Promise.all(
      this.named().map(async ([name, device]) => {
        try {
          await device.stop();
        } catch (error) {
          this.o.log.warn({ device: name, err: (error as Error).message }, 'device failed to stop');
        }
      }),
    );
  }
}
