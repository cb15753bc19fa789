/**
 * A bare MQTT 3.1.1 client over a TCP socket, packet by packet (mqtt-packet): for the conformance
 * suite, which must do what MQTT.js never does on its own — hold back a PUBACK, go silent past its
 * keep-alive, or drop the socket without a DISCONNECT.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

export class RawMqttClient {
  readonly received: Packet[] = [];
  readonly #waiters = new Set<{ match: (p: Packet) => boolean; resolve: (p: Packet) => void }>();
  #closed = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      this.received.push(packet);
      for (const waiter of this.#waiters) {
        if (waiter.match(packet)) {
          this.#waiters.delete(waiter);
          waiter.resolve(packet);
        }
      }
    });
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#closed = true;
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawMqttClient> {
    return new Promise((resolve, reject) => {
      const socket = connectTcp({ port, host: '127.0.0.1' }, () => resolve(new RawMqttClient(socket)));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  send(packet: Record<string, unknown> & { cmd: string }): void {
    this.socket.write(mqttPacket.generate(packet as unknown as Packet));
  }

  /** The first packet (already received or still to come) that `match` accepts. */
  next(match: (p: Packet) => boolean, from = 0): Promise<Packet> {
    const seen = this.received.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.add({ match, resolve }));
  }

  /** CONNECT and its CONNACK. */
  async connect(options: {
    clientId: string;
    username?: string;
    password?: string;
    clean?: boolean;
    keepalive?: number;
    will?: { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean };
  }): Promise<{ returnCode: number; sessionPresent: boolean }> {
    const from = this.received.length;
    // mqtt-packet refuses to encode a zero-length id without a clean session; that is the point of
    // sending one, so it is encoded clean and the CleanSession bit cleared afterwards.
    const forbidden = options.clientId === '' && options.clean === false;
    const packet = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: forbidden ? true : (options.clean ?? true),
      keepalive: options.keepalive ?? 60,
      clientId: options.clientId,
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: Buffer.from(options.password) }),
      ...(options.will ? { will: options.will } : {}),
    } as unknown as Packet);
    if (forbidden) {
      let i = 1;
      while ((packet[i]! & 0x80) !== 0) i++;
      // fixed header, then protocol name (2 + 4 bytes) and level (1): the connect flags.
      packet[i + 1 + 6 + 1] = packet[i + 1 + 6 + 1]! & ~0x02;
    }
    this.socket.write(packet);
    const connack = (await this.next((p) => p.cmd === 'connack', from)) as {
      returnCode: number;
      sessionPresent: boolean;
    };
    return { returnCode: connack.returnCode, sessionPresent: connack.sessionPresent };
  }

  async subscribe(messageId: number, subscriptions: { topic: string; qos: 0 | 1 }[]): Promise<number[]> {
    const from = this.received.length;
    this.send({ cmd: 'subscribe', messageId, subscriptions });
    const suback = (await this.next((p) => p.cmd === 'suback' && p.messageId === messageId, from)) as {
      granted: number[];
    };
    return suback.granted;
  }

  /** Closes the socket without a DISCONNECT (so a will is published). */
  async drop(): Promise<void> {
    this.socket.destroy();
    await this.closed;
  }
}
