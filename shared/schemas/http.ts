/** zod schemas of the cloud's HTTP bodies and query strings (docs/contract.md, "HTTP"). */
import { z } from 'zod';
import { DIRECTIONS, HEALTH_COLOURS, HTTP_ROLES, MODES, PASS_KINDS, PERSON_KINDS, RESULTS } from '../enums.ts';
import { idSchema } from '../ids.ts';
import { cleanName, cleanText } from '../text.ts';
import { cardNumberSchema, epochMs } from './common.ts';
import { gateSettingsSchema } from './mqtt.ts';

/** The contract's error body. */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/**
 * A point in time in a query string or body: ISO 8601 with an offset (or `Z`), or epoch ms.
 * Becomes epoch ms. A local time without offset is refused: its meaning depends on the server.
 */
/** Why a guard or manager did something (audited): blank or whitespace-only is no reason. */
/** Free text a person types (reasons, notes): well-formed Unicode, NFC, no control characters but line breaks. */
export function humanTextSchema(max: number) {
  return z
    .string()
    .max(max)
    .transform((raw, ctx) => {
      const clean = cleanText(raw);
      if (!clean.ok) {
        ctx.addIssue({ code: 'custom', message: clean.reason });
        return z.NEVER;
      }
      return clean.value.trim();
    })
    .pipe(z.string().min(1));
}

/** A person's, compound's or gate's name: shared/text.ts `cleanName` (NFC, no controls, a visible letter). */
export function nameSchema(max: number) {
  return z
    .string()
    .max(max * 4)
    .transform((raw, ctx) => {
      const clean = cleanName(raw);
      if (!clean.ok) {
        ctx.addIssue({ code: 'custom', message: clean.reason });
        return z.NEVER;
      }
      return clean.value;
    })
    .pipe(z.string().min(1).max(max));
}

const reasonSchema = humanTextSchema(200);

/** Whether the date and time fields exist (`Date.parse` rolls 2026-02-30 over into March). */
function isCalendarTime(s: string): boolean {
  const fields = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(s);
  if (!fields) return false;
  const [year, month, day, hour, minute, second = 0] = fields.slice(1).map((f) => Number(f ?? 0));
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  return (
    month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth && hour! <= 23 && minute! <= 59 && second <= 59
  );
}

export const instantSchema = z.union([
  epochMs,
  z
    .string()
    .max(40)
    .transform((s, ctx) => {
      if (/^\d{1,16}$/.test(s)) return Number(s);
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})$/.test(s)) {
        ctx.addIssue({
          code: 'custom',
          message: 'expected ISO 8601 with an offset (e.g. 2026-03-01T08:00:00+08:00) or epoch ms',
        });
        return z.NEVER;
      }
      const ms = Date.parse(s);
      if (Number.isNaN(ms) || !isCalendarTime(s)) {
        ctx.addIssue({ code: 'custom', message: 'not a real date and time' });
        return z.NEVER;
      }
      return ms;
    }),
]);

export const loginBodySchema = z.object({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(256),
});
export const loginResponseSchema = z.object({
  token: z.string(),
  role: z.enum(HTTP_ROLES),
  expiresAt: epochMs,
});

export const compoundCreateSchema = z.object({
  id: idSchema,
  name: nameSchema(100),
  /** IANA time zone for hourly statistics. */
  timeZone: z.string().min(1).max(64).default('Asia/Shanghai'),
});
export type CompoundCreate = z.infer<typeof compoundCreateSchema>;

export const modeChangeSchema = z.object({
  mode: z.enum(MODES),
  reason: reasonSchema,
});
export type ModeChange = z.infer<typeof modeChangeSchema>;

export const gateCreateSchema = z.object({
  id: idSchema,
  compoundId: idSchema,
  name: nameSchema(100),
  antiPassback: z.boolean().default(false),
  /** The rest of the manager-set settings (docs/edge-agent.md "Settings from the cloud"); `antiPassback` above wins. */
  settings: gateSettingsSchema.omit({ roleSetAt: true }).strict().optional(),
});
export type GateCreate = z.infer<typeof gateCreateSchema>;

/** `PATCH /gates/:id`: the settings to change; the others keep their values. */
export const gateSettingsPatchSchema = gateSettingsSchema
  .omit({ roleSetAt: true })
  .strict()
  .refine((s) => Object.keys(s).length > 0, { message: 'name at least one setting' });
export type GateSettingsPatch = z.infer<typeof gateSettingsPatchSchema>;

export const remoteOpenSchema = z.object({
  direction: z.enum(DIRECTIONS),
  reason: reasonSchema,
});
export type RemoteOpen = z.infer<typeof remoteOpenSchema>;

export const residentCreateSchema = z.object({
  personId: idSchema.optional(),
  compoundId: idSchema,
  householdId: idSchema.nullable().default(null),
  kind: z.enum(PERSON_KINDS).default('resident'),
  name: nameSchema(64),
  /** GB 11643 number; validated (check character) by the route, stored only as pseudonym + masked form + sealed copy. */
  idNumber: z.string().length(18).optional(),
  phone: z
    .string()
    .regex(/^\+?\d{6,15}$/)
    .optional(),
  cards: z.array(cardNumberSchema).max(16).default([]),
  elderly: z.boolean().default(false),
  validFrom: epochMs.nullable().default(null),
  validTo: epochMs.nullable().default(null),
});
export type ResidentCreate = z.infer<typeof residentCreateSchema>;

/**
 * Only the fields given change. Spelled out rather than `residentCreateSchema.partial()`: zod keeps
 * `.default()`s under `.partial()`, which would reset every omitted field to its default.
 */
