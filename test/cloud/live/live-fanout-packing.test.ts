/**
 * The wire form of the `/live` fan-out between cloud instances (cloud/live/live-wire.ts): messages
 * packed into sealed notifications under PostgreSQL's 8000-byte payload limit — counted in UTF-8
 * bytes, since masked names are Chinese — in their order, none lost or split, the ones too large
 * alone set apart. What a listening instance reads: only a payload within the limit, sealed with
 * the deployment's key, whose JSON passes the schema (each message on its own); its own skipped;
 * anything another client of the database could NOTIFY refused. The fan-out's queue drops its
 * oldest past its bound and counts them. And the hub's relay: `everywhere` goes to the relay and
 * the listeners, `here` and `deliver` to the listeners only.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { LiveHub, type LiveMessage } from '../../../cloud/live/live-hub.ts';
import {
  createLiveWire,
  MAX_MESSAGES_PER_PAYLOAD,
  NOTIFY_MAX_BYTES,
  packNotifications,
  unpackNotification,
} from '../../../cloud/live/live-wire.ts';
import { PgLiveFanout } from '../../../cloud/live/pg-live-fanout.ts';
import { BoundedQueue } from '../../../shared/bounded-queue.ts';
import { silentLogger } from '../../../shared/log.ts';

const KEY = Buffer.alloc(32, 3);
const A = createLiveWire(KEY, 'inst-a');
const B = createLiveWire(KEY, 'inst-b');
/** A payload sealed with a key: as an instance of the deployment (the right key) or an impostor would build it. */
const sealWith = (key: Buffer, json: string) => createHmac('sha256', key).update(json).digest('hex') + json;
const messagesOf = (payload: string, wire = B) => {
  const unpacked = unpackNotification(payload, wire);
  return unpacked.kind === 'messages' ? unpacked.messages : [];
};

const entry = (seq: number, maskedName = '张*明'): LiveMessage => ({
  type: 'entry',
  data: {
    gateId: 'g-1',
    compoundId: 'c-1',
    seq,
    ts: 1_790_000_000_000 + seq,
    direction: 'in',
    method: 'qr',
    result: 'granted',
    reason: 'ok',
    personId: `p-${seq}`,
    maskedName,
    health: 'green',
    mode: 'normal',
    passed: true,
  },
});
const alarm: LiveMessage = {
  type: 'alarm',
  data: { gateId: 'g-1', compoundId: 'c-1', kind: 'tamper', ts: 1, detail: '拆机 opened' },
};
const ack: LiveMessage = {
  type: 'alarm-ack',
  data: { alarmId: 7, gateId: 'g-1', compoundId: 'c-1', by: 'mgr', at: 2 },
};

describe('packNotifications', () => {
  it('fills each payload up to the limit in UTF-8 bytes and keeps every message, in order', () => {
    const messages = Array.from({ length: 400 }, (_, i) => entry(i + 1, '欧阳*明'.repeat(1 + (i % 5))));
    const { payloads, oversized } = packNotifications(A, messages);
    expect(oversized).toEqual([]);
    expect(payloads.length).toBeGreaterThan(1);
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(NOTIFY_MAX_BYTES);
    // Not one message per notification: each but the last is nearly full.
    for (const payload of payloads.slice(0, -1))
      expect(Buffer.byteLength(payload)).toBeGreaterThan(NOTIFY_MAX_BYTES - 800);
    expect(payloads.flatMap((p) => messagesOf(p))).toEqual(messages);
    // Alarms and acknowledgements travel too, with a visitor's mark on an entry.
    const visitor = entry(9);
    Object.assign(visitor.data, { visitor: true });
    const mixed = packNotifications(A, [alarm, ack, visitor]).payloads;
    expect(mixed.flatMap((p) => messagesOf(p))).toEqual([alarm, ack, visitor]);
  });

  it('sets apart a message too large alone, and packs the rest', () => {
    const huge: LiveMessage = { ...alarm, data: { ...alarm.data, detail: '警'.repeat(3_000) } } as LiveMessage;
    const { payloads, oversized } = packNotifications(A, [entry(1), huge, entry(2)]);
    expect(oversized).toEqual([huge]);
    expect(payloads.flatMap((p) => messagesOf(p))).toEqual([entry(1), entry(2)]);
  });

  it('exactly at the limit still fits; one byte less does not', () => {
    const one = packNotifications(A, [entry(1)]).payloads[0]!;
    const size = Buffer.byteLength(one);
    expect(packNotifications(A, [entry(1)], size).payloads).toEqual([one]);
    expect(packNotifications(A, [entry(1)], size - 1).oversized).toHaveLength(1);
  });

  it('never writes a raw newline into a payload, whatever the messages hold (the ingest joins payloads by newlines)', () => {
    const text = fc
      .array(fc.constantFrom('\n', '\r\n', '\r', '\u2028', '\\n', '"', '警', 'a', ' '), { minLength: 1, maxLength: 40 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.array(fc.tuple(text, text), { minLength: 1, maxLength: 60 }), (pairs) => {
        const messages = pairs.map(([name, detail], i) =>
          i % 2 === 0 ? entry(i + 1, name) : ({ ...alarm, data: { ...alarm.data, detail } } as LiveMessage),
        );
        const { payloads } = packNotifications(A, messages);
        for (const payload of payloads) expect(payload).not.toContain('\n');
        // What pg-live-entries.ts sends (one text joined by newlines) splits back into the same payloads.
        expect(payloads.join('\n').split('\n')).toEqual(payloads);
        expect(payloads.flatMap((p) => messagesOf(p))).toEqual(messages);
      }),
    );
  });

  it('never puts more messages in a payload than a reader takes', () => {
    const tiny = Array.from({ length: 400 }, (_, i) => ({ ...ack, data: { ...ack.data, alarmId: i + 1 } }));
    const { payloads } = packNotifications(A, tiny as LiveMessage[], 1_000_000);
    const counts = payloads.map((p) => (JSON.parse(p.slice(64)) as { m: unknown[] }).m.length);
    expect(counts).toEqual([150, 150, 100]);
    expect(MAX_MESSAGES_PER_PAYLOAD).toBe(150);
  });
});

