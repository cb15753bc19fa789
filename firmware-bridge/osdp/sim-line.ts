/**
 * One serial port shared by simulated PDs at different addresses (several PDs on one RS-485 line,
 * docs/devices.md §5.3): it parses every frame once and hands it to the PD it is addressed to.
 */
import { EventEmitter } from 'node:events';
import { type Logger, silentLogger } from '../../shared/log.ts';
import { ManagedSerialPort } from '../serial/managed-port.ts';
import type { DeviceStatus, SerialPortOptions } from '../serial/port-options.ts';
import { systemTimers, type Timers } from '../serial/timers.ts';
import { OSDP_BROADCAST, type OsdpFrame } from './frame.ts';
import { type OsdpDrop, OsdpParser } from './parser.ts';

/** A simulated PD as the line sees it: an address, and what to do with its frames. */
export interface SimulatedPd {
  readonly address: number;
  handleFrame(frame: OsdpFrame, atHr: bigint): void;
  handleDrop(drop: OsdpDrop): void;
}

export class OsdpSimulatorLine extends EventEmitter<{ status: [status: DeviceStatus] }> {
  readonly path: string;
  readonly #options: SerialPortOptions & { logger?: Logger; timers?: Timers };
  readonly #pds = new Map<number, SimulatedPd>();
  #port: ManagedSerialPort | undefined;
  #parser: OsdpParser | undefined;
  #users = 0;
  #starting: Promise<void> | undefined;

  constructor(options: SerialPortOptions & { logger?: Logger; timers?: Timers }) {
    super();
    this.path = options.path;
    this.#options = options;
  }

  get status(): DeviceStatus {
    return this.#port ? this.#port.status : 'absent';
  }

  /** Called by a PD's start(); the first one opens the port. */
  async attach(pd: SimulatedPd): Promise<void> {
    if (this.#pds.has(pd.address) && this.#pds.get(pd.address) !== pd) {
      throw new TypeError(`address ${pd.address} is taken on ${this.path}`);
    }
    this.#pds.set(pd.address, pd);
    this.#users++;
    if (this.#users === 1) {
      const timers = this.#options.timers ?? systemTimers;
      const log = (this.#options.logger ?? silentLogger).child({ component: 'osdp.sim', path: this.path });
      this.#parser = new OsdpParser({ timers, onDrop: (drop) => this.#onDrop(drop) });
      this.#parser.on('data', (frame: OsdpFrame) => this.#onFrame(frame, process.hrtime.bigint()));
      this.#port = new ManagedSerialPort({
        path: this.#options.path,
        baudRate: this.#options.baudRate,
        binding: this.#options.binding,
        parser: this.#parser,
        logger: this.#options.logger,
        timers,
      });
      this.#port.on('status', (status) => this.emit('status', status));
      // ManagedSerialPort already logs port errors; listening keeps them from being thrown.
      this.#port.on('error', (err) => log.debug({ err: err.message }, 'simulator serial error'));
      this.#starting = this.#port.start();
    }
    await this.#starting;
  }

  async detach(pd: SimulatedPd): Promise<void> {
    if (this.#pds.get(pd.address) !== pd) return;
    this.#pds.delete(pd.address);
    this.#users--;
    if (this.#users > 0) return;
    await this.#port?.stop();
    this.#parser?.destroy();
    this.#port = undefined;
    this.#parser = undefined;
  }

  write(bytes: Buffer): Promise<void> {
    return this.#port ? this.#port.write(bytes) : Promise.resolve();
  }

  #onFrame(frame: OsdpFrame, atHr: bigint): void {
    if (frame.isReply) return;
    if (frame.address === OSDP_BROADCAST) for (const pd of this.#pds.values()) pd.handleFrame(frame, atHr);
    else this.#pds.get(frame.address)?.handleFrame(frame, atHr);
  }

  #onDrop(drop: OsdpDrop): void {
    const address = drop.header?.address;
    if (address === undefined) return;
    this.#pds.get(address)?.handleDrop(drop);
  }
}
