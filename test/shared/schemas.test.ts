/**
 * The zod schemas of shared/schemas/ against docs/contract.md: the literal lists, the payload shapes and
 * their field names, and the rules the schemas add (revisions, snapshot parts, instants with an offset).
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ALARM_KINDS, HTTP_ROLES, MODES, REASONS, ROLES } from '../../shared/enums.ts';
import {
  ackMessageSchema,
  alarmMessageSchema,
  commandResultSchema,
  commandSchema,
  entryEventSchema,
  errorBodySchema,
  eventsMessageSchema,
  gateStatusSchema,
  healthUpdateSchema,
  instantSchema,
  isSnapshotChunk,
  loginBodySchema,
  loginResponseSchema,
  MAX_EVENTS_PER_MESSAGE,
  modeChangeSchema,
  remoteOpenSchema,
  snapshotChunkSchema,
  statsQuerySchema,
  syncDeltaSchema,
  syncMessageSchema,
  syncRequestSchema,
} from '../../shared/schemas/index.ts';

// Lists copied from docs/contract.md, verbatim and in its order.

/** "Reason codes (at least): …" — a minimum, so the code may add more. */
const CONTRACT_REASONS = [
  'ok',
  'unknown-person',
  'wrong-compound',
  'bad-signature',
  'pass-expired',
  'pass-not-yet-valid',
  'pass-revoked',
  'id-invalid',
  'id-card-expired',
  'health-red',
  'health-yellow',
  'health-unknown',
  'no-exit-quota',
  'anti-passback',
  'gate-locked',
  'manual',
  'free-passage',
];
const CONTRACT_METHODS = ['qr', 'idcard', 'card', 'manual', 'free'];
const CONTRACT_DIRECTIONS = ['in', 'out'];
const CONTRACT_RESULTS = ['granted', 'denied'];
const CONTRACT_HEALTH = ['green', 'yellow', 'red', 'unknown'];
const CONTRACT_ALARM_KINDS = ['forced', 'tailgate', 'device-fault', 'tamper', 'fire'];
/**
 * The alarm kinds added since v1, each in docs/contract.md §5: `journal-full` (docs/edge-agent.md),
 * `exit-quota-exceeded` and `clock-skew`, and the cloud's `token-expiring` and `contract-mismatch`
 * (docs/edge-agent.md, "Token renewal"; docs/install.md, "Versions") and `events-refused`
 * (docs/security.md, "A stolen gate").
 */
const ALARM_KIND_EXTENSIONS = [
  'journal-full',
  'exit-quota-exceeded',
  'clock-skew',
  'token-expiring',
  'contract-mismatch',
  // Raised by the cloud when a household claimed twice in one supply round (docs/supplies.md).
  'supply-double-claim',
  'events-refused',
  // A change from the cloud the gate could not read, skipped (docs/edge-agent.md, "Invalid changes from the cloud").
  'sync-change-invalid',
  // A message from the cloud over its size limit, refused unread (docs/edge-agent.md, "Size limits on what the cloud sends").
  'cloud-message-oversized',
];
const CONTRACT_DEVICE_STATES = ['ok', 'fault', 'absent'];
/** The contract's three, and `renew-token` (docs/contract.md §5, docs/edge-agent.md "Token renewal"). */
const CONTRACT_COMMAND_KINDS = ['open', 'resync', 'reboot-devices', 'renew-token'];
const CONTRACT_MQTT_ROLES = ['gate', 'cloud', 'observer'];
/** The contract's three, and `provider` (docs/contract.md §3 names it for the supply stock; docs/supplies.md). */
const CONTRACT_HTTP_ROLES = ['admin', 'manager', 'guard', 'provider'];
/** The resident side's session role (docs/contract.md §3 and §5; docs/security.md "The resident role"). */
const CONTRACT_SESSION_ROLE_EXTENSIONS = ['resident'];
/** docs/contract.md carries `mode` but does not list its values; README.md and docs/edge-agent.md ("Per mode") do. */
const DOCUMENTED_MODES = ['normal', 'controlled', 'lockdown', 'emergency-open'];

