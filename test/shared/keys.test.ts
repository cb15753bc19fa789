import { sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AnxinError } from '../../shared/errors.ts';
import {
  createKeysFile,
  generateSigningKey,
  KeysError,
  parseKeysFile,
  publicOnly,
  rotateKeys,
} from '../../shared/keys.ts';

const message = Buffer.from('anxin');

describe('keys', () => {
  it('generates Ed25519 keys with a kid in 1..255 and refuses others', () => {
    const key = generateSigningKey(7);
    expect(key.kid).toBe(7);
    expect(key.publicKey.asymmetricKeyType).toBe('ed25519');
    expect(verify(null, message, key.publicKey, sign(null, message, key.privateKey))).toBe(true);
    for (const kid of [0, 256, 1.5, -1, Number.NaN]) expect(() => generateSigningKey(kid)).toThrow(KeysError);
  });

  it('creates a file with kid 1 and a 32-byte pepper that parses back into a working signer', () => {
    const file = createKeysFile();
    expect(file).toMatchObject({ version: 1, current: 1 });
    expect(file.keys).toHaveLength(1);
    expect(file.pepper).toMatch(/^[0-9a-f]{64}$/);
    const { signing, ring, pepper } = parseKeysFile(JSON.parse(JSON.stringify(file)));
    expect(signing?.kid).toBe(1);
    expect(pepper).toHaveLength(32);
    const signature = sign(null, message, signing!.privateKey);
    expect(verify(null, message, ring.get(1)!, signature)).toBe(true);
    expect(createKeysFile().pepper).not.toBe(file.pepper);
  });

  it('rotates: the new kid is max + 1 and current, old public keys stay, old private keys go, pepper stays', () => {
    const first = createKeysFile();
    const second = rotateKeys(first);
    const third = rotateKeys(second);
    expect(third.current).toBe(3);
    expect(third.keys.map((k) => k.kid)).toEqual([1, 2, 3]);
    expect(third.keys.filter((k) => k.privateKey !== undefined).map((k) => k.kid)).toEqual([3]);
    expect(third.keys[0]!.publicKey).toBe(first.keys[0]!.publicKey);
    expect(third.pepper).toBe(first.pepper);
    const parsed = parseKeysFile(third);
    expect(parsed.signing?.kid).toBe(3);
    expect([...parsed.ring.keys()]).toEqual([1, 2, 3]);
  });

  it('refuses to rotate past kid 255', () => {
    const file = createKeysFile();
    const full = { ...file, current: 255, keys: [{ ...file.keys[0]!, kid: 255 }] };
    expect(() => rotateKeys(full)).toThrow(KeysError);
  });

  it('publicOnly strips every private key and still verifies, but cannot sign', () => {
    const file = rotateKeys(createKeysFile());
    const pub = publicOnly(file);
    expect(pub.keys.every((k) => k.privateKey === undefined)).toBe(true);
    expect(JSON.stringify(pub)).not.toContain(file.keys[1]!.privateKey!);
    const parsed = parseKeysFile(pub);
    expect(parsed.signing).toBeUndefined();
    expect(parsed.ring.size).toBe(2);
  });

  it('rejects malformed files with code invalid-keys and path: message lines', () => {
    const good = createKeysFile();
    const other = createKeysFile();
    const cases: [unknown, RegExp][] = [
      [null, /\(root\)/],
      [{ ...good, version: 2 }, /^version: /m],
      [{ ...good, current: 9 }, /^current: no key with kid 9/m],
      [{ ...good, keys: [] }, /^keys: /m],
      [{ ...good, keys: [good.keys[0], good.keys[0]] }, /^keys\.1\.kid: duplicate kid/m],
      [{ ...good, keys: [{ ...good.keys[0], publicKey: 'abc' }] }, /^keys\.0\.publicKey: /m],
      [{ ...good, pepper: 'zz' }, /^pepper: /m],
      [{ ...good, keys: [{ ...good.keys[0], privateKey: other.keys[0]!.privateKey }] }, /does not match publicKey/],
    ];
    for (const [json, pattern] of cases) {
      let caught: unknown;
      try {
        parseKeysFile(json);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(AnxinError);
      expect((caught as AnxinError).code).toBe('invalid-keys');
      expect((caught as Error).message).toMatch(pattern);
    }
  });
});
