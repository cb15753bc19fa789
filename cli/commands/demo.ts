/**
 * `anxin demo`: broker + cloud + simulated gates with residents and traffic on this machine
 * (docs/contract.md, "Command line"). Prints `ready` and the URLs once everything is up, then a line of
 * traffic figures every minute; Ctrl-C (or SIGTERM) stops everything cleanly and exits 0, also
 * while it is still starting (seeding); a second start reuses the data directory.
 */
import { createWriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { demoPassword } from '../demo/demo-password.ts';
import { DEMO_GUARD, type RunningDemo, startDemo } from '../demo/demo-system.ts';
import { formatTrafficProgress } from '../demo/traffic.ts';
import { oneLine } from '../command-errors.ts';
import { partsWithoutPostgres, postgresRefusal } from '../../cloud/postgres-readiness.ts';
import { DEFAULT_POOL_SIZE, MAX_POOL_SIZE } from '../../cloud/store/postgres/pg-pool.ts';
import { isPostgresUrl } from '../../cloud/store/postgres/postgres-store.ts';
import { privateDir } from '../../shared/private-files.ts';

export const help = `Usage: anxin demo [flags]

Runs the whole system on this machine: MQTT broker, cloud, and simulated gates (edge agents with
ID-card reader, QR scanner and OSDP turnstile simulators on virtual serial ports), a compound with
generated residents, and traffic. Logs go to DIR/demo.log.

  --gates N        gate lanes (default 4: north-in, north-out, south-in, south-out)
  --residents N    generated residents (default 2000; a second start keeps the compound it finds in DIR)
  --port P         cloud HTTP port (default 8080); gate terminals use P+1 … P+N
  --mqtt-port P    MQTT port (default 1883)
  --data DIR       data directory (default ./data)
  --rate R         people arriving per second across all gates (default 2; three times as many in the
                   7–9 h and 17–19 h peaks, a third at night); they line up at busy lanes
  --password PW    password of the demo sign-ins admin, manager, guard (default anxin-demo), set
                   on every start. A flag is visible to every user of the machine (\`ps\`): prefer
  --password-file F  the first line of file F (at most 4 KiB; ANXIN_PASSWORD_FILE), or ANXIN_PASSWORD
  --pty            connect simulators over real socat pty pairs instead of virtual ports
  --host H         bind address (default 127.0.0.1)
  --db PATH|URL    the cloud's database (default DIR/cloud.db), or a postgres://… URL: the
                   whole cloud on PostgreSQL (an empty database is migrated and seeded)
  --db-pool N      PostgreSQL connections the cloud opens at most (1-${MAX_POOL_SIZE}, default ${DEFAULT_POOL_SIZE})

Every flag may also be given as ANXIN_<NAME> (e.g. ANXIN_MQTT_PORT=1884).
Ctrl-C stops it cleanly with exit code 0, at any time, also during start-up.
`;

const demoConfigSchema = z.object({
  gates: z.number().int().min(1).max(64).default(4),
  residents: z.number().int().min(10).max(200_000).default(2000),
  port: z.number().int().min(1).max(65535).default(8080),
  mqttPort: z.number().int().min(0).max(65535).default(1883),
  data: z.string().min(1).default('./data'),
  rate: z.number().min(0.01).max(1000).default(2),
  password: z.string().min(4).optional(),
  passwordFile: z.string().min(1).optional(),
  pty: z.boolean().default(false),
  host: z.string().min(1).default('127.0.0.1'),
  db: z.string().min(1).optional(),
  dbPool: z.number().int().min(1).max(MAX_POOL_SIZE).default(DEFAULT_POOL_SIZE),
});

const DEMO_ENV_KEYS = [
  'GATES',
  'RESIDENTS',
  'PORT',
  'MQTT_PORT',
  'DATA',
  'RATE',
  'PASSWORD',
  'PASSWORD_FILE',
  'PTY',
  'HOST',
  'DB',
  'DB_POOL',
];
/** How often the traffic figures are printed. */
const TRAFFIC_REPORT_MS = 60_000;

/**
 * SIGINT/SIGTERM from before start-up until the end: the first one aborts `signal` (and resolves
 * `stopped`); then both listeners are removed, so a second Ctrl-C during a slow stop falls back to
 * Node's default (exit at once), as with `untilStopSignal`. `dispose` removes them without a signal.
 */
function stopSignals() {
  const controller = new AbortController();
  let dispose: () => void = () => {};
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    const done = (signal: NodeJS.Signals) => {
      dispose();
      controller.abort();
      resolve(signal);
    };
    dispose = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
  return { signal: controller.signal, stopped, dispose: () => dispose() };
}

/** Prints the traffic figures of the last interval every `TRAFFIC_REPORT_MS`; returns the canceller. */
function reportTraffic(demo: RunningDemo, say: (line: string) => void): () => void {
  let before = demo.traffic();
  let at = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const after = demo.traffic();
    say(`  … ${formatTrafficProgress(before, after, now - at, after.offeredRate)}`);
    before = after;
    at = now;
  }, TRAFFIC_REPORT_MS);
  timer.unref();
  return () => clearInterval(timer);
}

