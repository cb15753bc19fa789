import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  cardTypeFlagsProblem,
  DEFAULT_CARD_TYPE_FLAGS,
  decodeTextBlock,
  detectCardKind,
  encodeTextBlock,
  type IdCardText,
  NO_EXPIRY,
  resolveCardTypeFlags,
  TEXT_BLOCK_LENGTH,
  type TextBlockInput,
} from '../../../firmware-bridge/idreader/text-block.ts';
import { generateIdNumber, idNumberCheckCharacter } from '../../../shared/id-number.ts';
import { FOREIGN_CARD, PERMIT_CARD } from './cards.ts';

const RESIDENT: TextBlockInput = {
  name: '张三明',
  sex: 'male',
  nationCode: '01',
  birthDate: '1949-12-31',
  address: '北京市朝阳区建国路88号院3号楼2单元501',
  idNumber: '11010519491231002X',
  authority: '北京市公安局朝阳分局',
  validFrom: '2015-06-01',
  validTo: '2035-06-01',
};

/** A small LCG so fast-check controls the generated ID number. */
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function decoded(input: TextBlockInput): IdCardText {
  const result = decodeTextBlock(encodeTextBlock(input));
  if (!result.ok) throw new Error(`expected a card, got ${result.reason}`);
  return result.card;
}

/** Overwrites `value` (UCS-2 LE) at `offset`. */
function patch(block: Buffer, offset: number, value: string): Buffer {
  const copy = Buffer.from(block);
  copy.write(value, offset, 'utf16le');
  return copy;
}

describe('text block layout (docs/devices.md §1)', () => {
  it('is 256 bytes of UCS-2 LE with each field at its documented offset, padded with spaces', () => {
    const block = encodeTextBlock(RESIDENT);
    expect(block.length).toBe(TEXT_BLOCK_LENGTH);
    expect(block.toString('utf16le', 0, 30)).toBe('张三明'.padEnd(15, ' '));
    expect(block.toString('utf16le', 30, 32)).toBe('1');
    expect(block.toString('utf16le', 32, 36)).toBe('01');
    expect(block.toString('utf16le', 36, 52)).toBe('19491231');
    expect(block.toString('utf16le', 122, 158)).toBe('11010519491231002X');
    expect(block.toString('utf16le', 188, 204)).toBe('20150601');
    expect(block.toString('utf16le', 204, 220)).toBe('20350601');
    expect(block.toString('utf16le', 220, 256)).toBe(' '.repeat(18));
  });

  it('decodes a resident card into every field', () => {
    expect(decoded(RESIDENT)).toEqual({ ...RESIDENT, kind: 'resident-id', idNumberValid: true });
  });

  it('writes 长期 for a card without expiry and decodes it as validTo null', () => {
    const block = encodeTextBlock({ ...RESIDENT, validTo: null });
    expect(block.toString('utf16le', 204, 220).trimEnd()).toBe(NO_EXPIRY);
    expect(decoded({ ...RESIDENT, validTo: null }).validTo).toBeNull();
  });

  it('maps every GB/T 2261.1 sex code', () => {
    for (const sex of ['male', 'female', 'unknown', 'unspecified'] as const)
      expect(decoded({ ...RESIDENT, sex }).sex).toBe(sex);
    const bad = decodeTextBlock(patch(encodeTextBlock(RESIDENT), 30, '3'));
    expect(bad).toEqual({ ok: false, reason: 'resident-id: sex code "3" is not 0, 1, 2 or 9' });
  });

  it('reports a wrong check character as idNumberValid false, not as a rejection', () => {
    const card = decoded({ ...RESIDENT, idNumber: '110105194912310021' });
    expect(card.idNumber).toBe('110105194912310021');
    expect(card.idNumberValid).toBe(false);
    expect(decoded({ ...RESIDENT, idNumber: '440524188001015368' }).idNumberValid).toBe(true);
  });

  it('accepts NUL padding as well as spaces', () => {
    const block = encodeTextBlock(RESIDENT);
    for (let i = 6; i < 30; i++) block[i] = 0; // name field padding
    for (let i = 220; i < 256; i++) block[i] = 0;
    expect(decodeTextBlock(block)).toMatchObject({ ok: true, card: { name: '张三明', kind: 'resident-id' } });
  });

  it('refuses values that do not fit their field, naming the field', () => {
    expect(() => encodeTextBlock({ ...RESIDENT, name: '很'.repeat(16) })).toThrow(/^name:/);
    expect(() => encodeTextBlock({ ...RESIDENT, birthDate: '1949-02-30' })).toThrow(/^birthDate:/);
  });
});

