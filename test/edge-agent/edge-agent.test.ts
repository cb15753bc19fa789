import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EdgeConfigInput, parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { silentLogger } from '../../shared/log.ts';
import { entryEventSchema } from '../../shared/schemas/mqtt.ts';
import { topics } from '../../shared/topics.ts';
import { guardCookie, TEST_GUARD } from '../../testkit/terminal-guard.ts';
import { type CloudStandIn, waitFor } from './cloud-stand-in.ts';
import { benchGateConfig, type CloudBench, startCloudBench } from './cloud-bench.ts';
import { FakeIdCardReader, FakeQrScanner, FakeTurnstile } from './fake-devices.ts';
import { COMPOUND, GATE, ID_NUMBERS, idHashOf, NOW, pass, person } from './fixtures.ts';

let bench: CloudBench;
let cloud: CloudStandIn;
let agent: EdgeAgent | undefined;
let qr: FakeQrScanner;
let idreader: FakeIdCardReader;
let turnstile: FakeTurnstile;
const SNAPSHOT_REV = 5;
const startedAt = Date.now();
/** The fixtures' passes are valid around NOW; the agent's clock runs from there in real time. */
const clock = { now: () => NOW + (Date.now() - startedAt) };

function makeAgent(over: Partial<EdgeConfigInput> = {}): EdgeAgent {
  qr = new FakeQrScanner();
  idreader = new FakeIdCardReader();
  turnstile = new FakeTurnstile();
  const config = parseEdgeConfig(
    benchGateConfig(bench, { http: { port: 0 }, timeouts: { passageMs: 400, tailgateWindowMs: 2_000 }, ...over }),
  );
  agent = createEdgeAgent(config, {
    logger: silentLogger,
    clock,
    devices: { qr, idreader, turnstile },
    version: 'test',
  });
  return agent;
}

async function startSynced(over: Partial<EdgeConfigInput> = {}): Promise<EdgeAgent> {
  const a = makeAgent(over);
  await a.start();
  await waitFor(() => a.status().rev === SNAPSHOT_REV && a.status().online, 'the first sync');
  return a;
}

beforeEach(async () => {
  bench = await startCloudBench('anxin-edge-', { rev: SNAPSHOT_REV });
  cloud = bench.cloud;
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await bench.stop();
});

