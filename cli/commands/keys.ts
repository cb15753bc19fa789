/**
 * `anxin keys init|rotate|public`: the deployment's signing keys and pepper (shared/keys.ts).
 * The file holds private keys and the pepper, so it is written with mode 0600 and never
 * overwritten by `init` unless asked.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { openIdentityKeys } from '../../cloud/registry/open-identity-keys.ts';
import { PepperRotationError, rotatePepper } from '../../cloud/registry/pepper-rotation.ts';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { exitCodeFor, usageError } from '../command-errors.ts';
import { AnxinError } from '../../shared/errors.ts';
import {
  createKeysFile,
  type KeysFile,
  PEPPER_BYTES,
  publicKeysOnly,
  publicOnly,
  readKeysFile,
  rotateKeys,
} from '../../shared/keys.ts';

export const DEFAULT_KEYS_PATH = 'data/keys.json';

export const help = `Usage: anxin keys <init|rotate|public|gate> [flags]

  anxin keys init [--keys ${DEFAULT_KEYS_PATH}] [--force]
      write a new keys file: one Ed25519 signing key (kid 1) and a random pepper, mode 0600;
      refuses to overwrite an existing file unless --force (which also replaces the pepper,
      so every stored idHash stops matching: see docs/operations.md, "Rotating the pepper")
  anxin keys rotate [--keys ${DEFAULT_KEYS_PATH}]
      add a new signing key (kid = highest + 1) and make it current; old keys stay as public keys
      so passes and tokens they signed keep verifying until they expire
  anxin keys public [--keys ${DEFAULT_KEYS_PATH}] [--out FILE]
      the public keys only (no private key, no pepper): for the broker; safe to hand out
  anxin keys gate [--keys ${DEFAULT_KEYS_PATH}] [--out FILE]
      the public keys and the pepper: a gate's keysFile (secret; --out writes it with mode 0600)
  anxin keys rotate-pepper [--keys ${DEFAULT_KEYS_PATH}] --db FILE
      a new pepper (after a leak): every resident's pseudonym and sealed ID number re-keyed in one
      transaction, then the keys file replaced; the cloud must be stopped (docs/operations.md)

--keys is the deployment's keys file in every command (--out for init and --file for rotate and
public are its old names, still accepted); --out is where a command writes what it produces.
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

/** `--keys`, or its deprecated name (`--out` for init, `--file` for the others) with a warning. */
function keysPath(values: { keys?: string | undefined } & Record<string, unknown>, oldName: 'out' | 'file'): string {
  const old = values[oldName];
  if (typeof old === 'string') {
    process.stderr.write(`anxin keys: --${oldName} is deprecated here; use --keys ${old}\n`);
    if (values.keys === undefined) return old;
  }
  return values.keys ?? DEFAULT_KEYS_PATH;
}

function init(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: { keys: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: false,
  });
  const path = keysPath(values, 'out');
  const file = createKeysFile();
  if (values.force) {
    writeSecretFile(path, serialise(file));
  } else {
    mkdirSync(dirname(path), { recursive: true });
    try {
      writeFileSync(path, serialise(file), { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        return fail(`${path} exists; use --force to replace it (this also replaces the pepper)`);
      }
      throw error;
    }
  }
  process.stdout.write(`wrote ${path} (kid ${file.current})\n`);
  return 0;
}

function fileFlags(argv: string[]): { path: string; out?: string } {
  const { values } = parseArgs({
    args: argv,
    options: { keys: { type: 'string' }, file: { type: 'string' }, out: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  return { path: keysPath(values, 'file'), ...(values.out === undefined ? {} : { out: values.out }) };
}

function rotate(argv: string[]): number {
  const { path, out } = fileFlags(argv);
  if (out !== undefined) return fail('rotate changes the keys file in place; give it with --keys, not --out');
  const { file } = readKeysFile(path);
  const rotated = rotateKeys(file);
  writeSecretFile(path, serialise(rotated));
  process.stdout.write(`rotated ${path}: kid ${rotated.current} is current\n`);
  return 0;
}

/** Writes to `--out` (mode 0600, never over an existing file) or stdout. */
function emit(text: string, out: string | undefined): number {
  if (out === undefined) {
    process.stdout.write(text);
    return 0;
  }
  try {
    writeFileSync(out, text, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return fail(`${out} exists; not overwriting it`);
    throw error;
  }
  process.stderr.write(`wrote ${out}\n`);
  return 0;
}

function printPublic(argv: string[]): number {
  const { path, out } = fileFlags(argv);
  return emit(`${JSON.stringify(publicKeysOnly(readKeysFile(path).file), null, 2)}\n`, out);
}

function printGate(argv: string[]): number {
  const { path, out } = fileFlags(argv);
  return emit(serialise(publicOnly(readKeysFile(path).file)), out);
}

/**
 * `anxin keys rotate-pepper --keys FILE --db FILE`, the cloud stopped: a new pepper, every
 * resident re-keyed to it in one transaction, then the keys file replaced. The new file is written
 * beside the old one first, so a failure at any step leaves a pepper that matches the database.
 */
async function rotatePepperCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { keys: { type: 'string', default: DEFAULT_KEYS_PATH }, db: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  if (values.db === undefined || !existsSync(values.db)) {
    return fail("--db FILE: the cloud's database (stop the cloud first)");
  }
  const old = readKeysFile(values.keys);
  const next: KeysFile = { ...old.file, pepper: randomBytes(PEPPER_BYTES).toString('hex') };
  const staged = `${values.keys}.new`;
  writeFileSync(staged, serialise(next), { mode: 0o600 });
  const store = new SqliteCloudStore({ path: values.db });
  let residents: number;
  try {
    ({ residents } = await rotatePepper(openIdentityKeys(store.engine), old.pepper, Buffer.from(next.pepper, 'hex')));
  } catch (error) {
    rmSync(staged, { force: true });
    if (error instanceof PepperRotationError) return fail(`${error.message}; nothing changed`);
    throw error;
  } finally {
    await store.close();
  }
  renameSync(staged, values.keys);
  process.stdout.write(
    `rotated the pepper of ${values.keys}: ${residents} residents re-keyed in ${values.db}; ` +
      'give every gate a new gate.json (anxin gate add) and an empty dataDir (docs/operations.md)\n',
  );
  return 0;
}

const SUBCOMMANDS: Record<string, (argv: string[]) => number | Promise<number>> = {
  init,
  rotate,
  public: printPublic,
  gate: printGate,
  'rotate-pepper': rotatePepperCommand,
};

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const subcommand = name === undefined ? undefined : SUBCOMMANDS[name];
  if (!subcommand)
    return fail(`expected init, rotate, public, gate or rotate-pepper${name === undefined ? '' : `, got "${name}"`}`);
  try {
    return await subcommand(rest);
  } catch (error) {
    // A file system error (EACCES, ENOENT …) is the operator's to fix, not a bug.
    const code = (error as NodeJS.ErrnoException).code;
    if (!(error instanceof AnxinError) && code && !code.startsWith('ERR_PARSE_ARGS')) {
      return fail(`${code}: ${(error as Error).message}`);
    }
    return exitCodeFor('keys', error);
  }
}
