/**
 * Text hygiene for names and other human text that enters the system (docs/security.md, "Bad
 * input"): one spelling per name, nothing invisible that could hide from masking or a search.
 *
 * `cleanName`: refuses lone surrogates (text that is not Unicode), control characters (C0, C1,
 * DEL) and direction overrides/isolates (they reorder what a guard sees), and names without a
 * letter; then normalises to NFC (a composed `é` and `e` + accent are one name), drops zero-width
 * and other invisible format characters, turns every kind of space into one ASCII space and trims.
 * Invalid UTF-8 never gets this far: request bodies are decoded strictly (cloud/http/text-bodies.ts).
 */

/** C0/C1 controls and DEL. */
const CONTROL = /\p{Cc}/u;
/** Bidirectional embeddings, overrides and isolates (the "Trojan source" characters). */
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;
/** Format characters other than the above (zero-width space/joiners, word joiner, BOM, soft hyphen…). */
const INVISIBLE = /\p{Cf}/gu;
const ANY_SPACE = /[\p{Z}\s]+/gu;
const LETTER = /\p{L}/u;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

export type CleanText = { ok: true; value: string } | { ok: false; reason: string };

export function cleanName(raw: string): CleanText {
  if (!isWellFormed(raw)) return { ok: false, reason: 'contains a lone surrogate (not valid Unicode)' };
  if (CONTROL.test(raw)) return { ok: false, reason: 'contains a control character' };
  if (BIDI_CONTROL.test(raw)) return { ok: false, reason: 'contains a text-direction control character' };
  const value = raw.normalize('NFC').replace(INVISIBLE, '').replace(ANY_SPACE, ' ').trim();
  if (!LETTER.test(value)) return { ok: false, reason: 'has no visible letter' };
  return { ok: true, value };
}

/** For free text (reasons, notes): the same refusals, without the letter requirement. */
export function cleanText(raw: string): CleanText {
  if (!isWellFormed(raw)) return { ok: false, reason: 'contains a lone surrogate (not valid Unicode)' };
  if (BIDI_CONTROL.test(raw)) return { ok: false, reason: 'contains a text-direction control character' };
  // Line breaks and tabs are fine in free text; other controls are not.
  if (/[^\P{Cc}\t\n\r]/u.test(raw)) return { ok: false, reason: 'contains a control character' };
  return { ok: true, value: raw.normalize('NFC') };
}
