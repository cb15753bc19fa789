/**
 * A gate reduced to its store-and-forward: the gate's own journal (edge-agent/journal-store.ts)
 * and uplink (edge-agent/uplink.ts) over an MQTT.js connection to a real broker, without devices —
 * for suites that need many passages from many gates quickly and exactly the gate's delivery rules:
 * QoS 1 publishes, at most `maxInFlight` messages unacknowledged, everything unacked sent again on
 * a reconnect or when no ack came for `ackTimeoutMs`, the journal pruned only by the cloud's
 * cumulative ack. `append(n)` journals n granted passages of the given persons.
 *
 *   const gate = await JournaledGate.start({ gateId, mqttUrl, token, dir, persons });
 *   gate.append(100);
 *   await gate.fullyAcked();          // resolves once the cloud acked every seq
 */
import mqtt, { type MqttClient } from 'mqtt';
import { type GateDatabase, openGateDatabase } from '../edge-agent/gate-database.ts';
import { JournalStore } from '../edge-agent/journal-store.ts';
import { ReplicaStore } from '../edge-agent/replica-store.ts';
import { Uplink, type UplinkCounters } from '../edge-agent/uplink.ts';
import { silentLogger } from '../shared/log.ts';
import { topics } from '../shared/topics.ts';

export interface JournaledGateOptions {
  gateId: string;
  mqttUrl: string;
  /** The gate's MQTT password (its device token, or the broker account's password). */
  token: string;
  /** Directory of the gate's SQLite file. */
  dir: string;
  /** Person ids the passages name (residents of the gate's compound, or the cloud refuses them). */
  persons: readonly string[];
  /** Events per message while draining (default 20), messages unacknowledged at a time (default 4). */
  batchSize?: number;
  maxInFlight?: number;
  /** No ack for this long: everything unacked again (default 2 s). */
  ackTimeoutMs?: number;
}

export class JournaledGate {
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly gateId: string,
    private readonly db: GateDatabase,
    readonly journal: JournalStore,
    private readonly uplink: Uplink,
    private readonly client: MqttClient,
    private readonly persons: readonly string[],
  ) {
    uplink.onPruned = () => {
      for (const wake of [...this.waiters]) wake();
    };
  }

  static async start(options: JournaledGateOptions): Promise<JournaledGate> {
    const db = openGateDatabase(options.dir, { synchronous: 'normal' });
    const journal = new JournalStore(db, new ReplicaStore(db), undefined, { keepAckedMs: 0 });
    const client = mqtt.connect(options.mqttUrl, {
      clientId: options.gateId,
      username: options.gateId,
      password: options.token,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 200,
    });
    const uplink = new Uplink({
      gateId: options.gateId,
      journal,
      publisher: {
        publish: (topic, payload, publishOptions) => {
          if (!client.connected) return false;
          client.publish(topic, payload, publishOptions);
          return true;
        },
      },
      logger: silentLogger,
      batchSize: options.batchSize ?? 20,
      maxInFlight: options.maxInFlight ?? 4,
      ackTimeoutMs: options.ackTimeoutMs ?? 2_000,
    });
    const gate = new JournaledGate(options.gateId, db, journal, uplink, client, options.persons);
    client.on('message', (topic, payload) => {
      if (topic === topics.gateAck(options.gateId)) uplink.handleAck(payload);
    });
    client.on('close', () => uplink.connectionDown());
    const subscribed = new Promise<void>((resolve, reject) => {
      client.on('connect', () => {
        client.subscribe(topics.gateAck(options.gateId), { qos: 1 }, (error) => {
          if (error) return reject(error);
          uplink.connectionUp();
          resolve();
        });
      });
      client.once('error', reject);
    });
    uplink.start();
    await subscribed;
    return gate;
  }

  get counters(): UplinkCounters {
    return this.uplink.counters;
  }

  /** Journals `count` granted passages (one per person in turn, a millisecond apart) and sends them. */
  append(count: number): void {
    const now = Date.now();
    for (let i = 0; i < count; i++) {
      const n = this.journal.lastSeq() + 1;
      this.journal.append(
        {
          gateId: this.gateId,
          ts: now - 60_000 + i,
          direction: n % 2 === 0 ? 'out' : 'in',
          method: 'qr',
          result: 'granted',
          reason: 'ok',
          personId: this.persons[n % this.persons.length]!,
          health: 'green',
          mode: 'normal',
          passed: true,
          decisionMs: 0.2,
        },
        { final: true },
      );
    }
    this.uplink.pump();
  }

  /** Resolves once the cloud acknowledged every journaled seq (each ack wakes it; no polling). */
  fullyAcked(): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.journal.ackedUpTo() < this.journal.lastSeq()) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    this.uplink.stop();
    await this.client.endAsync(true);
    this.journal.close();
    if (this.db.open) this.db.close();
  }
}
