/**
 * The 256-byte text block of a read reply (docs/devices.md §1): UCS-2 little-endian, fields padded
 * with spaces. Three layouts share the reader, told apart by the type flag at offset 248:
 *
 * - resident ID card: name 0/30, sex 30/2, nation 32/4, birth 36/16, address 52/70,
 *   ID number 122/36, authority 158/30, valid from 188/16, valid to 204/16 (YYYYMMDD or 长期),
 *   reserved 220/36 (blank);
 * - Hong Kong/Macao/Taiwan residence permit: the first 220 bytes as above, then pass number
 *   220/18, issue count 238/4, reserved 242/6, flag 248/2 = 'J' (configurable);
 * - foreign permanent-resident card (2017 layout, as published by reader vendors): English name
 *   0/120, sex 120/2, permit number 122/30, nationality 152/6, Chinese name 158/30, valid from
 *   188/16, valid to 204/16, birth date 220/16, card version 236/4, authority code 240/8,
 *   flag 248/2 = 'I' (configurable).
 *
 * The flag values are unconfirmed (docs/devices.md says so), so they are configuration
 * (`CardTypeFlags`, default 'J' and 'I') and decoding is defensive: every field is checked for
 * shape, and anything that does not fit its layout — a flag that is not configured included — is
 * rejected with a reason rather than misread. Pure functions; no I/O.
 */
import { idNumberCheckCharacter, validateIdNumber } from '../../shared/id-number.ts';

export const TEXT_BLOCK_LENGTH = 256;
/** validTo written on cards that never expire. */
export const NO_EXPIRY = '长期';

export type CardKind = 'resident-id' | 'hmt-permit' | 'foreign-permanent';
export type Sex = 'male' | 'female' | 'unknown' | 'unspecified';

/** Everything the text block says, plus our verdict on the ID number. */
export interface IdCardText {
  kind: CardKind;
  /** Chinese name; for a foreign permanent-resident card the English name. */
  name: string;
  sex: Sex;
  /** Two digits (GB 3304) on a resident card; blank on a permit; the 3-letter nationality on a foreign card. */
  nationCode: string;
  /** YYYY-MM-DD */
  birthDate: string;
  /** Empty on a foreign permanent-resident card (it has no address field). */
  address: string;
  /** The citizen ID number, the permit's ID number, or the foreign permanent-resident number. */
  idNumber: string;
  idNumberValid: boolean;
  /** Issuing authority; for a foreign card its 4-digit authority code. */
  authority: string;
  /** YYYY-MM-DD */
  validFrom: string;
  /** YYYY-MM-DD, or null for 长期 (no expiry). */
  validTo: string | null;
  /** Only on a Hong Kong/Macao/Taiwan residence permit. */
  permit?: { passNumber: string; issueCount: string };
  /** Only on a foreign permanent-resident card. */
  foreign?: { chineseName: string; cardVersion: string };
}

export type TextBlockResult = { ok: true; card: IdCardText } | { ok: false; reason: string };

interface Field {
  offset: number;
  bytes: number;
}

const RESIDENT = {
  name: { offset: 0, bytes: 30 },
  sex: { offset: 30, bytes: 2 },
  nation: { offset: 32, bytes: 4 },
  birthDate: { offset: 36, bytes: 16 },
  address: { offset: 52, bytes: 70 },
  idNumber: { offset: 122, bytes: 36 },
  authority: { offset: 158, bytes: 30 },
  validFrom: { offset: 188, bytes: 16 },
  validTo: { offset: 204, bytes: 16 },
  reserved: { offset: 220, bytes: 28 },
} as const satisfies Record<string, Field>;

const PERMIT = {
  passNumber: { offset: 220, bytes: 18 },
  issueCount: { offset: 238, bytes: 4 },
  reserved: { offset: 242, bytes: 6 },
} as const satisfies Record<string, Field>;

const FOREIGN = {
  englishName: { offset: 0, bytes: 120 },
  sex: { offset: 120, bytes: 2 },
  idNumber: { offset: 122, bytes: 30 },
  nationality: { offset: 152, bytes: 6 },
  chineseName: { offset: 158, bytes: 30 },
  validFrom: { offset: 188, bytes: 16 },
  validTo: { offset: 204, bytes: 16 },
  birthDate: { offset: 220, bytes: 16 },
  cardVersion: { offset: 236, bytes: 4 },
  authorityCode: { offset: 240, bytes: 8 },
} as const satisfies Record<string, Field>;

