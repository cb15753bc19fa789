/**
 * Text hygiene (docs/security.md, "Bad input"): names are NFC, well-formed, free of control and
 * direction characters and have a visible letter; masking shows the first character only —
 * whatever separators or invisible characters a name carries — except the Han rule for names of
 * Han characters alone. A property over random Unicode (fixed seed: test/helpers/property-seed.ts),
 * then the same through the HTTP API, where refused text changes nothing.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskName } from '../../shared/masking.ts';
import { cleanName, isWellFormed } from '../../shared/text.ts';
import { createHarness, type Harness } from '../cloud/http/app-harness.ts';

const HAN_ONLY = /^\p{Script=Han}+$/u;

/** Any code point, lone surrogates, and the characters that used to escape masking. */
const hostileChar = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp)) },
  { weight: 3, arbitrary: fc.constantFrom('王', '芳', 'J', 'o', 'é', 'ß', '欧', '阳') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      ' ',
      '\u3000',
      '\u00a0',
      '·',
      '.',
      '-',
      "'",
      '\u200b',
      '\u200d',
      '\u2060',
      '\ufeff',
      '\u00ad',
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('\u0000', '\u0007', '\n', '\u007f', '\u0085', '\u202e', '\u2066', 'e\u0301'),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u)) },
);
const hostileName = fc.array(hostileChar, { minLength: 0, maxLength: 12 }).map((chars) => chars.join(''));

describe('cleanName and maskName over random Unicode (property)', () => {
  it('a name is either refused with a reason, or clean: NFC, well-formed, no controls, a letter', () => {
    fc.assert(
      fc.property(hostileName, (raw) => {
        const clean = cleanName(raw);
        if (!clean.ok) {
          expect(clean.reason.length).toBeGreaterThan(0);
          return;
        }
        const v = clean.value;
        expect(isWellFormed(v)).toBe(true);
        expect(v).toBe(v.normalize('NFC'));
        expect(v).not.toMatch(/[\p{Cc}\p{Cf}]/u);
        expect(v).toMatch(/\p{L}/u);
        expect(v).toBe(v.trim());
        expect(v).not.toMatch(/\s{2}/u);
        expect(cleanName(v)).toEqual({ ok: true, value: v });
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses exactly the unacceptable: lone surrogates, controls, direction overrides, no letter', () => {
    fc.assert(
      fc.property(hostileName, (raw) => {
        const bad =
          !isWellFormed(raw) ||
          /\p{Cc}/u.test(raw) ||
          /[\u202A-\u202E\u2066-\u2069]/u.test(raw) ||
          !/\p{L}/u.test(raw.normalize('NFC'));
        expect(cleanName(raw).ok).toBe(!bad);
      }),
      { numRuns: 3000 },
    );
  });

  it('a masked clean name shows its first character only (Han-only names: at most two), the rest is *', () => {
    fc.assert(
      fc.property(hostileName, (raw) => {
        const clean = cleanName(raw);
        if (!clean.ok) return;
        const masked = Array.from(maskName(clean.value));
        if (HAN_ONLY.test(clean.value)) {
          expect(masked.filter((ch) => ch !== '*').length).toBeLessThanOrEqual(2);
          if (Array.from(clean.value).length > 1) expect(masked).toContain('*');
        } else {
          expect(masked[0]).toBe(Array.from(clean.value)[0]);
          expect(masked.slice(1).every((ch) => ch === '*')).toBe(true);
          expect(masked).toHaveLength(Array.from(clean.value).length);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('the names that used to escape masking', () => {
    expect(maskName('王 芳')).toBe('王**');
    expect(maskName('王\u200b芳')).toBe('王*');
    expect(maskName('John Smith')).toBe('J*********');
    expect(maskName('买买提·艾力')).toBe('买*****');
    expect(maskName('张三明')).toBe('张*明');
    expect(cleanName('王\u200b芳')).toEqual({ ok: true, value: '王芳' });
    expect(cleanName('Jose\u0301')).toEqual({ ok: true, value: 'José' });
  });
});

describe('names through the HTTP API', () => {
  let h: Harness;
  let manager: string;
  beforeAll(async () => {
    h = await createHarness();
    manager = await h.token('manager', 'c-1');
  });
  afterAll(async () => {
    await h.close();
  });

  const create = (body: string, contentType = 'application/json') =>
    h.core.app.request('/api/v1/residents', {
      method: 'POST',
      headers: { authorization: `Bearer ${manager}`, 'content-type': contentType },
      body,
    });

  it('stores the clean form and its mask', async () => {
    const res = await create(JSON.stringify({ compoundId: 'c-1', name: ' 王\u3000芳 ' }));
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ maskedName: '王**' });
    const nfd = await create(JSON.stringify({ compoundId: 'c-1', personId: 'p-jose', name: 'Jose\u0301 Li' }));
    expect(nfd.status).toBe(201);
    expect((await h.core.store.getResident('p-jose'))?.name).toBe('José Li');
  });

  it('refuses invalid UTF-8, lone surrogates, controls and letterless names, and stores nothing', async () => {
    const before = (await h.core.store.listResidents({ compoundId: 'c-1', limit: 100 })).residents.length;
    const invalidUtf8 = Buffer.concat([
      Buffer.from('{"compoundId":"c-1","name":"王'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    const answers = [
      await h.core.app.request('/api/v1/residents', {
        method: 'POST',
        headers: { authorization: `Bearer ${manager}`, 'content-type': 'application/json' },
        body: invalidUtf8,
      }),
      await create('{"compoundId":"c-1","name":"王\\ud800芳"}'),
      await create(JSON.stringify({ compoundId: 'c-1', name: '王\u0000芳' })),
      await create(JSON.stringify({ compoundId: 'c-1', name: '王\u202e芳' })),
      await create(JSON.stringify({ compoundId: 'c-1', name: '\u200b \u3000' })),
      await create(JSON.stringify({ compoundId: 'c-1', name: '123' })),
    ];
    expect(answers.map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 400]);
    for (const r of answers)
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('invalid-request');
    const csv = await h.request('POST', '/api/v1/residents/import', {
      token: manager,
      raw: 'compoundId,name\nc-1,王\u0007芳\n',
    });
    expect(csv.status).toBe(400);
    expect((await h.core.store.listResidents({ compoundId: 'c-1', limit: 100 })).residents).toHaveLength(before);
  });
});
