/**
 * `anxin demo`: broker + cloud + simulated gates with residents and traffic on this machine
 * (CONTRACT.md, "Command line"). Prints `ready` and the URLs once everything is up; Ctrl-C
 * stops everything cleanly; a second start reuses the data directory.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { startDemo } from '../demo/demo-system.ts';
import { untilStopSignal } from '../stop-signal.ts';
import { oneLine } from '../command-errors.ts';

export const help = `Usage: anxin demo [flags]

Runs the whole system on this machine: MQTT broker, cloud, and simulated gates (edge agents with
ID-card reader, QR scanner and OSDP turnstile simulators on virtual serial ports), a compound with
generated residents, and traffic. Logs go to DIR/demo.log.

  --gates N        gate lanes (default 4: north-in, north-out, south-in, south-out)
  --residents N    generated residents (default 2000)
  --port P         cloud HTTP port (default 8080); gate terminals use P+1 … P+N
  --mqtt-port P    MQTT port (default 1883)
  --data DIR       data directory (default ./data)
  --rate R         scans per second across all gates (default 2)
  --password PW    password of the demo sign-ins admin, manager, guard (default anxin-demo)
  --pty            connect simulators over real socat pty pairs instead of virtual ports
  --host H         bind address (default 127.0.0.1)

Every flag may also be given as ANXIN_<NAME> (e.g. ANXIN_MQTT_PORT=1884).
`;

const demoConfigSchema = z.object({
  gates: z.number().int().min(1).max(64).default(4),
  residents: z.number().int().min(10).max(200_000).default(2000),
  port: z.number().int().min(1).max(65535).default(8080),
  mqttPort: z.number().int().min(0).max(65535).default(1883),
  data: z.string().min(1).default('./data'),
  rate: z.number().min(0.01).max(1000).default(2),
  password: z.string().min(4).default('anxin-demo'),
  pty: z.boolean().default(false),
  host: z.string().min(1).default('127.0.0.1'),
});

const DEMO_ENV_KEYS = ['GATES', 'RESIDENTS', 'PORT', 'MQTT_PORT', 'DATA', 'RATE', 'PASSWORD', 'PTY', 'HOST'];

export async function run(argv: string[]): Promise<number> {
  let config: z.infer<typeof demoConfigSchema>;
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        gates: { type: 'string' },
        residents: { type: 'string' },
        port: { type: 'string' },
        'mqtt-port': { type: 'string' },
        data: { type: 'string' },
        rate: { type: 'string' },
        password: { type: 'string' },
        pty: { type: 'boolean' },
        host: { type: 'string' },
      },
    });
    const env = Object.fromEntries(DEMO_ENV_KEYS.map((k) => [`ANXIN_${k}`, process.env[`ANXIN_${k}`]]));
    config = loadConfig(demoConfigSchema, { flags: values, env });
  } catch (err) {
    const lines = err instanceof ConfigError ? err.problems : [oneLine((err as Error).message)];
    for (const line of lines) process.stderr.write(`anxin demo: ${line}\n`);
    return 2;
  }

  const dataDir = resolve(config.data);
  mkdirSync(dataDir, { recursive: true });
  const logFile = join(dataDir, 'demo.log');
  const logger = createLogger({ destination: createWriteStream(logFile, { flags: 'a' }), pretty: false });
  const say = (line: string) => process.stdout.write(`${line}\n`);

  let demo: Awaited<ReturnType<typeof startDemo>>;
  try {
    demo = await startDemo({
      gates: config.gates,
      residents: config.residents,
      port: config.port,
      mqttPort: config.mqttPort,
      dataDir,
      rate: config.rate,
      password: config.password,
      pty: config.pty,
      host: config.host,
      logger,
      progress: (line) => say(`  … ${line}`),
    });
  } catch (err) {
    process.stderr.write(`anxin demo: could not start: ${(err as Error).message}\n(see ${logFile})\n`);
    return 1;
  }

  const { urls } = demo;
  say('ready');
  say(`  guard console     ${urls.console}      (sign in: guard / ${config.password})`);
  say(`  manager dashboard ${urls.dashboard}    (sign in: manager / ${config.password}; admin / ${config.password})`);
  for (const t of urls.terminals) say(`  gate terminal     ${t.url}   ${t.gateId}`);
  say(`  MQTT broker       ${urls.mqtt}`);
  say(`  logs              ${logFile}`);
  say('Press Ctrl-C to stop.');

  await untilStopSignal();
  say('stopping …');
  await demo.stop();
  logger.flush();
  say('stopped');
  return 0;
}
