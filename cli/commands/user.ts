/**
 * `anxin user add|passwd|disable|enable`: logins for the cloud's HTTP API and web pages, written
 * straight into the cloud's database (scrypt-hashed password). Without `--password` it asks on a
 * terminal, or generates one and prints it once (`--password-file F` reads it from a file instead,
 * so it never shows in `ps`). `passwd` and `disable` end every session of the user — a running
 * cloud refuses their tokens from its next request (cloud/auth/session-service.ts).
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { exitCodeFor, usageError } from '../command-errors.ts';
import { generatePassword, hashPassword } from '../../cloud/auth/password-hash.ts';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import { formatIssues } from '../../shared/config.ts';
import { readPasswordFile } from '../password-file.ts';
import { openSessionStore } from '../../cloud/auth/open-session-store.ts';
import { SessionService } from '../../cloud/auth/session-service.ts';
import type { CloudStore } from '../../cloud/store/store.ts';
import { userCreateSchema } from '../../shared/schemas/http.ts';
import { privateDir } from '../../shared/private-files.ts';

export const help = `Usage: anxin user add --username NAME --role admin|manager|guard [flags]
       anxin user passwd --username NAME [--password P | --password-file F] [--db PATH]
       anxin user disable|enable --username NAME [--db PATH]
       anxin user list [--db PATH]

list prints every login: username, role, compound (never a password hash).

  --db PATH            the cloud's database (default data/cloud.db)
  --username NAME      [a-z0-9._-], 1..64 characters
  --role ROLE          admin, manager or guard
  --compound ID        bind the user to one compound (required for guards)
  --password P         at least 8 characters; without it: asked on a terminal, else generated and printed
  --password-file F    the password is the first line of F (not visible in the process list)

passwd, disable: every session of the user ends at once (a running cloud sees it at the next request).
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
      'password-file': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  let password = passwordOf(values) ?? (await askPassword());
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

  privateDir(dirname(values.db));
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

function passwordOf(values: { password?: string | undefined; 'password-file'?: string | undefined }) {
  if (values['password-file'] !== undefined) {
    return readPasswordFile(values['password-file']);
  }
  return values.password;
}

/** The sessions in the cloud's database. Sessions are signed by the cloud; this tool only ends them, so no key is needed. */
function sessionsOf(store: CloudStore): SessionService {
  return new SessionService({ store: openSessionStore(store.engine), now: Date.now });
}

async function change(verb: 'passwd' | 'disable' | 'enable', argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: 'string', default: 'data/cloud.db' },
      username: { type: 'string' },
      password: { type: 'string' },
      'password-file': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.username === undefined) return fail('username: required');
  if (verb !== 'passwd' && (values.password !== undefined || values['password-file'] !== undefined)) {
    return fail(`${verb} takes no password`);
  }
  const store = new SqliteCloudStore({ path: values.db });
  let generated: string | undefined;
  let ended: number;
  try {
    const user = await store.getUser(values.username);
    if (!user) return fail(`username: no user "${values.username}" in ${values.db}`);
    if (verb === 'passwd') {
      let password = passwordOf(values) ?? (await askPassword());
      if (password === undefined) {
        password = generatePassword();
        generated = password;
      }
      if (password.length < 8 || password.length > 256) return fail('password: 8 to 256 characters');
      await store.setPasswordHash(user.username, await hashPassword(password));
      ended = await sessionsOf(store).endAllOf(user.username, 'password');
    } else {
      await sessionsOf(store).setDisabled(user.username, verb === 'disable', 'cli');
      ended = 0;
    }
    await store.recordAudit({
      at: Date.now(),
      actor: 'cli',
      role: 'admin',
      action: verb === 'passwd' ? 'user.password-reset' : 'user.update',
      compoundId: user.compoundId,
      target: user.username,
      detail: verb === 'passwd' ? { endedSessions: ended } : { disabled: verb === 'disable' },
    });
  } finally {
    await store.close();
  }
  const what = verb === 'passwd' ? 'password changed' : verb === 'disable' ? 'disabled' : 'enabled';
  process.stdout.write(`${values.username}: ${what}${verb === 'enable' ? '' : '; every session ended'}\n`);
  if (generated) process.stdout.write(`password: ${generated}\n`);
  return 0;
}

const VERBS = ['add', 'passwd', 'disable', 'enable'] as const;

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'list') {
    try {
      return await list(rest);
    } catch (error) {
      return exitCodeFor('user', error);
    }
  }
  if (!(VERBS as readonly (string | undefined)[]).includes(name)) {
    return fail(`expected one of ${VERBS.join(', ')}${name === undefined ? '' : `, got "${name}"`}`);
  }
  try {
    return name === 'add' ? await add(rest) : await change(name as 'passwd' | 'disable' | 'enable', rest);
  } catch (error) {
    return exitCodeFor('user', error);
  }
}

async function list(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { db: { type: 'string', default: 'data/cloud.db' } },
    strict: true,
    allowPositionals: false,
  });
  if (!existsSync(values.db)) return fail(`--db: ${values.db} does not exist (the cloud's database; give its path)`);
  const store = new SqliteCloudStore({ path: values.db });
  try {
    const users = await store.listUsers();
    const width = Math.max(8, ...users.map((u) => u.username.length));
    process.stdout.write(`${'username'.padEnd(width)}  ${'role'.padEnd(8)}  compound\n`);
    for (const user of users) {
      process.stdout.write(`${user.username.padEnd(width)}  ${user.role.padEnd(8)}  ${user.compoundId ?? '(all)'}\n`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
