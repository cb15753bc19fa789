import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GateMessageRouter } from '../../../cloud/mqtt/gate-message-router.ts';
import { silentLogger } from '../../../shared/log.ts';
import { createHarness, type Harness } from '../http/app-harness.ts';

const status = (extra: Record<string, unknown> = {}) =>
  Buffer.from(
    JSON.stringify({
      online: true,
      mode: 'normal',
      rev: 0,
      journalDepth: 0,
      devices: { idreader: 'ok', qr: 'ok', turnstile: 'absent' },
      version: '0.1.0',
      ts: 1000,
      ...extra,
    }),
  );

describe('GateMessageRouter', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('keeps the latest status and a history row per online/mode change', async () => {
    await h.core.router.route('anxin/v1/gates/g-1/status', status({ ts: 1000 }));
    await h.core.router.route('anxin/v1/gates/g-1/status', status({ ts: 2000, journalDepth: 3 }));
    // An offline status (a last will: its ts is when the gate connected) counts from its arrival.
    const before = Date.now();
    await h.core.router.route('anxin/v1/gates/g-1/status', status({ ts: 3000, online: false }));
    await h.core.router.route('anxin/v1/gates/g-1/status', Buffer.alloc(0));
    expect((await h.core.store.latestStatus('g-1'))?.status).toMatchObject({ online: false, ts: 3000 });
    const history = await h.core.store.statusHistory('g-1', 0, Date.now() + 1);
    expect(history).toEqual([
      { ts: 1000, online: true, mode: 'normal' },
      { ts: expect.any(Number), online: false, mode: 'normal' },
    ]);
    expect(history[1]!.ts).toBeGreaterThanOrEqual(before);
  });

  it('dates a retained offline status (delivered on subscribe) no earlier than the last known change', async () => {
    await h.core.router.route('anxin/v1/gates/g-1/status', status({ ts: 5000 }));
    await h.core.router.route('anxin/v1/gates/g-1/status', status({ ts: 3000, online: false }), { retained: true });
    expect(await h.core.store.statusHistory('g-1', 0, 10_000)).toEqual([
      { ts: 5000, online: true, mode: 'normal' },
      { ts: 5000, online: false, mode: 'normal' },
    ]);
  });

  it('answers one sync request per gate at a time, and the latest one asked meanwhile after it', async () => {
    // The first answer is held (its publish waits for a PUBACK); the gate asks twice meanwhile.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const original = h.core.sync.answer.bind(h.core.sync);
    const answered: number[] = [];
    let first = true;
    h.core.sync.answer = async (gateId, compoundId, fromRev) => {
      if (first) {
        first = false;
        await held;
      }
      answered.push(fromRev);
      return original(gateId, compoundId, fromRev);
    };
    const ask = (fromRev: number) =>
      h.core.router.route('anxin/v1/gates/g-1/sync/request', Buffer.from(JSON.stringify({ fromRev })));
    await ask(0);
    await ask(0);
    await ask(0);
    expect(answered).toEqual([]);
    release();
    await h.core.router.idle();
    await h.core.router.idle();
    // The held one, then one for the requests made meanwhile (coalesced): none lost, none doubled.
    expect(answered).toEqual([0, 0]);
  });

  it('hands a known command’s result on with the command’s kind, so only a renewal’s is looked at', async () => {
    const results: unknown[][] = [];
    const router = new GateMessageRouter({
      ...h.core,
      compoundOf: async (gateId) => h.core.gates.compoundOf(gateId),
      logger: silentLogger,
      onCommandResult: async (...args) => void results.push(args),
    });
    const command = { gateId: 'g-1', direction: null, reason: null, by: 'cloud', issuedAt: 1, result: null };
    await h.core.store.recordCommand({ ...command, cmdId: 'c-open', kind: 'open' });
    await h.core.store.recordCommand({ ...command, cmdId: 'c-renew', kind: 'renew-token' });
    for (const cmdId of ['c-open', 'c-renew', 'nope'])
      await router.route('anxin/v1/gates/g-1/cmd/result', Buffer.from(JSON.stringify({ cmdId, ok: true })));
    expect(results).toEqual([
      ['g-1', 'c-open', true, 'open'],
      ['g-1', 'c-renew', true, 'renew-token'],
    ]);
  });

  it('counts invalid payloads, unknown gates and foreign topics without throwing', async () => {
    await h.core.router.route('anxin/v1/gates/g-1/status', Buffer.from('{"online":"yes"}'));
    await h.core.router.route('anxin/v1/gates/g-9/alarms', Buffer.from('{"kind":"fire","ts":1,"detail":""}'));
    await h.core.router.route('anxin/v1/gates/g-1/cmd/result', Buffer.from('{"cmdId":"nope","ok":true}'));
    await h.core.router.route('somewhere/else', Buffer.from('{}'));
    const m = h.core.metrics;
    expect(m.mqttRejects.get({ kind: 'status', reason: 'invalid-payload' })).toBe(1);
    expect(m.mqttRejects.get({ kind: 'alarms', reason: 'unknown-gate' })).toBe(1);
    expect(m.mqttRejects.get({ kind: 'cmd/result', reason: 'unknown-command' })).toBe(1);
    expect(m.ingestRejects.get({ reason: 'invalid-topic' })).toBe(1);
  });

  it('stores alarms and answers sync requests on the gate sync topic', async () => {
    await h.core.router.route('anxin/v1/gates/g-1/alarms', Buffer.from('{"kind":"tamper","ts":5,"detail":"lid"}'));
    expect(await h.core.store.recentAlarms('g-1', 5)).toMatchObject([{ kind: 'tamper', compoundId: 'c-1' }]);
    await h.core.router.route('anxin/v1/gates/g-1/sync/request', Buffer.from('{"fromRev":0}'));
    await h.core.router.idle();
    expect(h.published.at(-1)).toMatchObject({ topic: 'anxin/v1/gates/g-1/sync', payload: { part: 1, parts: 1 } });
  });
});
