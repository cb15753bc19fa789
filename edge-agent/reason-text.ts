/**
 * What the guard terminal says for each reason: plain Chinese first (read at arm's length by an
 * elderly resident), English below for the guard and visitors.
 */
import type { Reason } from '../shared/enums.ts';

export const REASON_TEXT: Record<Reason, { zh: string; en: string }> = {
  ok: { zh: '请通行', en: 'Please pass' },
  'unknown-person': { zh: '查无此人，请找门卫', en: 'Not registered here, please see the guard' },
  'wrong-compound': { zh: '非本小区通行证', en: 'Pass is for another compound' },
  'bad-signature': { zh: '通行码无效', en: 'Invalid pass' },
  'pass-expired': { zh: '通行码已过期', en: 'Pass has expired' },
  'pass-not-yet-valid': { zh: '通行码尚未生效', en: 'Pass is not valid yet' },
  'pass-revoked': { zh: '通行码已作废', en: 'Pass has been revoked' },
  'id-invalid': { zh: '身份证号码无效', en: 'Invalid ID number' },
  'id-card-expired': { zh: '身份证已过期', en: 'ID card has expired' },
  'health-red': { zh: '红码，禁止通行', en: 'Red code: may not pass' },
  'health-yellow': { zh: '黄码，请找门卫', en: 'Yellow code: please see the guard' },
  'health-unknown': { zh: '无健康码信息，请找门卫', en: 'No health status, please see the guard' },
  'no-exit-quota': { zh: '本户外出名额已用完', en: 'Household exit quota used up' },
  'anti-passback': { zh: '重复进出，请找门卫', en: 'Already passed this way, please see the guard' },
  'gate-locked': { zh: '封控期间禁止通行', en: 'Gate closed during lockdown' },
  manual: { zh: '门卫放行', en: 'Opened by the guard' },
  'free-passage': { zh: '紧急疏散，自由通行', en: 'Emergency: free passage' },
  malformed: { zh: '无法识别的二维码', en: 'Unreadable code' },
  'unknown-key': { zh: '通行码无效（未知密钥）', en: 'Invalid pass (unknown key)' },
  'person-inactive': { zh: '登记已失效，请找门卫', en: 'Registration not active, please see the guard' },
  'visitor-not-approved': { zh: '访客需有效访客码', en: 'Visitors need a valid visitor pass' },
  'pass-used-up': { zh: '通行码次数已用完', en: 'Pass has no uses left' },
  'unsupported-card': { zh: '不支持此证件', en: 'This card is not supported' },
};