describe('rejects what it cannot read instead of misreading it', () => {
  const block = encodeTextBlock(RESIDENT);

  it.each([
    ['a birth date that is not a date', 36, '19491332', /birth date "19491332"/],
    ['a valid-to that is neither a date nor 长期', 204, '永久      ', /valid-to "永久"/],
    ['a nation code that is not two digits', 32, 'AB', /nation code "AB"/],
    ['an ID number of the wrong shape', 122, 'ABCDEFGHIJKLMNOPQR', /ID number "ABCDEFGHIJKLMNOPQR"/],
    ['control characters in a field', 52, '\u0001', /field address holds control characters/],
    ['an unknown type flag', 248, 'Z', /unknown card type flag 0x005a \("Z"\) at offset 248/],
    ['an unknown, unprintable type flag', 248, '\u0001', /unknown card type flag 0x0001 at offset 248 \(configured/],
    ['a blank flag with data in the reserved area', 222, 'X', /reserved area/],
  ])('%s', (_what, offset, value, reason) => {
    const result = decodeTextBlock(patch(block, offset as number, value as string));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason as RegExp);
  });

  it('a block of the wrong size', () => {
    expect(decodeTextBlock(Buffer.alloc(200))).toEqual({ ok: false, reason: 'text block of 200 bytes, expected 256' });
  });

  it('an all-zero block', () => {
    expect(decodeTextBlock(Buffer.alloc(256)).ok).toBe(false);
  });

  it('never throws on arbitrary bytes, and whatever it accepts re-encodes to a decodable block', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 256, maxLength: 256 }), (bytes) => {
        const result = decodeTextBlock(Buffer.from(bytes));
        if (result.ok) expect(decodeTextBlock(encodeTextBlock(result.card))).toEqual(result);
      }),
    );
  });
});

describe('residence permit (Hong Kong/Macao/Taiwan) layout', () => {
  const permit = PERMIT_CARD;

  it('is detected by the J flag and decoded with its pass number and issue count', () => {
    const block = encodeTextBlock(permit);
    expect(block.toString('utf16le', 248, 250)).toBe('J');
    expect(detectCardKind(block)).toEqual({ kind: 'hmt-permit' });
    expect(decoded(permit)).toEqual({ ...permit, kind: 'hmt-permit', idNumberValid: true });
  });

  it('checks the permit number prefix (81/82/83) and check character', () => {
    const wrong = permit.idNumber.slice(0, 17) + (permit.idNumber.endsWith('0') ? '1' : '0');
    expect(decoded({ ...permit, idNumber: wrong }).idNumberValid).toBe(false);
    const taiwan = '83000019900101123';
    expect(decoded({ ...permit, idNumber: taiwan + idNumberCheckCharacter(taiwan) }).idNumberValid).toBe(true);
  });

  it('rejects a permit without a pass number', () => {
    const result = decodeTextBlock(encodeTextBlock({ ...permit, permit: { passNumber: '', issueCount: '01' } }));
    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/pass number/) });
  });
});

