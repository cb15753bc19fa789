/**
 * The `anxin` command. Each sub-command lives in `cli/commands/<name>.ts` and exports
 * `run(argv): Promise<number>` (the exit code) and `help` (its usage text).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const COMMANDS: Record<string, string> = {
  demo: 'broker + cloud + simulated gates with residents and traffic, all on this machine',
  broker: 'the MQTT broker alone',
  cloud: 'the cloud alone (ingest, store, HTTP API, web pages)',
  edge: 'one gate (edge agent): anxin edge --config gate.json',
  sim: 'a device simulator on a serial port: anxin sim idreader|qr|turnstile --port PATH',
  keys: 'signing keys: anxin keys init',
  gate: 'provision a gate: anxin gate add --compound ID --id ID (prints its token and gate.json)',
  user: 'provision a login: anxin user add --username NAME --role admin|manager|guard',
};

const USAGE = `Usage: anxin <command> [flags]   (anxin <command> --help for its flags)

Commands:
${Object.entries(COMMANDS)
  .map(([name, text]) => `  ${name.padEnd(8)} ${text}`)
  .join('\n')}
`;

/** `.ts` when run from the sources (tsx), `.js` when run from the build in dist/. */
const MODULE_EXT = import.meta.url.endsWith('.js') ? '.js' : '.ts';

interface CommandModule {
  run(argv: string[]): Promise<number>;
  help: string;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  if (!(name in COMMANDS)) {
    process.stderr.write(`anxin: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  const file = fileURLToPath(new URL(`./commands/${name}${MODULE_EXT}`, import.meta.url));
  if (!existsSync(file)) {
    process.stderr.write(`anxin ${name}: not implemented yet\n`);
    return 2;
  }
  const command = (await import(file)) as CommandModule;
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help.trim()}\n`);
    return 0;
  }
  return command.run(rest);
}
