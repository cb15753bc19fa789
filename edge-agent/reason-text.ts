/**
 * What the gate's screen says for each reason (docs/edge-agent.md "The terminal"): plain Chinese
 * first (read at arm's length by an elderly resident), English below; then what to do next.
 *
 * The colour follows the decision, never the health code: green only for a grant, red
 * for a refusal, amber for "see the guard" — the cases a guard can settle on the spot. The icon and
 * the words say the same as the colour, for people who cannot tell the colours apart.
 */
import type { Reason } from '../shared/enums.ts';

/** `grant`: go (green ✓). `refuse`: you may not pass here (red ✗). `guard`: see the guard (amber !). */
export type ScreenTone = 'grant' | 'refuse' | 'guard';
export type ScreenColour = 'green' | 'red' | 'amber';
export type ScreenIcon = '✓' | '✗' | '!';

export const TONE_COLOUR: Record<ScreenTone, ScreenColour> = { grant: 'green', refuse: 'red', guard: 'amber' };
export const TONE_ICON: Record<ScreenTone, ScreenIcon> = { grant: '✓', refuse: '✗', guard: '!' };

export interface ReasonText {
  tone: ScreenTone;
  zh: string;
  en: string;
  /** The next step, Chinese. */
  nextZh: string;
  /** The next step, English. */
  nextEn: string;
}

const SEE_GUARD_ZH = '请找门卫';
const SEE_GUARD_EN = 'Please see the guard';