/**
 * docs/contract.md "MQTT" gives EntryEvent as a field list, not as an example payload: this fixture
 * fills in every field of that list, optional ones included.
 */
const ENTRY_EVENT = {
  gateId: 'north-in',
  seq: 42,
  ts: 1_772_323_200_000,
  direction: 'in',
  method: 'qr',
  result: 'granted',
  reason: 'ok',
  personId: 'p-7',
  idHash: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
  passId: 'pass-0193',
  health: 'green',
  mode: 'normal',
  passed: true,
  guard: 'guard',
  decisionMs: 3.4,
} as const;
const CONTRACT_ENTRY_EVENT_FIELDS = Object.keys(ENTRY_EVENT);
/** The fields docs/contract.md marks with `?`. */
const CONTRACT_ENTRY_EVENT_OPTIONAL = ['personId', 'idHash', 'passId', 'guard'];

const STATUS = {
  online: true,
  mode: 'normal',
  rev: 1234,
  journalDepth: 0,
  devices: { idreader: 'ok', qr: 'fault', turnstile: 'absent' },
  version: '0.1.0',
  ts: 1_772_323_200_000,
} as const;

/** Field name → whether the object schema accepts the field left out. */
function optionality(schema: z.ZodObject): Record<string, boolean> {
  return Object.fromEntries(
    Object.entries(schema.shape).map(([key, field]) => [key, (field as z.ZodType).safeParse(undefined).success]),
  );
}

/** The paths of the issues refusing `value`; fails the test if `value` is accepted. */
function refusedAt(schema: z.ZodType, value: unknown): PropertyKey[][] {
  const result = schema.safeParse(value);
  expect(result.success, JSON.stringify(value)).toBe(false);
  return result.error!.issues.map((issue) => issue.path);
}

function without<T extends object>(value: T, key: keyof T): Partial<T> {
  const copy = { ...value };
  delete copy[key];
  return copy;
}

describe('literal lists', () => {
  it('closed unions match docs/contract.md exactly, in EntryEvent and everywhere else they appear', () => {
    const { direction, method, result, health } = entryEventSchema.shape;
    expect(direction.options).toEqual(CONTRACT_DIRECTIONS);
    expect(method.options).toEqual(CONTRACT_METHODS);
    expect(result.options).toEqual(CONTRACT_RESULTS);
    expect(health.options).toEqual(CONTRACT_HEALTH);
    const { idreader, qr, turnstile } = gateStatusSchema.shape.devices.shape;
    for (const device of [idreader, qr, turnstile]) expect(device.options).toEqual(CONTRACT_DEVICE_STATES);
    expect(commandSchema.shape.kind.options).toEqual(CONTRACT_COMMAND_KINDS);
    expect(remoteOpenSchema.shape.direction.options).toEqual(CONTRACT_DIRECTIONS);
    expect(loginResponseSchema.shape.role.options).toEqual(CONTRACT_HTTP_ROLES);
    expect(HTTP_ROLES).toEqual(CONTRACT_HTTP_ROLES);
    expect(ROLES).toEqual([...CONTRACT_MQTT_ROLES, ...CONTRACT_HTTP_ROLES, ...CONTRACT_SESSION_ROLE_EXTENSIONS]);
  });

  it('reason codes: every one docs/contract.md lists is accepted (the list is a minimum)', () => {
    const reasons: readonly string[] = entryEventSchema.shape.reason.options;
    expect(reasons).toEqual(REASONS);
    expect(reasons).toEqual(expect.arrayContaining(CONTRACT_REASONS));
    for (const reason of CONTRACT_REASONS) {
      expect(entryEventSchema.safeParse({ ...ENTRY_EVENT, reason }).success, reason).toBe(true);
    }
    expect(refusedAt(entryEventSchema, { ...ENTRY_EVENT, reason: 'because' })).toEqual([['reason']]);
  });

  it('alarm kinds: the contract list plus exactly the documented extensions', () => {
    const kinds: readonly string[] = alarmMessageSchema.shape.kind.options;
    expect(kinds).toEqual(ALARM_KINDS);
    expect(kinds).toEqual(expect.arrayContaining(CONTRACT_ALARM_KINDS));
    expect(kinds.filter((kind) => !CONTRACT_ALARM_KINDS.includes(kind))).toEqual(ALARM_KIND_EXTENSIONS);
    for (const kind of kinds) {
      expect(alarmMessageSchema.safeParse({ kind, ts: 1, detail: '' }).success, kind).toBe(true);
    }
    expect(refusedAt(alarmMessageSchema, { kind: 'smoke', ts: 1, detail: '' })).toEqual([['kind']]);
  });

  it('modes are the four the docs describe, wherever a mode is carried', () => {
    expect(MODES).toEqual(DOCUMENTED_MODES);
    expect(entryEventSchema.shape.mode.options).toEqual(DOCUMENTED_MODES);
    expect(gateStatusSchema.shape.mode.options).toEqual(DOCUMENTED_MODES);
    expect(modeChangeSchema.shape.mode.options).toEqual(DOCUMENTED_MODES);
    expect(refusedAt(modeChangeSchema, { mode: 'curfew', reason: 'drill' })).toEqual([['mode']]);
  });
});

