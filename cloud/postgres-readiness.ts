/**
 * Whether the whole cloud can run on PostgreSQL yet. The core store can (cloud/store/postgres);
 * every other part of the cloud that keeps data must have a PostgreSQL implementation too, or
 * `anxin cloud --db postgres://…` would half-work: ingest on PostgreSQL while sessions, statistics
 * or revocations silently lived nowhere. So the command refuses to start, naming what is missing,
 * until this list is empty (docs/cloud.md, "Store").
 *
 * Two kinds of entries: parts whose storage is opened per engine (cloud/store/engine.ts) are
 * probed — their factory throws `UnsupportedEngineError` for an engine it has no implementation
 * for — so landing a PostgreSQL implementation takes them off the list by itself; parts still
 * built on the SQLite handle are listed by hand, to be removed when they move behind an interface.
 * The probe never reaches a server: its pool refuses every use.
 */
import type pg from 'pg';
import { openAlarmAckStore } from './alarms/open-alarm-ack-store.ts';
import { openAnalyticsStore } from './analytics/open-analytics.ts';
import { PG_ANALYTICS_MIGRATIONS } from './analytics/pg-analytics-migrations.ts';
import { openDevicePassStore } from './device-passes/open-device-pass-store.ts';
import { PG_DEVICE_PASS_MIGRATIONS } from './device-passes/pg-device-pass-store.ts';
import { PG_ALARM_ACK_MIGRATIONS } from './alarms/pg-alarm-ack-store.ts';
import { openSessionStore } from './auth/open-session-store.ts';
import { openExitQuotaStore } from './lockdown/open-exit-quota-store.ts';
import { PG_SESSION_MIGRATIONS } from './auth/pg-session-store.ts';
import { openResidentSideStore } from './me/open-resident-side-store.ts';
import { PG_RESIDENT_SIDE_MIGRATIONS } from './me/pg-resident-side-statements.ts';
import { openIdentityKeys } from './registry/open-identity-keys.ts';
import { openSupplyStore } from './supply/open-supply-store.ts';
import { PG_SUPPLY_MIGRATIONS } from './supply/pg-supply-statements.ts';
import { openRevocationStore } from './revocations/open-revocation-store.ts';
import { PG_REVOCATION_MIGRATIONS } from './revocations/pg-revocation-store.ts';
import { type StoreEngine, UnsupportedEngineError } from './store/engine.ts';
import type { Migration } from './store/migration-runner.ts';
import { PG_MIGRATIONS } from './store/postgres/pg-migrations.ts';
import { openResidentDirectory } from './web/open-resident-directory.ts';

export interface PendingPart {
  part: string;
  /** The module to give a PostgreSQL implementation. */
  where: string;
}

/** Parts that still take the SQLite handle directly (no per-engine factory yet). */
const SQLITE_BOUND: readonly PendingPart[] = [];

/** Parts opened per engine: probed. */
const PER_ENGINE: readonly (PendingPart & { open: (engine: StoreEngine) => unknown })[] = [
  { part: 'sessions', where: 'cloud/auth/open-session-store.ts', open: openSessionStore },
  { part: 'alarm acknowledgements', where: 'cloud/alarms/open-alarm-ack-store.ts', open: openAlarmAckStore },
  { part: 'token revocations', where: 'cloud/revocations/open-revocation-store.ts', open: openRevocationStore },
  { part: 'resident directory', where: 'cloud/web/open-resident-directory.ts', open: openResidentDirectory },
  { part: 'identity keys (pepper rotation)', where: 'cloud/registry/open-identity-keys.ts', open: openIdentityKeys },
  { part: 'resident side', where: 'cloud/me/open-resident-side-store.ts', open: openResidentSideStore },
  { part: 'lockdown exit quota', where: 'cloud/lockdown/open-exit-quota-store.ts', open: openExitQuotaStore },
  { part: 'statistics and their rollups', where: 'cloud/analytics/open-analytics.ts', open: openAnalyticsStore },
  { part: 'device passes', where: 'cloud/device-passes/open-device-pass-store.ts', open: openDevicePassStore },
  { part: 'crisis supplies', where: 'cloud/supply/open-supply-store.ts', open: openSupplyStore },
];

/** The modules of the parts probed (test/cloud/postgres-readiness.test.ts checks no `open-*.ts` factory is missing). */
export const PROBED_MODULES: readonly string[] = PER_ENGINE.map((p) => p.where);

/** A pool that throws on any use: an implementation that exists is recognised without touching a database. */
function refusingPool(): pg.Pool {
  return new Proxy({} as pg.Pool, {
    get() {
      throw new Error('probe: no database');
    },
  });
}

/** The parts of the cloud that cannot store on PostgreSQL yet; empty when the whole cloud can. */
export function partsWithoutPostgres(): PendingPart[] {
  const probe: StoreEngine = { kind: 'postgres', pool: refusingPool() };
  const pending: PendingPart[] = [...SQLITE_BOUND];
  for (const { part, where, open } of PER_ENGINE) {
    try {
      open(probe);
    } catch (error) {
      if (error instanceof UnsupportedEngineError) pending.push({ part, where });
    }
  }
  return pending;
}

/**
 * Every table family of the cloud on PostgreSQL, each numbered in its own version table, the
 * store's first (others refer to its tables): `anxin db migrate` applies them all, so instances
 * start on a ready schema. An extension with a PostgreSQL implementation adds its family here.
 */
export const POSTGRES_MIGRATION_FAMILIES: readonly { table: string; migrations: readonly Migration[] }[] = [
  { table: 'schema_migrations', migrations: PG_MIGRATIONS },
  { table: 'session_migrations', migrations: PG_SESSION_MIGRATIONS },
  { table: 'alarm_ack_migrations', migrations: PG_ALARM_ACK_MIGRATIONS },
  { table: 'revocation_migrations', migrations: PG_REVOCATION_MIGRATIONS },
  { table: 'analytics_migrations', migrations: PG_ANALYTICS_MIGRATIONS },
  { table: 'device_pass_migrations', migrations: PG_DEVICE_PASS_MIGRATIONS },
  { table: 'supply_migrations', migrations: PG_SUPPLY_MIGRATIONS },
  { table: 'resident_side_migrations', migrations: PG_RESIDENT_SIDE_MIGRATIONS },
];

/** One line for the refusal: what is missing, and what to do meanwhile. */
export function postgresRefusal(pending: readonly PendingPart[]): string {
  return (
    `db: the PostgreSQL store is ready (anxin db migrate), but ${pending.length} part(s) of the cloud ` +
    `have no PostgreSQL storage yet: ${pending.map((p) => `${p.part} (${p.where})`).join('; ')}. ` +
    'Run the cloud on a SQLite file (--db PATH) until they do.'
  );
}
