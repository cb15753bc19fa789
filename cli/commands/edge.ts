/**
 * `anxin edge --config gate.json`: one gate (docs/contract.md "Command line"). Flags override
 * `ANXIN_*` environment variables, which override the file. A bad config exits 2 with one
 * `path: message` line per problem; SIGINT/SIGTERM stop the gate cleanly and exit 0.
 */
import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { untilStopSignal } from '../stop-signal.ts';
import { loadEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent } from '../../edge-agent/edge-agent.ts';
import { AnxinError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { usageError } from '../command-errors.ts';

export const help = `Usage: anxin edge --config FILE [flags]

Runs one gate: reads its ID-card reader, QR scanner and OSDP turnstile, decides locally,
journals every passage and publishes it to the cloud over MQTT; serves the guard terminal.

Flags (override ANXIN_* environment variables, which override the file):
  --config FILE        gate config (JSON); see docs/edge-agent.md
  --gate-id ID         gateId
  --compound-id ID     compoundId
  --mqtt-url URL       mqtt.url (e.g. mqtt://127.0.0.1:1883)
  --mqtt-token TOKEN   mqtt.token (the gate's device token)
  --keys-file FILE     keysFile (public keys + pepper)
  --data-dir DIR       dataDir (the gate's SQLite file lives here)
  --http-port PORT     http.port of the guard terminal (0 = any free port)
  --http-host HOST     http.host
`;

const FLAG_PATHS: Record<string, string> = {
  'gate-id': 'gateId',
  'compound-id': 'compoundId',
  'mqtt-url': 'mqtt.url',
  'mqtt-token': 'mqtt.token',
  'keys-file': 'keysFile',
  'data-dir': 'dataDir',
  'http-port': 'http.port',
  'http-host': 'http.host',
};

/**
 * The data directory must exist and be writable before the gate opens its database: a gate.json
 * with the production `dataDir` (/var/lib/anxin/…) run as an ordinary user is a config problem
 * (exit 2, one `dataDir: …` line), not a crash.
 */
function dataDirProblem(dataDir: string): string | undefined {
  if (dataDir === ':memory:') return undefined;
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    return `dataDir: cannot create ${dataDir}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`;
  }
  try {
    accessSync(dataDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    return `dataDir: cannot write to ${dataDir}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`;
  }
  return undefined;
}

function problemsOf(error: unknown): string[] | undefined {
  if (error instanceof AnxinError && (error.code === 'invalid-config' || error.code === 'invalid-keys')) {
    return (error as AnxinError & { problems?: string[] }).problems ?? [error.message];
  }
  return undefined;
}

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        ...Object.fromEntries(Object.keys(FLAG_PATHS).map((flag) => [flag, { type: 'string' as const }])),
      },
    }).values as Record<string, string | undefined>;
  } catch (error) {
    return usageError('edge', (error as Error).message);
  }

  let file: { name: string; text: string } | undefined;
  if (values.config !== undefined) {
    try {
      file = { name: values.config, text: readFileSync(values.config, 'utf8') };
    } catch (error) {
      process.stderr.write(
        `config: cannot read ${values.config}: ${(error as NodeJS.ErrnoException).code ?? 'error'}\n`,
      );
      return 2;
    }
  }
  const flags: Record<string, unknown> = {};
  for (const [flag, path] of Object.entries(FLAG_PATHS)) if (values[flag] !== undefined) flags[path] = values[flag];

  const logger = createLogger();
  let agent: ReturnType<typeof createEdgeAgent>;
  try {
    const config = loadEdgeConfig({ flags, env: process.env, ...(file ? { file } : {}) });
    const dataDirLine = dataDirProblem(config.dataDir);
    if (dataDirLine !== undefined) {
      process.stderr.write(`${dataDirLine}\n`);
      return 2;
    }
    agent = createEdgeAgent(config, { logger });
    await agent.start();
  } catch (error) {
    const problems = problemsOf(error);
    if (problems) {
      for (const line of problems) process.stderr.write(`${line}\n`);
      return 2;
    }
    logger.fatal({ err: (error as Error).message }, 'edge agent failed to start');
    return 1;
  }

  const signal = await untilStopSignal();
  logger.info({ signal }, 'stopping');
  try {
    await agent.stop();
  } catch (error) {
    logger.error({ err: (error as Error).message }, 'edge agent did not stop cleanly');
    return 1;
  }
  return 0;
}