const FLAG: Field = { offset: 248, bytes: 2 };
const TAIL: Field = { offset: 250, bytes: 6 };

/**
 * The type flags at offset 248 that mark the two permit layouts (one UCS-2 character each). A
 * blank flag (space or NUL) always means the resident card. docs/devices.md §1 calls 'J' and 'I'
 * unconfirmed guesses, hence configurable, and the defensive checks.
 */
export interface CardTypeFlags {
  /** Hong Kong/Macao/Taiwan residence permit. Default 'J'. */
  permit: string;
  /** Foreign permanent-resident card. Default 'I'. */
  foreign: string;
}

export const DEFAULT_CARD_TYPE_FLAGS: Readonly<CardTypeFlags> = Object.freeze({ permit: 'J', foreign: 'I' });

/** Options of `detectCardKind`, `decodeTextBlock` and `encodeTextBlock`. */
export interface TextBlockOptions {
  /** Overrides of `DEFAULT_CARD_TYPE_FLAGS`; what is left out keeps its default. */
  cardTypeFlags?: Partial<CardTypeFlags>;
}

/** Why `flags` cannot be used, or undefined when they can (shared with the gate's config schema). */
export function cardTypeFlagsProblem(flags: Partial<CardTypeFlags>): string | undefined {
  for (const name of ['permit', 'foreign'] as const) {
    const flag = flags[name];
    if (flag === undefined) continue;
    if (typeof flag !== 'string' || flag.length !== 1 || /[\ud800-\udfff]/u.test(flag)) {
      return `cardTypeFlags.${name} must be a single character (one UCS-2 code unit), got ${JSON.stringify(flag)}`;
    }
    if (flag === ' ' || /[\u0000-\u001f\u007f-\u009f]/u.test(flag)) {
      return `cardTypeFlags.${name} must be a printable character; space and NUL mean the resident card, got ${JSON.stringify(flag)}`;
    }
  }
  const { permit, foreign } = { ...DEFAULT_CARD_TYPE_FLAGS, ...flags };
  if (permit === foreign) {
    return `cardTypeFlags.permit and cardTypeFlags.foreign must differ, both are ${JSON.stringify(permit)}`;
  }
  return undefined;
}

/** The flags to use: defaults merged with `overrides`. Throws `TypeError` when they are not usable. */
export function resolveCardTypeFlags(overrides: Partial<CardTypeFlags> = {}): Readonly<CardTypeFlags> {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const problem = cardTypeFlagsProblem(defined);
  if (problem) throw new TypeError(problem);
  return Object.freeze({ ...DEFAULT_CARD_TYPE_FLAGS, ...defined });
}

const SEX_BY_CODE: Record<string, Sex> = { '0': 'unknown', '1': 'male', '2': 'female', '9': 'unspecified' };
const CODE_BY_SEX: Record<Sex, string> = { unknown: '0', male: '1', female: '2', unspecified: '9' };

function raw(block: Buffer, field: Field): string {
  return block.toString('utf16le', field.offset, field.offset + field.bytes);
}

/** Padding is spaces; some cards pad with NUL, so both are trimmed from the end. */
function text(block: Buffer, field: Field): string {
  return raw(block, field).replace(/[ \u0000]+$/u, '');
}

function isBlank(block: Buffer, field: Field): boolean {
  return /^[ \u0000]*$/u.test(raw(block, field));
}

const CONTROL = /[\u0000-\u001f\u007f]/u;

function toIsoDate(value: string): string | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(value);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return `${match[1]}-${match[2]}-${match[3]}`;
}

