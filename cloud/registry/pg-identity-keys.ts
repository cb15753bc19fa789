/** The residents' identity columns on PostgreSQL, re-keyed in one transaction (pepper-rotation.ts). */
import type pg from 'pg';
import { run, statement, transaction } from '../store/postgres/pg-pool.ts';
import type { IdentityKeys, KeptIdentity } from './pepper-rotation.ts';

// FOR UPDATE: no resident's identity changes between the read and the write.
const kept = statement<[], { person_id: string; id_sealed: string | null; id_hash: string | null }>(
  'identity_keys_kept',
  'SELECT person_id, id_sealed, id_hash FROM residents WHERE id_sealed IS NOT NULL OR id_hash IS NOT NULL FOR UPDATE',
);
const update = statement<[string[], string[], string[]]>(
  'identity_keys_update',
  `UPDATE residents r SET id_hash = u.id_hash, id_sealed = u.id_sealed
   FROM unnest($1::text[], $2::text[], $3::text[]) AS u(person_id, id_hash, id_sealed) WHERE r.person_id = u.person_id`,
);

export class PgIdentityKeys implements IdentityKeys {
  constructor(private readonly pool: pg.Pool) {}

  async rekeyAll(rekey: (identity: KeptIdentity) => { idSealed: string; idHash: string }): Promise<number> {
    return transaction(this.pool, async (client) => {
      const { rows } = await run(client, kept, []);
      const next = rows.map((row) => rekey({ personId: row.person_id, idSealed: row.id_sealed, idHash: row.id_hash }));
      // Every resident in one statement.
      await run(client, update, [rows.map((r) => r.person_id), next.map((n) => n.idHash), next.map((n) => n.idSealed)]);
      return rows.length;
    });
  }
}