describe('foreign permanent-resident layout', () => {
  const foreign = FOREIGN_CARD;

  it('is detected by the I flag and decoded from its own offsets', () => {
    const block = encodeTextBlock(foreign);
    expect(block.toString('utf16le', 248, 250)).toBe('I');
    expect(block.toString('utf16le', 0, 120).trimEnd()).toBe('SMITH, JOHN ALEXANDER');
    expect(detectCardKind(block)).toEqual({ kind: 'foreign-permanent' });
    expect(decoded(foreign)).toEqual({ ...foreign, kind: 'foreign-permanent', idNumberValid: true });
  });

  it('checks the 15-character number by shape only (its check algorithm is not documented)', () => {
    expect(decoded({ ...foreign, idNumber: 'CAN11008005170X' }).idNumberValid).toBe(false);
    expect(decodeTextBlock(encodeTextBlock({ ...foreign, idNumber: 'CAN1100800517' })).ok).toBe(false);
  });

  it('is never read as a resident card', () => {
    const result = decodeTextBlock(encodeTextBlock(foreign));
    expect(result.ok && result.card.kind).toBe('foreign-permanent');
  });

  it('rejects a nationality that is not three letters', () => {
    expect(decodeTextBlock(encodeTextBlock({ ...foreign, nationCode: '12' })).ok).toBe(false);
  });
});

describe('configurable type flags (docs/devices.md §1: J and I are unconfirmed)', () => {
  const permit = PERMIT_CARD;
  const foreign = FOREIGN_CARD;
  const cardTypeFlags = { permit: 'P', foreign: 'F' };

  it('defaults to J and I', () => {
    expect(DEFAULT_CARD_TYPE_FLAGS).toEqual({ permit: 'J', foreign: 'I' });
    expect(resolveCardTypeFlags()).toEqual({ permit: 'J', foreign: 'I' });
    expect(resolveCardTypeFlags({ foreign: 'F', permit: undefined })).toEqual({ permit: 'J', foreign: 'F' });
  });

  it('encodes and decodes each layout by the configured flag', () => {
    const permitBlock = encodeTextBlock(permit, { cardTypeFlags });
    const foreignBlock = encodeTextBlock(foreign, { cardTypeFlags });
    expect(permitBlock.toString('utf16le', 248, 250)).toBe('P');
    expect(foreignBlock.toString('utf16le', 248, 250)).toBe('F');
    expect(detectCardKind(permitBlock, { cardTypeFlags })).toEqual({ kind: 'hmt-permit' });
    expect(decodeTextBlock(permitBlock, { cardTypeFlags })).toEqual({
      ok: true,
      card: { ...permit, kind: 'hmt-permit', idNumberValid: true },
    });
    expect(decodeTextBlock(foreignBlock, { cardTypeFlags })).toEqual({
      ok: true,
      card: { ...foreign, kind: 'foreign-permanent', idNumberValid: true },
    });
    expect(decodeTextBlock(encodeTextBlock(RESIDENT), { cardTypeFlags })).toMatchObject({
      ok: true,
      card: { kind: 'resident-id' },
    });
  });

  it('treats the default flags as unknown once others are configured, and the other way round', () => {
    const configured = '(configured: permit "P", foreign "F", blank = resident card)';
    expect(decodeTextBlock(encodeTextBlock(permit), { cardTypeFlags })).toEqual({
      ok: false,
      reason: `unknown card type flag 0x004a ("J") at offset 248 ${configured}`,
    });
    expect(decodeTextBlock(encodeTextBlock(foreign), { cardTypeFlags })).toEqual({
      ok: false,
      reason: `unknown card type flag 0x0049 ("I") at offset 248 ${configured}`,
    });
    expect(decodeTextBlock(encodeTextBlock(permit, { cardTypeFlags }))).toEqual({
      ok: false,
      reason:
        'unknown card type flag 0x0050 ("P") at offset 248 (configured: permit "J", foreign "I", blank = resident card)',
    });
  });

  it('swapped flags reject both layouts instead of reading one as the other', () => {
    const swapped = { permit: 'I', foreign: 'J' };
    expect(decodeTextBlock(encodeTextBlock(permit), { cardTypeFlags: swapped })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^foreign-permanent: /),
    });
    expect(decodeTextBlock(encodeTextBlock(foreign), { cardTypeFlags: swapped })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^hmt-permit: /),
    });
  });

  it.each([
    [{ permit: '' }, /cardTypeFlags.permit must be a single character/],
    [{ permit: 'JJ' }, /cardTypeFlags.permit must be a single character/],
    [{ foreign: '\ud83d' }, /cardTypeFlags.foreign must be a single character/],
    [{ foreign: '😀' }, /cardTypeFlags.foreign must be a single character/],
    [{ permit: ' ' }, /cardTypeFlags.permit must be a printable character; space and NUL mean the resident card/],
    [{ permit: '\u0000' }, /cardTypeFlags.permit must be a printable character/],
    [{ foreign: '\n' }, /cardTypeFlags.foreign must be a printable character/],
    [{ permit: 'X', foreign: 'X' }, /must differ, both are "X"/],
    [{ permit: 'I' }, /must differ, both are "I"/],
  ])('refuses unusable flags %j', (flags, message) => {
    expect(cardTypeFlagsProblem(flags)).toMatch(message);
    expect(() => resolveCardTypeFlags(flags)).toThrow(TypeError);
    expect(() => decodeTextBlock(encodeTextBlock(RESIDENT), { cardTypeFlags: flags })).toThrow(message);
    expect(() => encodeTextBlock(RESIDENT, { cardTypeFlags: flags })).toThrow(message);
  });

  it('any configured flags: each card decodes by its own flag; a rewritten flag is never read under another kind', () => {
    const flagChar = fc.integer({ min: 0x21, max: 0xffef }).map((c) => String.fromCharCode(c));
    const kindOf = (flag: string, flags: { permit: string; foreign: string }) =>
      flag === flags.permit
        ? 'hmt-permit'
        : flag === flags.foreign
          ? 'foreign-permanent'
          : flag === ' ' || flag === '\u0000'
            ? 'resident-id'
            : undefined;
    fc.assert(
      fc.property(
        fc
          .tuple(flagChar, flagChar)
          .filter(([a, b]) => a !== b && cardTypeFlagsProblem({ permit: a, foreign: b }) === undefined),
        flagChar,
        ([p, f], other) => {
          const flags = { permit: p, foreign: f };
          for (const card of [RESIDENT, permit, foreign]) {
            const block = encodeTextBlock(card, { cardTypeFlags: flags });
            expect(decodeTextBlock(block, { cardTypeFlags: flags })).toMatchObject({
              ok: true,
              card: { kind: card.kind ?? 'resident-id' },
            });
            for (const written of [p, f, ' ', '\u0000', other, 'J', 'I']) {
              const rewritten = Buffer.from(block);
              rewritten.write(written, 248, 'utf16le');
              const result = decodeTextBlock(rewritten, { cardTypeFlags: flags });
              const kind = kindOf(written, flags);
              if (result.ok) expect(result.card.kind).toBe(kind);
              else if (kind === undefined) expect(result.reason).toMatch(/^unknown card type flag /);
            }
          }
        },
      ),
    );
  });
});