describe('unpackNotification', () => {
  it('with read: false, answers unread for a sealed payload of another origin, and still refuses', () => {
    const [payload] = packNotifications(A, [entry(1)]).payloads;
    expect(unpackNotification(payload!, B, { read: false })).toEqual({ kind: 'unread' });
    expect(unpackNotification(payload!, A, { read: false })).toEqual({ kind: 'own' });
    expect(unpackNotification(`${'0'.repeat(64)}${payload!.slice(64)}`, B, { read: false })).toEqual({
      kind: 'refused',
      why: 'unsealed',
    });
  });

  it("skips this instance's own payloads and reads another instance's", () => {
    const [payload] = packNotifications(A, [entry(1)]).payloads;
    expect(unpackNotification(payload!, A)).toEqual({ kind: 'own' });
    expect(unpackNotification(payload!, B)).toEqual({ kind: 'messages', messages: [entry(1)], invalid: 0 });
  });

  it('tells its own by their head before the seal or any JSON, and nothing another origin sends passes for its own', () => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const [own] = packNotifications(A, [entry(1), alarm]).payloads;
      expect(unpackNotification(own!, A)).toEqual({ kind: 'own' });
      expect(parse).not.toHaveBeenCalled();
      // A forgery written to begin so is dropped with them, unread; it shows nothing.
      const forged = `${'0'.repeat(64)}${own!.slice(64)}`;
      expect(unpackNotification(forged, A)).toEqual({ kind: 'own' });
      expect(parse).not.toHaveBeenCalled();
      // Elsewhere the same forgery is refused by its seal.
      expect(unpackNotification(forged, B)).toEqual({ kind: 'refused', why: 'unsealed' });
    } finally {
      parse.mockRestore();
    }
    // Origins one of which begins with the other, each heard by the other: never taken for its own.
    const inst = createLiveWire(KEY, 'inst');
    for (const [from, to] of [
      [A, inst],
      [inst, A],
    ] as const) {
      const [payload] = packNotifications(from, [entry(2)]).payloads;
      expect(unpackNotification(payload!, to)).toEqual({ kind: 'messages', messages: [entry(2)], invalid: 0 });
    }
    // Another instance's messages that quote this one's head inside are read, not skipped.
    const quoting = entry(3, '{"o":"inst-a","m":[');
    const [fromB] = packNotifications(B, [quoting]).payloads;
    expect(unpackNotification(fromB!, A)).toEqual({ kind: 'messages', messages: [quoting], invalid: 0 });
    // Its own origin in a payload spelt otherwise (not by this version's packing) is still its own, after the parse.
    expect(unpackNotification(sealWith(KEY, JSON.stringify({ m: [entry(4)], o: 'inst-a' })), A)).toEqual({
      kind: 'own',
    });
  });

  it('refuses what any other client of the database could NOTIFY: no seal, a wrong key, a seal of other bytes', () => {
    const json = JSON.stringify({ o: 'evil', m: [entry(1)] });
    const [good] = packNotifications(A, [entry(1)]).payloads;
    const forged = sealWith(Buffer.alloc(32, 4), JSON.stringify({ o: 'inst-a', m: [entry(1)] }));
    const tampered = good!.replace('张*明', '王*明');
    for (const payload of [json, '0'.repeat(64) + json, forged, tampered, '', 'x', good!.slice(0, 63)]) {
      expect(unpackNotification(payload, B), payload.slice(0, 80)).toEqual({ kind: 'refused', why: 'unsealed' });
    }
    // The same JSON sealed with the deployment's key is read: the seal is what decides.
    expect(unpackNotification(sealWith(KEY, json), B)).toMatchObject({ kind: 'messages', invalid: 0 });
  });

  it('refuses a payload over the size PostgreSQL allows before reading it', () => {
    const big = packNotifications(A, [entry(1)], 1_000_000).payloads[0]! + ' '.repeat(8_000);
    expect(unpackNotification(big, B)).toEqual({ kind: 'refused', why: 'too-large' });
    // 2 700 Chinese characters: under 8 000 characters, over 8 000 bytes.
    expect(unpackNotification('张'.repeat(2_700), B)).toEqual({ kind: 'refused', why: 'too-large' });
  });

  it('checks every field of a sealed payload: a bad envelope refused, a bad message left out and counted', () => {
    // Sealed with the right key: as a newer or older instance of the same deployment might send.
    const seal = (o: unknown, m: unknown) => sealWith(KEY, JSON.stringify({ o, m }));
    for (const [o, m] of [
      [1, [entry(1)]],
      ['Inst A', [entry(1)]],
      ['x', []],
      ['x', 'no'],
      ['x', Array.from({ length: MAX_MESSAGES_PER_PAYLOAD + 1 }, () => 0)],
    ] as const) {
      expect(unpackNotification(seal(o, m), B), JSON.stringify(o)).toEqual({ kind: 'refused', why: 'invalid' });
    }
    const bad: unknown[] = [
      { type: 'status', data: { compoundId: 'c-1', gateId: 'g-1', online: true } },
      { type: 'nope', data: { compoundId: 'c-1' } },
      { type: 'entry' },
      { ...entry(2), data: { ...entry(2).data, compoundId: 'c/1' } },
      { ...entry(2), data: { ...entry(2).data, maskedName: 'x'.repeat(201) } },
      { ...entry(2), data: { ...entry(2).data, result: 'maybe' } },
      { ...alarm, data: { ...alarm.data, kind: 'made-up' } },
      { ...alarm, data: { ...alarm.data, detail: 'x'.repeat(501) } },
      { ...ack, data: { ...ack.data, alarmId: -1 } },
    ];
    const read = unpackNotification(seal('x', [...bad, entry(3)]), B);
    expect(read).toEqual({ kind: 'messages', messages: [entry(3)], invalid: bad.length });
    expect(unpackNotification(sealWith(KEY, '{"o":'), B)).toEqual({ kind: 'refused', why: 'not-json' });
  });
});

