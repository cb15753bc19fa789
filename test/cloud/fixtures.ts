/** Builders shared by the cloud tests. */
import type { EntryEvent } from '../../shared/schemas/mqtt.ts';
import type { Resident } from '../../cloud/store/store.ts';

export function entryEvent(gateId: string, seq: number, extra: Partial<EntryEvent> = {}): EntryEvent {
  return {
    gateId,
    seq,
    ts: 1_767_225_600_000 + seq * 1000,
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
