/** The residents' identity columns on SQLite, re-keyed in one transaction (pepper-rotation.ts). */
import type { Database } from 'better-sqlite3';
import type { IdentityKeys, KeptIdentity } from './pepper-rotation.ts';

export class SqliteIdentityKeys implements IdentityKeys {
  constructor(private readonly db: Database) {}

  async rekeyAll(rekey: (identity: KeptIdentity) => { idSealed: string; idHash: string }): Promise<number> {
    const rows = this.db.prepare<[], { person_id: string; id_sealed: string | null; id_hash: string | null }>(
      'SELECT person_id, id_sealed, id_hash FROM residents WHERE id_sealed IS NOT NULL OR id_hash IS NOT NULL',
    );
    const update = this.db.prepare<[string, string, string]>(
      'UPDATE residents SET id_hash = ?, id_sealed = ? WHERE person_id = ?',
    );
    return this.db.transaction(() => {
      let count = 0;
      for (const row of rows.all()) {
        const next = rekey({ personId: row.person_id, idSealed: row.id_sealed, idHash: row.id_hash });
        update.run(next.idHash, next.idSealed, row.person_id);
        count += 1;
      }
      return count;
    })();
  }
}
