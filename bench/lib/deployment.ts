/**
 * A small deployment for the end-to-end benchmarks: keys, a cloud database with compounds, gates
 * and residents (seeded as the fault suites seed theirs, testkit/cloud-seed.ts), `anxin broker` and
 * `anxin cloud` as child processes, and in-process edge agents.
 */
import { join } from 'node:path';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import type { Role } from '../../shared/enums.ts';
import { createKeysFile, type KeysFile, type ParsedKeys, parseKeysFile } from '../../shared/keys.ts';
import { writeKeys } from '../../testkit/anxin-process.ts';
import { seedCloudDatabase, sessionToken, signedToken } from '../../testkit/cloud-seed.ts';
import type { BenchContext } from './cli.ts';
import { residentOf, type SyntheticPerson } from './population.ts';
import { type RunningProcess, startAnxinBroker, startAnxinCloud } from './processes.ts';

const DAY_MS = 86_400_000;

export interface Deployment {
  dir: string;
  keysFile: KeysFile;
  keys: ParsedKeys;
  keyPaths: { privatePath: string; publicPath: string };
  broker: RunningProcess;
  cloud: RunningProcess;
  token(sub: string, role: Role, compound?: string): string;
  /** An in-process edge agent (no devices, no terminal) for `gateId`, started. */
  startAgent(gateId: string, compoundId: string): Promise<EdgeAgent>;
}

type Ctx = Pick<BenchContext<unknown>, 'spawnChild' | 'onCleanup' | 'tempDir'>;

export async function startDeployment(
  ctx: Ctx,
  options: { gates: { gateId: string; compoundId: string }[]; residents: SyntheticPerson[]; keysFile?: KeysFile },
): Promise<Deployment> {
  const dir = await ctx.tempDir('deploy');
  const keysFile = options.keysFile ?? createKeysFile();
  const keys = parseKeysFile(keysFile);
  const keyPaths = writeKeys(dir, keysFile);
  const dbPath = join(dir, 'cloud.db');
  const now = Date.now();
  await seedCloudDatabase(dbPath, {
    compounds: [
      ...new Set([...options.gates.map((g) => g.compoundId), ...options.residents.map((r) => r.record.compoundId)]),
    ],
    gates: options.gates,
    residents: options.residents.map((p) => residentOf(p, now)),
  });

  const broker = await startAnxinBroker(ctx, keyPaths.publicPath);
  const cloud = await startAnxinCloud(ctx, { db: dbPath, mqttUrl: broker.url, keysPath: keyPaths.privatePath });
  // HTTP roles need a session row in the cloud's database (cloud/auth/session-service.ts); MQTT roles a signature.
  const token = (sub: string, role: Role, compound?: string) =>
    role === 'admin' || role === 'manager' || role === 'guard'
      ? sessionToken(dbPath, keys, { username: sub, role, ...(compound ? { compound } : {}) })
      : signedToken(keys, { sub, role, exp: Date.now() + DAY_MS, ...(compound ? { compound } : {}) });
  return {
    dir,
    keysFile,
    keys,
    keyPaths,
    broker,
    cloud,
    token,
    async startAgent(gateId, compoundId) {
      const config = parseEdgeConfig({
        gateId,
        compoundId,
        mqtt: { url: broker.url, token: token(gateId, 'gate', compoundId), reconnectMs: 1_000 },
        keysFile: keyPaths.publicPath,
        dataDir: join(dir, 'gates', gateId),
        http: { enabled: false },
        journal: { synchronous: 'normal' },
      });
      const agent = createEdgeAgent(config);
      ctx.onCleanup(() => agent.stop());
      await agent.start();
      return agent;
    },
  };
}
