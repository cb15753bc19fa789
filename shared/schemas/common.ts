import { z } from 'zod';

/** Epoch milliseconds (UTC). Every timestamp that crosses a process boundary is one of these. */
export const epochMs = z.number().int().min(0).max(8_640_000_000_000_000);

/** An HMAC-SHA-256 pseudonym of a national ID number, lower-case hex. */
export const idHashSchema = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');

/** A card credential read over OSDP/Wiegand, written `facility:number` (e.g. `90:324`). */
export const cardNumberSchema = z.string().regex(/^\d{1,5}:\d{1,10}$/, 'expected facility:number');

/** A sequence number of a gate's journal (1, 2, 3 …) or a replica revision. */
export const seqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
