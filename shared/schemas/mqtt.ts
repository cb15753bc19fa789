/**
 * zod schemas of every MQTT payload in docs/contract.md. Producers build these types, consumers parse
 * with these schemas: one contract, one place (docs/architecture.md rule 3).
 */
import { z } from 'zod';
import {
  ALARM_KINDS,
  COMMAND_KINDS,
  DEVICE_STATES,
  DIRECTIONS,
  HEALTH_COLOURS,
  METHODS,
  MODES,
  PERSON_KINDS,
  REASONS,
  RESULTS,
} from '../enums.ts';
import { idSchema } from '../ids.ts';
import { cardNumberSchema, epochMs, idHashSchema, seqSchema } from './common.ts';
import { supplyChangeSchemas } from './supply.ts';

/** The most events one `events` message may carry (journal drain batches). */
export const MAX_EVENTS_PER_MESSAGE = 500;

/**
 * An event's text and number limits: `guard` and `openReason` 1 to this many UTF-16 units,
 * `decisionMs` 0 to this many. One source for the schema and ingest's hand check (cloud/ingest/events-reader.ts).
 */
export const ENTRY_EVENT_LIMITS = { guard: 64, openReason: 200, decisionMs: 60_000 } as const;

export const entryEventSchema = z.object({
  gateId: idSchema,
  seq: seqSchema.min(1),
  ts: epochMs,
  direction: z.enum(DIRECTIONS),
  method: z.enum(METHODS),
  result: z.enum(RESULTS),
  reason: z.enum(REASONS),
  personId: idSchema.optional(),
  idHash: idHashSchema.optional(),
  passId: idSchema.optional(),
  health: z.enum(HEALTH_COLOURS),
  mode: z.enum(MODES),
  /** true: the turnstile confirmed the passage; false: it timed out; null: not applicable (denied). */
  passed: z.boolean().nullable(),
  /** Who opened by hand (manual opens only): the guard's name from the terminal sign-in, or the cloud user. */
  guard: z.string().min(1).max(ENTRY_EVENT_LIMITS.guard).optional(),
  /**
   * The household whose lockdown exit quota this grant used (absent for exit permits and outside
   * lockdown). The cloud relays such uses to the compound's other gates (`exit.use`).
   */
  quotaHousehold: idSchema.optional(),
  /** Why the guard opened by hand (manual opens only; additive, docs/edge-agent.md "Manual open"). */
  openReason: z.string().min(1).max(ENTRY_EVENT_LIMITS.openReason).optional(),
  decisionMs: z.number().min(0).max(ENTRY_EVENT_LIMITS.decisionMs),
});
export type EntryEvent = z.infer<typeof entryEventSchema>;

export const eventsMessageSchema = z.object({
  events: z.array(entryEventSchema).min(1).max(MAX_EVENTS_PER_MESSAGE),
});
export type EventsMessage = z.infer<typeof eventsMessageSchema>;

export const ackMessageSchema = z.object({
  upTo: seqSchema,
  /** The cloud's clock when it sent the ack (additive): gates estimate their clock skew from it. */
  ts: epochMs.optional(),
});
export type AckMessage = z.infer<typeof ackMessageSchema>;

/** A gate's role: passage, or a supply distribution point (docs/supplies.md, "The distribution role"). */
export const GATE_ROLES = ['entry', 'distribution'] as const;
export const gateRoleSchema = z.enum(GATE_ROLES);
export type GateRole = z.infer<typeof gateRoleSchema>;

/**
 * A guard's switch of the role at the gate (docs/supplies.md, "Switching at the gate"): who
 * (`by`, the guard's name), when (`at`, the cloud's clock as the gate estimates it) and why. One
 * shape wherever it appears: the status's `roleSwitch`, the terminal's state, and the switch the
 * gate stores in its SQLite file (edge-agent/supply/gate-role.ts).
 */
export const roleSwitchSchema = z.object({
  role: gateRoleSchema,
  by: z.string().max(64),
  at: epochMs,
  reason: z.string().max(200),
});
export type RoleSwitch = z.infer<typeof roleSwitchSchema>;