describe('round trip (property)', () => {
  const date = fc
    .date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10));
  const han = fc.integer({ min: 0x4e00, max: 0x9fa5 }).map((c) => String.fromCharCode(c));
  const hanText = (max: number) => fc.array(han, { minLength: 1, maxLength: max }).map((cs) => cs.join(''));

  it('decode(encode(card)) === card for resident cards', () => {
    fc.assert(
      fc.property(
        hanText(15),
        fc.constantFrom('male', 'female', 'unknown', 'unspecified' as const),
        fc.integer({ min: 1, max: 56 }).map((n) => String(n).padStart(2, '0')),
        hanText(35),
        fc.integer({ min: 0, max: 2 ** 31 }),
        hanText(15),
        date,
        fc.option(date, { nil: null }),
        (name, sex, nationCode, address, seed, authority, validFrom, validTo) => {
          const idNumber = generateIdNumber(seededRandom(seed));
          const input: TextBlockInput = {
            name,
            sex,
            nationCode,
            birthDate: `${idNumber.slice(6, 10)}-${idNumber.slice(10, 12)}-${idNumber.slice(12, 14)}`,
            address,
            idNumber,
            authority,
            validFrom,
            validTo,
          };
          expect(decoded(input)).toEqual({ ...input, kind: 'resident-id', idNumberValid: true });
        },
      ),
    );
  });
});
