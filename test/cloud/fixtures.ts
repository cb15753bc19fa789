/** Builders shared by the cloud tests. */
import type { ResidentCreate } from '../../shared/schemas/http.ts';
import type { EntryEvent } from '../../shared/schemas/mqtt.ts';
import type { Resident } from '../../cloud/store/store.ts';

/**
 * Events are dated from a week before the test run (one second per seq), so a cloud admits them:
 * it refuses passages older than its keep window or dated in the future (cloud/ingest/event-admission.ts).
 */
export const EVENTS_T0 = Math.floor((Date.now() - 7 * 24 * 3_600_000) / 1000) * 1000;

export function entryEvent(gateId: string, seq: number, extra: Partial<EntryEvent> = {}): EntryEvent {
  return {
    gateId,
    seq,
    ts: EVENTS_T0 + seq * 1000,
    direction: 'in',
    method: 'qr',
    result: 'granted',
    reason: 'ok',
    personId: 'p-1',
    health: 'green',
    mode: 'normal',
    passed: true,
    decisionMs: 3,
    ...extra,
  };
}

/** What `registry.createResident` takes: a resident 张三明 of `householdId` in `compoundId`. */
export function residentCreate(personId: string, compoundId: string, householdId = 'h-1'): ResidentCreate {
  return {
    personId,
    compoundId,
    householdId,
    kind: 'resident',
    name: '张三明',
    cards: [],
    elderly: false,
    validFrom: null,
    validTo: null,
  };
}

export function resident(personId: string, compoundId: string, extra: Partial<Resident> = {}): Resident {
  return {
    personId,
    compoundId,
    householdId: 'h-1',
    kind: 'resident',
    name: '张三明',
    maskedName: '张*明',
    idSealed: null,
    idHash: null,
    maskedIdNumber: null,
    phone: null,
    cards: [],
    elderly: false,
    validFrom: null,
    validTo: null,
    active: true,
    health: 'unknown',
    healthTs: null,
    createdAt: 1,
    updatedAt: 1,
    ...extra,
  };
}
