/**
 * `anxin user add`: a login for the cloud's HTTP API and web pages, written straight into the
 * cloud's database (scrypt-hashed password). Without `--password` it asks on a terminal, or
 * generates one and prints it once.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { exitCodeFor, usageError } from '../command-errors.ts';
import { generatePassword, hashPassword } from '../../cloud/auth/password-hash.ts';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import { formatIssues } from '../../shared/config.ts';
import { userCreateSchema } from '../../shared/schemas/http.ts';

export const help = `Usage: anxin user add --username NAME --role admin|manager|guard [flags]

  --db PATH          the cloud's database (default data/cloud.db)
  --username NAME    [a-z0-9._-], 1..64 characters
  --role ROLE        admin, manager or guard
  --compound ID      bind the user to one compound (required for guards)
  --password P       at least 8 characters; without it: asked on a terminal, else generated and printed
`;

const fail = (message: string): number => usageError('user', message);

async function askPassword(): Promise<string | undefined> {
  if (!process.stdin.isTTY) return undefined;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question('password (empty: generate one): ');
    return answer === '' ? undefined : answer;
  } finally {
    rl.close();
  }
}

async function add(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: 'string', default: 'data/cloud.db' },
      username: { type: 'string' },
      role: { type: 'string' },
      compound: { type: 'string' },
      password: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  let password = values.password ?? (await askPassword());
  const generated = password === undefined;
  password ??= generatePassword();
  const parsed = userCreateSchema.safeParse({
    username: values.username,
    password,
    role: values.role,
    ...(values.compound !== undefined ? { compoundId: values.compound } : {}),
  });
  if (!parsed.success) {
    for (const line of formatIssues(parsed.error)) process.stderr.write(`${line}\n`);
    return 2;
  }
  const input = parsed.data;
  if (input.role === 'guard' && input.compoundId === undefined) return fail('compound: required for guards');

  mkdirSync(dirname(values.db), { recursive: true });
  const store = new SqliteCloudStore({ path: values.db });
  try {
    if (input.compoundId !== undefined && !(await store.getCompound(input.compoundId))) {
      return fail(`compound: no compound "${input.compoundId}" in ${values.db}`);
    }
    await store.createUser({
      username: input.username,
      passwordHash: await hashPassword(input.password),
      role: input.role,
      compoundId: input.compoundId ?? null,
      createdAt: Date.now(),
    });
    await store.recordAudit({
      at: Date.now(),
      actor: 'cli',
      role: 'admin',
      action: 'user.create',
      compoundId: input.compoundId ?? null,
      target: input.username,
      detail: { role: input.role },
    });
  } finally {
    await store.close();
  }
  process.stdout.write(
    `added ${input.role} ${input.username}${input.compoundId ? ` (compound ${input.compoundId})` : ''}\n`,
  );
  if (generated) process.stdout.write(`password: ${password}\n`);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name !== 'add') return fail(`expected "add"${name === undefined ? '' : `, got "${name}"`}`);
  try {
    return await add(rest);
  } catch (error) {
    return exitCodeFor('user', error);
  }
}
