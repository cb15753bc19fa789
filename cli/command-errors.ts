/**
 * How a command turns an expected failure into its exit code (docs/contract.md, "Command line"): bad
 * configuration prints one `path: message` line per problem, an unknown flag or bad value and any
 * other typed error one `anxin <command>: reason` line; all exit 2. Anything else is a bug and is
 * rethrown (Node prints it and exits 1).
 */
import { AnxinError } from '../shared/errors.ts';

/** parseArgs throws a TypeError with code `ERR_PARSE_ARGS_*` for unknown flags and missing values. */
function isParseArgsError(error: unknown): error is TypeError {
  return error instanceof TypeError && String((error as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS');
}

/**
 * A message as one line: Node's parseArgs explains some refusals over three lines (a value that
 * starts with a dash); the contract's "one-line reason" keeps all of it, joined.
 */
export function oneLine(message: string): string {
  return message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
}

export function usageError(command: string, message: string): number {
  process.stderr.write(`anxin ${command}: ${oneLine(message)}\n`);
  return 2;
}

/** `ConfigError` and `KeysError` carry their `path: message` lines as `problems`. */
function problemsOf(error: unknown): string[] | undefined {
  const problems = error instanceof AnxinError ? (error as { problems?: unknown }).problems : undefined;
  return Array.isArray(problems) ? problems.map(String) : undefined;
}

export function exitCodeFor(command: string, error: unknown): number {
  const problems = problemsOf(error);
  if (problems) {
    for (const problem of problems) process.stderr.write(`${problem}\n`);
    return 2;
  }
  if (isParseArgsError(error) || error instanceof AnxinError) return usageError(command, error.message);
  throw error;
}
