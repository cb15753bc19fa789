/**
 * Sealing of national ID numbers at rest: AES-256-GCM under a key derived from the deployment's
 * pepper with HKDF-SHA-256 (RFC 5869), a fresh 96-bit IV per value. A stolen database file alone
 * reveals no ID number; the pseudonym (`idHash`) and masked form are what the cloud works with.
 * Sealed text: `v1.` + base64url(iv ‖ tag ‖ ciphertext).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { AnxinError } from '../../shared/errors.ts';

const INFO = 'anxin/cloud/id-number-seal/v1';
const SALT = 'anxin-cloud';
const IV_BYTES = 12;
const TAG_BYTES = 16;

class SealError extends AnxinError {
  constructor(message: string) {
    super('seal-failed', message);
  }
}

export class IdentitySeal {
  private readonly key: Buffer;

  constructor(pepper: Buffer) {
    if (pepper.length < 16) throw new TypeError('pepper: expected at least 16 bytes');
    this.key = Buffer.from(hkdfSync('sha256', pepper, SALT, INFO, 32));
  }

  seal(plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  open(sealed: string): string {
    if (!sealed.startsWith('v1.')) throw new SealError('unknown seal version');
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SealError('sealed value too short');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new SealError('sealed value failed authentication (wrong pepper or tampered)');
    }
  }
}
