/**
 * The wire form of `/live` between cloud instances on one PostgreSQL (docs/deploy.md, "Scaling
 * out"): what the fan-out (pg-live-fanout.ts) and the ingest transaction (pg-live-entries.ts)
 * notify on `anxin_live`, and what a listening instance accepts from it.
 *
 * PostgreSQL lets any role that may connect to the database `NOTIFY` any channel, so a channel
 * name alone does not say who wrote. Each payload is therefore sealed: `<64 hex: HMAC-SHA256>`
 * followed by the JSON `{"o": origin, "m": [message, …]}`, the HMAC keyed with a key derived
 * from the deployment's signing key (`liveWireKey`), which every cloud instance holds and no other
 * client of the database does. A listening instance reads a payload only if it is within the size
 * PostgreSQL allows, carries a valid seal, and its JSON passes `livePayloadSchema` in full (the
 * message kinds that travel — entries, alarms, acknowledgements; never gate statuses — with every
 * field typed and bounded). Anything else is refused unread or unparsed, and counted.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ALARM_KINDS, DIRECTIONS, HEALTH_COLOURS, METHODS, MODES, REASONS, RESULTS } from '../../shared/enums.ts';
import { idSchema } from '../../shared/ids.ts';
import type { SigningKey } from '../../shared/keys.ts';
import { epochMs, seqSchema } from '../../shared/schemas/common.ts';
import type { LiveMessage } from './live-hub.ts';

export const LIVE_CHANNEL = 'anxin_live';
/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more (the default build's limit); a margin below it. */
export const NOTIFY_MAX_BYTES = 7_900;
/** Sends `$2` (sealed payloads, in order) on channel `$1`: one statement, whoever notifies. */
export const NOTIFY_SQL = 'SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n';
/** The seal before each payload's JSON: 64 hex digits. */
const SEAL_CHARS = 64;
/** The most messages one payload can carry: the smallest message is over 60 bytes. */
export const MAX_MESSAGES_PER_PAYLOAD = 150;

/** What a cloud instance seals its notifications with, and tells its own apart by. */
export interface LiveWire {
  /** This instance's id: its own notifications come back to it and are skipped. */
  origin: string;
  /** The HMAC key every instance of the deployment derives alike (`liveWireKey`). */
  key: Buffer;
}

/** The seal's key, derived from the deployment's signing key: the same on every instance, unknown to other clients. */
export function liveWireKey(signing: SigningKey): Buffer {
  const secret = signing.privateKey.export({ format: 'der', type: 'pkcs8' });
  return Buffer.from(hkdfSync('sha256', secret, 'anxin-live-fanout', `kid ${signing.kid}`, 32));
}

/** A wire for this instance: a fresh origin unless one is given. */
export function createLiveWire(key: Buffer, origin = randomBytes(6).toString('hex')): LiveWire {
  return { origin, key };
}

const text = (max: number) => z.string().max(max);
const liveEntrySchema = z.object({
  gateId: idSchema,
  compoundId: idSchema,
  seq: seqSchema,
  ts: epochMs,
  direction: z.enum(DIRECTIONS),
  method: z.enum(METHODS),
  result: z.enum(RESULTS),
  reason: z.enum(REASONS),
  personId: idSchema.nullable(),
  maskedName: text(200).nullable(),
  visitor: z.literal(true).optional(),
  health: z.enum(HEALTH_COLOURS),
  mode: z.enum(MODES),
  passed: z.boolean().nullable(),
});
const liveAlarmSchema = z.object({
  gateId: idSchema,
  compoundId: idSchema,
  kind: z.enum(ALARM_KINDS),
  ts: epochMs,
  detail: text(500),
});
const liveAlarmAckSchema = z.object({
  alarmId: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  gateId: idSchema,
  compoundId: idSchema,
  by: text(64),
  at: epochMs,
});

/** One message that travels between instances: an entry, an alarm, an acknowledgement (gate statuses never do). */
export const liveMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('entry'), data: liveEntrySchema }),
  z.object({ type: z.literal('alarm'), data: liveAlarmSchema }),
  z.object({ type: z.literal('alarm-ack'), data: liveAlarmAckSchema }),
]);

/** A payload's JSON: who sent it and its messages, each checked on its own (`liveMessageSchema`). */
export const livePayloadSchema = z.object({
  o: z.string().regex(/^[a-z0-9-]{1,64}$/),
  m: z.array(z.unknown()).min(1).max(MAX_MESSAGES_PER_PAYLOAD),
});

