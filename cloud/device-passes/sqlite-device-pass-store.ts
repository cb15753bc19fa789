/** The device pass store on SQLite: `pass_media` and `device_passes`, versioned in `device_pass_migrations`. */
import type { Database, Statement } from 'better-sqlite3';
import type { PassMedium } from '../../shared/schemas/device-pass.ts';
import { type Migration, runMigrations } from '../store/migration-runner.ts';
import { SqliteChangeLog } from '../store/sqlite/change-log.ts';
import type { ChangeBatch } from '../store/store.ts';
import { type DevicePassRow, type DevicePassValues, devicePassOfRow, devicePassValues } from './device-pass-rows.ts';
import {
  certificateChange,
  type DeviceCertificateRow,
  type DevicePassRecord,
  type DevicePassStore,
  type MediumChoice,
} from './device-pass-store.ts';

export const DEVICE_PASS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'pass medium per resident, current device pass per resident',
    sql: `
CREATE TABLE pass_media (
  person_id TEXT PRIMARY KEY,
  medium TEXT NOT NULL CHECK (medium IN ('printed', 'phone')),
  set_by TEXT NOT NULL,
  set_at INTEGER NOT NULL
);
CREATE TABLE device_passes (
  person_id TEXT PRIMARY KEY,
  pass_id TEXT NOT NULL UNIQUE,
  compound_id TEXT NOT NULL,
  certificate BLOB NOT NULL,
  device_key_id TEXT NOT NULL,
  label TEXT,
  frame_seconds INTEGER NOT NULL,
  not_before INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  issued_at INTEGER NOT NULL
);
`,
  },
];

export class SqliteDevicePassStore implements DevicePassStore {
  private stmt:
    | {
        medium: Statement<[string], { medium: PassMedium }>;
        setMedium: Statement<[string, string, string, number]>;
        current: Statement<[string], DevicePassRow>;
        upsert: Statement<DevicePassValues>;
        remove: Statement<[string], DevicePassRow>;
        forSnapshot: Statement<[string, number], { pass_id: string; person_id: string; certificate: Buffer }>;
      }
    | undefined;
  private log: SqliteChangeLog | undefined;
  private replaceTx: ((record: DevicePassRecord) => DevicePassRecord | undefined) | undefined;

  constructor(private readonly db: Database) {}

  /** Creates the tables if need be and prepares the statements. */
  start(): this {
    runMigrations(this.db, 'device_pass_migrations', DEVICE_PASS_MIGRATIONS);
    const stmt = {
      medium: this.db.prepare<[string], { medium: PassMedium }>('SELECT medium FROM pass_media WHERE person_id = ?'),
      setMedium: this.db.prepare<[string, string, string, number]>(
        `INSERT INTO pass_media (person_id, medium, set_by, set_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (person_id) DO UPDATE SET medium = excluded.medium, set_by = excluded.set_by, set_at = excluded.set_at`,
      ),
      current: this.db.prepare<[string], DevicePassRow>('SELECT * FROM device_passes WHERE person_id = ?'),
      upsert: this.db.prepare<DevicePassValues>(
        `INSERT INTO device_passes (person_id, pass_id, compound_id, certificate, device_key_id, label, frame_seconds,
           not_before, expires_at, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (person_id) DO UPDATE SET pass_id = excluded.pass_id, compound_id = excluded.compound_id,
           certificate = excluded.certificate, device_key_id = excluded.device_key_id, label = excluded.label,
           frame_seconds = excluded.frame_seconds, not_before = excluded.not_before, expires_at = excluded.expires_at,
           issued_at = excluded.issued_at`,
      ),
      remove: this.db.prepare<[string], DevicePassRow>('DELETE FROM device_passes WHERE person_id = ? RETURNING *'),
      forSnapshot: this.db.prepare<[string, number], { pass_id: string; person_id: string; certificate: Buffer }>(
        `SELECT d.pass_id, d.person_id, d.certificate FROM device_passes d JOIN passes p ON p.pass_id = d.pass_id
         WHERE d.compound_id = ? AND d.expires_at > ? AND p.revoked_at IS NULL`,
      ),
    };
    this.log = new SqliteChangeLog(this.db);
    this.stmt = stmt;
    this.replaceTx = this.db.transaction((r: DevicePassRecord) => {
      const before = stmt.current.get(r.personId);
      stmt.upsert.run(...devicePassValues(r));
      return before ? devicePassOfRow(before) : undefined;
    });
    return this;
  }

  private statements() {
    if (!this.stmt || !this.replaceTx) throw new Error('SqliteDevicePassStore.start() was not called');
    return { stmt: this.stmt, replaceTx: this.replaceTx };
  }

  async medium(personId: string): Promise<PassMedium> {
    return this.statements().stmt.medium.get(personId)?.medium ?? 'printed';
  }

  async setMedium(choice: MediumChoice): Promise<void> {
    this.statements().stmt.setMedium.run(choice.personId, choice.medium, choice.setBy, choice.setAt);
  }

  async current(personId: string): Promise<DevicePassRecord | undefined> {
    const row = this.statements().stmt.current.get(personId);
    return row ? devicePassOfRow(row) : undefined;
  }

  async replace(record: DevicePassRecord): Promise<DevicePassRecord | undefined> {
    return this.statements().replaceTx(record);
  }

  async clear(personId: string): Promise<DevicePassRecord | undefined> {
    const row = this.statements().stmt.remove.get(personId);
    return row ? devicePassOfRow(row) : undefined;
  }

  async announce(record: DevicePassRecord): Promise<ChangeBatch> {
    const log = this.log;
    if (!log) throw new Error('SqliteDevicePassStore.start() was not called');
    return this.db.transaction(() => log.append(record.compoundId, [certificateChange(record)]))();
  }

  async forSnapshot(compoundId: string, now: number): Promise<DeviceCertificateRow[]> {
    return this.statements()
      .stmt.forSnapshot.all(compoundId, now)
      .map((r) => ({ passId: r.pass_id, personId: r.person_id, certificate: r.certificate }));
  }
}
