/**
 * What an online gate test stands on: a broker on 127.0.0.1 with the fixtures' token ring, the cloud
 * stand-in on it holding the fixtures' snapshot, and a temp folder for the gate's data — and the
 * gate config those tests start from. `stop()` takes them down (stop the agent first).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EdgeConfigInput } from '../../edge-agent/config.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { CloudStandIn } from './cloud-stand-in.ts';
import { BASE_CHANGES, COMPOUND, GATE, gateKeysFile, gateToken, ring, signingKey } from './fixtures.ts';

export interface CloudBench {
  broker: TestBroker;
  cloud: CloudStandIn;
  dir: string;
  stop(): Promise<void>;
}

export async function startCloudBench(
  prefix: string,
  options: { rev?: number; maxPayload?: number } = {},
): Promise<CloudBench> {
  const broker = await startTestBroker({
    ring,
    ...(options.maxPayload === undefined ? {} : { maxPayload: options.maxPayload }),
  });
  const cloud = new CloudStandIn(broker.url, signingKey);
  cloud.snapshot = { rev: options.rev ?? 5, records: BASE_CHANGES };
  await cloud.start();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    broker,
    cloud,
    dir,
    async stop() {
      await cloud.stop();
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The gate on this bench: its broker with the gate's token, its keys, the folder, the journal unsynced; `over` on top. */
export function benchGateConfig(bench: CloudBench, over: Partial<EdgeConfigInput> = {}): EdgeConfigInput {
  return {
    gateId: GATE,
    compoundId: COMPOUND,
    mqtt: { url: bench.broker.url, token: gateToken(), reconnectMs: 200 },
    keys: gateKeysFile(),
    dataDir: bench.dir,
    journal: { synchronous: 'normal' },
    ...over,
  };
}