export const residentPatchSchema = z
  .object({
    householdId: idSchema.nullable().optional(),
    kind: z.enum(PERSON_KINDS).optional(),
    name: residentCreateSchema.shape.name.optional(),
    idNumber: z.string().length(18).optional(),
    phone: z
      .string()
      .regex(/^\+?\d{6,15}$/)
      .optional(),
    cards: z.array(cardNumberSchema).max(16).optional(),
    elderly: z.boolean().optional(),
    validFrom: epochMs.nullable().optional(),
    validTo: epochMs.nullable().optional(),
    active: z.boolean().optional(),
  })
  .refine((p) => Object.keys(p).length > 0, { message: 'nothing to change' });
export type ResidentPatch = z.infer<typeof residentPatchSchema>;

export const healthUpdateSchema = z
  .array(
    z
      .object({
        idNumber: z.string().length(18).optional(),
        personId: idSchema.optional(),
        colour: z.enum(HEALTH_COLOURS),
        ts: epochMs,
      })
      .refine((h) => (h.idNumber === undefined) !== (h.personId === undefined), {
        message: 'give exactly one of idNumber and personId',
      }),
  )
  .min(1)
  .max(100_000);
export type HealthUpdate = z.infer<typeof healthUpdateSchema>;

export const passIssueSchema = z.object({
  personId: idSchema,
  kind: z.enum(PASS_KINDS).default('resident'),
  validFrom: instantSchema.optional(),
  validTo: instantSchema,
  useLimit: z.number().int().min(1).max(255).optional(),
});
export type PassIssue = z.infer<typeof passIssueSchema>;

/** Integer query parameters arrive as strings. */
const queryInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const eventsQuerySchema = z.object({
  compound: idSchema.optional(),
  gate: idSchema.optional(),
  person: idSchema.optional(),
  result: z.enum(RESULTS).optional(),
  from: instantSchema.optional(),
  to: instantSchema.optional(),
  limit: queryInt(1, 1000).default(100),
  cursor: z
    .string()
    .max(100)
    .regex(/^[A-Za-z0-9_-]+$/)
    .optional(),
});
export type EventsQuery = z.infer<typeof eventsQuerySchema>;

export const statsQuerySchema = z.object({
  compound: idSchema,
  from: instantSchema,
  to: instantSchema,
});
export type StatsQuery = z.infer<typeof statsQuerySchema>;

export const traceWindowQuerySchema = z.object({
  from: instantSchema,
  to: instantSchema,
  reason: reasonSchema,
});

export const contactsQuerySchema = traceWindowQuerySchema.extend({
  windowMin: queryInt(0, 24 * 60).default(15),
  depth: queryInt(1, 2).default(1),
  includeDenied: z.enum(['true', 'false']).default('false'),
  format: z.enum(['json', 'csv']).default('json'),
});
export type ContactsQuery = z.infer<typeof contactsQuerySchema>;

export const userCreateSchema = z.object({
  username: z
    .string()
    .regex(/^[a-z0-9._-]{1,64}$/)
    .min(1),
  password: z.string().min(8).max(256),
  role: z.enum(HTTP_ROLES),
  compoundId: idSchema.optional(),
});
export type UserCreate = z.infer<typeof userCreateSchema>;

/** `PUT /users/:username/password`: own change with the old password; an admin resets without it. */
export const passwordChangeSchema = z.strictObject({
  oldPassword: z.string().min(1).max(256).optional(),
  newPassword: z.string().min(8).max(256),
});

/** `PATCH /users/:username` (admin): disable / enable, role, compound binding (null: unbound). */
export const userPatchSchema = z
  .strictObject({
    disabled: z.boolean().optional(),
    role: z.enum(HTTP_ROLES).optional(),
    compoundId: idSchema.nullable().optional(),
  })
  .refine((p) => Object.keys(p).length > 0, { message: 'nothing to change' });

export const usernameParamSchema = z.object({ username: z.string().regex(/^[a-z0-9._-]{1,64}$/) });

/** Cursor of a paginated list: opaque, URL-safe. */
const cursorSchema = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9_-]+$/);

/** `PUT /compounds/:id/quota`: the lockdown exit quota (the `quota.policy` change). */
export const quotaPolicySchema = z.object({
  exits: z.number().int().min(0).max(1000),
  periodHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 30),
});
export type QuotaPolicy = z.infer<typeof quotaPolicySchema>;

export const gatesQuerySchema = z.object({ compound: idSchema.optional() });

export const residentsQuerySchema = z.object({
  compound: idSchema.optional(),
  household: idSchema.optional(),
  limit: queryInt(1, 1000).default(100),
  cursor: cursorSchema.optional(),
});
export type ResidentsQuery = z.infer<typeof residentsQuerySchema>;

/** `GET /residents/:id?reveal=true`: full name and ID number, manager only, audit-logged. */
export const residentRevealQuerySchema = z.object({
  reveal: z.enum(['true', 'false']).default('false'),
  reason: reasonSchema.optional(),
});

export const auditQuerySchema = z.object({
  compound: idSchema.optional(),
  actor: z.string().min(1).max(64).optional(),
  action: z.string().min(1).max(64).optional(),
  from: instantSchema.optional(),
  to: instantSchema.optional(),
  limit: queryInt(1, 1000).default(100),
  cursor: cursorSchema.optional(),
});
export type AuditQuery = z.infer<typeof auditQuerySchema>;

/** `POST /gates/:id/revoke` (admin): retire every device token the gate holds, e.g. when it is stolen. */
export const gateRevokeSchema = z.object({ reason: reasonSchema });
export type GateRevoke = z.infer<typeof gateRevokeSchema>;
