/**
 * The keyed pseudonym of a national ID number (docs/architecture.md rule 5): the only form of an ID
 * number that leaves a gate. HMAC, not a plain hash: with ~10^10 plausible numbers a bare SHA-256
 * is reversed by enumeration in minutes, while the HMAC needs the deployment's pepper.
 */
import { createHmac } from 'node:crypto';

/** Normalises (trim, upper-case `x`) so the same card always gives the same 64 lower-case hex digits. */
export function pseudonymizeIdNumber(idNumber: string, pepper: Buffer): string {
  if (pepper.length < 16) throw new TypeError('pepper: expected at least 16 bytes');
  return createHmac('sha256', pepper).update(idNumber.trim().toUpperCase(), 'utf8').digest('hex');
}
