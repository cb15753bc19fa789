/**
 * The CSV import of residents (docs/cloud.md, "CSV import"), apart from the registry service so
 * that each stays readable.
 */
import { pseudonymizeIdNumber } from '../../shared/pseudonym.ts';
import type { ResidentCreate } from '../../shared/schemas/http.ts';
import { SliceClock, yieldToEventLoop } from '../../shared/yield.ts';
import { RequestValidationError } from '../cloud-errors.ts';
import type { ChangeBatch, CloudStore, Resident } from '../store/store.ts';
import { type Actor, manages } from './actor.ts';
import type { CsvRowError } from './resident-csv.ts';

/** Rows per slice of a CSV import (lookups, checks, one write transaction) between yields to the event loop. */
export const IMPORT_SLICE = 100;

export interface ImportDeps {
  store: Pick<CloudStore, 'getCompound' | 'getResident' | 'findResidentsByIdHash' | 'upsertResidents'>;
  pepper: Buffer;
  /** A resident from a row, updating `existing` when there is one (seals and pseudonymises the ID number). */
  build(row: ResidentCreate, existing: Resident | undefined): Resident;
  audit(compoundId: string, detail: Record<string, unknown>): Promise<void>;
  publishChanges(batches: readonly ChangeBatch[]): Promise<void>;
}

/**
 * Imports validated CSV rows: a row with a personId, or an ID number already known in its
 * compound, updates that resident; the others are created. Any problem → nothing.
 *
 * In slices (docs/security.md, "Heavy work"): the ID numbers are looked up `IMPORT_SLICE` at a
 * time, the rows built and the residents written in transactions of `IMPORT_SLICE`, yielding to
 * the event loop between slices, so a 50 k-row file never holds the server for more than one
 * slice. Every row is checked before the first write; a crash during the writes leaves the
 * slices written so far (each consistent, its changes in the log) — importing the same file
 * again completes it, as a row that exists is updated.
 */
export async function importResidents(
  deps: ImportDeps,
  rows: readonly (ResidentCreate & { row: number })[],
  actor: Actor,
): Promise<{ created: number; updated: number } | { errors: CsvRowError[] }> {
  const errors: CsvRowError[] = [];
  const compounds = new Map<string, boolean>();
  const residents: Resident[] = [];
  let updated = 0;
  const updatedIn = new Map<string, number>();
  const slices = new SliceClock(IMPORT_SLICE);
  // The residents the file's ID numbers already name, looked up a slice at a time.
  const knownByHash = new Map<string, Resident[]>();
  const hashSet = new Set<string>();
  for (const r of rows) {
    await slices.tick();
    if (r.personId === undefined && r.idNumber !== undefined) {
      hashSet.add(pseudonymizeIdNumber(r.idNumber, deps.pepper));
    }
  }
  const hashes = [...hashSet];
  for (let i = 0; i < hashes.length; i += IMPORT_SLICE) {
    for (const r of await deps.store.findResidentsByIdHash(hashes.slice(i, i + IMPORT_SLICE))) {
      if (r.idHash !== null) knownByHash.set(r.idHash, [...(knownByHash.get(r.idHash) ?? []), r]);
    }
    await yieldToEventLoop();
  }
  for (const row of rows) {
    await slices.tick();
    if (!compounds.has(row.compoundId)) {
      const allowed = manages(actor, row.compoundId) && (await deps.store.getCompound(row.compoundId)) !== undefined;
      compounds.set(row.compoundId, allowed);
    }
    if (!compounds.get(row.compoundId)) {
      errors.push({ row: row.row, column: 'compoundId', message: 'no such compound (or not yours)' });
      continue;
    }
    let existing = row.personId === undefined ? undefined : await deps.store.getResident(row.personId);
    // A personId of another compound is not the importer's to update (nor to move into theirs).
    if (existing && !manages(actor, existing.compoundId)) {
      errors.push({ row: row.row, column: 'personId', message: 'no such resident (or not yours)' });
      continue;
    }
    try {
      if (!existing && row.idNumber !== undefined) {
        const idHash = pseudonymizeIdNumber(row.idNumber, deps.pepper);
        existing = knownByHash.get(idHash)?.find((r) => r.compoundId === row.compoundId);
      }
      if (existing) {
        updated += 1;
        updatedIn.set(row.compoundId, (updatedIn.get(row.compoundId) ?? 0) + 1);
      }
      residents.push(deps.build(row, existing));
    } catch (err) {
      if (!(err instanceof RequestValidationError)) throw err;
      errors.push({ row: row.row, column: 'idNumber', message: err.issues[0]?.message ?? err.message });
    }
  }
  if (errors.length > 0) return { errors };
  const batches: ChangeBatch[] = [];
  for (let i = 0; i < residents.length; i += IMPORT_SLICE) {
    batches.push(...(await deps.store.upsertResidents(residents.slice(i, i + IMPORT_SLICE))));
    await yieldToEventLoop();
  }
  // One entry per compound the file touched, so each compound's managers see theirs (and only theirs).
  const perCompound = new Map<string, { rows: number; updated: number }>();
  for (const r of residents) {
    const n = perCompound.get(r.compoundId) ?? { rows: 0, updated: updatedIn.get(r.compoundId) ?? 0 };
    n.rows += 1;
    perCompound.set(r.compoundId, n);
  }
  for (const [compoundId, n] of perCompound) {
    await deps.audit(compoundId, { ...n, fileRows: rows.length });
  }
  await deps.publishChanges(batches);
  return { created: residents.length - updated, updated };
}
