/**
 * `anxin gate guard-pin --id ID --name NAME`: one entry of a gate's `terminal.guards`, with the
 * PIN hashed (scrypt) — the PIN is read from stdin (first line) so it stays out of the shell
 * history and the process list. Paste the printed JSON into gate.json (docs/edge-agent.md
 * "Guard sign-in").
 */
import { parseArgs } from 'node:util';
import { hashGuardPin, PIN_PATTERN } from '../../edge-agent/terminal/guard-pin.ts';
import { isValidId } from '../../shared/ids.ts';
import { usageError } from '../command-errors.ts';

export const guardPinHelp = `Usage: anxin gate guard-pin --id ID --name NAME  < pin.txt

Prints one entry of gate.json's terminal.guards: {"id","name","pin"} with the PIN (4–12 digits,
the first line of stdin) hashed with scrypt. The gate checks it itself, so guards sign in to
the terminal's /guard panel even with the network down.
`;

async function readStdinLine(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n') || text.length > 64) break;
  }
  return text.split(/\r?\n/)[0]!.trim();
}

export async function runGuardPin(argv: string[]): Promise<number> {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { id: { type: 'string' }, name: { type: 'string' } },
    }).values as Record<string, string | undefined>;
  } catch (error) {
    return usageError('gate', (error as Error).message);
  }
  if (!isValidId(values.id)) return usageError('gate', '--id: expected [a-z0-9-]{1,64}');
  const name = values.name?.trim();
  if (!name || name.length > 64) return usageError('gate', '--name: expected 1 to 64 characters');
  const pin = await readStdinLine();
  if (!PIN_PATTERN.test(pin)) return usageError('gate', 'stdin: expected a PIN of 4 to 12 digits');
  process.stdout.write(`${JSON.stringify({ id: values.id, name, pin: hashGuardPin(pin) })}\n`);
  return 0;
}
