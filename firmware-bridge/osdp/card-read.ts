/**
 * A card read a reader on the OSDP line reports (osdp_RAW, docs/devices.md §5): Wiegand-26 decoded
 * to facility and number when its parity holds, otherwise handed on as raw bits — a facility or
 * number is never guessed from a misread.
 */
import { decodeRaw, RawCardFormat } from './replies.ts';
import { decodeWiegand26 } from './wiegand.ts';

export interface OsdpCard {
  format: 'wiegand26' | 'raw';
  bits: number;
  facility?: number;
  number?: number;
  raw: Buffer;
}

/** The card of an osdp_RAW payload; `parityProblem` says why a 26-bit Wiegand read is handed on raw. */
export function cardOfRawReply(data: Buffer): { card: OsdpCard; parityProblem?: string } {
  const raw = decodeRaw(data);
  if (raw.format === RawCardFormat.WIEGAND && raw.bitCount === 26) {
    const decoded = decodeWiegand26(raw.data, raw.bitCount);
    if (decoded.ok) {
      return {
        card: { format: 'wiegand26', bits: 26, facility: decoded.facility, number: decoded.number, raw: raw.data },
      };
    }
    return { card: { format: 'raw', bits: raw.bitCount, raw: raw.data }, parityProblem: decoded.problem };
  }
  return { card: { format: 'raw', bits: raw.bitCount, raw: raw.data } };
}
