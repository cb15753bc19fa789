/**
 * Re-keys the cloud's ID-number pseudonyms and seals to a new pepper (docs/operations.md,
 * "Rotating the pepper"), with the cloud stopped: every resident's sealed ID number is opened with
 * the old pepper, pseudonymised and sealed again with the new one, all in one transaction — a
 * seal that does not open (wrong pepper, tampering) or a pseudonym without a seal aborts it and
 * changes nothing. Passages keep their old pseudonyms (no ID number is stored with them to
 * recompute from); they age out with retention.
 */
import { pseudonymizeIdNumber } from '../../shared/pseudonym.ts';
import { IdentitySeal } from './identity-seal.ts';

export class PepperRotationError extends Error {}

/** A resident's identity columns, as kept. */
export interface KeptIdentity {
  personId: string;
  idSealed: string | null;
  idHash: string | null;
}

/** Where the identities live (open-identity-keys.ts picks the engine's). */
export interface IdentityKeys {
  /**
   * In one transaction: every resident with a seal or a pseudonym, replaced by what `rekey` returns.
   * When `rekey` throws, nothing changes and the error propagates. Resolves to the residents re-keyed.
   */
  rekeyAll(rekey: (identity: KeptIdentity) => { idSealed: string; idHash: string }): Promise<number>;
}

export async function rotatePepper(
  identities: IdentityKeys,
  oldPepper: Buffer,
  newPepper: Buffer,
): Promise<{ residents: number }> {
  const oldSeal = new IdentitySeal(oldPepper);
  const newSeal = new IdentitySeal(newPepper);
  const residents = await identities.rekeyAll((row) => {
    if (row.idSealed === null) {
      throw new PepperRotationError(`${row.personId}: a pseudonym without a sealed ID number cannot be re-keyed`);
    }
    let idNumber: string;
    try {
      idNumber = oldSeal.open(row.idSealed);
    } catch {
      throw new PepperRotationError(`${row.personId}: the sealed ID number does not open with this keys file's pepper`);
    }
    return { idHash: pseudonymizeIdNumber(idNumber, newPepper), idSealed: newSeal.seal(idNumber) };
  });
  return { residents };
}
