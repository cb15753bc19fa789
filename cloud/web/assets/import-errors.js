// The residents importer's problems (cloud/registry/resident-csv.ts, registry-service.ts) in
// Chinese and English. The server words them in English; the known ones get their Chinese here,
// any other is shown in English under a Chinese lead-in — never dropped.

const COLUMN_ZH = {
  name: '姓名',
  idNumber: '身份证号',
  householdId: '户号',
  kind: '类别',
  phone: '手机',
  elderly: '老人',
  compoundId: '小区编号',
  personId: '人员编号',
  cards: '门禁卡',
  validFrom: '生效时间',
  validTo: '失效时间',
};

/** [pattern, (match, column) => Chinese] — first match wins. */
const RULES = [
  [/^required column missing$/, (_m, c) => `缺少必填列「${c}」`],
  [/^unknown column/, (_m, c) => `未知列「${c}」；可用列见模板`],
  [/^duplicate column$/, () => '表头有重复的列'],
  [/^the file is empty/, () => '文件为空：第一行应为表头'],
  [/^a quoted field is not closed$/, () => '引号未闭合'],
  [/^at most (\d+) rows per import$/, (m) => `每次最多导入 ${m[1]} 行`],
  [/^expected (\d+) fields, found (\d+)$/, (m) => `应有 ${m[1]} 个字段，实际 ${m[2]} 个（检查逗号和引号）`],
  [/^not a valid ID number \(([^)]+)\)$/, (m) => `身份证号无效（${ID_REASONS[m[1]] ?? m[1]}）`],
  [/^same ID number as row (\d+)$/, (m) => `身份证号与第 ${m[1]} 行重复`],
  [/^same personId as row (\d+)$/, (m) => `人员编号与第 ${m[1]} 行重复`],
  [/^no such compound/, () => '没有这个小区，或不归您管理'],
  [/^no such resident/, () => '没有这个人员编号，或不归您管理'],
  [/already (exists|registered|used)/i, () => '已存在（重复登记）'],
  [/^Required$|expected .*, received undefined/i, (_m, c) => `「${c}」必填`],
  [/expected boolean/i, (_m, c) => `「${c}」应为 true 或 false`],
  [/expected number/i, (_m, c) => `「${c}」应为时间（带时区的 ISO 时间，如 2026-01-31T00:00:00+08:00，或毫秒数）`],
  [/exactly (\d+) characters/, (m, c) => `「${c}」应为 ${m[1]} 位`],
  [/^expected facility:number/, (_m, c) => `「${c}」每张卡应写成 设施码:卡号（数字），多张用 ; 分隔`],
  [/^expected \[a-z0-9-\]/, () => '只能用小写字母、数字和 -，最长 64 个'],
  [/^Invalid (enum value|option)|^Invalid input: expected one of/i, (_m, c) => `「${c}」的取值不在允许范围内`],
  [/^Invalid$|^Invalid string|^Invalid input/i, (_m, c) => `「${c}」格式不对`],
  [/at most (\d+)|<=(\d+)|too big|Too big/i, (_m, c) => `「${c}」太长或太大`],
  [/too small|Too small|>=1/i, (_m, c) => `「${c}」不能为空或太短`],
];

const ID_REASONS = {
  'check-character': '校验位错误',
  length: '长度应为 18 位',
  format: '格式错误',
  region: '地区码无效',
  'birth-date': '出生日期无效',
  'future-birth-date': '出生日期在未来',
};

/** `[zh, en]` of one problem `{row, column, message}`. */
export function translateImportProblem({ column, message }) {
  const col = column ? `${column}${COLUMN_ZH[column] ? `（${COLUMN_ZH[column]}）` : ''}` : '';
  for (const [pattern, zh] of RULES) {
    const m = pattern.exec(message);
    if (m) return [zh(m, col), message];
  }
  return [col ? `「${col}」有问题（见英文说明）` : '文件有问题（见英文说明）', message];
}
