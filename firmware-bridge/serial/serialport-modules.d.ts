/**
 * Types for two serialport packages whose `exports` maps point ESM imports at `.mjs` files without
 * typings (TS7016 under NodeNext): `import type { BindingInterface } from '@serialport/bindings-interface'`
 * and `import { MockBinding } from '@serialport/binding-mock'` type-check thanks to these copies of
 * their published declarations. Keep them in step with the installed versions.
 */
declare module '@serialport/bindings-interface' {
  // Copied from node_modules/@serialport/bindings-interface/dist/index.d.ts (1.2.2), doc comments removed.
  export interface BindingInterface<
    T extends BindingPortInterface = BindingPortInterface,
    R extends OpenOptions = OpenOptions,
    P extends PortInfo = PortInfo,
  > {
    list(): Promise<P[]>;
    open(options: R): Promise<T>;
  }

  export interface BindingPortInterface {
    readonly openOptions: Required<OpenOptions>;
    isOpen: boolean;
    close(): Promise<void>;
    read(
      buffer: Buffer,
      offset: number,
      length: number,
    ): Promise<{
      buffer: Buffer;
      bytesRead: number;
    }>;
    write(buffer: Buffer): Promise<void>;
    update(options: UpdateOptions): Promise<void>;
    set(options: SetOptions): Promise<void>;
    get(): Promise<PortStatus>;
    getBaudRate(): Promise<{
      baudRate: number;
    }>;
    flush(): Promise<void>;
    drain(): Promise<void>;
  }

  export interface BindingsErrorInterface extends Error {
    canceled?: boolean;
  }

  export interface OpenOptions {
    path: string;
    baudRate: number;
    dataBits?: 5 | 6 | 7 | 8;
    lock?: boolean;
    stopBits?: 1 | 1.5 | 2;
    parity?: string;
    rtscts?: boolean;
    xon?: boolean;
    xoff?: boolean;
    xany?: boolean;
    hupcl?: boolean;
  }

  export type OpenOptionsFromBinding<Binding> = Binding extends BindingInterface<infer _Port, infer T> ? T : never;

  export interface PortInfo {
    path: string;
    manufacturer: string | undefined;
    serialNumber: string | undefined;
    pnpId: string | undefined;
    locationId: string | undefined;
    productId: string | undefined;
    vendorId: string | undefined;
  }

  export type PortInfoFromBinding<Binding> =
    Binding extends BindingInterface<infer _Port, infer _Options, infer T> ? T : never;

  export type PortInterfaceFromBinding<Binding> = Binding extends BindingInterface<infer T> ? T : never;

  export interface PortStatus {
    cts: boolean;
    dsr: boolean;
    dcd: boolean;
  }

  export interface SetOptions {
    brk?: boolean;
    cts?: boolean;
    dsr?: boolean;
    dtr?: boolean;
    rts?: boolean;
  }

  export interface UpdateOptions {
    baudRate: number;
  }
}

declare module '@serialport/binding-mock' {
  import type {
    BindingInterface,
    BindingPortInterface,
    OpenOptions,
    PortStatus,
    SetOptions,
    UpdateOptions,
  } from '@serialport/bindings-interface';

  export class CanceledError extends Error {
    canceled: true;
    constructor(message: string);
  }

  export interface CreatePortOptions {
    echo?: boolean;
    record?: boolean;
    readyData?: Buffer;
    maxReadSize?: number;
    manufacturer?: string;
    vendorId?: string;
    productId?: string;
  }

  export interface MockBindingInterface extends BindingInterface<MockPortBinding> {
    reset(): void;
    createPort(path: string, opt?: CreatePortOptions): void;
  }

  export const MockBinding: MockBindingInterface;

  /** See node_modules/@serialport/binding-mock/dist/index.d.ts. */
  export class MockPortBinding implements BindingPortInterface {
    readonly openOptions: Required<OpenOptions>;
    lastWrite: null | Buffer;
    recording: Buffer;
    writeOperation: null | Promise<void>;
    isOpen: boolean;
    serialNumber?: string;
    emitData(data: Buffer | string): void;
    close(): Promise<void>;
    read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }>;
    write(buffer: Buffer): Promise<void>;
    update(options: UpdateOptions): Promise<void>;
    set(options: SetOptions): Promise<void>;
    get(): Promise<PortStatus>;
    getBaudRate(): Promise<{ baudRate: number }>;
    flush(): Promise<void>;
    drain(): Promise<void>;
  }
}