describe('EdgeAgent (fake devices, real broker, cloud stand-in)', () => {
  it('syncs on connect, opens for a valid pass, confirms the passage, and has it stored and acked', async () => {
    const a = await startSynced();
    expect(cloud.syncRequests[0]).toBe(0);
    await waitFor(() => cloud.statuses.some((s) => s.online && s.rev === SNAPSHOT_REV), 'an online status');

    qr.scan(pass('alice'));
    expect(turnstile.unlocks).toEqual(['in']);
    expect(turnstile.leds).toContain('green');
    // Pending until the turnstile says the person went through.
    expect(a.state().lastScans[0]).toMatchObject({ result: 'granted', waiting: true, colour: 'green' });
    turnstile.pass('in');
    await waitFor(() => cloud.stored.size === 1, 'the event in the cloud');
    const event = cloud.stored.get(1)!;
    expect(entryEventSchema.parse(event)).toMatchObject({
      gateId: GATE,
      seq: 1,
      method: 'qr',
      result: 'granted',
      reason: 'ok',
      personId: 'alice',
      health: 'green',
      mode: 'normal',
      passed: true,
    });
    expect(event.decisionMs).toBeGreaterThanOrEqual(0);
    await waitFor(() => a.journalDepth === 0, 'the journal pruned by the ack');
    expect(turnstile.listenerCount('input')).toBe(1);
  });

  it('journals and publishes a denial at once, with the red light and beeps, and never the ID number', async () => {
    const a = await startSynced();
    idreader.present({ idNumber: ID_NUMBERS.bob, name: '王五' });
    await waitFor(() => cloud.stored.size === 1, 'the denial in the cloud');
    expect(cloud.stored.get(1)).toMatchObject({
      result: 'denied',
      reason: 'health-red',
      passed: null,
      idHash: idHashOf(ID_NUMBERS.bob),
    });
    expect(JSON.stringify(cloud.messages)).not.toContain(ID_NUMBERS.bob);
    expect(turnstile.unlocks).toEqual([]);
    expect(turnstile.leds).toEqual(['red']);
    expect(a.state().lastScans[0]).toMatchObject({
      colour: 'red',
      icon: '✗',
      zh: '红码，禁止通行',
      maskedName: '张*明',
    });
  });

  it('records a grant nobody used as passed:false after the timeout', async () => {
    await startSynced();
    turnstile.card(90, 324);
    await waitFor(() => cloud.stored.size === 1, 'the timed-out passage');
    expect(cloud.stored.get(1)).toMatchObject({ method: 'card', result: 'granted', passed: false });
  });

  it('raises forced-passage and tailgating alarms', async () => {
    await startSynced();
    turnstile.pass('in');
    await waitFor(() => cloud.alarms.some((a) => a.kind === 'forced'), 'the forced alarm');
    qr.scan(pass('alice'));
    turnstile.pass('in');
    turnstile.pass('in');
    await waitFor(() => cloud.alarms.some((a) => a.kind === 'tailgate'), 'the tailgate alarm');
    expect(cloud.alarms.filter((a) => a.kind === 'forced')).toHaveLength(1);
  });

  it('frees the gate while the fire-alarm loop is open, logging every passage', async () => {
    const a = await startSynced();
    turnstile.input('fire', true);
    await waitFor(() => cloud.alarms.some((x) => x.kind === 'fire'), 'the fire alarm');
    await waitFor(() => cloud.statuses.some((s) => s.fire === true), 'status fire');
    expect(turnstile.unlocks).toEqual(expect.arrayContaining(['in', 'out']));
    idreader.present({ idNumber: ID_NUMBERS.bob });
    turnstile.pass('in');
    turnstile.pass('out');
    await waitFor(() => cloud.stored.size === 2, 'two free passages');
    expect(cloud.stored.get(1)).toMatchObject({
      method: 'free',
      reason: 'free-passage',
      result: 'granted',
      personId: 'bob',
      passed: true,
    });
    expect(cloud.stored.get(2)).toMatchObject({ method: 'free', direction: 'out', passed: true });
    expect(cloud.alarms.some((x) => x.kind === 'forced')).toBe(false);
    turnstile.input('fire', false);
    await waitFor(() => !a.status().fire, 'the loop closed');
    idreader.present({ idNumber: ID_NUMBERS.bob });
    await waitFor(() => cloud.stored.size === 3, 'the next decision');
    expect(cloud.stored.get(3)).toMatchObject({ reason: 'health-red' });
  });

  it('applies live changes, asks for a resync on a gap, and follows the mode', async () => {
    const a = await startSynced();
    await cloud.publishChanges(COMPOUND, SNAPSHOT_REV, SNAPSHOT_REV + 1, [
      { op: 'mode', mode: 'emergency-open', ts: NOW },
    ]);
    await waitFor(() => a.status().mode === 'emergency-open', 'the mode change');
    await waitFor(() => cloud.statuses.some((s) => s.mode === 'emergency-open'), 'the status after the mode change');
    qr.scan('garbage');
    expect(a.state().lastScans[0]).toMatchObject({ result: 'granted', reason: 'free-passage', method: 'free' });
    const before = cloud.syncRequests.length;
    await cloud.publishChanges(COMPOUND, SNAPSHOT_REV + 5, SNAPSHOT_REV + 6, [
      { op: 'person.upsert', person: person('zed') },
    ]);
    await waitFor(() => cloud.syncRequests.length > before, 'the resync request');
    expect(cloud.syncRequests.at(-1)).toBe(SNAPSHOT_REV + 1);
  });

  it('answers remote commands: open, resync, reboot-devices, and a malformed one', async () => {
    await startSynced();
    await cloud.command(GATE, { cmdId: 'c-1', kind: 'open', direction: 'out', reason: 'ambulance', by: 'wang' });
    await waitFor(() => cloud.results.some((r) => r.cmdId === 'c-1'), 'the open result');
    expect(cloud.results.find((r) => r.cmdId === 'c-1')).toEqual({ cmdId: 'c-1', ok: true });
    expect(turnstile.unlocks).toEqual(['out']);
    turnstile.pass('out');
    await waitFor(() => cloud.stored.size === 1, 'the manual passage');
    expect(cloud.stored.get(1)).toMatchObject({
      method: 'manual',
      reason: 'manual',
      guard: 'wang',
      direction: 'out',
      passed: true,
    });

    await cloud.command(GATE, { cmdId: 'c-1', kind: 'open', by: 'wang' });
    await waitFor(() => cloud.results.filter((r) => r.cmdId === 'c-1').length === 2, 'the repeated result');
    expect(turnstile.unlocks).toEqual(['out']);

    const requests = cloud.syncRequests.length;
    await cloud.command(GATE, { cmdId: 'c-2', kind: 'resync' });
    await waitFor(() => cloud.syncRequests.length > requests, 'the full resync request');
    expect(cloud.syncRequests.at(-1)).toBe(0);

    await cloud.command(GATE, { cmdId: 'c-3', kind: 'reboot-devices' });
    await waitFor(() => cloud.results.some((r) => r.cmdId === 'c-3'), 'the reboot result');
    expect([qr.starts, idreader.starts, turnstile.starts]).toEqual([2, 2, 2]);

    await cloud.command(GATE, { cmdId: 'c-4', kind: 'explode' });
    await waitFor(() => cloud.results.some((r) => r.cmdId === 'c-4'), 'the refusal');
    expect(cloud.results.find((r) => r.cmdId === 'c-4')).toMatchObject({ ok: false });
  });

  it('ignores bogus acks and malformed sync messages without harm', async () => {
    const a = await startSynced();
    cloud.acking = false;
    qr.scan('not a pass');
    await waitFor(() => cloud.stored.size === 1, 'the event');
    await cloud.raw(topics.gateAck(GATE), JSON.stringify({ upTo: 99 }));
    await cloud.raw(topics.gateAck(GATE), '{oops');
    await cloud.raw(topics.gateSync(GATE), JSON.stringify({ snapshotRev: 9, part: 2, parts: 1, records: [] }));
    await cloud.raw(topics.compoundChanges(COMPOUND), 'null');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(a.journalDepth).toBe(1);
    expect(a.status().rev).toBe(SNAPSHOT_REV);
    await cloud.raw(topics.gateAck(GATE), JSON.stringify({ upTo: 1 }));
    await waitFor(() => a.journalDepth === 0, 'the real ack');
  });

  it('keeps seq, replica and journal across a restart and sends what was not acked', async () => {
    let a = await startSynced();
    cloud.acking = false;
    qr.scan('x1');
    qr.scan('x2');
    await waitFor(() => cloud.stored.size === 2, 'two events');
    await a.stop();
    cloud.stored.clear();
    cloud.ackedUpTo = 0;
    cloud.acking = true;
    a = makeAgent();
    await a.start();
    expect(a.status().rev).toBe(SNAPSHOT_REV);
    expect(a.journalDepth).toBe(2);
    await waitFor(() => cloud.stored.size === 2 && a.journalDepth === 0, 'the replay');
    qr.scan('x3');
    await waitFor(() => cloud.stored.has(3), 'the next seq');
    expect(cloud.seqs()).toEqual([1, 2, 3]);
  });

  it('says offline in its retained status when it stops', async () => {
    const a = await startSynced();
    await a.stop();
    agent = undefined;
    await waitFor(() => cloud.statuses.at(-1)?.online === false, 'the offline status');
  });

  it('serves the guard terminal: page, state, live stream and manual open with a reason', async () => {
    const a = await startSynced({ terminal: { guards: [TEST_GUARD] } });
    const base = a.terminalUrl!;
    const page = await (await fetch(`${base}/`)).text();
    expect(page).toContain('<title>安心门 Anxin Gate</title>');
    expect(page).not.toMatch(/<script[^>]+src="http|<link[^>]+href="http|<script>/);
    const cookie = await guardCookie(base);

    const controller = new AbortController();
    const stream = await fetch(`${base}/api/guard/events`, { signal: controller.signal, headers: { cookie } });
    const reader = stream.body!.getReader();
    let received = '';
    const readUntil = async (needle: string) => {
      while (!received.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        received += new TextDecoder().decode(value);
      }
    };
    await readUntil('event: snapshot');

    const missing = await fetch(`${base}/api/open`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ direction: 'in', reason: '  ' }),
    });
    expect(missing.status).toBe(400);
    expect((await missing.json()) as unknown).toMatchObject({ error: { code: 'invalid-request' } });

    const opened = await fetch(`${base}/api/open`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ direction: 'in', reason: 'delivery' }),
    });
    expect(await opened.json()).toEqual({ seq: 1 });
    await readUntil('event: scan');
    expect(received).toContain('"reason":"manual"');
    controller.abort();

    const state = (await (await fetch(`${base}/api/state`, { headers: { cookie } })).json()) as ReturnType<
      EdgeAgent['state']
    >;
    expect(state).toMatchObject({ gateId: GATE, mode: 'normal', rev: SNAPSHOT_REV, online: true, stale: false });
    expect(state.lastScans[0]).toMatchObject({
      method: 'manual',
      guard: TEST_GUARD.name,
      openReason: 'delivery',
    });
  });
});