const DEMO_FLAGS = {
  gates: { type: 'string' },
  residents: { type: 'string' },
  port: { type: 'string' },
  'mqtt-port': { type: 'string' },
  data: { type: 'string' },
  rate: { type: 'string' },
  password: { type: 'string' },
  'password-file': { type: 'string' },
  pty: { type: 'boolean' },
  host: { type: 'string' },
  db: { type: 'string' },
  'db-pool': { type: 'string' },
} as const;

/** As `anxin cloud`: refused before anything starts rather than half on PostgreSQL. */
function refuseUnreadyPostgres(db: string | undefined): void {
  if (db === undefined || !isPostgresUrl(db)) return;
  const pending = partsWithoutPostgres();
  if (pending.length > 0) throw new ConfigError([postgresRefusal(pending)]);
}

export async function run(argv: string[]): Promise<number> {
  let config: z.infer<typeof demoConfigSchema>;
  let password: string;
  try {
    const { values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: DEMO_FLAGS });
    const env = Object.fromEntries(DEMO_ENV_KEYS.map((k) => [`ANXIN_${k}`, process.env[`ANXIN_${k}`]]));
    config = loadConfig(demoConfigSchema, { flags: values, env });
    refuseUnreadyPostgres(config.db);
    password = demoPassword(config, { onArgv: values.password !== undefined });
  } catch (err) {
    const lines = err instanceof ConfigError ? err.problems : [oneLine((err as Error).message)];
    for (const line of lines) process.stderr.write(`anxin demo: ${line}\n`);
    return 2;
  }

  const dataDir = resolve(config.data);
  privateDir(dataDir);
  const logFile = join(dataDir, 'demo.log');
  const logger = createLogger({ destination: createWriteStream(logFile, { flags: 'a' }), pretty: false });
  const say = (line: string) => process.stdout.write(`${line}\n`);

  // Listening from the start: Ctrl-C while seeding stops what has started (the next start seeds again).
  const stop = stopSignals();
  void stop.stopped.then(() => say('stopping …'));
  let demo: RunningDemo;
  try {
    demo = await startDemo({
      gates: config.gates,
      residents: config.residents,
      port: config.port,
      mqttPort: config.mqttPort,
      dataDir,
      rate: config.rate,
      password,
      pty: config.pty,
      host: config.host,
      ...(config.db ? { db: isPostgresUrl(config.db) ? config.db : resolve(config.db), dbPool: config.dbPool } : {}),
      logger,
      progress: (line) => say(`  … ${line}`),
      signal: stop.signal,
    });
  } catch (err) {
    if (stop.signal.aborted) {
      // startDemo has stopped whatever it had started.
      logger.flush();
      say('stopped during start-up; the next start seeds again');
      say('stopped');
      return 0;
    }
    stop.dispose();
    process.stderr.write(`anxin demo: could not start: ${(err as Error).message}\n(see ${logFile})\n`);
    return 1;
  }

  const { urls } = demo;
  say('ready');
  say(`  guard console     ${urls.console}      (sign in: guard / ${password})`);
  say(`  manager dashboard ${urls.dashboard}    (sign in: manager / ${password}; admin / ${password})`);
  for (const t of urls.terminals) say(`  gate terminal     ${t.url}   ${t.gateId}   (guard panel ${t.url}/guard)`);
  say(`  guard panel sign-in: ${DEMO_GUARD.id} / PIN ${DEMO_GUARD.pinText}`);
  say(`  MQTT broker       ${urls.mqtt}`);
  say(`  logs              ${logFile}`);
  say(`  traffic           ${config.rate} arrivals/s (×3 at 7–9 h and 17–19 h); figures every minute`);
  say('Press Ctrl-C to stop.');
  const stopReports = reportTraffic(demo, say);

  await stop.stopped;
  stopReports();
  await demo.stop();
  const t = demo.traffic();
  say(
    `  traffic: ${t.arrivals} arrivals, ${t.scans} scans, ${t.dropped} turned away (lines full), ${t.waiting} still in line`,
  );
  logger.flush();
  say('stopped');
  return 0;
}
