/**
 * The device pass store on PostgreSQL: `pass_media` and `device_passes`, versioned in
 * `device_pass_migrations` (the SQLite store's tables, with bytea and bigint). Replacing a
 * resident's device pass holds a lock on the resident (an advisory lock: there may be no row to
 * lock yet), so two instances enrolling the same resident at once each return the pass they really
 * replaced, and each replaced pass is revoked.
 */
import type pg from 'pg';
import type { PassMedium } from '../../shared/schemas/device-pass.ts';
import type { Migration } from '../store/migration-runner.ts';
import { migratedOnFirstUse } from '../store/postgres/pg-migrated.ts';
import { lockKeys, one, run, statement, transaction } from '../store/postgres/pg-pool.ts';
import { appendChanges } from '../store/postgres/pg-registry.ts';
import type { ChangeBatch } from '../store/store.ts';
import { type DevicePassRow, type DevicePassValues, devicePassOfRow, devicePassValues } from './device-pass-rows.ts';
import {
  certificateChange,
  type DeviceCertificateRow,
  type DevicePassRecord,
  type DevicePassStore,
  type MediumChoice,
} from './device-pass-store.ts';

export const PG_DEVICE_PASS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'pass medium per resident, current device pass per resident',
    sql: `
CREATE TABLE pass_media (
  person_id text PRIMARY KEY,
  medium text NOT NULL CHECK (medium IN ('printed', 'phone')),
  set_by text NOT NULL,
  set_at bigint NOT NULL
);
CREATE TABLE device_passes (
  person_id text PRIMARY KEY,
  pass_id text NOT NULL UNIQUE,
  compound_id text NOT NULL,
  certificate bytea NOT NULL,
  device_key_id text NOT NULL,
  label text,
  frame_seconds integer NOT NULL,
  not_before bigint NOT NULL,
  expires_at bigint NOT NULL,
  issued_at bigint NOT NULL
);
`,
  },
];

const mediumOf = statement<[string], { medium: PassMedium }>(
  'device_pass_medium',
  'SELECT medium FROM pass_media WHERE person_id = $1',
);
const setMedium = statement<[string, string, string, number]>(
  'device_pass_set_medium',
  `INSERT INTO pass_media (person_id, medium, set_by, set_at) VALUES ($1, $2, $3, $4)
   ON CONFLICT (person_id) DO UPDATE SET medium = excluded.medium, set_by = excluded.set_by, set_at = excluded.set_at`,
);
const current = statement<[string], DevicePassRow>(
  'device_pass_current',
  'SELECT * FROM device_passes WHERE person_id = $1',
);
const upsert = statement<DevicePassValues>(
  'device_pass_upsert',
  `INSERT INTO device_passes (person_id, pass_id, compound_id, certificate, device_key_id, label, frame_seconds,
     not_before, expires_at, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
   ON CONFLICT (person_id) DO UPDATE SET pass_id = excluded.pass_id, compound_id = excluded.compound_id,
     certificate = excluded.certificate, device_key_id = excluded.device_key_id, label = excluded.label,
     frame_seconds = excluded.frame_seconds, not_before = excluded.not_before, expires_at = excluded.expires_at,
     issued_at = excluded.issued_at`,
);
const remove = statement<[string], DevicePassRow>(
  'device_pass_remove',
  'DELETE FROM device_passes WHERE person_id = $1 RETURNING *',
);

const forSnapshot = statement<[string, number], { pass_id: string; person_id: string; certificate: Buffer }>(
  'device_pass_for_snapshot',
  `SELECT d.pass_id, d.person_id, d.certificate FROM device_passes d JOIN passes p ON p.pass_id = d.pass_id
   WHERE d.compound_id = $1 AND d.expires_at > $2 AND p.revoked_at IS NULL`,
);

export class PgDevicePassStore implements DevicePassStore {
  private readonly ready: () => Promise<pg.Pool>;

  constructor(pool: pg.Pool) {
    this.ready = migratedOnFirstUse(pool, 'device_pass_migrations', PG_DEVICE_PASS_MIGRATIONS);
  }

  async medium(personId: string): Promise<PassMedium> {
    return (await one(await this.ready(), mediumOf, [personId]))?.medium ?? 'printed';
  }

  async setMedium(choice: MediumChoice): Promise<void> {
    await run(await this.ready(), setMedium, [choice.personId, choice.medium, choice.setBy, choice.setAt]);
  }

  async current(personId: string): Promise<DevicePassRecord | undefined> {
    const row = await one(await this.ready(), current, [personId]);
    return row ? devicePassOfRow(row) : undefined;
  }

  async replace(r: DevicePassRecord): Promise<DevicePassRecord | undefined> {
    return transaction(await this.ready(), async (client) => {
      await run(client, lockKeys, [[`device-pass:${r.personId}`]]);
      const before = await one(client, current, [r.personId]);
      await run(client, upsert, devicePassValues(r));
      return before ? devicePassOfRow(before) : undefined;
    });
  }

  async clear(personId: string): Promise<DevicePassRecord | undefined> {
    const row = await one(await this.ready(), remove, [personId]);
    return row ? devicePassOfRow(row) : undefined;
  }

  async announce(record: DevicePassRecord): Promise<ChangeBatch> {
    return transaction(await this.ready(), (client) =>
      appendChanges(client, record.compoundId, [certificateChange(record)]),
    );
  }

  async forSnapshot(compoundId: string, now: number): Promise<DeviceCertificateRow[]> {
    const { rows } = await run(await this.ready(), forSnapshot, [compoundId, now]);
    return rows.map((r) => ({ passId: r.pass_id, personId: r.person_id, certificate: r.certificate }));
  }
}