const deviceState = z.enum(DEVICE_STATES);
export const gateStatusSchema = z.object({
  online: z.boolean(),
  mode: z.enum(MODES),
  rev: seqSchema,
  journalDepth: z.number().int().min(0),
  devices: z.object({ idreader: deviceState, qr: deviceState, turnstile: deviceState }),
  version: z.string().max(64),
  ts: epochMs,
  /** The gate has not heard from the cloud for longer than its staleness limit. */
  stale: z.boolean().optional(),
  /** Gate clock minus the cloud's clock as last observed, in ms (positive: the gate is ahead). */
  clockSkewMs: z.number().int().optional(),
  /**
   * Where the gate's cloud-checked time comes from: `cloud` (an ack of this run), `remembered` (an
   * ack before a restart, same boot), `remembered-offset` (before a reboot), `wall` (none trusted).
   */
  clockSource: z.enum(['cloud', 'remembered', 'remembered-offset', 'wall']).optional(),
  /** Cloud time elapsed since the ack the estimate rests on, ms. */
  clockAgeMs: z.number().int().min(0).optional(),
  /** Fire-alarm loop open: turnstile free. */
  fire: z.boolean().optional(),
  /** The journal holds more unacknowledged events than the gate's alarm depth (nothing is dropped). */
  journalFull: z.boolean().optional(),
  /** `degraded` while something in `problems` is wrong; the gate keeps deciding (additive). */
  health: z.enum(['ok', 'degraded']).optional(),
  /** Why the gate is degraded, e.g. `mqtt-refused`, `turnstile-fault`, `stale`, `event-loop-slow` (additive). */
  problems: z.array(z.string().max(64)).max(16).optional(),
  /** The event loop's delay, 99th percentile over the last minute, in ms (additive). */
  eventLoopP99Ms: z.number().min(0).max(3_600_000).optional(),
  /** The contract version the gate speaks (shared/version.ts); absent from gates older than it: read as 1. */
  contract: z.number().int().min(1).max(1000).optional(),
  /** When the gate's device token expires: the cloud renews it well before (docs/edge-agent.md). */
  tokenExpiresAt: epochMs.optional(),
  /** The gate's role in force (docs/supplies.md, "The distribution role"; additive). */
  role: gateRoleSchema.optional(),
  /** The guard's switch at the gate, when it is what sets `role` ("Switching at the gate"; additive). */
  roleSwitch: roleSwitchSchema.optional(),
});
export type GateStatus = z.infer<typeof gateStatusSchema>;

export const alarmMessageSchema = z.object({
  kind: z.enum(ALARM_KINDS),
  ts: epochMs,
  detail: z.string().max(500),
});
export type AlarmMessage = z.infer<typeof alarmMessageSchema>;

export const commandSchema = z.object({
  cmdId: idSchema,
  kind: z.enum(COMMAND_KINDS),
  direction: z.enum(DIRECTIONS).optional(),
  reason: z.string().min(1).max(200).optional(),
  /** Who asked (user name), for the passage's `guard` field. */
  by: z.string().min(1).max(64).optional(),
  /** `renew-token`: the gate's new device token (it checks and stores it, and uses it on its next connect). */
  token: z.string().min(1).max(4096).optional(),
});
export type Command = z.infer<typeof commandSchema>;

export const commandResultSchema = z.object({
  cmdId: idSchema,
  ok: z.boolean(),
  error: z.string().max(500).optional(),
});
export type CommandResult = z.infer<typeof commandResultSchema>;

/**
 * The cloud's retained readiness on `anxin/v1/cloud/status` (topics.cloudStatus): `online: true` is
 * published once the cloud has (re)subscribed to the gates' topics, `online: false` when it stops
 * and as its last will. `ts` is the cloud's clock when it was sent.
 */
export const cloudStatusSchema = z.object({
  online: z.boolean(),
  ts: epochMs,
});
export type CloudStatus = z.infer<typeof cloudStatusSchema>;

