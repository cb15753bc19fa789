/**
 * `withoutNagle` (shared/mqtt-reconnect.ts): the gate's, the cloud's and the bench's MQTT.js
 * clients turn Nagle's algorithm off on their TCP socket at each connection; a stream without
 * `setNoDelay` (MQTT over WebSocket) is left alone. Real parts: the anxin broker on 127.0.0.1.
 */
import { Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createKeysFile, parseKeysFile, type SigningKey } from '../../shared/keys.ts';
import { withoutNagle } from '../../shared/mqtt-reconnect.ts';
import { signToken } from '../../shared/token.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';

const keys = parseKeysFile(createKeysFile());
let broker: TestBroker | undefined;

afterEach(async () => {
  vi.restoreAllMocks();
  await broker?.stop();
  broker = undefined;
});

describe('withoutNagle', () => {
  it("sets TCP_NODELAY on a connected client's own socket", async () => {
    broker = await startTestBroker({ ring: keys.ring });
    const client = await mqtt.connectAsync(broker.url, {
      clientId: 'g-1',
      username: 'g-1',
      password: signToken(
        { sub: 'g-1', role: 'gate', compound: 'c1', exp: Date.now() + 60_000 },
        keys.signing as SigningKey,
      ),
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    try {
      const setNoDelay = vi.spyOn(Socket.prototype, 'setNoDelay');
      withoutNagle(client);
      expect(setNoDelay).toHaveBeenCalledTimes(1);
      expect(setNoDelay.mock.calls[0]).toEqual([true]);
      expect(setNoDelay.mock.contexts[0]).toBe(client.stream);
    } finally {
      await client.endAsync(true);
    }
  });

  it('leaves a stream without setNoDelay alone', () => {
    expect(() => withoutNagle({ stream: {} } as unknown as MqttClient)).not.toThrow();
    expect(() => withoutNagle({} as MqttClient)).not.toThrow();
  });
});
