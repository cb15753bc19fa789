/**
 * HTTP bodies of device passes (docs/passes.md, "Device passes"; docs/contract.md §5): the phone's
 * enrolment, the certificate it gets back, and the manager's choice of pass medium per resident.
 */
import { z } from 'zod';
import { PASS_KINDS } from '../enums.ts';

/** What the phone's WebCrypto exports with `exportKey('raw', publicKey)`: 65 bytes, base64url (87 characters). */
export const rawDeviceKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{87}$/, 'expected a raw P-256 public key: 65 bytes in base64url (87 characters)');

export const devicePassEnrolSchema = z
  .object({
    publicKey: rawDeviceKeySchema,
    /** A name the resident recognises the phone by in the list ("my phone"); shown back only to them. */
    label: z.string().trim().min(1).max(40).optional(),
  })
  .strict();
export type DevicePassEnrol = z.infer<typeof devicePassEnrolSchema>;

/** The answer to an enrolment and to `GET /api/v1/me/pass/device`. */
export const devicePassViewSchema = z.object({
  passId: z.string().regex(/^[0-9a-f]{16}$/),
  personId: z.string(),
  compoundId: z.string(),
  kind: z.enum(PASS_KINDS),
  notBefore: z.number().int(),
  expiresAt: z.number().int(),
  frameSeconds: z.number().int(),
  /** How often the page signs a new frame, seconds. */
  rotateSeconds: z.number().int(),
  /** certificate (body ‖ cloud signature), base64url: the page appends at ‖ device signature. */
  certificate: z.string(),
  /** SHA-256 of the compressed device key, hex, first 16 digits: which phone holds it. */
  deviceKeyId: z.string(),
  label: z.string().nullable(),
  issuedAt: z.number().int(),
  /** The cloud's clock when it answered (epoch ms): the phone's frames use it, not its own clock. */
  serverTime: z.number().int(),
});
export type DevicePassView = z.infer<typeof devicePassViewSchema>;

export const PASS_MEDIA = ['printed', 'phone'] as const;
export type PassMedium = (typeof PASS_MEDIA)[number];

export const passMediumSchema = z.object({ medium: z.enum(PASS_MEDIA) }).strict();
