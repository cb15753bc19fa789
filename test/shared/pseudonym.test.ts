import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { idHashSchema } from '../../shared/schemas/common.ts';
import { pseudonymizeIdNumber } from '../../shared/pseudonym.ts';

const pepper = Buffer.alloc(32, 7);

describe('pseudonymizeIdNumber', () => {
  it('is HMAC-SHA-256 under the pepper, 64 lower-case hex, matching the idHash schema', () => {
    const hash = pseudonymizeIdNumber('11010519491231002X', pepper);
    expect(hash).toBe(createHmac('sha256', pepper).update('11010519491231002X').digest('hex'));
    expect(idHashSchema.parse(hash)).toBe(hash);
  });

  it('normalises spaces around and a lower-case x', () => {
    const hash = pseudonymizeIdNumber('11010519491231002X', pepper);
    expect(pseudonymizeIdNumber(' 11010519491231002x\n', pepper)).toBe(hash);
  });

  it('depends on the pepper and on every digit (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{17}[\dX]$/), fc.uint8Array({ minLength: 32, maxLength: 32 }), (id, other) => {
        fc.pre(!Buffer.from(other).equals(pepper));
        expect(pseudonymizeIdNumber(id, Buffer.from(other))).not.toBe(pseudonymizeIdNumber(id, pepper));
      }),
    );
    expect(pseudonymizeIdNumber('110105194912310020', pepper)).not.toBe(
      pseudonymizeIdNumber('110105194912310021', pepper),
    );
  });

  it('refuses a pepper too short to be secret', () => {
    expect(() => pseudonymizeIdNumber('11010519491231002X', Buffer.alloc(8))).toThrow(TypeError);
  });
});
