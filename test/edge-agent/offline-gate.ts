/**
 * A gate provisioned earlier and now offline (nothing listens on port 1, so decisions are local
 * anyway), on fake devices: what the agent-level tests of reservations and of the journal alarm
 * drive. The replica holds `changes` at rev 5; the agent's clock runs from the fixtures' NOW.
 */
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent, type EdgeAgentOptions } from '../../edge-agent/edge-agent.ts';
import { openGateDatabase } from '../../edge-agent/gate-database.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import { silentLogger } from '../../shared/log.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import { FakeIdCardReader, FakeQrScanner, FakeTurnstile } from './fake-devices.ts';
import { COMPOUND, GATE, gateKeysFile, NOW } from './fixtures.ts';

export interface OfflineGate {
  agent: EdgeAgent;
  turnstile: FakeTurnstile;
  idreader: FakeIdCardReader;
  qr: FakeQrScanner;
}

export async function startOfflineGate(options: {
  dir: string;
  changes: readonly Change[];
  /** Merged over the gate's config (antiPassback, timeouts, journal …). */
  config?: Record<string, unknown>;
  agent?: Pick<EdgeAgentOptions, 'freeSpace'>;
  /** Called before `start()`: listeners that must not miss what start-up does. */
  beforeStart?: (agent: EdgeAgent) => void;
}): Promise<OfflineGate> {
  const provisioned = openGateDatabase(options.dir);
  new ReplicaStore(provisioned).applyDelta(options.changes, 5);
  provisioned.close();
  const { journal, ...config } = options.config ?? {};
  const turnstile = new FakeTurnstile();
  const idreader = new FakeIdCardReader();
  const qr = new FakeQrScanner();
  const startedAt = Date.now();
  const agent = createEdgeAgent(
    parseEdgeConfig({
      gateId: GATE,
      compoundId: COMPOUND,
      mqtt: { url: 'mqtt://127.0.0.1:1', reconnectMs: 60_000 },
      keys: gateKeysFile(),
      dataDir: options.dir,
      http: { enabled: false },
      journal: { synchronous: 'normal', ...(journal as object | undefined) },
      ...config,
    }),
    {
      logger: silentLogger,
      clock: { now: () => NOW + (Date.now() - startedAt) },
      devices: { qr, idreader, turnstile },
      version: 'test',
      ...options.agent,
    },
  );
  options.beforeStart?.(agent);
  await agent.start();
  return { agent, turnstile, idreader, qr };
}
