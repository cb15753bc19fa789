/**
 * N simulated gates as MQTT.js clients in this process, each with its own device token, publishing
 * prepared `events` messages (QoS 1) with a bounded window of unacknowledged messages, like the
 * edge agent's uplink. `ack` mode counts a message done when the cloud's cumulative ack covers its
 * last seq (stored); `puback` mode when the broker acknowledged it (transport only).
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { EntryEvent } from '../../shared/schemas/mqtt.ts';
import { withoutNagle } from '../../shared/mqtt-reconnect.ts';
import { topics } from '../../shared/topics.ts';
import { Samples } from './samples.ts';

export interface PreparedMessage {
  payload: Buffer;
  endSeq: number;
  events: number;
}

interface SwarmGate {
  gateId: string;
  client: MqttClient;
  acked: number;
  onAck: (() => void) | undefined;
}

export interface SwarmRun {
  seconds: number;
  messages: number;
  events: number;
  /** `until: 'ack'`: the events the cloud acknowledged in time (all of `events` unless the phase timed out). */
  ackedEvents: number;
  /** Publish → done per message. */
  latency: Samples;
  /** Gates whose last message was not done before the timeout. */
  unfinished: number;
}

export function eventsPayload(events: EntryEvent[]): Buffer {
  return Buffer.from(JSON.stringify({ events }));
}

export class GateSwarm {
  private constructor(private readonly gates: SwarmGate[]) {}

  static async connect(url: string, accounts: { gateId: string; token: string }[]): Promise<GateSwarm> {
    const gates: SwarmGate[] = [];
    // Connect in small groups: 200 simultaneous CONNECTs with Ed25519 checks stall a busy broker.
    for (let i = 0; i < accounts.length; i += 20) {
      const group = await Promise.all(
        accounts.slice(i, i + 20).map(async ({ gateId, token }) => {
          const client = mqtt.connect(url, {
            clientId: gateId,
            username: gateId,
            password: token,
            protocolVersion: 4,
            clean: true,
            reconnectPeriod: 0,
            connectTimeout: 30_000,
          });
          await new Promise<void>((resolve, reject) => {
            client.once('connect', () => {
              withoutNagle(client); // as the gate's own link does (edge-agent/mqtt-link.ts)
              resolve();
            });
            client.once('error', reject);
          });
          const gate: SwarmGate = { gateId, client, acked: 0, onAck: undefined };
          client.on('message', (_topic, payload) => {
            const upTo = (JSON.parse(payload.toString()) as { upTo: number }).upTo;
            if (upTo > gate.acked) gate.acked = upTo;
            gate.onAck?.();
          });
          await client.subscribeAsync(topics.gateAck(gateId), { qos: 1 });
          return gate;
        }),
      );
      gates.push(...group);
    }
    return new GateSwarm(gates);
  }

  get size(): number {
    return this.gates.length;
  }

  /** Sends every gate's messages (`plan[i]` for gate i) with at most `window` outstanding per gate. */
  async send(
    plan: PreparedMessage[][],
    options: { window: number; until: 'ack' | 'puback'; timeoutMs: number },
  ): Promise<SwarmRun> {
    const latency = new Samples();
    const started = process.hrtime.bigint();
    let unfinished = 0;
    let acked = 0;
    const deadline = Date.now() + options.timeoutMs;
    await Promise.all(
      this.gates.map(async (gate, index) => {
        const messages = plan[index] ?? [];
        const ackedBefore = gate.acked;
        const pending: { endSeq: number; at: bigint }[] = [];
        let pubackOutstanding = 0;
        let wake: (() => void) | undefined;
        const settle = () => {
          const now = process.hrtime.bigint();
          while (pending.length > 0 && pending[0]!.endSeq <= gate.acked) latency.addNs(now - pending.shift()!.at);
          wake?.();
        };
        gate.onAck = options.until === 'ack' ? settle : undefined;
        const outstanding = () => (options.until === 'ack' ? pending.length : pubackOutstanding);
        const waitBelow = async (limit: number) => {
          while (outstanding() > limit) {
            if (Date.now() > deadline) return false;
            await new Promise<void>((resolve) => {
              // The 200 ms timer only re-checks the deadline; a wake clears it, so the waits of a
              // long phase leave no pile of live timers behind in the gates' process.
              const timer = setTimeout(resolve, 200).unref();
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            wake = undefined;
          }
          return true;
        };
        for (const message of messages) {
          if (!(await waitBelow(options.window - 1))) break;
          const at = process.hrtime.bigint();
          if (options.until === 'ack') pending.push({ endSeq: message.endSeq, at });
          pubackOutstanding += 1;
          gate.client.publish(topics.gateEvents(gate.gateId), message.payload, { qos: 1 }, () => {
            pubackOutstanding -= 1;
            // In `ack` mode a PUBACK frees no room in the window: only the cloud's ack wakes the gate.
            if (options.until !== 'puback') return;
            latency.addNs(process.hrtime.bigint() - at);
            wake?.();
          });
        }
        if (!(await waitBelow(0))) unfinished += 1;
        gate.onAck = undefined;
        const last = messages[messages.length - 1]?.endSeq ?? ackedBefore;
        acked += Math.max(0, Math.min(gate.acked, last) - ackedBefore);
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const all = plan.flat();
    return {
      seconds,
      messages: all.length,
      events: all.reduce((n, m) => n + m.events, 0),
      ackedEvents: acked,
      latency,
      unfinished,
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.gates.map((g) => g.client.endAsync(true)));
  }
}
