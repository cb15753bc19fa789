/**
 * A real anxin broker on 127.0.0.1 with a free port, for any suite that needs MQTT
 * (`const broker = await startTestBroker({ ring }); … await broker.stop()`).
 */
import type { KeyRing } from '../shared/keys.ts';
import { type BrokerServer, type BrokerServerOptions, createBrokerServer } from '../broker/server.ts';

export interface TestBroker {
  /** `mqtt://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** `ws://127.0.0.1:<wsPort>` when `wsPort` was asked for. */
  wsUrl?: string;
  server: BrokerServer;
  stop(): Promise<void>;
}

export async function startTestBroker(
  options: { ring: KeyRing } & Partial<Omit<BrokerServerOptions, 'keys' | 'port' | 'host'>>,
): Promise<TestBroker> {
  const { ring, ...rest } = options;
  const server = createBrokerServer({ ...rest, keys: ring, port: 0, host: '127.0.0.1' });
  const address = await server.start();
  const scheme = rest.tls ? 'mqtts' : 'mqtt';
  return {
    url: `${scheme}://127.0.0.1:${address.port}`,
    port: address.port,
    ...(address.wsPort === undefined ? {} : { wsUrl: `${rest.tls ? 'wss' : 'ws'}://127.0.0.1:${address.wsPort}` }),
    server,
    stop: () => server.stop(),
  };
}
