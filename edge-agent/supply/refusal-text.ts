/**
 * The words for every refusal of a supply claim, on the terminal's screen and in the guard's answer
 * (docs/supplies.md, "The distribution role"): the point's reasons, and the gate's role.
 */
import { CLAIM_REFUSALS } from '../../shared/schemas/supply.ts';

/**
 * Why a distribution point did not hand out: a `ClaimRefusal` (journaled with the claim), `no-round`
 * (nothing to claim from), or `no-reason-given` — the cloud answered no without saying why (its
 * `claims/ack` answer's `refusal` is optional). That is shown as what it is, a refusal without a
 * reason, never dressed up as another reason (such as `already-claimed`) nor as a hand-out.
 */
export const POINT_REFUSALS = [...CLAIM_REFUSALS, 'no-round', 'no-reason-given'] as const;
export type PointRefusal = (typeof POINT_REFUSALS)[number];

/** Every reason a claim can be refused for: the point's (`PointRefusal`), and the gate's role. */
export type GuardClaimRefusal = PointRefusal | 'not-a-distribution-point';

/** What the screen and the answer say for each refusal. */
export const REFUSAL_TEXT: Record<GuardClaimRefusal, { zh: string; en: string }> = {
  'already-claimed': { zh: '本户本轮已领取', en: 'Already claimed by this household' },
  'not-eligible': { zh: '本户未申请本轮物资', en: 'This household did not apply for this round' },
  'outside-window': { zh: '不在领取时间内', en: 'Outside the pick-up window' },
  'round-closed': { zh: '本轮发放已结束', en: 'This round is closed' },
  'unknown-person': { zh: '查无此人', en: 'Person not registered here' },
  'no-household': { zh: '未登记户号', en: 'No household on record' },
  'credential-invalid': { zh: '证件或通行码无效', en: 'Card or pass not valid' },
  'no-round': { zh: '当前没有物资发放', en: 'No distribution running' },
  'no-reason-given': { zh: '平台拒绝发放，未说明原因', en: 'Refused by the cloud, no reason given' },
  'not-a-distribution-point': { zh: '本闸口现在不是物资发放点', en: 'This gate is not a distribution point now' },
};