/** A flag for a reason text: the code unit, and the character when it is printable. */
function describeFlag(code: number): string {
  const hex = `0x${code.toString(16).padStart(4, '0')}`;
  const char = String.fromCharCode(code);
  return /[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/u.test(char) ? hex : `${hex} (${JSON.stringify(char)})`;
}

/**
 * Which layout the block claims to be, or why it fits none. Throws `TypeError` only for unusable
 * `options.cardTypeFlags` (a configuration error), never because of the block.
 */
export function detectCardKind(
  block: Buffer,
  options: TextBlockOptions = {},
): { kind: CardKind } | { kind: null; reason: string } {
  const flags = resolveCardTypeFlags(options.cardTypeFlags);
  if (block.length !== TEXT_BLOCK_LENGTH) {
    return { kind: null, reason: `text block of ${block.length} bytes, expected ${TEXT_BLOCK_LENGTH}` };
  }
  const flag = raw(block, FLAG);
  if (flag === flags.permit) return { kind: 'hmt-permit' };
  if (flag === flags.foreign) return { kind: 'foreign-permanent' };
  if (flag === ' ' || flag === '\u0000') {
    // A resident card leaves 220..256 blank; anything written there is a layout we do not know.
    if (!isBlank(block, RESIDENT.reserved) || !isBlank(block, TAIL)) {
      return {
        kind: null,
        reason: 'unknown card layout: blank type flag but the reserved area (220..256) is not blank',
      };
    }
    return { kind: 'resident-id' };
  }
  const code = block.readUInt16LE(FLAG.offset);
  return {
    kind: null,
    reason:
      `unknown card type flag ${describeFlag(code)} at offset 248 (configured: permit ` +
      `${JSON.stringify(flags.permit)}, foreign ${JSON.stringify(flags.foreign)}, blank = resident card)`,
  };
}

/** The residence permit's ID number: 810000 / 820000 / 830000, birth date, sequence, GB 11643 check. */
function permitIdNumberValid(idNumber: string): boolean {
  return /^8[123]0000\d{11}[\dX]$/.test(idNumber) && idNumberCheckCharacter(idNumber.slice(0, 17)) === idNumber[17];
}

/**
 * The 2017 foreign permanent-resident number: 3-letter nationality + 12 digits (15 characters, the
 * whole 30-byte field). Its check digit's algorithm is not in docs/devices.md, so only the shape is
 * checked. (The 2023 card carries an 18-character number in a different layout, which is rejected
 * as unknown.)
 */
function foreignIdNumberValid(idNumber: string): boolean {
  return /^[A-Z]{3}\d{12}$/.test(idNumber);
}

type Fields = Record<string, string>;

function firstBadField(fields: Fields): string | undefined {
  for (const [name, value] of Object.entries(fields)) if (CONTROL.test(value)) return name;
  return undefined;
}

function commonDates(
  birth: string,
  from: string,
  to: string,
): { ok: true; birthDate: string; validFrom: string; validTo: string | null } | { ok: false; reason: string } {
  const birthDate = toIsoDate(birth);
  if (!birthDate) return { ok: false, reason: `birth date ${JSON.stringify(birth)} is not a date YYYYMMDD` };
  const validFrom = toIsoDate(from);
  if (!validFrom) return { ok: false, reason: `valid-from ${JSON.stringify(from)} is not a date YYYYMMDD` };
  if (to === NO_EXPIRY) return { ok: true, birthDate, validFrom, validTo: null };
  const validTo = toIsoDate(to);
  if (!validTo)
    return { ok: false, reason: `valid-to ${JSON.stringify(to)} is neither a date YYYYMMDD nor ${NO_EXPIRY}` };
  return { ok: true, birthDate, validFrom, validTo };
}

function decodeResidentOrPermit(block: Buffer, kind: 'resident-id' | 'hmt-permit'): TextBlockResult {
  const fields = {
    name: text(block, RESIDENT.name),
    sex: text(block, RESIDENT.sex),
    nation: text(block, RESIDENT.nation),
    birthDate: text(block, RESIDENT.birthDate),
    address: text(block, RESIDENT.address),
    idNumber: text(block, RESIDENT.idNumber),
    authority: text(block, RESIDENT.authority),
    validFrom: text(block, RESIDENT.validFrom),
    validTo: text(block, RESIDENT.validTo),
    passNumber: kind === 'hmt-permit' ? text(block, PERMIT.passNumber) : '',
    issueCount: kind === 'hmt-permit' ? text(block, PERMIT.issueCount) : '',
  };
  const bad = firstBadField(fields);
  if (bad) return { ok: false, reason: `${kind}: field ${bad} holds control characters` };
  if (fields.name.trim() === '') return { ok: false, reason: `${kind}: empty name` };
  const sex = SEX_BY_CODE[fields.sex];
  if (!sex) return { ok: false, reason: `${kind}: sex code ${JSON.stringify(fields.sex)} is not 0, 1, 2 or 9` };
  if (kind === 'resident-id' ? !/^\d{2}$/.test(fields.nation) : !/^(\d{2})?$/.test(fields.nation)) {
    return { ok: false, reason: `${kind}: nation code ${JSON.stringify(fields.nation)} is not two digits` };
  }
  const dates = commonDates(fields.birthDate, fields.validFrom, fields.validTo);
  if (!dates.ok) return { ok: false, reason: `${kind}: ${dates.reason}` };
  const idNumber = fields.idNumber.toUpperCase();
  // A wrong check character is reported (idNumberValid false); a number of the wrong shape means the layout is off.
  if (!/^\d{17}[\dX]$/.test(idNumber)) {
    return {
      ok: false,
      reason: `${kind}: ID number ${JSON.stringify(fields.idNumber)} is not 17 digits and a check character`,
    };
  }
  const card: IdCardText = {
    kind,
    name: fields.name,
    sex,
    nationCode: fields.nation,
    birthDate: dates.birthDate,
    address: fields.address,
    idNumber,
    idNumberValid: kind === 'resident-id' ? validateIdNumber(idNumber).ok : permitIdNumberValid(idNumber),
    authority: fields.authority,
    validFrom: dates.validFrom,
    validTo: dates.validTo,
  };
  if (kind === 'hmt-permit') {
    if (!isBlank(block, PERMIT.reserved) || !isBlank(block, TAIL)) {
      return { ok: false, reason: 'hmt-permit: reserved bytes are not blank; unknown layout' };
    }
    if (!/^[A-Z0-9]{1,9}$/.test(fields.passNumber)) {
      return {
        ok: false,
        reason: `hmt-permit: pass number ${JSON.stringify(fields.passNumber)} is not 1..9 letters/digits`,
      };
    }
    if (!/^\d{1,2}$/.test(fields.issueCount)) {
      return { ok: false, reason: `hmt-permit: issue count ${JSON.stringify(fields.issueCount)} is not 1..2 digits` };
    }
    card.permit = { passNumber: fields.passNumber, issueCount: fields.issueCount };
  }
  return { ok: true, card };
}

function decodeForeign(block: Buffer): TextBlockResult {
  const fields = {
    englishName: text(block, FOREIGN.englishName),
    sex: text(block, FOREIGN.sex),
    idNumber: text(block, FOREIGN.idNumber),
    nationality: text(block, FOREIGN.nationality),
    chineseName: text(block, FOREIGN.chineseName),
    validFrom: text(block, FOREIGN.validFrom),
    validTo: text(block, FOREIGN.validTo),
    birthDate: text(block, FOREIGN.birthDate),
    cardVersion: text(block, FOREIGN.cardVersion),
    authorityCode: text(block, FOREIGN.authorityCode),
  };
  const bad = firstBadField(fields);
  if (bad) return { ok: false, reason: `foreign-permanent: field ${bad} holds control characters` };
  if (fields.englishName.trim() === '') return { ok: false, reason: 'foreign-permanent: empty English name' };
  const sex = SEX_BY_CODE[fields.sex];
  if (!sex)
    return { ok: false, reason: `foreign-permanent: sex code ${JSON.stringify(fields.sex)} is not 0, 1, 2 or 9` };
  if (!/^[A-Z]{3}$/.test(fields.nationality)) {
    return {
      ok: false,
      reason: `foreign-permanent: nationality ${JSON.stringify(fields.nationality)} is not 3 letters`,
    };
  }
  const dates = commonDates(fields.birthDate, fields.validFrom, fields.validTo);
  if (!dates.ok) return { ok: false, reason: `foreign-permanent: ${dates.reason}` };
  const idNumber = fields.idNumber.toUpperCase();
  if (!/^[A-Z0-9]{15}$/.test(idNumber)) {
    return {
      ok: false,
      reason: `foreign-permanent: permit number ${JSON.stringify(fields.idNumber)} is not 15 letters/digits`,
    };
  }
  if (!isBlank(block, TAIL))
    return { ok: false, reason: 'foreign-permanent: reserved bytes are not blank; unknown layout' };
  return {
    ok: true,
    card: {
      kind: 'foreign-permanent',
      name: fields.englishName,
      sex,
      nationCode: fields.nationality,
      birthDate: dates.birthDate,
      address: '',
      idNumber,
      idNumberValid: foreignIdNumberValid(idNumber),
      authority: fields.authorityCode,
      validFrom: dates.validFrom,
      validTo: dates.validTo,
      foreign: { chineseName: fields.chineseName, cardVersion: fields.cardVersion },
    },
  };
}

/**
 * Decodes a text block. A block that fits no known layout — or carries a type flag other than
 * blank and the configured ones — is `{ ok: false, reason }`. Never throws because of the block;
 * throws `TypeError` only for unusable `options.cardTypeFlags`.
 */
export function decodeTextBlock(block: Buffer, options: TextBlockOptions = {}): TextBlockResult {
  const detected = detectCardKind(block, options);
  if (detected.kind === null) return { ok: false, reason: detected.reason };
  if (detected.kind === 'foreign-permanent') return decodeForeign(block);
  return decodeResidentOrPermit(block, detected.kind);
}

/** What `encodeTextBlock` needs: the decoded card minus our verdict on the number. */
export type TextBlockInput = Omit<IdCardText, 'idNumberValid' | 'kind'> & { kind?: CardKind };

function write(block: Buffer, field: Field, value: string, name: string): void {
  if (value.length * 2 > field.bytes) {
    throw new TypeError(`${name}: ${JSON.stringify(value)} is longer than ${field.bytes / 2} characters`);
  }
  block.write(value.padEnd(field.bytes / 2, ' '), field.offset, field.bytes, 'utf16le');
}

function fromIsoDate(value: string, name: string): string {
  if (!toIsoDate(value.replaceAll('-', '')) || !/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    throw new TypeError(`${name}: ${JSON.stringify(value)} is not a date YYYY-MM-DD`);
  }
  return value.replaceAll('-', '');
}

/**
 * Builds a text block (for the simulator and tests), with the type flag from
 * `options.cardTypeFlags` (default 'J' / 'I'). Throws `TypeError` naming the field when a value
 * does not fit. Every field is written as given, so invalid ID numbers can be encoded on purpose.
 */
export function encodeTextBlock(card: TextBlockInput, options: TextBlockOptions = {}): Buffer {
  const flags = resolveCardTypeFlags(options.cardTypeFlags);
  const block = Buffer.alloc(TEXT_BLOCK_LENGTH);
  block.write(' '.repeat(TEXT_BLOCK_LENGTH / 2), 0, 'utf16le');
  const kind = card.kind ?? 'resident-id';
  const validTo = card.validTo === null ? NO_EXPIRY : fromIsoDate(card.validTo, 'validTo');
  if (kind === 'foreign-permanent') {
    write(block, FOREIGN.englishName, card.name, 'name');
    write(block, FOREIGN.sex, CODE_BY_SEX[card.sex], 'sex');
    write(block, FOREIGN.idNumber, card.idNumber, 'idNumber');
    write(block, FOREIGN.nationality, card.nationCode, 'nationCode');
    write(block, FOREIGN.chineseName, card.foreign?.chineseName ?? '', 'foreign.chineseName');
    write(block, FOREIGN.validFrom, fromIsoDate(card.validFrom, 'validFrom'), 'validFrom');
    write(block, FOREIGN.validTo, validTo, 'validTo');
    write(block, FOREIGN.birthDate, fromIsoDate(card.birthDate, 'birthDate'), 'birthDate');
    write(block, FOREIGN.cardVersion, card.foreign?.cardVersion ?? '01', 'foreign.cardVersion');
    write(block, FOREIGN.authorityCode, card.authority, 'authority');
    write(block, FLAG, flags.foreign, 'kind');
    return block;
  }
  write(block, RESIDENT.name, card.name, 'name');
  write(block, RESIDENT.sex, CODE_BY_SEX[card.sex], 'sex');
  write(block, RESIDENT.nation, card.nationCode, 'nationCode');
  write(block, RESIDENT.birthDate, fromIsoDate(card.birthDate, 'birthDate'), 'birthDate');
  write(block, RESIDENT.address, card.address, 'address');
  write(block, RESIDENT.idNumber, card.idNumber, 'idNumber');
  write(block, RESIDENT.authority, card.authority, 'authority');
  write(block, RESIDENT.validFrom, fromIsoDate(card.validFrom, 'validFrom'), 'validFrom');
  write(block, RESIDENT.validTo, validTo, 'validTo');
  if (kind === 'hmt-permit') {
    write(block, PERMIT.passNumber, card.permit?.passNumber ?? '', 'permit.passNumber');
    write(block, PERMIT.issueCount, card.permit?.issueCount ?? '01', 'permit.issueCount');
    write(block, FLAG, flags.permit, 'kind');
  }
  return block;
}
