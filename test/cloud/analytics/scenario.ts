/**
 * A known tracing/statistics scenario (docs/tracing.md, "Tested scenario"): two compounds (Shanghai
 * and New York), residents incl. a household and an elderly ID-card user, and passages at chosen
 * times around the index person `idx`, including the window edges.
 */
import { maskName } from '../../../shared/masking.ts';
import type { Direction, Method, Reason, Result } from '../../../shared/enums.ts';
import type { EntryEvent, GateStatus } from '../../../shared/schemas/mqtt.ts';
import type { IngestHook } from '../../../cloud/store/store.ts';
import type { CloudStore, Resident, StoredEvent } from '../../../cloud/store/store.ts';

export const MIN = 60_000;
/** 2026-03-02 08:00 in Shanghai. */
export const T = Date.parse('2026-03-02T08:00:00+08:00');
export const SH_DAY_FROM = Date.parse('2026-03-02T00:00:00+08:00');
export const SH_DAY_TO = Date.parse('2026-03-03T00:00:00+08:00');
/** "Now" for uptime: 18:00 Shanghai on the scenario day. */
export const NOW = T + 10 * 60 * MIN;

function resident(personId: string, compoundId: string, name: string, over: Partial<Resident> = {}): Resident {
  return {
    personId,
    compoundId,
    householdId: null,
    kind: 'resident',
    name,
    maskedName: maskName(name),
    idSealed: null,
    idHash: null,
    maskedIdNumber: null,
    phone: null,
    cards: [],
    elderly: false,
    validFrom: null,
    validTo: null,
    active: true,
    health: 'green',
    healthTs: null,
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}

interface EventSpec {
  gate: string;
  ts: number;
  person?: string;
  direction?: Direction;
  method?: Method;
  result?: Result;
  reason?: Reason;
  passed?: boolean | null;
}

const seqs = new Map<string, number>();
function event(compoundId: string, spec: EventSpec): StoredEvent {
  const seq = (seqs.get(spec.gate) ?? 0) + 1;
  seqs.set(spec.gate, seq);
  const result = spec.result ?? 'granted';
  return {
    gateId: spec.gate,
    seq,
    compoundId,
    ts: spec.ts,
    direction: spec.direction ?? 'in',
    method: spec.method ?? 'qr',
    result,
    reason: spec.reason ?? (result === 'granted' ? 'ok' : 'health-red'),
    ...(spec.person ? { personId: spec.person } : {}),
    health: result === 'granted' ? 'green' : 'red',
    mode: 'normal',
    passed: spec.passed === undefined ? (result === 'granted' ? true : null) : spec.passed,
    decisionMs: 3,
    receivedAt: spec.ts + 100,
  };
}

/** The Shanghai passages, in the order the numbered comments of docs/tracing.md use. */
export function shanghaiEvents(): StoredEvent[] {
  seqs.clear();
  const e = (spec: EventSpec) => event('sunny', spec);
  return [
    /* 1 */ e({ gate: 'sunny-east', ts: T, person: 'idx' }),
    /* 2 */ e({ gate: 'sunny-west', ts: T + 60 * MIN, person: 'idx', direction: 'out' }),
    /* 3 */ e({ gate: 'sunny-east', ts: T + 120 * MIN, person: 'idx', result: 'denied', reason: 'health-red' }),
    /* 4 */ e({ gate: 'sunny-east', ts: T + 15 * MIN, person: 'a' }),
    /* 5 */ e({ gate: 'sunny-west', ts: T + 61 * MIN, person: 'a', direction: 'out' }),
    /* 6 */ e({ gate: 'sunny-east', ts: T - 15 * MIN - 1, person: 'b' }),
    /* 7 */ e({ gate: 'sunny-west', ts: T + 58 * MIN, person: 'b', direction: 'out' }),
    /* 8 */ e({ gate: 'sunny-east', ts: T + 5 * MIN, person: 'c', result: 'denied', reason: 'health-yellow' }),
    /* 9 */ e({ gate: 'sunny-east', ts: T + 3 * MIN, person: 'c', passed: false }),
    /* 10 */ e({ gate: 'sunny-east', ts: T + 121 * MIN, person: 'd' }),
    /* 11 */ e({ gate: 'sunny-east', ts: T - 3 * MIN, person: 'spouse' }),
    /* 12 */ e({ gate: 'sunny-west', ts: T + 70 * MIN, person: 'e', direction: 'out', method: 'idcard' }),
    /* 13 */ e({
      gate: 'sunny-east',
      ts: T + 5 * MIN,
      person: 'f',
      method: 'free',
      reason: 'free-passage',
      passed: null,
    }),
    /* 14 */ e({ gate: 'sunny-east', ts: T, method: 'free', reason: 'free-passage', passed: null }),
    /* 15 */ e({ gate: 'sunny-west', ts: T + 80 * MIN, person: 'g' }),
  ];
}

/** New York, across the 2026-11-01 fall-back (01:00 local happens twice). */
export function newYorkEvents(): StoredEvent[] {
  const e = (spec: EventSpec) => event('liberty', spec);
  return [
    e({ gate: 'liberty-main', ts: Date.parse('2026-11-01T05:30:00Z'), person: 'ny1' }),
    e({ gate: 'liberty-main', ts: Date.parse('2026-11-01T06:30:00Z'), person: 'ny1' }),
    e({ gate: 'liberty-main', ts: Date.parse('2026-11-01T06:45:00Z'), person: 'ny2', direction: 'out' }),
  ];
}

function status(online: boolean, ts: number): GateStatus {
  return {
    online,
    mode: 'normal',
    rev: 0,
    journalDepth: 0,
    devices: { idreader: 'ok', qr: 'ok', turnstile: 'ok' },
    version: 'test',
    ts,
  };
}

/** Compounds, gates, residents and gate status history; no passages. */
export async function seedRegistry(store: CloudStore): Promise<void> {
  await store.createCompound({ id: 'sunny', name: '阳光小区', timeZone: 'Asia/Shanghai' }, 0);
  await store.createCompound({ id: 'liberty', name: 'Liberty Court', timeZone: 'America/New_York' }, 0);
  await store.createGate({ id: 'sunny-east', compoundId: 'sunny', name: '东门', antiPassback: false }, 0);
  await store.createGate({ id: 'sunny-west', compoundId: 'sunny', name: '西门', antiPassback: false }, 0);
  await store.createGate({ id: 'liberty-main', compoundId: 'liberty', name: 'Main', antiPassback: false }, 0);
  await store.upsertResidents([
    resident('idx', 'sunny', '张三明', { householdId: 'h1' }),
    resident('spouse', 'sunny', '李小红', { householdId: 'h1' }),
    resident('child', 'sunny', '张小明', { householdId: 'h1' }),
    resident('a', 'sunny', '王伟'),
    resident('b', 'sunny', '欧阳娜娜'),
    resident('c', 'sunny', '赵六'),
    resident('d', 'sunny', '钱七'),
    resident('e', 'sunny', '孙奶奶', { elderly: true }),
    resident('f', 'sunny', 'John Smith'),
    resident('g', 'sunny', '周九'),
    resident('ny1', 'liberty', 'Ann Lee'),
    resident('ny2', 'liberty', 'Bo Ray'),
  ]);
  await store.recordStatus('sunny-east', 'sunny', status(true, T - 120 * MIN), T - 120 * MIN);
  await store.recordStatus('sunny-east', 'sunny', status(false, T + 120 * MIN), T + 120 * MIN);
  await store.recordStatus('sunny-east', 'sunny', status(true, T + 180 * MIN), T + 180 * MIN);
}

/** Registry, statuses and every passage, the passages stored through `hook` like the MQTT ingest does. */
export async function seedScenario(store: CloudStore, hook?: IngestHook): Promise<void> {
  await seedRegistry(store);
  await store.insertEvents(shanghaiEvents(), hook);
  await store.insertEvents(newYorkEvents(), hook);
}

/** The passages as the gates publish them (`EntryEvent`, without the cloud's fields), per gate. */
export function gateMessages(): Map<string, EntryEvent[]> {
  const byGate = new Map<string, EntryEvent[]>();
  for (const { compoundId: _c, receivedAt: _r, ...event } of [...shanghaiEvents(), ...newYorkEvents()]) {
    byGate.set(event.gateId, [...(byGate.get(event.gateId) ?? []), event]);
  }
  return byGate;
}
