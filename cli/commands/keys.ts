/**
 * `anxin keys init|rotate|public`: the deployment's signing keys and pepper (shared/keys.ts).
 * The file holds private keys and the pepper, so it is written with mode 0600 and never
 * overwritten by `init` unless asked.
 */
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { exitCodeFor, usageError } from '../command-errors.ts';
import { AnxinError } from '../../shared/errors.ts';
import { createKeysFile, type KeysFile, publicOnly, readKeysFile, rotateKeys } from '../../shared/keys.ts';

export const DEFAULT_KEYS_PATH = 'data/keys.json';

export const help = `Usage: anxin keys <init|rotate|public> [flags]

  anxin keys init [--out ${DEFAULT_KEYS_PATH}] [--force]
      write a new keys file: one Ed25519 signing key (kid 1) and a random pepper, mode 0600;
      refuses to overwrite an existing file unless --force (which also replaces the pepper,
      so every stored idHash stops matching)
  anxin keys rotate [--file ${DEFAULT_KEYS_PATH}]
      add a new signing key (kid = highest + 1) and make it current; old keys stay as public keys
      so passes and tokens they signed keep verifying until they expire
  anxin keys public [--file ${DEFAULT_KEYS_PATH}]
      print the file without private keys (for gates and the broker) on stdout
`;

const fail = (message: string): number => usageError('keys', message);

function serialise(file: KeysFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Writes beside the target and renames, so a crash never leaves half a keys file. */
function writeSecretFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600, flag: 'wx' });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

function init(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: { out: { type: 'string', default: DEFAULT_KEYS_PATH }, force: { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: false,
  });
  const file = createKeysFile();
  if (values.force) {
    writeSecretFile(values.out, serialise(file));
  } else {
    mkdirSync(dirname(values.out), { recursive: true });
    try {
      writeFileSync(values.out, serialise(file), { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        return fail(`${values.out} exists; use --force to replace it (this also replaces the pepper)`);
      }
      throw error;
    }
  }
  process.stdout.write(`wrote ${values.out} (kid ${file.current})\n`);
  return 0;
}

function fileFlag(argv: string[]): string {
  const { values } = parseArgs({
    args: argv,
    options: { file: { type: 'string', default: DEFAULT_KEYS_PATH } },
    strict: true,
    allowPositionals: false,
  });
  return values.file;
}

function rotate(argv: string[]): number {
  const path = fileFlag(argv);
  const { file } = readKeysFile(path);
  const rotated = rotateKeys(file);
  writeSecretFile(path, serialise(rotated));
  process.stdout.write(`rotated ${path}: kid ${rotated.current} is current\n`);
  return 0;
}

function printPublic(argv: string[]): number {
  const { file } = readKeysFile(fileFlag(argv));
  process.stdout.write(serialise(publicOnly(file)));
  return 0;
}

const SUBCOMMANDS: Record<string, (argv: string[]) => number> = { init, rotate, public: printPublic };

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const subcommand = name === undefined ? undefined : SUBCOMMANDS[name];
  if (!subcommand) return fail(`expected init, rotate or public${name === undefined ? '' : `, got "${name}"`}`);
  try {
    return subcommand(rest);
  } catch (error) {
    // A file system error (EACCES, ENOENT …) is the operator's to fix, not a bug.
    const code = (error as NodeJS.ErrnoException).code;
    if (!(error instanceof AnxinError) && code && !code.startsWith('ERR_PARSE_ARGS')) {
      return fail(`${code}: ${(error as Error).message}`);
    }
    return exitCodeFor('keys', error);
  }
}
