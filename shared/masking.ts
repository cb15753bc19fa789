/**
 * Masked names for guards' screens (docs/architecture.md rule 5): enough to recognise a resident one
 * already knows, not enough to identify a stranger.
 */

/** Two-character surnames; for these the whole surname stays and the given name is hidden. */
export const COMPOUND_SURNAMES: ReadonlySet<string> = new Set(
  `欧阳 司马 诸葛 上官 东方 皇甫 慕容 司徒 令狐 夏侯 尉迟 公孙 长孙 宇文 轩辕 澹台 端木 独孤 南宫 西门 万俟 闻人
   赫连 呼延 申屠 太史 钟离 宗政 濮阳 淳于 单于 公冶 羊舌 微生 梁丘 左丘 东郭 百里 拓跋 司空 乐正 第五 歐陽 司馬 諸葛 東方 長孫 軒轅 獨孤 鍾離`.split(
    /\s+/,
  ),
);

const HAN = /^\p{Script=Han}+$/u;

function maskHan(name: string): string {
  const chars = Array.from(name);
  if (chars.length <= 1) return '*'.repeat(chars.length);
  const surname = chars.slice(0, 2).join('');
  if (chars.length > 2 && COMPOUND_SURNAMES.has(surname)) return surname + '*'.repeat(chars.length - 2);
  if (chars.length === 2) return `${chars[0]}*`;
  return chars[0] + '*'.repeat(chars.length - 2) + chars[chars.length - 1];
}

/** Characters that take no room on screen: they are dropped before masking (shared/text.ts). */
const INVISIBLE = /\p{Cf}/gu;

/**
 * Every character after the first visible one becomes `*`, whatever it is — spaces, dots,
 * hyphens and zero-width characters included: 'John Smith' → 'J*********', '王 芳' → '王**'.
 */
function maskAfterFirst(name: string): string {
  const chars = Array.from(name.replace(INVISIBLE, ''));
  if (chars.length === 0) return '';
  return chars[0] + '*'.repeat(chars.length - 1);
}

/**
 * 张三明 → 张*明, 张三 → 张*, 欧阳娜娜 → 欧阳**; any other name keeps its first character only:
 * 'John Smith' → 'J*********', '王 芳' → '王**', '买买提·艾力' → '买*****'. The Han rule applies only
 * to a name of Han characters alone (nothing else between them), so no separator escapes it.
 */
export function maskName(name: string): string {
  const trimmed = name.normalize('NFC').replace(INVISIBLE, '').trim();
  if (trimmed === '') return '';
  if (HAN.test(trimmed)) return maskHan(trimmed);
  return maskAfterFirst(trimmed);
}