describe('EntryEvent', () => {
  it('has exactly the contract fields (docs/contract.md), optional where it writes `?`, plus optional additions', () => {
    const fields = optionality(entryEventSchema);
    const additions = Object.keys(fields).filter((key) => !CONTRACT_ENTRY_EVENT_FIELDS.includes(key));
    // `openReason`: why a guard opened by hand, docs/edge-agent.md "Manual open".
    // `quotaHousehold`: the household whose lockdown exit quota a grant used (docs/edge-agent.md).
    expect(additions.sort()).toEqual(['openReason', 'quotaHousehold']);
    for (const field of additions) expect(fields[field], field).toBe(true);
    const contract = Object.keys(fields).filter((key) => !additions.includes(key));
    expect(contract.sort()).toEqual([...CONTRACT_ENTRY_EVENT_FIELDS].sort());
    const optional = contract.filter((key) => fields[key]);
    expect(optional.sort()).toEqual([...CONTRACT_ENTRY_EVENT_OPTIONAL].sort());
    expect(entryEventSchema.parse({ ...ENTRY_EVENT, method: 'manual', openReason: '送货 delivery' }).openReason).toBe(
      '送货 delivery',
    );
    expect(entryEventSchema.safeParse({ ...ENTRY_EVENT, openReason: 'x'.repeat(201) }).success).toBe(false);
  });

  it('the full fixture parses unchanged, field for field', () => {
    expect(entryEventSchema.parse(ENTRY_EVENT)).toEqual(ENTRY_EVENT);
    expect(eventsMessageSchema.parse({ events: [ENTRY_EVENT] })).toEqual({ events: [ENTRY_EVENT] });
  });

  it('passed is true, false or null, and must be present', () => {
    for (const passed of [true, false, null]) {
      expect(entryEventSchema.parse({ ...ENTRY_EVENT, passed }).passed).toBe(passed);
    }
    expect(refusedAt(entryEventSchema, without(ENTRY_EVENT, 'passed'))).toEqual([['passed']]);
  });

  it('a required field left out is refused at its own path; an optional one is not missed', () => {
    for (const field of CONTRACT_ENTRY_EVENT_FIELDS as (keyof typeof ENTRY_EVENT)[]) {
      const result = entryEventSchema.safeParse(without(ENTRY_EVENT, field));
      if (CONTRACT_ENTRY_EVENT_OPTIONAL.includes(field)) expect(result.success, field).toBe(true);
      else
        expect(
          result.error?.issues.map((issue) => issue.path),
          field,
        ).toEqual([[field]]);
    }
  });

  it('a field the contract does not name is dropped, not passed on', () => {
    expect(entryEventSchema.parse({ ...ENTRY_EVENT, name: '张三' })).toEqual(ENTRY_EVENT);
  });

  it('refuses invalid values with the path of the field', () => {
    const cases: [Record<string, unknown>, PropertyKey[]][] = [
      [{ seq: 0 }, ['seq']], // a journal counts from 1
      [{ seq: 1.5 }, ['seq']],
      [{ ts: '2026-03-01T08:00:00+08:00' }, ['ts']], // epoch ms on the wire, never a string
      [{ ts: -1 }, ['ts']],
      [{ gateId: 'north/in' }, ['gateId']], // would change an MQTT topic's shape
      [{ gateId: 'North-In' }, ['gateId']],
      [{ idHash: 'ABC' }, ['idHash']],
      [{ idHash: ENTRY_EVENT.idHash.toUpperCase() }, ['idHash']],
      [{ direction: 'both' }, ['direction']],
      [{ method: 'face' }, ['method']],
      [{ result: 'maybe' }, ['result']],
      [{ health: 'orange' }, ['health']],
      [{ passed: 'yes' }, ['passed']],
      [{ guard: '' }, ['guard']],
      [{ decisionMs: -1 }, ['decisionMs']],
    ];
    for (const [change, path] of cases) {
      expect(refusedAt(entryEventSchema, { ...ENTRY_EVENT, ...change }), JSON.stringify(change)).toEqual([path]);
    }
  });

  it('an events message carries 1 to 500 events, and names the bad one', () => {
    const many = Array.from({ length: MAX_EVENTS_PER_MESSAGE }, (_, i) => ({ ...ENTRY_EVENT, seq: i + 1 }));
    expect(MAX_EVENTS_PER_MESSAGE).toBe(500);
    expect(eventsMessageSchema.safeParse({ events: many }).success).toBe(true);
    expect(refusedAt(eventsMessageSchema, { events: [...many, ENTRY_EVENT] })).toEqual([['events']]);
    expect(refusedAt(eventsMessageSchema, { events: [] })).toEqual([['events']]);
    const bad = [ENTRY_EVENT, { ...ENTRY_EVENT, seq: 43, reason: 'because' }];
    expect(refusedAt(eventsMessageSchema, { events: bad })).toEqual([['events', 1, 'reason']]);
  });
});