const seal = (key: Buffer, json: string) => createHmac('sha256', key).update(json).digest('hex');
/** How every payload of `wire`'s instance begins after its seal (`packNotifications` writes it so). */
const headOf = (wire: LiveWire) => `{"o":${JSON.stringify(wire.origin)},"m":[`;

/** Packs messages into sealed payloads of at most `maxBytes` (UTF-8); the ones too large alone apart. */
export function packNotifications(
  wire: LiveWire,
  messages: readonly LiveMessage[],
  maxBytes = NOTIFY_MAX_BYTES,
): { payloads: string[]; oversized: LiveMessage[] } {
  const head = headOf(wire);
  const frame = SEAL_CHARS + Buffer.byteLength(head) + 2; // `]}`
  const payloads: string[] = [];
  const oversized: LiveMessage[] = [];
  let parts: string[] = [];
  let bytes = frame;
  const close = () => {
    const json = `${head}${parts.join(',')}]}`;
    payloads.push(seal(wire.key, json) + json);
  };
  for (const message of messages) {
    const json = JSON.stringify(message);
    const size = Buffer.byteLength(json);
    if (frame + size > maxBytes) {
      oversized.push(message);
      continue;
    }
    if (parts.length === MAX_MESSAGES_PER_PAYLOAD || bytes + size + (parts.length > 0 ? 1 : 0) > maxBytes) {
      close();
      parts = [];
      bytes = frame;
    }
    bytes += size + (parts.length > 0 ? 1 : 0);
    parts.push(json);
  }
  if (parts.length > 0) close();
  return { payloads, oversized };
}

export type Unpacked =
  | { kind: 'messages'; messages: LiveMessage[]; invalid: number }
  | { kind: 'own' }
  | { kind: 'unread' }
  | { kind: 'refused'; why: 'too-large' | 'unsealed' | 'not-json' | 'invalid' };

/**
 * Whether a notification is this instance's own — every instance hears its own, one per ingest
 * batch — told by its head alone, before its seal or any JSON is read: the head
 * `packNotifications` writes after the seal, origin and closing quote included. Another
 * instance's payload never begins with it (its origin differs; an origin that merely begins with
 * this one's continues where this head has its quote), so skipping these drops nothing anyone
 * else sent. A forgery written to begin so is dropped with them, unread (as an unsealed payload
 * would be, but not counted as refused).
 */
export function isOwnNotification(payload: string, wire: LiveWire): boolean {
  return payload.startsWith(headOf(wire), SEAL_CHARS);
}

/**
 * What a notification carries: another instance's messages (those that fail `liveMessageSchema`
 * left out and counted in `invalid` — an instance of another version may send a kind or field this
 * one does not know), this instance's own (`isOwnNotification` first; one written otherwise, never
 * by this version, is still found by its `o` after the parse), or a refusal (nothing of it read).
 * With `read: false` (nobody to show it to) a sealed payload is answered `unread` once its seal
 * is checked, its JSON not parsed: a refusal is found and counted all the same.
 */
export function unpackNotification(payload: string, wire: LiveWire, options: { read?: boolean } = {}): Unpacked {
  // Bounded before anything is read: PostgreSQL's own limit, which our senders stay under.
  if (payload.length > 8_000 || Buffer.byteLength(payload) > 8_000) return { kind: 'refused', why: 'too-large' };
  if (isOwnNotification(payload, wire)) return { kind: 'own' };
  const given = Buffer.from(payload.slice(0, SEAL_CHARS));
  const json = payload.slice(SEAL_CHARS);
  const expected = Buffer.from(seal(wire.key, json));
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { kind: 'refused', why: 'unsealed' };
  if (options.read === false) return { kind: 'unread' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return { kind: 'refused', why: 'not-json' };
  }
  const envelope = livePayloadSchema.safeParse(parsed);
  if (!envelope.success) return { kind: 'refused', why: 'invalid' };
  if (envelope.data.o === wire.origin) return { kind: 'own' };
  const messages: LiveMessage[] = [];
  for (const item of envelope.data.m) {
    const message = liveMessageSchema.safeParse(item);
    if (message.success) messages.push(message.data as LiveMessage);
  }
  return { kind: 'messages', messages, invalid: envelope.data.m.length - messages.length };
}
