/**
 * Crisis supplies (docs/supplies.md): distribution rounds, the claims the distribution points record
 * and the messages that carry them. One schema per payload, imported by producer and consumer
 * (docs/architecture.md rule 3); docs/contract.md §5 lists them.
 */
import { z } from 'zod';
import { idSchema } from '../ids.ts';
import { epochMs, seqSchema } from './common.ts';

/** The most claims one `claims` message may carry (journal drain batches). */
export const MAX_CLAIMS_PER_MESSAGE = 200;
/** The most items a round hands out per household. */
export const MAX_ROUND_ITEMS = 20;

export const SUPPLY_FORMS = ['pickup', 'delivery'] as const;
export type SupplyForm = (typeof SUPPLY_FORMS)[number];
export const SUPPLY_ELIGIBILITY = ['all', 'applicants'] as const;
export type SupplyEligibility = (typeof SUPPLY_ELIGIBILITY)[number];
export const ROUND_STATUSES = ['open', 'closed'] as const;
export type RoundStatus = (typeof ROUND_STATUSES)[number];
/** How a claim was made: a swipe (ID card, QR pass, OSDP card), a guard for a member without a card, the cloud (door delivery). */
export const CLAIM_METHODS = ['idcard', 'qr', 'card', 'guard', 'delivery'] as const;
export type ClaimMethod = (typeof CLAIM_METHODS)[number];
/** Why a point refused to hand out (its decision, from the cloud's answer or its replica). */
export const CLAIM_REFUSALS = [
  'already-claimed',
  'not-eligible',
  'outside-window',
  'round-closed',
  'unknown-person',
  'no-household',
  'credential-invalid',
] as const;
export type ClaimRefusal = (typeof CLAIM_REFUSALS)[number];
/** What the cloud made of a stored claim (docs/supplies.md, "Once per household"). */
export const CLAIM_STANDINGS = ['accepted', 'refused', 'double'] as const;
export type ClaimStanding = (typeof CLAIM_STANDINGS)[number];

const text = (max: number) => z.string().trim().min(1).max(max);

export const supplyItemSchema = z.object({
  name: text(40),
  unit: text(12),
  /** Quantity per household (e.g. 5 for "5 kg"). */
  perHousehold: z.number().positive().max(10_000),
});
export type SupplyItem = z.infer<typeof supplyItemSchema>;

/** A round as the gates hold it (change `supply.round`): no stock, no household data. */
export const roundRecordSchema = z.object({
  roundId: idSchema,
  compoundId: idSchema,
  name: text(80),
  items: z.array(supplyItemSchema).min(1).max(MAX_ROUND_ITEMS),
  form: z.enum(SUPPLY_FORMS),
  window: z.object({ from: epochMs, to: epochMs }),
  eligibility: z.enum(SUPPLY_ELIGIBILITY),
  status: z.enum(ROUND_STATUSES),
});
export type RoundRecord = z.infer<typeof roundRecordSchema>;

/** Changes on `changes` and in deltas/snapshots (docs/contract.md §2 "Changes", §5). */
export const supplyChangeSchemas = [
  z.object({ op: z.literal('supply.round'), round: roundRecordSchema }),
  /**
   * A household's claim in a round, relayed to every point of the compound so that each refuses a
   * second one, offline too. `claimId`: `<gateId>:<seq>` for a point's claim, `cloud:<n>` for one
   * recorded in the cloud.
   */
  z.object({
    op: z.literal('supply.claim'),
    roundId: idSchema,
    householdId: idSchema,
    claimId: z.string().min(3).max(80),
    ts: epochMs,
  }),
  /** A household applied for a round whose eligibility is `applicants`. */
  z.object({ op: z.literal('supply.apply'), roundId: idSchema, householdId: idSchema }),
] as const;

/**
 * One claim a distribution point recorded, in its claim journal (`seq` = 1, 2, 3 …, its own
 * sequence), sent on `anxin/v1/gates/{gateId}/claims` and stored by the cloud once per (gateId, seq).
 */