describe('the other MQTT payloads', () => {
  it('status: the contract fields are required, the additions optional', () => {
    expect(gateStatusSchema.parse(STATUS)).toEqual(STATUS);
    const fields = optionality(gateStatusSchema);
    for (const field of Object.keys(STATUS)) expect(fields[field], field).toBe(false);
    const additions = Object.keys(fields).filter((key) => !(key in STATUS));
    expect(additions.sort()).toEqual([
      'clockAgeMs',
      'clockSkewMs',
      'clockSource',
      'contract',
      'eventLoopP99Ms',
      'fire',
      'health',
      'journalFull',
      'problems',
      'role',
      'roleSwitch',
      'stale',
      'tokenExpiresAt',
    ]);
    for (const field of additions) expect(fields[field], field).toBe(true);
    const broken = { ...STATUS, devices: { ...STATUS.devices, qr: 'broken' } };
    expect(refusedAt(gateStatusSchema, broken)).toEqual([['devices', 'qr']]);
    expect(refusedAt(gateStatusSchema, without(STATUS, 'journalDepth'))).toEqual([['journalDepth']]);
  });

  it('ack, alarm, command, command result and sync request', () => {
    expect(ackMessageSchema.parse({ upTo: 42 })).toEqual({ upTo: 42 });
    expect(refusedAt(ackMessageSchema, { upTo: -1 })).toEqual([['upTo']]);
    const alarm = { kind: 'fire', ts: 1_772_323_200_000, detail: 'fire-alarm loop open' };
    expect(alarmMessageSchema.parse(alarm)).toEqual(alarm);
    expect(refusedAt(alarmMessageSchema, { ...alarm, detail: 'x'.repeat(501) })).toEqual([['detail']]);
    expect(commandSchema.parse({ cmdId: 'c-1', kind: 'resync' })).toEqual({ cmdId: 'c-1', kind: 'resync' });
    expect(refusedAt(commandSchema, { cmdId: 'c-1', kind: 'self-destruct' })).toEqual([['kind']]);
    expect(commandResultSchema.parse({ cmdId: 'c-1', ok: false, error: 'turnstile offline' })).toEqual({
      cmdId: 'c-1',
      ok: false,
      error: 'turnstile offline',
    });
    expect(refusedAt(commandResultSchema, { cmdId: 'c-1' })).toEqual([['ok']]);
    expect(syncRequestSchema.parse({ fromRev: 0 })).toEqual({ fromRev: 0 });
    expect(refusedAt(syncRequestSchema, { fromRev: '7' })).toEqual([['fromRev']]);
  });
});