describe('the fan-out queue', () => {
  it('keeps the newest when full, in order, and counts what it dropped', () => {
    const q = new BoundedQueue<number>(3);
    expect([q.push(1), q.push(2), q.push(3)]).toEqual([0, 0, 0]);
    expect([q.push(4), q.push(5)]).toEqual([1, 1]);
    expect(q.length).toBe(3);
    expect(q.drain()).toEqual([3, 4, 5]);
    expect(q.drain()).toEqual([]);
    q.push(6);
    expect(q.drain()).toEqual([6]);
    expect(() => new BoundedQueue(0)).toThrow(RangeError);
  });

  it('drops the oldest waiting messages past its bound and says how many', async () => {
    const hub = new LiveHub();
    const sent: string[][] = [];
    let release = () => {};
    const pool = {
      query: (_sql: string, params: unknown[]) => {
        sent.push(params[1] as string[]);
        return new Promise((resolve) => {
          release = () => resolve({ rows: [] });
        });
      },
    };
    const fanout = new PgLiveFanout({
      live: hub,
      pool: pool as never,
      url: 'postgres://anxin@127.0.0.1:1/none',
      logger: silentLogger,
      wire: A,
      maxPending: 4,
      reconnectMs: 60_000,
    });
    await fanout.start();
    for (let seq = 1; seq <= 10; seq++) hub.publish(entry(seq));
    await vi.waitFor(() => expect(sent.length).toBeGreaterThan(0), { timeout: 30_000, interval: 5 });
    expect(fanout.counters.overflowed).toBe(6);
    expect(sent[0]!.flatMap((p) => messagesOf(p)).map((m) => (m.data as { seq: number }).seq)).toEqual([7, 8, 9, 10]);
    release();
    await fanout.stop();
    expect(fanout.counters).toMatchObject({ sent: 4, overflowed: 6, dropped: 0 });
  });
});

describe('LiveHub relay', () => {
  it('relays what is published everywhere, keeps `here` and delivered messages on this instance', () => {
    const hub = new LiveHub();
    const relayed: LiveMessage[] = [];
    const heard: LiveMessage[] = [];
    expect(hub.hasAudience).toBe(false);
    const detach = hub.attachRelay((m) => relayed.push(m));
    expect(hub.hasAudience).toBe(true);
    hub.subscribe((m) => heard.push(m), 'c-1');
    hub.publish(entry(1));
    hub.publish(entry(2), 'here');
    hub.deliver(entry(3));
    expect(relayed).toEqual([entry(1)]);
    expect(heard).toEqual([entry(1), entry(2), entry(3)]);
    detach();
    hub.publish(entry(4));
    expect(relayed).toHaveLength(1);
  });
});