export const claimRecordSchema = z
  .object({
    gateId: idSchema,
    seq: seqSchema.min(1),
    ts: epochMs,
    roundId: idSchema,
    /** Absent only when the swipe matched no household (a refusal). */
    householdId: idSchema.optional(),
    personId: idSchema.optional(),
    method: z.enum(CLAIM_METHODS),
    /** `handed-out`: the point handed the allocation out; `refused`: it did not. */
    outcome: z.enum(['handed-out', 'refused']),
    refusal: z.enum(CLAIM_REFUSALS).optional(),
    /** `cloud`: the cloud answered the point's ask; `replica`: the point decided alone (offline). */
    decidedBy: z.enum(['cloud', 'replica']),
    /** The ask this claim answers (online decisions). */
    askId: z.string().uuid().optional(),
    /** The guard who recorded a claim for a member without a card, and why. */
    guard: text(64).optional(),
    reason: text(200).optional(),
  })
  .refine((c) => c.outcome === 'refused' || c.householdId !== undefined, {
    message: 'a handed-out claim names its household',
    path: ['householdId'],
  })
  .refine((c) => c.method !== 'guard' || (c.guard !== undefined && c.reason !== undefined), {
    message: 'a guard claim names the guard and the reason',
    path: ['reason'],
  });
export type ClaimRecord = z.infer<typeof claimRecordSchema>;

export const claimsMessageSchema = z.object({
  claims: z.array(claimRecordSchema).min(1).max(MAX_CLAIMS_PER_MESSAGE),
});

/** `anxin/v1/gates/{gateId}/claims/ask`: may this household claim now? The cloud holds it for the asker. */
export const claimAskSchema = z.object({
  askId: z.string().uuid(),
  roundId: idSchema,
  householdId: idSchema,
  ts: epochMs,
});
export type ClaimAsk = z.infer<typeof claimAskSchema>;

/**
 * `anxin/v1/gates/{gateId}/claims/ack` (cloud → gate): `upTo`, cumulative, every claim of that
 * gate with `seq ≤ upTo` is stored durably; `answer`, the answer to one ask.
 */
export const claimAckSchema = z.object({
  upTo: seqSchema.optional(),
  ts: epochMs,
  answer: z
    .object({
      askId: z.string().uuid(),
      granted: z.boolean(),
      refusal: z.enum(CLAIM_REFUSALS).optional(),
      /** When refused as already claimed: when and where. */
      claimedAt: z.object({ ts: epochMs, where: z.string().max(80) }).optional(),
    })
    .optional(),
});
export type ClaimAck = z.infer<typeof claimAckSchema>;

// ---- HTTP bodies (docs/contract.md §5, docs/supplies.md "HTTP") ----

export const roundCreateSchema = z
  .object({
    compoundId: idSchema,
    name: text(80),
    items: z
      .array(supplyItemSchema.extend({ stock: z.number().min(0).max(100_000_000).optional() }))
      .min(1)
      .max(MAX_ROUND_ITEMS),
    form: z.enum(SUPPLY_FORMS),
    window: z.object({ from: epochMs, to: epochMs }),
    eligibility: z.enum(SUPPLY_ELIGIBILITY),
    /** Service providers (usernames with role `provider`) who keep this round's stock. */
    providers: z.array(text(64)).max(20).default([]),
    /** Open the round although the compound is not in `controlled` or `lockdown` mode (wakes the function). */
    wake: z.boolean().default(false),
  })
  .refine((r) => r.window.to > r.window.from, {
    message: 'the window must end after it starts',
    path: ['window', 'to'],
  })
  .refine((r) => new Set(r.items.map((i) => i.name)).size === r.items.length, {
    message: 'item names must differ',
    path: ['items'],
  });
export type RoundCreate = z.infer<typeof roundCreateSchema>;

export const stockUpdateSchema = z.object({
  items: z
    .array(z.object({ name: text(40), stock: z.number().min(0).max(100_000_000) }))
    .min(1)
    .max(MAX_ROUND_ITEMS),
});

/** `POST /supply/rounds/:id/claims`: a claim recorded in the cloud (door delivery, or a point's guard by phone). */
export const cloudClaimSchema = z.object({
  householdId: idSchema,
  personId: idSchema.optional(),
  method: z.enum(['delivery', 'guard']),
  reason: text(200),
});