export const syncRequestSchema = z.object({ fromRev: seqSchema });
export type SyncRequest = z.infer<typeof syncRequestSchema>;

/** `gates/{gateId}/sync/ack`: parts 1..`part` of snapshot `snapshotRev` are staged at the gate. */
export const syncAckSchema = z.object({ snapshotRev: seqSchema, part: z.number().int().min(1).max(100_000) });
export type SyncAck = z.infer<typeof syncAckSchema>;

/** The longest masked name and the most cards a person record may carry. */
export const PERSON_RECORD_LIMITS = { maskedName: 64, cards: 16 } as const;

/** What a gate knows of a person: never a name or ID number in clear (docs/architecture.md rule 5). */
export const personRecordSchema = z.object({
  personId: idSchema,
  compoundId: idSchema,
  householdId: idSchema.nullable(),
  kind: z.enum(PERSON_KINDS),
  idHash: idHashSchema.nullable(),
  maskedName: z.string().max(PERSON_RECORD_LIMITS.maskedName),
  cards: z.array(cardNumberSchema).max(PERSON_RECORD_LIMITS.cards),
  validFrom: epochMs.nullable(),
  validTo: epochMs.nullable(),
  active: z.boolean(),
  /** Elderly residents who pass by ID card rather than by phone. */
  elderly: z.boolean().optional(),
});
export type PersonRecord = z.infer<typeof personRecordSchema>;

/**
 * What a manager may change about a gate, from the cloud (docs/edge-agent.md "Settings from the
 * cloud"). Each field absent falls back to the gate's own config (gate.json), then to the default.
 */
export const gateSettingsSchema = z.object({
  /** Refuse a second passage in the same direction (`anti-passback`). */
  antiPassback: z.boolean().optional(),
  /** Normal mode, yellow health: `deny` (refer to the guard) or `grant`. */
  yellowPolicy: z.enum(['deny', 'grant']).optional(),
  /** No word from the cloud for longer than this: decisions, terminal and status say stale. */
  stalenessLimitMs: z
    .number()
    .int()
    .min(10_000)
    .max(30 * 24 * 3_600_000)
    .optional(),
  /** How long a grant holds the turnstile unlocked (the OSDP output pulse). */
  unlockMs: z.number().int().min(200).max(60_000).optional(),
  /** How long a grant waits for the passed input before it is recorded `passed: false`. */
  passageMs: z.number().int().min(100).max(120_000).optional(),
  /** What the terminal calls each direction of this gate (e.g. "北门 进" / "North gate out"). */
  labels: z.object({ in: z.string().min(1).max(40), out: z.string().min(1).max(40) }).optional(),
  /**
   * `distribution`: the gate is a supply distribution point — a swipe shows the household's
   * allocation and records a claim instead of opening (docs/supplies.md). Absent: `entry`.
   */
  role: gateRoleSchema.optional(),
  /**
   * When the cloud last set `role` (its clock, set by the cloud itself, never by a client): a
   * guard's switch at the gate made later holds over it (docs/supplies.md, "Switching at the gate").
   */
  roleSetAt: epochMs.optional(),
});
export type GateSettings = z.infer<typeof gateSettingsSchema>;

