/**
 * A cloud database written before `anxin cloud` first starts, and the credentials a test or a
 * benchmark presents to it — one way for the fault suites (testkit/deployment.ts) and the
 * benchmarks (bench/lib/deployment.ts): compounds, gates, residents and sign-ins through the
 * store's own methods; MQTT tokens signed with the deployment key; HTTP bearer tokens as sessions
 * in the cloud's database (cloud/auth/session-service.ts), since staff tokens are sessions.
 */
import Database from 'better-sqlite3';
import { hashPassword } from '../cloud/auth/password-hash.ts';
import { issueSessionInFile } from '../cloud/auth/sqlite-session-store.ts';
import type { Resident } from '../cloud/store/store.ts';
import { SqliteCloudStore } from '../cloud/store/sqlite-store.ts';
import type { HttpRole, Role } from '../shared/enums.ts';
import type { ParsedKeys } from '../shared/keys.ts';
import { signToken } from '../shared/token.ts';

const RESIDENTS_PER_UPSERT = 10_000;

export interface CloudSeed {
  compounds: readonly string[];
  gates: readonly { gateId: string; compoundId: string }[];
  residents?: readonly Resident[];
  /** Sign-ins, all with `password` (guards belong to a compound). */
  users?: readonly { username: string; role: HttpRole; compoundId?: string }[];
  password?: string;
}

/** Creates the SQLite file at `path` (schema included) and writes `seed` into it. */
export async function seedCloudDatabase(path: string, seed: CloudSeed): Promise<void> {
  const store = new SqliteCloudStore({ path });
  try {
    const now = Date.now();
    for (const id of seed.compounds) await store.createCompound({ id, name: id, timeZone: 'Asia/Shanghai' }, now);
    for (const g of seed.gates) {
      await store.createGate({ id: g.gateId, compoundId: g.compoundId, name: g.gateId, antiPassback: false }, now);
    }
    const residents = seed.residents ?? [];
    for (let i = 0; i < residents.length; i += RESIDENTS_PER_UPSERT) {
      await store.upsertResidents(residents.slice(i, i + RESIDENTS_PER_UPSERT));
    }
    if (seed.users?.length) {
      if (seed.password === undefined) throw new Error('seedCloudDatabase: users need a password');
      const passwordHash = await hashPassword(seed.password);
      for (const u of seed.users) {
        await store.createUser({
          username: u.username,
          passwordHash,
          role: u.role,
          compoundId: u.compoundId ?? null,
          createdAt: now,
        });
      }
    }
  } finally {
    await store.close();
  }
}

/** A visitor of `compoundId` with no identity: a person a suite's passes may name. */
export function visitorResident(personId: string, compoundId: string, now: number): Resident {
  return {
    personId,
    compoundId,
    householdId: null,
    kind: 'visitor',
    name: '访客',
    maskedName: '访*',
    idSealed: null,
    idHash: null,
    maskedIdNumber: null,
    phone: null,
    cards: [],
    elderly: false,
    validFrom: null,
    validTo: null,
    active: true,
    health: 'unknown',
    healthTs: null,
    createdAt: now,
    updatedAt: now,
  };
}

/** A token signed with the deployment key: an MQTT password (gate, observer …) or a bearer token. */
export function signedToken(
  keys: ParsedKeys,
  claims: { sub: string; role: Role; exp: number; compound?: string; jti?: string },
): string {
  if (!keys.signing) throw new Error('no signing key');
  return signToken(
    {
      sub: claims.sub,
      role: claims.role,
      exp: claims.exp,
      ...(claims.compound ? { compound: claims.compound } : {}),
      ...(claims.jti ? { jti: claims.jti } : {}),
    },
    keys.signing,
  );
}

/** The bearer token of a session of `username` opened in the cloud's database at `dbPath`. */
export function sessionToken(
  dbPath: string,
  keys: ParsedKeys,
  user: { username: string; role: HttpRole; compound?: string },
): string {
  if (!keys.signing) throw new Error('no signing key');
  return issueSessionInFile(
    dbPath,
    keys.signing,
    { username: user.username, role: user.role, ...(user.compound ? { compound: user.compound } : {}) },
    (path) => new Database(path),
  ).token;
}
