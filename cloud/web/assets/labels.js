// Plain-word labels, Chinese first and English second, for every code the pages show.

export const REASON_LABELS = {
  ok: ['正常通行', 'Allowed'],
  'unknown-person': ['未登记人员', 'Not registered'],
  'wrong-compound': ['非本小区通行证', 'Pass of another compound'],
  'bad-signature': ['通行码签名无效', 'Invalid pass signature'],
  'pass-expired': ['通行码已过期', 'Pass expired'],
  'pass-not-yet-valid': ['通行码尚未生效', 'Pass not valid yet'],
  'pass-revoked': ['通行码已作废', 'Pass revoked'],
  'id-invalid': ['身份证号码无效', 'Invalid ID number'],
  'id-card-expired': ['身份证已过期', 'ID card expired'],
  'health-red': ['红码禁止通行', 'Red health code'],
  'health-yellow': ['黄码需人工核验', 'Yellow health code: guard check'],
  'health-unknown': ['无健康码信息', 'No health status'],
  'no-exit-quota': ['本户外出名额已用完', 'Household exit quota used up'],
  'anti-passback': ['重复进出', 'Anti-passback'],
  'gate-locked': ['封控期间禁止通行', 'Closed during lockdown'],
  manual: ['门卫放行', 'Opened by a guard'],
  'free-passage': ['紧急疏散自由通行', 'Emergency free passage'],
  malformed: ['无法识别的二维码', 'Unreadable code'],
  'unknown-key': ['未知密钥', 'Unknown signing key'],
  'person-inactive': ['登记已失效', 'Registration inactive'],
  'visitor-not-approved': ['访客未获批准', 'Visitor not approved'],
  'pass-used-up': ['通行码次数已用完', 'Pass used up'],
  'unsupported-card': ['不支持的证件', 'Unsupported card'],
  'bad-device-signature': ['动态码签名无效', 'Live pass: bad device signature'],
  'frame-expired': ['动态码已过期', 'Live code expired'],
  'frame-not-yet-valid': ['动态码时间超前', 'Live code from the future'],
  'frame-replayed': ['动态码重复使用', 'Live code replayed'],
};

export const METHOD_LABELS = {
  qr: ['二维码', 'QR'],
  idcard: ['身份证', 'ID card'],
  card: ['门禁卡', 'Card'],
  manual: ['人工', 'Manual'],
  free: ['自由通行', 'Free'],
};

export const DIRECTION_LABELS = { in: ['进', 'In'], out: ['出', 'Out'] };
export const RESULT_LABELS = { granted: ['允许', 'Granted'], denied: ['拒绝', 'Denied'] };
export const HEALTH_LABELS = {
  green: ['绿码', 'Green'],
  yellow: ['黄码', 'Yellow'],
  red: ['红码', 'Red'],
  unknown: ['未知', 'Unknown'],
};
export const MODE_LABELS = {
  normal: ['正常', 'Normal'],
  controlled: ['管控', 'Controlled'],
  lockdown: ['封控', 'Lockdown'],
  'emergency-open': ['紧急开放', 'Emergency open'],
};
export const ALARM_LABELS = {
  forced: ['闸机被强行通过', 'Turnstile forced'],
  tailgate: ['尾随通过', 'Tailgating'],
  'device-fault': ['设备故障', 'Device fault'],
  tamper: ['设备被拆动', 'Tamper'],
  fire: ['火警', 'Fire alarm'],
  'journal-full': ['记录积压', 'Journal backlog'],
  'sync-change-invalid': ['名单记录无法读取，已跳过', 'Unreadable sync record skipped'],
  'cloud-message-oversized': ['云端消息过大，已拒收', 'Oversized cloud message refused'],
};
export const DEVICE_LABELS = {
  idreader: ['身份证', 'ID reader'],
  qr: ['扫码', 'QR'],
  turnstile: ['闸机', 'Turnstile'],
};
export const DEVICE_STATE_LABELS = { ok: ['正常', 'OK'], fault: ['故障', 'Fault'], absent: ['未接', 'Absent'] };
export const KIND_LABELS = { resident: ['住户', 'Resident'], staff: ['员工', 'Staff'], visitor: ['访客', 'Visitor'] };
export const PASS_KIND_LABELS = {
  resident: ['住户', 'Resident'],
  visitor: ['访客', 'Visitor'],
  'exit-permit': ['出门证', 'Exit permit'],
};

/** `[zh, en]` of a code, or the code itself twice when the table does not know it. */
export function labelOf(table, code) {
  return table[code] ?? [String(code), String(code)];
}
