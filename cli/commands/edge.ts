/**
 * `anxin edge --config gate.json`: one gate (docs/contract.md "Command line"). Flags override
 * `ANXIN_*` environment variables, which override the file. A bad config exits 2 with one
 * `path: message` line per problem; SIGINT/SIGTERM stop the gate cleanly and exit 0.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { untilStopSignal } from '../stop-signal.ts';
import { explainEdgeConfig } from '../../edge-agent/config.ts';
import { printableConfig, redactSecrets } from '../../shared/config.ts';
import { createEdgeAgent } from '../../edge-agent/edge-agent.ts';
import { AnxinError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { usageError } from '../command-errors.ts';
import { privateDir } from '../../shared/private-files.ts';

export const help = `Usage: anxin edge --config FILE [flags]

Runs one gate: reads its ID-card readers, QR scanners and OSDP turnstile, decides locally,
journals every passage and publishes it to the cloud over MQTT; serves the guard terminal.

One rule for every value: flag > ANXIN_* environment variable > the file > the default
(docs/configuration.md); a flag or variable that replaces a value of the file is logged at start.
  --config FILE        gate config (JSON), required; \`anxin gate add\` writes one
  --print-config       print the effective configuration (secrets redacted) and where each
                       value came from, then exit
  --gate-id ID         gateId
  --compound-id ID     compoundId
  --mqtt URL           mqtt.url (e.g. mqtts://broker.example.org:8883)
  --mqtt-token TOKEN   mqtt.token (the gate's device token)
  --mqtt-token-file F  mqtt.tokenFile (read before every connect: a rotated token needs no restart)
  --mqtt-ca FILE       mqtt.caFile: the private CA that signed the broker's certificate
  --keys FILE          keysFile (public keys + pepper: \`anxin keys gate\`)
  --data-dir DIR       dataDir (the gate's SQLite file lives here)
  --http-port PORT     http.port of the guard terminal (0 = any free port)
  --http-host HOST     http.host
Old names still accepted: --mqtt-url (now --mqtt), --keys-file (now --keys).
`;

const FLAG_PATHS: Record<string, string> = {
  'gate-id': 'gateId',
  'compound-id': 'compoundId',
  mqtt: 'mqtt.url',
  'mqtt-token': 'mqtt.token',
  'mqtt-ca': 'mqtt.caFile',
  'mqtt-token-file': 'mqtt.tokenFile',
  keys: 'keysFile',
  'data-dir': 'dataDir',
  'http-port': 'http.port',
  'http-host': 'http.host',
};

/** Old flag names, still accepted with a deprecation line: old → new. */
const DEPRECATED_FLAGS: Record<string, string> = { 'mqtt-url': 'mqtt', 'keys-file': 'keys' };

/**
 * The data directory must exist and be writable before the gate opens its database: a gate.json
 * with the production `dataDir` (/var/lib/anxin/…) run as an ordinary user is a config problem
 * (exit 2, one `dataDir: …` line), not a crash.
 */
function dataDirProblem(dataDir: string): string | undefined {
  if (dataDir === ':memory:') return undefined;
  try {
    privateDir(dataDir);
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

/** The flags, deprecated names replaced by their new ones (with a line on stderr), or a usage error's exit code. */
function parseEdgeFlags(argv: string[]): Record<string, string | boolean | undefined> | number {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        'print-config': { type: 'boolean' },
        ...Object.fromEntries(
          [...Object.keys(FLAG_PATHS), ...Object.keys(DEPRECATED_FLAGS)].map((flag) => [
            flag,
            { type: 'string' as const },
          ]),
        ),
      },
    }).values as Record<string, string | boolean | undefined>;
  } catch (error) {
    return usageError('edge', (error as Error).message);
  }
  for (const [old, now] of Object.entries(DEPRECATED_FLAGS)) {
    if (values[old] === undefined) continue;
    process.stderr.write(`anxin edge: --${old} is deprecated; use --${now}\n`);
    values[now] ??= values[old];
  }
  return values;
}

/** The config flags given, by config path, and the flag that set each (for override lines). */
function configFlags(values: Record<string, string | boolean | undefined>) {
  const flags: Record<string, unknown> = {};
  const flagNames: Record<string, string> = {};
  for (const [flag, path] of Object.entries(FLAG_PATHS)) {
    if (values[flag] === undefined) continue;
    flags[path] = values[flag];
    flagNames[path] = `--${flag}`;
  }
  return { flags, flagNames };
}

/** Stops the agent on SIGINT/SIGTERM; exit code 0, or 1 when it did not stop cleanly. */
async function runUntilStopped(agent: ReturnType<typeof createEdgeAgent>, logger: ReturnType<typeof createLogger>) {
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

export async function run(argv: string[]): Promise<number> {
  const values = parseEdgeFlags(argv);
  if (typeof values === 'number') return values;
  const configPath = values.config;
  if (typeof configPath !== 'string') {
    return usageError('edge', "--config FILE is required: the gate's gate.json (anxin gate add writes one)");
  }
  let file: { name: string; text: string };
  try {
    file = { name: configPath, text: readFileSync(configPath, 'utf8') };
  } catch (error) {
    process.stderr.write(`config: cannot read ${configPath}: ${(error as NodeJS.ErrnoException).code ?? 'error'}\n`);
    return 2;
  }

  const logger = createLogger();
  let agent: ReturnType<typeof createEdgeAgent>;
  try {
    const explained = explainEdgeConfig({ ...configFlags(values), env: process.env, file });
    if (values['print-config']) {
      process.stdout.write(printableConfig(explained));
      return 0;
    }
    const config = explained.config;
    // Never silently: a variable in the unit or a flag that replaces what gate.json says.
    for (const o of explained.overrides) {
      logger.warn(
        { path: o.path, by: o.by, file: redactSecrets(o.fileValue, o.path) },
        `${o.by} overrides ${o.path} of ${configPath}`,
      );
    }
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
  return runUntilStopped(agent, logger);
}
