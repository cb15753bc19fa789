import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COMPOUND_SURNAMES, maskName } from '../../shared/masking.ts';

describe('maskName', () => {
  it('masks Chinese names: keep surname, and the last character of a three-character name', () => {
    expect(maskName('张三明')).toBe('张*明');
    expect(maskName('张三')).toBe('张*');
    expect(maskName('李')).toBe('*');
    expect(maskName('爱新觉罗溥')).toBe('爱***溥');
    expect(maskName(' 王小明 ')).toBe('王*明');
  });

  it('keeps a compound surname whole and hides the given name', () => {
    expect(maskName('欧阳娜娜')).toBe('欧阳**');
    expect(maskName('欧阳娜')).toBe('欧阳*');
    expect(maskName('司马相如')).toBe('司马**');
    expect(maskName('诸葛亮')).toBe('诸葛*');
    expect(maskName('上官婉儿')).toBe('上官**');
    for (const surname of ['东方', '皇甫', '慕容', '司徒', '令狐', '夏侯']) {
      expect(COMPOUND_SURNAMES.has(surname)).toBe(true);
      expect(maskName(`${surname}明`)).toBe(`${surname}*`);
    }
    expect(maskName('欧阳')).toBe('欧*'); // two characters alone: surname 欧, given name 阳
  });

  it('masks every other name after its first character, separators included', () => {
    expect(maskName('John Smith')).toBe('J*********');
    expect(maskName('Mary-Jane Watson')).toBe('M***************');
    expect(maskName("Sinéad O'Connor")).toBe('S**************');
    expect(maskName('J. R. Tolkien')).toBe('J************');
    expect(maskName('')).toBe('');
  });

  it('masks transliterated names with an interpunct like any other: first character only', () => {
    expect(maskName('买买提·艾力')).toBe('买*****');
  });

  it('never reveals more than the first letter of a Latin name (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[A-Z][a-z]{0,11}$/), { minLength: 1, maxLength: 4 }), (words) => {
        const name = words.join(' ');
        expect(maskName(name)).toBe(name[0] + '*'.repeat(name.length - 1));
      }),
    );
  });

  it('keeps the length of a Chinese name and hides at least one character (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...'王李张刘陈杨黄赵吴周明华娜伟芳'), minLength: 1, maxLength: 5 }),
        (name) => {
          const masked = maskName(name);
          expect(Array.from(masked)).toHaveLength(Array.from(name).length);
          expect(masked).toContain('*');
        },
      ),
    );
  });
});
