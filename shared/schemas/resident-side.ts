/**
 * zod schemas of the resident side (docs/contract.md §5, "The resident side"): activation codes a
 * manager issues, the resident's sign-in, `/api/v1/me/…` (household, passages, visitors, return
 * registration) and the manager's review of returns. Producer and consumer import these.
 */
import { z } from 'zod';
import { HEALTH_COLOURS, MODES } from '../enums.ts';
import { idSchema } from '../ids.ts';
import { humanTextSchema, nameSchema } from './http.ts';

/**
 * An activation code as printed: 12 characters of Crockford's base 32 (60 random bits) in three
 * groups, `K7QM-3WXA-9FZD`. Typing is forgiving: case, spaces, dashes, and the look-alikes
 * O→0, I/L→1 are normalised before the code is checked (cloud/me/activation-codes.ts).
 */
export const activationCodeSchema = z.string().min(12).max(40);

/** A resident's own sign-in name, chosen at activation. */
export const residentLoginSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{2,31}$/, 'expected 3-32 of a-z 0-9 . _ -');

/** A password of a resident: 8–256 characters. */
const passwordSchema = z.string().min(8).max(256);

/** `POST /api/v1/activations` (manager): codes for these people, or every resident of a household. */
export const activationIssueSchema = z
  .strictObject({
    personIds: z.array(idSchema).min(1).max(1000).optional(),
    householdId: idSchema.optional(),
    /** With `householdId`: the compound (an unbound manager must name it). */
    compoundId: idSchema.optional(),
  })
  .refine((b) => (b.personIds === undefined) !== (b.householdId === undefined), {
    message: 'name either personIds or householdId',
  });
export type ActivationIssue = z.infer<typeof activationIssueSchema>;

/** One issued code: the code itself is in this answer only (stored hashed). */
export const issuedActivationSchema = z.object({
  codeId: z.string(),
  personId: idSchema,
  compoundId: idSchema,
  householdId: idSchema.nullable(),
  maskedName: z.string(),
  code: z.string(),
  /** The link the letter's QR code carries: `<origin>/me/activate#code=<code>` (the fragment never reaches a server log). */
  link: z.string(),
  /** The link as a QR code, an SVG document (shown through `<img src="data:…">`). */
  qrSvg: z.string(),
  expiresAt: z.number(),
});
export type IssuedActivation = z.infer<typeof issuedActivationSchema>;

export const activationListQuerySchema = z.object({
  compound: idSchema.optional(),
  status: z.enum(['open', 'all']).default('open'),
  person: idSchema.optional(),
});

/** `POST /api/v1/me/activation/check`: what the code is for, before a password is set. */
export const activationCheckSchema = z.strictObject({ code: activationCodeSchema });

/** `POST /api/v1/me/activate`: the code, the sign-in name and password the resident chooses. */
export const activationSchema = z.strictObject({
  code: activationCodeSchema,
  login: residentLoginSchema,
  password: passwordSchema,
});

/** `POST /api/v1/me/login`. */
export const residentSignInSchema = z.strictObject({
  login: z.string().min(1).max(64),
  password: z.string().min(1).max(256),
});

/** `PUT /api/v1/me/password`: ends every session of the resident. */
export const residentPasswordSchema = z.strictObject({
  oldPassword: z.string().min(1).max(256),
  newPassword: passwordSchema,
});

/** What `/me/activate`, `/me/login` answer: a resident session. */
export const residentSessionSchema = z.object({
  token: z.string(),
  role: z.literal('resident'),
  expiresAt: z.number(),
  idleTimeoutMs: z.number(),
  compound: idSchema,
  personId: idSchema,
  login: z.string(),
});

/** A calendar date in the compound's zone. */
export const localDateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')
  .refine((s) => {
    const [y, m, d] = s.split('-').map(Number) as [number, number, number];
    const date = new Date(Date.UTC(y, m - 1, d));
    return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
  }, 'not a real date');

/** `POST /api/v1/me/visitors`: a visitor of the household on one day, for 1–10 passages. */
export const visitorInviteSchema = z.strictObject({
  name: nameSchema(32),
  /** The last four digits of the visitor's phone, for the guard to check. */
  phoneTail: z.string().regex(/^\d{4}$/, 'expected the last 4 digits'),
  date: localDateSchema,
  uses: z.number().int().min(1).max(10).default(2),
});
export type VisitorInvite = z.infer<typeof visitorInviteSchema>;

export const TRANSPORTS = ['train', 'plane', 'car', 'bus', 'ship', 'other'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** `POST /api/v1/me/returns` (返沪登记): who of the household came back, from where, when and how. */
export const returnRegistrationSchema = z.strictObject({
  origin: humanTextSchema(60),
  returnDate: localDateSchema,
  transport: z.enum(TRANSPORTS),
  /** Train or flight number, plate … (optional). */
  transportDetail: humanTextSchema(40).optional(),
  /** The household's people who travelled (the resident among them or not). */
  members: z.array(idSchema).min(1).max(20),
});
export type ReturnRegistration = z.infer<typeof returnRegistrationSchema>;

export const returnsQuerySchema = z.object({
  compound: idSchema.optional(),
  status: z.enum(['pending', 'all']).default('pending'),
});

/** `POST /api/v1/returns/:id/review` (manager): clear (colours restored now) or keep (stays until changed by hand). */
export const returnReviewSchema = z.strictObject({
  decision: z.enum(['clear', 'keep']),
  note: humanTextSchema(200).optional(),
});

/** A compound's resident-side policy (`GET/PUT /api/v1/compounds/:id/resident-policy`, manager). */
export const residentPolicySchema = z.strictObject({
  /** Invitations a household may make per period. */
  visitorQuota: z.number().int().min(0).max(100),
  visitorQuotaDays: z.number().int().min(1).max(31),
  /** Modes in which visitors are invited and their passes shown; never lockdown or emergency-open. */
  visitorModes: z.array(z.enum(['normal', 'controlled'])).max(2),
  /** A registered return turns the travellers' health colour yellow for this many days … */
  returnYellowDays: z.number().int().min(0).max(60),
  /** … and then back (`after-days`), or only when a manager reviews it (`after-review`). */
  returnRelease: z.enum(['after-days', 'after-review']),
});
export type ResidentPolicy = z.infer<typeof residentPolicySchema>;

export const DEFAULT_RESIDENT_POLICY: ResidentPolicy = {
  visitorQuota: 10,
  visitorQuotaDays: 7,
  visitorModes: ['normal'],
  returnYellowDays: 14,
  returnRelease: 'after-days',
};

/** `GET /api/v1/me`: who is signed in, their household (masked), their own health colour. */
export const meViewSchema = z.object({
  personId: idSchema,
  maskedName: z.string(),
  compound: z.object({ id: idSchema, name: z.string(), timeZone: z.string(), mode: z.enum(MODES) }),
  householdId: idSchema.nullable(),
  health: z.enum(HEALTH_COLOURS),
  healthTs: z.number().nullable(),
  members: z.array(
    z.object({
      personId: idSchema,
      maskedName: z.string(),
      kind: z.string(),
      self: z.boolean(),
      activated: z.boolean(),
    }),
  ),
  policy: residentPolicySchema,
});
