/**
 * The phone page's QR encoder (cloud/web/assets/vendor/qr-encoder.js, written by
 * bin/vendor-qr-encoder.mjs) draws exactly the symbol `qrcode` makes on the server and in the
 * gates' tests: same version, same modules, for realistic and longest device passes.
 */
import { describe, expect, it } from 'vitest';
import QRCode from 'qrcode';
import { DEVICE_PASS_PREFIX, MAX_DEVICE_PASS_CHARS } from '../../../shared/device-pass.ts';
import { BASE45_ALPHABET } from '../../../shared/base45.ts';

type Create = typeof QRCode.create;

describe('vendored QR encoder', () => {
  it('matches qrcode module for module', async () => {
    const url = new URL('../../../cloud/web/assets/vendor/qr-encoder.js', import.meta.url).href;
    const { create } = (await import(url)) as { create: Create };
    for (const length of [318, 327, MAX_DEVICE_PASS_CHARS]) {
      let body = '';
      for (let i = 0; body.length < length - DEVICE_PASS_PREFIX.length; i++) body += BASE45_ALPHABET[(i * 7) % 45];
      const segments = [{ data: DEVICE_PASS_PREFIX + body, mode: 'alphanumeric' as const }];
      const vendored = create(segments, { errorCorrectionLevel: 'Q' });
      const reference = QRCode.create(segments, { errorCorrectionLevel: 'Q' });
      expect(vendored.version).toBe(13);
      expect(vendored.version).toBe(reference.version);
      expect(Buffer.from(vendored.modules.data).equals(Buffer.from(reference.modules.data))).toBe(true);
    }
  });
});