export const changeSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('person.upsert'), person: personRecordSchema }),
  z.object({ op: z.literal('person.delete'), personId: idSchema }),
  z.object({ op: z.literal('health'), personId: idSchema, colour: z.enum(HEALTH_COLOURS), ts: epochMs }),
  z.object({ op: z.literal('pass.revoke'), passId: idSchema, ts: epochMs }),
  /**
   * A device pass's certificate (docs/passes.md, "Certificates by sync"), pushed so a gate can verify it
   * before its first scan. The gate trusts nothing here it has not verified itself: it checks the
   * cloud's signature with its own keys and that `passId` and `personId` are the certificate's.
   */
  z.object({
    op: z.literal('pass.device'),
    passId: idSchema,
    personId: idSchema,
    /** body ‖ cloud signature (shared/device-pass.ts), base64url: at most 164 bytes. */
    certificate: z.string().regex(/^[A-Za-z0-9_-]{1,219}$/, 'expected a device pass certificate in base64url'),
  }),
  z.object({ op: z.literal('mode'), mode: z.enum(MODES), ts: epochMs, reason: z.string().max(200).optional() }),
  /** Lockdown exit quota: at most `exits` exits per household per `periodHours`. */
  z.object({
    op: z.literal('quota.policy'),
    exits: z.number().int().min(0).max(1000),
    periodHours: z
      .number()
      .int()
      .min(1)
      .max(24 * 30),
  }),
  /**
   * One use of a household's lockdown exit quota at some gate of the compound (`seq` of that gate's
   * passage, `ts` its time), relayed by the cloud so every gate counts every gate's uses
   * (docs/edge-agent.md "Exit quota across the compound").
   */
  z.object({
    op: z.literal('exit.use'),
    householdId: idSchema,
    gateId: idSchema,
    seq: seqSchema.min(1),
    ts: epochMs,
  }),
  /** A gate's manager-set settings (the whole set: fields absent fall back to gate.json). */
  z.object({ op: z.literal('gate.settings'), gateId: idSchema, settings: gateSettingsSchema }),
  /** Crisis supplies: rounds, claims and applications (shared/schemas/supply.ts, docs/supplies.md). */
  ...supplyChangeSchemas,
]);
export type Change = z.infer<typeof changeSchema>;

/** Live and requested deltas: applying `changes` to a replica at `fromRev` brings it to `toRev`. */
export const syncDeltaSchema = z
  .object({
    fromRev: seqSchema,
    toRev: seqSchema,
    changes: z.array(changeSchema),
  })
  .refine((d) => d.toRev >= d.fromRev, { message: 'toRev must not be below fromRev', path: ['toRev'] });
export type SyncDelta = z.infer<typeof syncDeltaSchema>;

/** One chunk of a full snapshot; parts are numbered 1 … parts. The replica switches only when all are in. */
export const snapshotChunkSchema = z
  .object({
    snapshotRev: seqSchema,
    part: z.number().int().min(1),
    parts: z.number().int().min(1).max(100_000),
    records: z.array(changeSchema),
  })
  .refine((c) => c.part <= c.parts, { message: 'part must not exceed parts', path: ['part'] });
export type SnapshotChunk = z.infer<typeof snapshotChunkSchema>;

export const syncMessageSchema = z.union([syncDeltaSchema, snapshotChunkSchema]);
export type SyncMessage = z.infer<typeof syncMessageSchema>;

export function isSnapshotChunk(m: SyncMessage): m is SnapshotChunk {
  return 'snapshotRev' in m;
}

/**
 * A sync message's envelope with its changes (or records) not yet checked: the gate checks each one
 * apart (`changeSchema`), so a single change it cannot read is skipped and counted rather than
 * refusing the whole message — a snapshot part refused every time it is sent would never complete
 * (docs/edge-agent.md, "Invalid changes from the cloud"). Same fields and limits as
 * `syncDeltaSchema` and `snapshotChunkSchema`.
 */
export const syncDeltaEnvelopeSchema = z
  .object({ fromRev: seqSchema, toRev: seqSchema, changes: z.array(z.unknown()) })
  .refine((d) => d.toRev >= d.fromRev, { message: 'toRev must not be below fromRev', path: ['toRev'] });
export const snapshotChunkEnvelopeSchema = z
  .object({
    snapshotRev: seqSchema,
    part: z.number().int().min(1),
    parts: z.number().int().min(1).max(100_000),
    records: z.array(z.unknown()),
  })
  .refine((c) => c.part <= c.parts, { message: 'part must not exceed parts', path: ['part'] });
export const syncEnvelopeSchema = z.union([syncDeltaEnvelopeSchema, snapshotChunkEnvelopeSchema]);
export type SyncEnvelope = z.infer<typeof syncEnvelopeSchema>;