export const REASON_TEXT: Record<Reason, ReasonText> = {
  ok: { tone: 'grant', zh: '请通行', en: 'Please pass', nextZh: '请从闸机通过', nextEn: 'Walk through the turnstile' },
  manual: {
    tone: 'grant',
    zh: '门卫放行',
    en: 'Opened by the guard',
    nextZh: '请从闸机通过',
    nextEn: 'Walk through the turnstile',
  },
  'free-passage': {
    tone: 'grant',
    zh: '紧急疏散，自由通行',
    en: 'Emergency: free passage',
    nextZh: '请有序通过，不要拥挤',
    nextEn: 'Walk through calmly, do not push',
  },
  'unknown-person': {
    tone: 'guard',
    zh: '查无此人',
    en: 'Not registered here',
    nextZh: '请找门卫登记',
    nextEn: 'Please register with the guard',
  },
  'wrong-compound': {
    tone: 'refuse',
    zh: '非本小区通行证',
    en: 'This pass is for another compound',
    nextZh: '请出示本小区通行码，或找门卫',
    nextEn: "Show this compound's pass, or see the guard",
  },
  'bad-signature': {
    tone: 'refuse',
    zh: '通行码无效',
    en: 'Invalid pass',
    nextZh: '请重新获取通行码，或找门卫',
    nextEn: 'Get a new pass, or see the guard',
  },
  'pass-expired': {
    tone: 'refuse',
    zh: '通行码已过期',
    en: 'This pass has expired',
    nextZh: '请重新申请通行码，或找门卫',
    nextEn: 'Ask for a new pass, or see the guard',
  },
  'pass-not-yet-valid': {
    tone: 'refuse',
    zh: '通行码尚未生效',
    en: 'This pass is not valid yet',
    nextZh: '请在生效时间后再来，或找门卫',
    nextEn: 'Come back when it becomes valid, or see the guard',
  },
  'pass-revoked': {
    tone: 'refuse',
    zh: '通行码已作废',
    en: 'This pass has been revoked',
    nextZh: '请联系物业或居委会',
    nextEn: "Contact the property office or the residents' committee",
  },
  'id-invalid': {
    tone: 'refuse',
    zh: '身份证无法识别',
    en: 'ID card not recognised',
    nextZh: '请重新放好身份证，或出示通行码',
    nextEn: 'Place the card again, or show your QR pass',
  },
  'id-card-expired': {
    tone: 'refuse',
    zh: '身份证已过期',
    en: 'ID card has expired',
    nextZh: '请出示通行码，或找门卫',
    nextEn: 'Show your QR pass, or ask the guard',
  },
  'health-red': {
    tone: 'refuse',
    zh: '红码，禁止通行',
    en: 'Red code: may not pass',
    nextZh: '请联系居委会或门卫',
    nextEn: "Contact the residents' committee or the guard",
  },
  'health-yellow': {
    tone: 'guard',
    zh: '黄码，需人工核验',
    en: 'Yellow code: check needed',
    nextZh: SEE_GUARD_ZH,
    nextEn: SEE_GUARD_EN,
  },
  'health-unknown': {
    tone: 'guard',
    zh: '无健康码信息',
    en: 'No health status on record',
    nextZh: SEE_GUARD_ZH,
    nextEn: SEE_GUARD_EN,
  },
  'no-exit-quota': {
    tone: 'refuse',
    zh: '本户外出名额已用完',
    en: 'Household exit quota used up',
    nextZh: '如需外出，请联系居委会申请出门证',
    nextEn: "To go out, ask the residents' committee for an exit permit",
  },
  'anti-passback': {
    tone: 'guard',
    zh: '重复进出',
    en: 'Already passed this way',
    nextZh: SEE_GUARD_ZH,
    nextEn: SEE_GUARD_EN,
  },
  'gate-locked': {
    tone: 'refuse',
    zh: '封控期间禁止进入',
    en: 'Closed during lockdown',
    nextZh: '请联系居委会',
    nextEn: "Contact the residents' committee",
  },
  malformed: {
    tone: 'refuse',
    zh: '无法识别的二维码',
    en: 'Unreadable code',
    nextZh: '请调亮手机屏幕后重新扫码',
    nextEn: 'Turn up your screen brightness and scan again',
  },
  'unknown-key': {
    tone: 'refuse',
    zh: '通行码无效（未知密钥）',
    en: 'Invalid pass (unknown key)',
    nextZh: '请重新获取通行码，或找门卫',
    nextEn: 'Get a new pass, or see the guard',
  },
  'person-inactive': {
    tone: 'guard',
    zh: '登记已失效',
    en: 'Registration not active',
    nextZh: '请找门卫或物业',
    nextEn: 'See the guard or the property office',
  },
  'visitor-not-approved': {
    tone: 'guard',
    zh: '访客需有效访客码',
    en: 'Visitors need a valid visitor pass',
    nextZh: '请联系您拜访的住户，或找门卫',
    nextEn: 'Ask the resident you visit, or see the guard',
  },
  'pass-used-up': {
    tone: 'refuse',
    zh: '通行码次数已用完',
    en: 'This pass has no uses left',
    nextZh: '请重新申请通行码，或找门卫',
    nextEn: 'Ask for a new pass, or see the guard',
  },
  'unsupported-card': {
    tone: 'refuse',
    zh: '不支持此证件',
    en: 'This card is not supported',
    nextZh: '请出示通行码，或找门卫',
    nextEn: 'Show your QR pass, or see the guard',
  },
  'bad-device-signature': {
    tone: 'refuse',
    zh: '动态通行码无效',
    en: 'Invalid live pass',
    nextZh: '请在本人手机上打开通行码，或找门卫',
    nextEn: 'Open the pass on your own phone, or see the guard',
  },
  'frame-expired': {
    tone: 'refuse',
    zh: '动态码已过期（截图无效）',
    en: 'Live code expired (screenshots do not work)',
    nextZh: '请在手机上打开通行码页面，出示最新的码',
    nextEn: 'Open the pass page on your phone and show the current code',
  },
  'frame-not-yet-valid': {
    tone: 'refuse',
    zh: '手机时间不准，动态码无效',
    en: "Live code not valid: the phone's clock is wrong",
    nextZh: '请将手机设为自动时间后刷新通行码，或找门卫',
    nextEn: "Set the phone's time to automatic and reload the pass, or see the guard",
  },
  'frame-replayed': {
    tone: 'refuse',
    zh: '此码已使用，请等新码',
    en: 'This code was already used',
    nextZh: '请等待手机上的码刷新后再扫，或找门卫',
    nextEn: 'Wait for the code on your phone to change, then scan again',
  },
};

/** A grant while the turnstile cannot open (fault): the person must not stand before a closed gate on green. */
export const TURNSTILE_FAULT_TEXT: ReasonText = {
  tone: 'guard',
  zh: '闸机故障，请找门卫',
  en: 'Turnstile fault, please see the guard',
  nextZh: SEE_GUARD_ZH,
  nextEn: SEE_GUARD_EN,
};

/** The health code as the screen's secondary line (it never sets the screen's colour). */
export const HEALTH_TEXT: Record<'green' | 'yellow' | 'red' | 'unknown', { zh: string; en: string }> = {
  green: { zh: '健康码：绿码', en: 'Health code: green' },
  yellow: { zh: '健康码：黄码', en: 'Health code: yellow' },
  red: { zh: '健康码：红码', en: 'Health code: red' },
  unknown: { zh: '健康码：无信息', en: 'Health code: none on record' },
};