describe('sync: revisions and snapshot parts', () => {
  it('a delta needs toRev >= fromRev, and says so at toRev', () => {
    expect(syncDeltaSchema.safeParse({ fromRev: 7, toRev: 7, changes: [] }).success).toBe(true);
    expect(syncDeltaSchema.safeParse({ fromRev: 7, toRev: 9, changes: [] }).success).toBe(true);
    const backwards = { fromRev: 7, toRev: 6, changes: [] };
    const result = syncDeltaSchema.safeParse(backwards);
    expect(result.error?.issues).toMatchObject([{ path: ['toRev'], message: 'toRev must not be below fromRev' }]);
    // The same rule holds through the union a gate parses the sync topic with.
    expect(refusedAt(syncMessageSchema, backwards)).toEqual([['toRev']]);
  });

  it('a snapshot chunk needs 1 <= part <= parts, and says so at part', () => {
    const chunk = { snapshotRev: 40, part: 3, parts: 3, records: [] };
    expect(snapshotChunkSchema.safeParse(chunk).success).toBe(true);
    const result = snapshotChunkSchema.safeParse({ ...chunk, part: 4 });
    expect(result.error?.issues).toMatchObject([{ path: ['part'], message: 'part must not exceed parts' }]);
    expect(refusedAt(snapshotChunkSchema, { ...chunk, part: 0 })).toEqual([['part']]);
    expect(refusedAt(syncMessageSchema, { ...chunk, part: 4 })).toEqual([['part']]);
  });

  it('tells deltas from snapshot chunks, and names a change it does not know', () => {
    const delta = syncMessageSchema.parse({
      fromRev: 42,
      toRev: 43,
      changes: [{ op: 'mode', mode: 'lockdown', ts: 1, reason: 'outbreak' }],
    });
    expect(isSnapshotChunk(delta)).toBe(false);
    expect(isSnapshotChunk(syncMessageSchema.parse({ snapshotRev: 1, part: 1, parts: 1, records: [] }))).toBe(true);
    const unknownOp = { fromRev: 1, toRev: 2, changes: [{ op: 'person.rename', personId: 'p-1' }] };
    expect(refusedAt(syncDeltaSchema, unknownOp)).toEqual([['changes', 0, 'op']]);
  });
});

