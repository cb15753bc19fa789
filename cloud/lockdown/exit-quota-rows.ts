/**
 * The exit quota's rows as both engines return them (sqlite-exit-quota-store.ts,
 * pg-exit-quota-store.ts: the same columns under the same names) and what the exit quota service sees of them.
 */
import type { ExitOveruse, ExitUse } from './exit-quota-store.ts';

export interface UseRow {
  gate_id: string;
  seq: number;
  compound_id: string;
  household_id: string;
  ts: number;
}

export interface OveruseRow {
  household_id: string;
  gate_id: string;
  seq: number;
  ts: number;
  uses: number;
  quota: number;
  period_hours: number;
  gates: string;
  detected_at: number;
}

export const USE_COLUMNS = 'gate_id, seq, compound_id, household_id, ts';

export const useOf = (r: UseRow): ExitUse => ({
  gateId: r.gate_id,
  seq: r.seq,
  compoundId: r.compound_id,
  householdId: r.household_id,
  ts: r.ts,
});

export const overuseOf = (r: OveruseRow): ExitOveruse => ({
  householdId: r.household_id,
  gateId: r.gate_id,
  seq: r.seq,
  ts: r.ts,
  uses: r.uses,
  quota: r.quota,
  periodHours: r.period_hours,
  gates: JSON.parse(r.gates) as string[],
  detectedAt: r.detected_at,
});
