/**
 * What a compound's snapshot holds, in order, for both engines (docs/cloud.md, "Sync protocol"):
 * `quota.policy`, `mode`, `gate.settings` per gate whose settings were set, `person.upsert` per
 * resident and `health` per resident with a known colour (both by person id), `pass.revoke` per
 * revoked, unexpired pass. The engines read the residents a page at a time (`SNAPSHOT_PAGE_ROWS`)
 * and write their records' JSON in the read itself; the few other records are built here.
 */
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { Compound, Gate } from './store.ts';

/** Residents per page of a snapshot read: one gate part's worth, so a part can go out per page. */
export const SNAPSHOT_PAGE_ROWS = 1000;

/**
 * The records before the residents': quota, mode, and the settings of `gatesWithSettings` — only
 * the gates whose settings were ever set (their row's `settings` not null): the others keep their
 * gate.json values.
 */
export function headRecords(compound: Compound, gatesWithSettings: readonly Gate[]): Change[] {
  const records: Change[] = [
    { op: 'quota.policy', exits: compound.quotaExits, periodHours: compound.quotaPeriodHours },
    {
      op: 'mode',
      mode: compound.mode,
      ts: compound.modeChangedAt ?? compound.createdAt,
      ...(compound.modeReason ? { reason: compound.modeReason } : {}),
    },
  ];
  for (const gate of gatesWithSettings) records.push({ op: 'gate.settings', gateId: gate.id, settings: gate.settings });
  return records;
}

export function revokeRecord(row: { pass_id: string; revoked_at: number | string }): Change {
  return { op: 'pass.revoke', passId: row.pass_id, ts: Number(row.revoked_at) };
}

/** The counts a read announces in `begin`: the records that will follow, in all. */
export function recordCount(head: number, persons: number, health: number, revoked: number): number {
  return head + Number(persons) + Number(health) + revoked;
}

/** A read that delivered other than it announced is a bug in the engine's queries: never send it. */
export class SnapshotCountMismatchError extends Error {
  constructor(announced: number, delivered: number) {
    super(`snapshot read announced ${announced} records and delivered ${delivered}`);
    this.name = 'SnapshotCountMismatchError';
  }
}