describe('instants in HTTP queries and bodies', () => {
  const at8 = Date.UTC(2026, 2, 1, 0, 0, 0); // 2026-03-01 08:00 in Beijing

  it('accepts ISO 8601 with an offset or Z, and epoch ms as a number or a digit string', () => {
    for (const value of [
      '2026-03-01T08:00:00+08:00',
      '2026-03-01T08:00:00+0800',
      '2026-03-01T08:00+08:00',
      '2026-03-01T00:00:00Z',
      '2026-03-01T00:00:00.000Z',
      at8,
      String(at8),
    ]) {
      expect(instantSchema.parse(value), String(value)).toBe(at8);
    }
  });

  it('refuses a time without a UTC offset: its meaning would depend on the server', () => {
    for (const value of ['2026-03-01T08:00:00', '2026-03-01T08:00', '2026-03-01', '2026-03-01 08:00:00+08:00']) {
      const result = instantSchema.safeParse(value);
      expect(result.success, value).toBe(false);
      expect(JSON.stringify(result.error?.issues), value).toContain('expected ISO 8601 with an offset');
    }
    expect(instantSchema.safeParse('2026-13-01T08:00:00Z').success).toBe(false);
    expect(instantSchema.safeParse(-1).success).toBe(false);
  });

  it('refuses a date or time that does not exist instead of rolling it over', () => {
    for (const value of [
      '2026-02-30T08:00:00+08:00',
      '2026-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-03-01T24:00:00Z',
      '2026-03-01T08:60:00Z',
      '2026-03-01T08:00:60Z',
      '2026-00-10T08:00:00Z',
    ]) {
      const result = instantSchema.safeParse(value);
      expect(result.success, value).toBe(false);
      expect(JSON.stringify(result.error?.issues), value).toContain('not a real date and time');
    }
    expect(instantSchema.parse('2028-02-29T00:00:00Z')).toBe(Date.UTC(2028, 1, 29));
  });

  it('refuses it at the path of the query field', () => {
    const query = { compound: 'sunny-garden', from: '2026-03-01T00:00:00+08:00', to: '2026-03-02T00:00:00+08:00' };
    expect(statsQuerySchema.parse(query)).toEqual({
      compound: 'sunny-garden',
      from: Date.UTC(2026, 1, 28, 16),
      to: Date.UTC(2026, 2, 1, 16),
    });
    expect(refusedAt(statsQuerySchema, { ...query, from: '2026-03-01T00:00:00' })).toEqual([['from']]);
    expect(refusedAt(statsQuerySchema, { ...query, to: '2026-03-02' })).toEqual([['to']]);
  });
});

describe('HTTP bodies named by docs/contract.md', () => {
  it('the error body is { error: { code, message, issues? } }', () => {
    const body = { error: { code: 'validation', message: 'bad request', issues: [{ path: 'from', message: 'x' }] } };
    expect(errorBodySchema.parse(body)).toEqual(body);
    expect(errorBodySchema.safeParse({ error: { code: 'not-found', message: 'no such gate' } }).success).toBe(true);
    expect(refusedAt(errorBodySchema, { error: { code: 'oops' } })).toEqual([['error', 'message']]);
  });

  it('login, mode switch and remote open take the fields the contract names', () => {
    expect(Object.keys(loginBodySchema.shape)).toEqual(['username', 'password']);
    expect(Object.keys(modeChangeSchema.shape)).toEqual(['mode', 'reason']);
    expect(Object.keys(remoteOpenSchema.shape)).toEqual(['direction', 'reason']);
    expect(refusedAt(loginBodySchema, { username: 'manager', password: '' })).toEqual([['password']]);
    expect(refusedAt(remoteOpenSchema, { direction: 'in' })).toEqual([['reason']]);
  });

  it('a reason (remote open, mode switch, trace) must say something: blank is refused, spaces trimmed', () => {
    for (const reason of ['', ' ', '\t\n  ']) {
      expect(refusedAt(remoteOpenSchema, { direction: 'in', reason }), JSON.stringify(reason)).toEqual([['reason']]);
      expect(refusedAt(modeChangeSchema, { mode: 'lockdown', reason }), JSON.stringify(reason)).toEqual([['reason']]);
    }
    expect(remoteOpenSchema.parse({ direction: 'in', reason: '  送货  ' }).reason).toBe('送货');
  });

  it('a health update names a person by exactly one of idNumber and personId', () => {
    const ts = 1_772_323_200_000;
    expect(healthUpdateSchema.safeParse([{ personId: 'p-7', colour: 'red', ts }]).success).toBe(true);
    expect(healthUpdateSchema.safeParse([{ idNumber: '11010519491231002X', colour: 'green', ts }]).success).toBe(true);
    const both = [
      { personId: 'p-7', colour: 'red', ts },
      { personId: 'p-8', idNumber: '11010519491231002X', colour: 'red', ts },
    ];
    expect(refusedAt(healthUpdateSchema, both)).toEqual([[1]]);
    expect(refusedAt(healthUpdateSchema, [{ colour: 'red', ts }])).toEqual([[0]]);
    expect(refusedAt(healthUpdateSchema, [{ personId: 'p-7', colour: 'purple', ts }])).toEqual([[0, 'colour']]);
  });
});
