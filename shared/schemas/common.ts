import { z } from 'zod';

/** The latest time `epochMs` allows (the end of JavaScript's Date range). */
export const MAX_EPOCH_MS = 8_640_000_000_000_000;
/** Epoch milliseconds (UTC). Every timestamp that crosses a process boundary is one of these. */
export const epochMs = z.number().int().min(0).max(MAX_EPOCH_MS);

export const ID_HASH_PATTERN = /^[0-9a-f]{64}$/;
/** An HMAC-SHA-256 pseudonym of a national ID number, lower-case hex. */
export const idHashSchema = z.string().regex(ID_HASH_PATTERN, 'expected 64 lower-case hex digits');

export const CARD_NUMBER_PATTERN = /^\d{1,5}:\d{1,10}$/;
/** A card credential read over OSDP/Wiegand, written `facility:number` (e.g. `90:324`). */
export const cardNumberSchema = z.string().regex(CARD_NUMBER_PATTERN, 'expected facility:number');

/** A sequence number of a gate's journal (1, 2, 3 …) or a replica revision. */
export const seqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
