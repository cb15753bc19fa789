/**
 * The wire form of the `/live` fan-out between cloud instances (cloud/live/pg-live-fanout.ts):
 * messages packed into notifications under PostgreSQL's 8000-byte payload limit — counted in
 * UTF-8 bytes, since masked names are Chinese — in their order, none lost or split, the ones too
 * large alone set apart; a payload from this instance itself, or not of ours, is skipped. And the
 * hub's relay: `everywhere` goes to the relay and the listeners, `here` and `deliver` to the
 * listeners only.
 */
import { describe, expect, it } from 'vitest';
import { LiveHub, type LiveMessage } from '../../../cloud/live/live-hub.ts';
import { NOTIFY_MAX_BYTES, packNotifications, unpackNotification } from '../../../cloud/live/pg-live-fanout.ts';

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

describe('packNotifications', () => {
  it('fills each payload up to the limit in UTF-8 bytes and keeps every message, in order', () => {
    const messages = Array.from({ length: 400 }, (_, i) => entry(i + 1, '欧阳*明'.repeat(1 + (i % 5))));
    const { payloads, oversized } = packNotifications('inst-a', messages);
    expect(oversized).toEqual([]);
    expect(payloads.length).toBeGreaterThan(1);
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(NOTIFY_MAX_BYTES);
    // Not one message per notification: each but the last is nearly full.
    for (const payload of payloads.slice(0, -1))
      expect(Buffer.byteLength(payload)).toBeGreaterThan(NOTIFY_MAX_BYTES - 800);
    const back = payloads.flatMap((p) => unpackNotification(p, 'inst-b') ?? []);
    expect(back).toEqual(messages);
  });

  it('sets apart a message too large alone, and packs the rest', () => {
    const huge: LiveMessage = {
      type: 'alarm',
      data: { gateId: 'g-1', compoundId: 'c-1', kind: 'tamper', ts: 1, detail: '警'.repeat(3_000) },
    };
    const { payloads, oversized } = packNotifications('inst-a', [entry(1), huge, entry(2)]);
    expect(oversized).toEqual([huge]);
    expect(payloads.flatMap((p) => unpackNotification(p, 'inst-b') ?? [])).toEqual([entry(1), entry(2)]);
  });

  it('exactly at the limit still fits; one byte less does not', () => {
    const one = packNotifications('a', [entry(1)]).payloads[0]!;
    const size = Buffer.byteLength(one);
    expect(packNotifications('a', [entry(1)], size).payloads).toEqual([one]);
    expect(packNotifications('a', [entry(1)], size - 1).oversized).toHaveLength(1);
  });
});

describe('unpackNotification', () => {
  it("skips this instance's own payloads, and anything that is not a fan-out payload", () => {
    const [payload] = packNotifications('inst-a', [entry(1)]).payloads;
    expect(unpackNotification(payload!, 'inst-a')).toBeUndefined();
    expect(unpackNotification(payload!, 'inst-b')).toEqual([entry(1)]);
    for (const other of ['', 'not json', 'null', '{"o":1,"m":[]}', '{"o":"x"}', '[1,2]']) {
      expect(unpackNotification(other, 'inst-b')).toBeUndefined();
    }
    // Unknown message kinds and messages without a compound are dropped, the rest kept.
    const mixed = JSON.stringify({
      o: 'x',
      m: [{ type: 'nope', data: { compoundId: 'c-1' } }, { type: 'entry' }, entry(3)],
    });
    expect(unpackNotification(mixed, 'inst-b')).toEqual([entry(3)]);
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
