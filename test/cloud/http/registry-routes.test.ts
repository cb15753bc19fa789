import { HEALTH_CLOCK_TOLERANCE_MS } from '../../../cloud/registry/registry-service.ts';
import { MqttUnavailableError } from '../../../cloud/mqtt/cloud-mqtt-client.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateIdNumber } from '../../../shared/id-number.ts';
import { errorBodySchema } from '../../../shared/schemas/http.ts';
import { syncDeltaSchema } from '../../../shared/schemas/mqtt.ts';
import { verifyToken } from '../../../shared/token.ts';
import { createHarness, type Harness } from './app-harness.ts';

let seed = 1;
const rand = () => {
  seed = (seed * 16807) % 2147483647;
  return seed / 2147483647;
};

describe('compounds and gates', () => {
  let h: Harness;
  let manager: string;
  let admin: string;
  beforeEach(async () => {
    h = await createHarness();
    manager = await h.token('manager');
    admin = await h.token('admin');
  });
  afterEach(async () => {
    await h.close();
  });

  it('creates and lists compounds with Asia/Shanghai by default; refuses duplicates and bad zones', async () => {
    const res = await h.request('POST', '/api/v1/compounds', { token: manager, body: { id: 'c-3', name: 'Three' } });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ id: 'c-3', timeZone: 'Asia/Shanghai', mode: 'normal', rev: 0 });
    const again = await h.request('POST', '/api/v1/compounds', { token: manager, body: { id: 'c-3', name: 'Three' } });
    expect(again.status).toBe(409);
    const zone = await h.request('POST', '/api/v1/compounds', {
      token: manager,
      body: { id: 'c-4', name: 'Four', timeZone: 'Mars/Olympus' },
    });
    expect(zone.status).toBe(400);
    const bad = await h.request('POST', '/api/v1/compounds', { token: manager, body: { id: 'Bad Id', name: '' } });
    expect(bad.status).toBe(400);
    const list = (await (await h.request('GET', '/api/v1/compounds', { token: manager })).json()) as {
      compounds: { id: string }[];
    };
    expect(list.compounds.map((c) => c.id)).toEqual(['c-1', 'c-2', 'c-3']);
    const scoped = (await (
      await h.request('GET', '/api/v1/compounds', { token: await h.token('manager', 'c-2') })
    ).json()) as { compounds: { id: string }[] };
    expect(scoped.compounds.map((c) => c.id)).toEqual(['c-2']);
    expect((await h.request('GET', '/api/v1/compounds/c-9', { token: manager })).status).toBe(404);
    expect((await h.request('GET', '/api/v1/compounds/C_1', { token: manager })).status).toBe(400);
  });

  it('switches mode: audit-logged and pushed to the compound topic', async () => {
    const res = await h.request('PUT', '/api/v1/compounds/c-1/mode', {
      token: manager,
      body: { mode: 'lockdown', reason: 'case confirmed' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ mode: 'lockdown', rev: 1 });
    const pushed = h.published.find((p) => p.topic === 'anxin/v1/compounds/c-1/changes');
    expect(syncDeltaSchema.parse(pushed?.payload)).toMatchObject({
      fromRev: 0,
      toRev: 1,
      changes: [{ op: 'mode', mode: 'lockdown', reason: 'case confirmed' }],
    });
    const audit = (await (await h.request('GET', '/api/v1/audit', { token: manager })).json()) as {
      entries: { action: string; actor: string }[];
    };
    expect(audit.entries[0]).toMatchObject({ action: 'mode.change', actor: 'manager-user' });
    const bad = await h.request('PUT', '/api/v1/compounds/c-1/mode', { token: manager, body: { mode: 'party' } });
    expect(bad.status).toBe(400);
    const missing = await h.request('PUT', '/api/v1/compounds/c-9/mode', {
      token: manager,
      body: { mode: 'normal', reason: 'x' },
    });
    expect(missing.status).toBe(404);
    const other = await h.request('PUT', '/api/v1/compounds/c-2/mode', {
      token: await h.token('manager', 'c-1'),
      body: { mode: 'normal', reason: 'x' },
    });
    expect(other.status).toBe(404);
  });

  it('sets the lockdown exit quota as a quota.policy change', async () => {
    const res = await h.request('PUT', '/api/v1/compounds/c-1/quota', {
      token: manager,
      body: { exits: 1, periodHours: 48 },
    });
    expect(res.status).toBe(200);
    expect(h.published.at(-1)?.payload).toMatchObject({ changes: [{ op: 'quota.policy', exits: 1, periodHours: 48 }] });
    const bad = await h.request('PUT', '/api/v1/compounds/c-1/quota', { token: manager, body: { exits: -1 } });
    expect(bad.status).toBe(400);
  });

  it('registers a gate and returns its device token once', async () => {
    const res = await h.request('POST', '/api/v1/gates', {
      token: admin,
      body: { id: 'g-7', compoundId: 'c-1', name: 'East' },
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { gate: { id: string }; token: string };
    const check = verifyToken(body.token, h.ring, Date.now());
    expect(check.ok && check.claims).toMatchObject({ sub: 'g-7', role: 'gate', compound: 'c-1' });
    const detail = await (await h.request('GET', '/api/v1/gates/g-7', { token: admin })).json();
    expect(JSON.stringify(detail)).not.toContain(body.token);
    expect(
      (await h.request('POST', '/api/v1/gates', { token: admin, body: { id: 'g-7', compoundId: 'c-1', name: 'x' } }))
        .status,
    ).toBe(409);
    expect(
      (await h.request('POST', '/api/v1/gates', { token: admin, body: { id: 'g-8', compoundId: 'c-9', name: 'x' } }))
        .status,
    ).toBe(400);
    expect((await h.request('POST', '/api/v1/gates', { token: admin, body: { id: 'g-8' } })).status).toBe(400);
  });

  it('lists gates of the guard compound only and hides other compounds’ gates', async () => {
    const guard = await h.token('guard', 'c-1');
    const list = (await (await h.request('GET', '/api/v1/gates', { token: guard })).json()) as {
      gates: { id: string }[];
    };
    expect(list.gates.map((g) => g.id)).toEqual(['g-1']);
    expect((await h.request('GET', '/api/v1/gates?compound=c-2', { token: guard })).status).toBe(403);
    expect((await h.request('GET', '/api/v1/gates/g-2', { token: guard })).status).toBe(404);
    expect((await h.request('GET', '/api/v1/gates/g-1', { token: guard })).status).toBe(200);
    expect((await h.request('GET', '/api/v1/gates?compound=NOT VALID', { token: manager })).status).toBe(400);
  });

  it('opens a gate remotely: command published, audit-logged, result shown on the gate', async () => {
    const guard = await h.token('guard', 'c-1', 'wang');
    const res = await h.request('POST', '/api/v1/gates/g-1/open', {
      token: guard,
      body: { direction: 'in', reason: 'delivery' },
    });
    expect(res.status).toBe(202);
    const command = (await res.json()) as { cmdId: string };
    expect(h.published.at(-1)).toEqual({
      topic: 'anxin/v1/gates/g-1/cmd',
      payload: { cmdId: command.cmdId, kind: 'open', direction: 'in', reason: 'delivery', by: 'wang' },
    });
    await h.core.router.route(
      'anxin/v1/gates/g-1/cmd/result',
      Buffer.from(JSON.stringify({ cmdId: command.cmdId, ok: true })),
    );
    const detail = (await (await h.request('GET', '/api/v1/gates/g-1', { token: guard })).json()) as {
      commands: { cmdId: string; result: { ok: boolean } | null }[];
    };
    expect(detail.commands[0]).toMatchObject({ cmdId: command.cmdId, result: { ok: true } });
    expect(
      (await h.request('POST', '/api/v1/gates/g-1/open', { token: guard, body: { direction: 'up' } })).status,
    ).toBe(400);
    expect(
      (await h.request('POST', '/api/v1/gates/g-2/open', { token: guard, body: { direction: 'in', reason: 'x' } }))
        .status,
    ).toBe(404);
    const resync = await h.request('POST', '/api/v1/gates/g-1/resync', { token: guard });
    expect(resync.status).toBe(202);
    expect(h.published.at(-1)?.payload).toMatchObject({ kind: 'resync', by: 'wang' });
    const audit = (await (await h.request('GET', '/api/v1/audit?action=gate.open', { token: manager })).json()) as {
      entries: unknown[];
    };
    expect(audit.entries).toHaveLength(1);
  });

  it('creates users (admin) and lets them log in', async () => {
    const res = await h.request('POST', '/api/v1/users', {
      token: admin,
      body: { username: 'li', password: 'long-enough-pw', role: 'guard', compoundId: 'c-1' },
    });
    expect(res.status).toBe(201);
    const login = await h.request('POST', '/api/v1/auth/login', {
      body: { username: 'li', password: 'long-enough-pw' },
    });
    expect(await login.json()).toMatchObject({ role: 'guard', compound: 'c-1' });
    const unbound = await h.request('POST', '/api/v1/users', {
      token: admin,
      body: { username: 'zhao', password: 'long-enough-pw', role: 'guard' },
    });
    expect(unbound.status).toBe(400);
  });
});

describe('residents, health and passes', () => {
  let h: Harness;
  let manager: string;
  beforeEach(async () => {
    h = await createHarness();
    manager = await h.token('manager');
  });
  afterEach(async () => {
    await h.close();
  });

  const create = async (body: Record<string, unknown>) =>
    h.request('POST', '/api/v1/residents', { token: manager, body: { compoundId: 'c-1', ...body } });

  it('creates a resident, shows it masked, reveals to a manager with an audit record', async () => {
    const idNumber = generateIdNumber(rand);
    const res = await create({ personId: 'p-1', name: '张三明', idNumber, householdId: 'h-1', elderly: true });
    expect(res.status).toBe(201);
    const shown = await res.json();
    expect(shown).toMatchObject({
      personId: 'p-1',
      maskedName: '张*明',
      maskedIdNumber: `${idNumber.slice(0, 4)}${'*'.repeat(10)}${idNumber.slice(-4)}`,
    });
    expect(JSON.stringify(shown)).not.toContain(idNumber);
    expect(JSON.stringify(shown)).not.toContain('张三明');
    const pushed = h.published.at(-1)?.payload as { changes: { op: string; person: Record<string, unknown> }[] };
    expect(pushed.changes[0]?.op).toBe('person.upsert');
    expect(pushed.changes[0]?.person).toMatchObject({ maskedName: '张*明', elderly: true });
    expect(pushed.changes[0]?.person.idHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(pushed)).not.toContain(idNumber);
    const stored = await h.core.store.getResident('p-1');
    expect(stored?.idSealed).not.toContain(idNumber);
    const revealed = await (
      await h.request('GET', '/api/v1/residents/p-1?reveal=true&reason=tracing', { token: manager })
    ).json();
    expect(revealed).toMatchObject({ name: '张三明', idNumber });
    const audit = (await (
      await h.request('GET', '/api/v1/audit?action=identity.reveal', { token: manager })
    ).json()) as {
      entries: { target: string; detail: unknown }[];
    };
    expect(audit.entries[0]).toMatchObject({ target: 'p-1', detail: { reason: 'tracing' } });
    expect((await h.request('GET', '/api/v1/residents/p-1?reveal=maybe', { token: manager })).status).toBe(400);
  });

  it('rejects a bad body, an invalid ID number, a duplicate and an unknown compound', async () => {
    expect((await create({ name: '' })).status).toBe(400);
    const badId = await create({ name: '李四', idNumber: '110101199001011230' });
    expect(badId.status).toBe(400);
    expect(errorBodySchema.parse(await badId.json()).error.issues?.[0]?.path).toBe('idNumber');
    expect((await create({ personId: 'p-1', name: '李四' })).status).toBe(201);
    expect((await create({ personId: 'p-1', name: '李四' })).status).toBe(409);
    expect((await create({ name: '李四', compoundId: 'c-9' })).status).toBe(400);
  });

  it('lists, patches and deletes residents (person.delete pushed)', async () => {
    for (const n of [1, 2, 3]) await create({ personId: `p-${n}`, name: `王${n}号` });
    const page = (await (
      await h.request('GET', '/api/v1/residents?compound=c-1&limit=2', { token: manager })
    ).json()) as {
      residents: { personId: string }[];
      nextCursor: string;
    };
    expect(page.residents.map((r) => r.personId)).toEqual(['p-1', 'p-2']);
    const next = (await (
      await h.request('GET', `/api/v1/residents?compound=c-1&limit=2&cursor=${page.nextCursor}`, { token: manager })
    ).json()) as { residents: { personId: string }[] };
    expect(next.residents.map((r) => r.personId)).toEqual(['p-3']);
    expect((await h.request('GET', '/api/v1/residents?limit=0', { token: manager })).status).toBe(400);
    const patched = await h.request('PATCH', '/api/v1/residents/p-2', { token: manager, body: { active: false } });
    expect(await patched.json()).toMatchObject({ active: false });
    expect((await h.request('PATCH', '/api/v1/residents/p-2', { token: manager, body: {} })).status).toBe(400);
    expect((await h.request('PATCH', '/api/v1/residents/p-9', { token: manager, body: { active: true } })).status).toBe(
      404,
    );
    expect((await h.request('DELETE', '/api/v1/residents/p-3', { token: manager })).status).toBe(204);
    expect(h.published.at(-1)?.payload).toMatchObject({ changes: [{ op: 'person.delete', personId: 'p-3' }] });
    expect((await h.request('DELETE', '/api/v1/residents/p-3', { token: manager })).status).toBe(404);
    expect((await h.request('GET', '/api/v1/residents/p-1', { token: await h.token('manager', 'c-2') })).status).toBe(
      404,
    );
  });

  it('bulk-updates health by ID number (via pseudonym) or personId and pushes the changes', async () => {
    const idNumber = generateIdNumber(rand);
    await create({ personId: 'p-1', name: '赵一', idNumber });
    await create({ personId: 'p-2', name: '赵二' });
    const res = await h.request('PUT', '/api/v1/health', {
      token: manager,
      body: [
        { idNumber, colour: 'red', ts: 1000 },
        { personId: 'p-2', colour: 'yellow', ts: 1000 },
        { personId: 'p-9', colour: 'green', ts: 1000 },
      ],
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ updated: 2, notFound: [2] });
    expect(h.published.at(-1)?.payload).toMatchObject({
      changes: [
        { op: 'health', personId: 'p-1', colour: 'red' },
        { op: 'health', personId: 'p-2', colour: 'yellow' },
      ],
    });
    const bad = await h.request('PUT', '/api/v1/health', {
      token: manager,
      body: [{ idNumber, personId: 'p-1', colour: 'red', ts: 1 }],
    });
    expect(bad.status).toBe(400);
    expect((await h.request('PUT', '/api/v1/health', { token: manager, body: [] })).status).toBe(400);
  });

  it('refuses a health ts beyond the clock tolerance, so one bad feed value cannot freeze a colour', async () => {
    await create({ personId: 'p-1', name: '赵一' });
    const now = Date.now();
    const frozen = await h.request('PUT', '/api/v1/health', {
      token: manager,
      body: [
        { personId: 'p-1', colour: 'green', ts: now },
        { personId: 'p-1', colour: 'red', ts: Date.UTC(2100, 0, 1) },
      ],
    });
    expect(frozen.status).toBe(400);
    expect(await frozen.json()).toMatchObject({ error: { issues: [{ path: '1.ts' }] } });
    expect((await h.core.store.getResident('p-1'))?.health).not.toBe('red');
    // Within the tolerance is accepted; a later honest update still wins over it.
    const ahead = now + HEALTH_CLOCK_TOLERANCE_MS - 60_000;
    const ok = await h.request('PUT', '/api/v1/health', {
      token: manager,
      body: [{ personId: 'p-1', colour: 'yellow', ts: ahead }],
    });
    expect(await ok.json()).toEqual({ updated: 1, notFound: [] });
    const older = await h.request('PUT', '/api/v1/health', {
      token: manager,
      body: [{ personId: 'p-1', colour: 'red', ts: now }],
    });
    expect(await older.json()).toEqual({ updated: 0, notFound: [] });
    const newer = await h.request('PUT', '/api/v1/health', {
      token: manager,
      body: [{ personId: 'p-1', colour: 'red', ts: ahead + 1 }],
    });
    expect(await newer.json()).toEqual({ updated: 1, notFound: [] });
  });

  it('records a remote open the broker never took as failed, not pending for ever', async () => {
    h.publishing.error = new MqttUnavailableError();
    const res = await h.request('POST', '/api/v1/gates/g-1/open', {
      token: manager,
      body: { direction: 'in', reason: '送货 delivery' },
    });
    expect(res.status).toBe(503);
    const [command] = await h.core.store.recentCommands('g-1', 5);
    expect(command).toMatchObject({ kind: 'open', result: { ok: false, error: expect.stringContaining('not sent') } });
  });

  it('issues a pass, renders it as SVG and PNG, revokes it (pass.revoke pushed)', async () => {
    await create({ personId: 'p-1', name: '钱一' });
    const res = await h.request('POST', '/api/v1/passes', {
      token: manager,
      body: { personId: 'p-1', kind: 'visitor', validTo: Date.now() + 86_400_000 },
    });
    expect(res.status).toBe(201);
    const pass = (await res.json()) as { passId: string; text: string };
    expect(pass.text.startsWith('AX1:')).toBe(true);
    const svg = await h.request('GET', `/api/v1/passes/${pass.passId}/qr.svg`, { token: manager });
    expect(svg.headers.get('content-type')).toBe('image/svg+xml');
    expect(await svg.text()).toContain('<svg');
    const png = await h.request('GET', `/api/v1/passes/${pass.passId}/qr.png`, { token: manager });
    expect(
      Buffer.from(await png.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    expect((await h.request('DELETE', `/api/v1/passes/${pass.passId}`, { token: manager })).status).toBe(204);
    expect(h.published.at(-1)?.payload).toMatchObject({ changes: [{ op: 'pass.revoke', passId: pass.passId }] });
    expect((await h.request('GET', '/api/v1/passes/0000000000000000/qr.svg', { token: manager })).status).toBe(404);
    expect((await h.request('DELETE', '/api/v1/passes/0000000000000000', { token: manager })).status).toBe(404);
    expect((await h.request('POST', '/api/v1/passes', { token: manager, body: { personId: 'p-1' } })).status).toBe(400);
    // Ids too long together for a 200-character pass: refused with the reason, nothing stored.
    const longId = `p-${'x'.repeat(60)}`;
    await create({ personId: longId, name: '孙长' });
    const tooLong = await h.request('POST', '/api/v1/passes', {
      token: manager,
      body: { personId: longId, validTo: Date.now() + 1e6 },
    });
    expect(tooLong.status).toBe(400);
    expect(JSON.stringify(await tooLong.json())).toContain('at most 43');
    expect(
      (
        await h.request('POST', '/api/v1/passes', {
          token: manager,
          body: { personId: 'p-9', validTo: Date.now() + 1e6 },
        })
      ).status,
    ).toBe(400);
  });
});
