/**
 * A serialport binding whose ports live inside this process and come in linked pairs, like the two
 * ends of a null-modem cable: bytes written to one end arrive at the other, asynchronously and in
 * order. The demo wires drivers to simulators with it, so the very same drivers and parsers run
 * without socat or hardware. `unplugVirtualPort` makes a pair behave like a vanished USB device.
 *
 * Modelled on `@serialport/binding-mock`: reads wait for data, a close cancels them with
 * `{ canceled: true }`, and any other read/write error makes `SerialPortStream` disconnect.
 */
import type {
  BindingInterface,
  BindingPortInterface,
  OpenOptions,
  PortInfo,
  PortStatus,
  SetOptions,
  UpdateOptions,
} from '@serialport/bindings-interface';

/** 8N1: a start bit, eight data bits and a stop bit per byte. */
const BITS_PER_BYTE = 10;

export interface VirtualPairOptions {
  /** Deliver each write only after the time it would take on the wire at the writer's baud rate (default false). */
  wireTime?: boolean;
}

interface PendingDelivery {
  dueAt: number;
  data: Buffer;
}

/** One direction of the cable: bytes queued by a writer, delivered to the other end when due. */
interface Line {
  queue: PendingDelivery[];
  busyUntil: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface VirtualEnd {
  path: string;
  pair: VirtualPair;
  binding: VirtualPortBinding | undefined;
  /** The line this end writes into. */
  outgoing: Line;
}

interface VirtualPair {
  name: string;
  wireTime: boolean;
  unplugged: boolean;
  a: VirtualEnd;
  b: VirtualEnd;
}

const endsByPath = new Map<string, VirtualEnd>();
const pairsByName = new Map<string, VirtualPair>();

class CanceledError extends Error {
  readonly canceled = true;
}

/** What a vanished device looks like to the reader/writer: an I/O error that is not a cancel. */
function vanishedError(path: string): Error {
  return Object.assign(new Error(`EIO: i/o error, device ${path} vanished`), { code: 'EIO', disconnect: true });
}

function newLine(): Line {
  return { queue: [], busyUntil: 0, timer: undefined };
}

function peerOf(end: VirtualEnd): VirtualEnd {
  return end.pair.a === end ? end.pair.b : end.pair.a;
}

function lookup(path: string): VirtualEnd {
  const end = endsByPath.get(path);
  if (!end) throw new Error(`no virtual serial port ${JSON.stringify(path)}; call createVirtualSerialPair() first`);
  return end;
}

/** Creates (or returns the existing) linked pair `virtual:<name>:a` ↔ `virtual:<name>:b`. */
export function createVirtualSerialPair(name: string, options: VirtualPairOptions = {}): { a: string; b: string } {
  if (typeof name !== 'string' || name === '') throw new TypeError('name must be a non-empty string');
  const existing = pairsByName.get(name);
  if (existing) return { a: existing.a.path, b: existing.b.path };
  const pair = { name, wireTime: options.wireTime ?? false, unplugged: false } as VirtualPair;
  pair.a = { path: `virtual:${name}:a`, pair, binding: undefined, outgoing: newLine() };
  pair.b = { path: `virtual:${name}:b`, pair, binding: undefined, outgoing: newLine() };
  pairsByName.set(name, pair);
  endsByPath.set(pair.a.path, pair.a);
  endsByPath.set(pair.b.path, pair.b);
  return { a: pair.a.path, b: pair.b.path };
}

/** Unplugs the cable of the pair `path` belongs to: both ends fail as a vanished device would, and stay unopenable. */
export function unplugVirtualPort(path: string): void {
  const pair = lookup(path).pair;
  if (pair.unplugged) return;
  pair.unplugged = true;
  for (const end of [pair.a, pair.b]) {
    clearLine(end.outgoing);
    end.binding?.vanish();
  }
}

/** Plugs the pair back in: both ends can be opened again. */
export function replugVirtualPort(path: string): void {
  lookup(path).pair.unplugged = false;
}

/** Forgets every virtual pair (test isolation). Open ports fail as if unplugged. */
export function resetVirtualPorts(): void {
  for (const pair of pairsByName.values()) unplugVirtualPort(pair.a.path);
  pairsByName.clear();
  endsByPath.clear();
}

function clearLine(line: Line): void {
  if (line.timer) clearTimeout(line.timer);
  line.timer = undefined;
  line.queue = [];
  line.busyUntil = 0;
}

/** Delivers every due chunk in order, then sleeps until the next one is due. */
function pump(from: VirtualEnd): void {
  const line = from.outgoing;
  line.timer = undefined;
  const now = performance.now();
  while (line.queue.length > 0 && line.queue[0]!.dueAt <= now) {
    const { data } = line.queue.shift()!;
    const target = peerOf(from);
    // Nobody listening on the other end: the bytes are lost, as on a real wire.
    if (!from.pair.unplugged) target.binding?.receive(data);
  }
  schedulePump(from);
}

function schedulePump(from: VirtualEnd): void {
  const line = from.outgoing;
  const next = line.queue[0];
  if (!next || line.timer) return;
  const delay = Math.max(0, next.dueAt - performance.now());
  line.timer = setTimeout(() => pump(from), Math.ceil(delay));
}

class VirtualPortBinding implements BindingPortInterface {
  readonly openOptions: Required<OpenOptions>;
  isOpen = true;
  readonly #end: VirtualEnd;
  readonly #inbox: Buffer[] = [];
  #pendingRead: { resolve: () => void; reject: (err: Error) => void } | undefined;
  #vanished = false;

