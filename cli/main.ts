/**
 * The `anxin` command. Each sub-command lives in `cli/commands/<name>.ts` and exports
 * `run(argv): Promise<number>` (the exit code) and `help` (its usage text). The table below names
 * each one with a loader, so a command's modules (the cloud's, the broker's) load only when it runs.
 */
import { keepYoungGenerationSmall } from '../shared/small-heap.ts';

import { CONTRACT_VERSION, packageVersion } from '../shared/version.ts';

interface CommandModule {
  run(argv: string[]): Promise<number>;
  help: string;
}

interface CommandEntry {
  summary: string;
  load: () => Promise<CommandModule>;
}

export const COMMANDS = {
  demo: {
    summary: 'broker + cloud + simulated gates with residents and traffic, all on this machine',
    load: () => import('./commands/demo.ts'),
  },
  broker: { summary: 'the MQTT broker alone', load: () => import('./commands/broker.ts') },
  cloud: { summary: 'the cloud alone (ingest, store, HTTP API, web pages)', load: () => import('./commands/cloud.ts') },
  edge: { summary: 'one gate (edge agent): anxin edge --config gate.json', load: () => import('./commands/edge.ts') },
  sim: {
    summary: 'a device simulator on a serial port: anxin sim idreader|qr|turnstile --port PATH',
    load: () => import('./commands/sim.ts'),
  },
  keys: {
    summary: 'signing keys and pepper: anxin keys init|rotate|public|gate',
    load: () => import('./commands/keys.ts'),
  },
  gate: {
    summary: 'provision a gate: anxin gate add --compound ID --id ID (prints its gate.json); anxin gate list',
    load: () => import('./commands/gate.ts'),
  },
  db: {
    summary: 'the cloud database: anxin db migrate --db PATH|postgres://… (schema up to date)',
    load: () => import('./commands/db.ts'),
  },
  user: {
    summary: 'logins: anxin user add --username NAME --role admin|manager|guard; anxin user list',
    load: () => import('./commands/user.ts'),
  },
} satisfies Record<string, CommandEntry>;

type CommandName = keyof typeof COMMANDS;

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

const USAGE = `Usage: anxin <command> [flags]   (anxin <command> --help for its flags; anxin --version)

Commands:
${Object.entries(COMMANDS)
  .map(([name, entry]) => `  ${name.padEnd(8)} ${entry.summary}`)
  .join('\n')}
`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`anxin ${packageVersion()} (contract v${CONTRACT_VERSION}, node ${process.versions.node})\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  if (!isCommand(name)) {
    process.stderr.write(`anxin: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  // The gate runs on a small board: its heap stays small from the first module it loads.
  if (name === 'edge') keepYoungGenerationSmall();
  const command: CommandModule = await COMMANDS[name].load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help.trim()}\n`);
    return 0;
  }
  return command.run(rest);
}
