/** Small fakes of the firmware-bridge drivers, with the same event maps, for edge-agent tests. */
import { EventEmitter } from 'node:events';
import type { IdCard, IdCardReaderEvents } from '../../firmware-bridge/idreader/driver.ts';
import type { OsdpControlPanelEvents, TurnstileInput } from '../../firmware-bridge/osdp/control-panel.ts';
import type { QrScannerEvents } from '../../firmware-bridge/qr/driver.ts';
import type { DeviceState, Direction } from '../../shared/enums.ts';

class FakeDevice<T extends Record<keyof T, unknown[]>> extends EventEmitter<T> {
  status: DeviceState = 'absent';
  starts = 0;
  stops = 0;
  async start(): Promise<void> {
    this.starts += 1;
    this.status = 'ok';
  }
  async stop(): Promise<void> {
    this.stops += 1;
    this.status = 'absent';
  }
}

export class FakeQrScanner extends FakeDevice<QrScannerEvents> {
  scan(text: string): void {
    (this as EventEmitter<QrScannerEvents>).emit('scan', text, {
      lastByteAt: process.hrtime.bigint(),
      endedBy: 'cr',
    } as never);
  }
}

export class FakeIdCardReader extends FakeDevice<IdCardReaderEvents> {
  present(card: Partial<IdCard> & { idNumber: string }): void {
    const full = {
      kind: 'resident-id',
      name: '李四',
      sex: 'male',
      nationCode: '01',
      birthDate: '1949-12-31',
      address: '北京市',
      idNumberValid: true,
      authority: '公安局',
      validFrom: '2010-01-01',
      validTo: null,
      photo: Buffer.alloc(0),
      ...card,
    } as IdCard;
    (this as EventEmitter<IdCardReaderEvents>).emit('card', full, { frameEndAt: process.hrtime.bigint() });
  }
}

export class FakeTurnstile extends FakeDevice<OsdpControlPanelEvents> {
  readonly unlocks: Direction[] = [];
  readonly leds: string[] = [];
  readonly beeps: number[] = [];
  async unlock(direction: Direction, _pulseMs: number): Promise<void> {
    this.unlocks.push(direction);
  }
  async led(colour: 'off' | 'red' | 'green' | 'amber' | 'blue', _ms: number): Promise<void> {
    this.leds.push(colour);
  }
  async buzz(count: number): Promise<void> {
    this.beeps.push(count);
  }
  input(name: TurnstileInput, active: boolean): void {
    (this as EventEmitter<OsdpControlPanelEvents>).emit('input', name, active);
  }
  /** A short pulse, as the I/O board reports a person passing. */
  pass(direction: Direction): void {
    const name = direction === 'in' ? 'passed-in' : 'passed-out';
    this.input(name, true);
    this.input(name, false);
  }
  card(facility: number, number: number): void {
    (this as EventEmitter<OsdpControlPanelEvents>).emit('card', {
      format: 'wiegand26',
      bits: 26,
      facility,
      number,
      raw: Buffer.alloc(4),
    });
  }
}
