/**
 * Re-keys the cloud's ID-number pseudonyms and seals to a new pepper (docs/operations.md,
 * "Rotating the pepper"), with the cloud stopped: every resident's sealed ID number is opened with
 * the old pepper, pseudonymised and sealed again with the new one, all in one transaction — a
 * seal that does not open (wrong pepper, tampering) or a pseudonym without a seal aborts it and
 * changes nothing. Passages keep their old pseudonyms (no ID number is stored with them to
 * recompute from); they age out with retention.
 */
import type { Database } from 'better-sqlite3';
import { pseudonymizeIdNumber } from '../../shared/pseudonym.ts';
import { IdentitySeal } from './identity-seal.ts';

export class PepperRotationError extends Error {}

export function rotatePepper(db: Database, oldPepper: Buffer, newPepper: Buffer): { residents: number } {
  const oldSeal = new IdentitySeal(oldPepper);
  const newSeal = new IdentitySeal(newPepper);
  const rows = db
    .prepare('SELECT person_id, id_sealed, id_hash FROM residents WHERE id_sealed IS NOT NULL OR id_hash IS NOT NULL')
    .all() as { person_id: string; id_sealed: string | null; id_hash: string | null }[];
  const update = db.prepare('UPDATE residents SET id_hash = ?, id_sealed = ? WHERE person_id = ?');
  return db.transaction(() => {
    for (const row of rows) {
      if (row.id_sealed === null) {
        throw new PepperRotationError(`${row.person_id}: a pseudonym without a sealed ID number cannot be re-keyed`);
      }
      let idNumber: string;
      try {
        idNumber = oldSeal.open(row.id_sealed);
      } catch {
        throw new PepperRotationError(
          `${row.person_id}: the sealed ID number does not open with this keys file's pepper`,
        );
      }
      update.run(pseudonymizeIdNumber(idNumber, newPepper), newSeal.seal(idNumber), row.person_id);
    }
    return { residents: rows.length };
  })();
}