  constructor(end: VirtualEnd, openOptions: Required<OpenOptions>) {
    this.#end = end;
    this.openOptions = openOptions;
  }

  /** Bytes arriving from the other end. */
  receive(data: Buffer): void {
    if (!this.isOpen || this.#vanished) return;
    this.#inbox.push(data);
    const pending = this.#pendingRead;
    this.#pendingRead = undefined;
    pending?.resolve();
  }

  vanish(): void {
    this.#vanished = true;
    this.#inbox.length = 0;
    const pending = this.#pendingRead;
    this.#pendingRead = undefined;
    pending?.reject(vanishedError(this.#end.path));
  }

  async close(): Promise<void> {
    if (!this.isOpen) throw new Error('Port is not open');
    this.isOpen = false;
    this.#inbox.length = 0;
    if (this.#end.binding === this) this.#end.binding = undefined;
    const pending = this.#pendingRead;
    this.#pendingRead = undefined;
    pending?.reject(new CanceledError('port is closed'));
  }

  async read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    if (buffer.length < offset + length) throw new Error('buffer is too small');
    for (;;) {
      if (!this.isOpen) throw new CanceledError('Read canceled');
      if (this.#vanished) throw vanishedError(this.#end.path);
      const head = this.#inbox[0];
      if (head) {
        const bytesRead = head.copy(buffer, offset, 0, Math.min(length, head.length));
        if (bytesRead === head.length) this.#inbox.shift();
        else this.#inbox[0] = head.subarray(bytesRead);
        return { buffer, bytesRead };
      }
      await new Promise<void>((resolve, reject) => {
        this.#pendingRead = { resolve, reject };
      });
    }
  }

  async write(buffer: Buffer): Promise<void> {
    if (!this.isOpen) throw new CanceledError('Write canceled');
    if (this.#vanished) throw vanishedError(this.#end.path);
    if (buffer.length === 0) return;
    const line = this.#end.outgoing;
    const now = performance.now();
    const wireMs = this.#end.pair.wireTime ? (buffer.length * BITS_PER_BYTE * 1000) / this.openOptions.baudRate : 0;
    line.busyUntil = Math.max(now, line.busyUntil) + wireMs;
    line.queue.push({ dueAt: line.busyUntil, data: Buffer.from(buffer) });
    schedulePump(this.#end);
    // Like an OS write: resolves once the bytes are queued for the line, not when they arrive.
    await Promise.resolve();
  }

  async update(options: UpdateOptions): Promise<void> {
    if (!this.isOpen) throw new Error('Port is not open');
    this.openOptions.baudRate = options.baudRate;
  }

  async set(_options: SetOptions): Promise<void> {
    if (!this.isOpen) throw new Error('Port is not open');
  }

  async get(): Promise<PortStatus> {
    if (!this.isOpen) throw new Error('Port is not open');
    return { cts: true, dsr: true, dcd: !this.#vanished };
  }

  async getBaudRate(): Promise<{ baudRate: number }> {
    if (!this.isOpen) throw new Error('Port is not open');
    return { baudRate: this.openOptions.baudRate };
  }

  async flush(): Promise<void> {
    if (!this.isOpen) throw new Error('Port is not open');
    this.#inbox.length = 0;
  }

  /** Resolves once everything written so far has left this end (its wire time elapsed). */
  async drain(): Promise<void> {
    if (!this.isOpen) throw new Error('Port is not open');
    const remaining = this.#end.outgoing.busyUntil - performance.now();
    if (remaining > 0) await new Promise((resolve) => setTimeout(resolve, Math.ceil(remaining)));
  }
}

export const VirtualBinding: BindingInterface<VirtualPortBinding> = {
  async list(): Promise<PortInfo[]> {
    return [...endsByPath.values()]
      .filter((end) => !end.pair.unplugged)
      .map((end) => ({
        path: end.path,
        manufacturer: 'Anxin virtual serial',
        serialNumber: undefined,
        pnpId: undefined,
        locationId: undefined,
        productId: undefined,
        vendorId: undefined,
      }));
  },

  async open(options: OpenOptions): Promise<VirtualPortBinding> {
    if (!options?.path) throw new TypeError('"path" is not a valid port');
    if (!options.baudRate) throw new TypeError('"baudRate" is not a valid baudRate');
    await Promise.resolve();
    const end = endsByPath.get(options.path);
    if (!end || end.pair.unplugged) {
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${options.path}'`), { code: 'ENOENT' });
    }
    if (end.binding) throw new Error(`Port is locked cannot open: ${options.path}`);
    const openOptions: Required<OpenOptions> = {
      dataBits: 8,
      lock: true,
      stopBits: 1,
      parity: 'none',
      rtscts: false,
      xon: false,
      xoff: false,
      xany: false,
      hupcl: true,
      ...options,
    };
    const binding = new VirtualPortBinding(end, openOptions);
    end.binding = binding;
    return binding;
  },
};
