/**
 * "Driving one gate by hand over socat" (docs/quickstart.md): real processes only —
 * `anxin broker`, `anxin cloud`, `anxin edge --config gate.json`, and the device simulators
 * `anxin sim qr` and `anxin sim turnstile` on the far ends of socat pty pairs. A resident's pass,
 * scanned by the simulator every few hundred ms, opens the turnstile and is stored in the cloud.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPass } from '../../shared/pass.ts';
import { openPtyPair, type PtyPair } from '../../testkit/socat.ts';
import { AnxinProcess, COMPOUND, Deployment, eventually } from '../../testkit/deployment.ts';

const GATE = 'north-in';
const PERSON = 'p-000001';

describe('anxin sim drives anxin edge over socat ptys', () => {
  let d: Deployment;
  let qrPty: PtyPair;
  let turnstilePty: PtyPair;
  const sims: AnxinProcess[] = [];

  beforeAll(async () => {
    [qrPty, turnstilePty] = await Promise.all([openPtyPair(), openPtyPair()]);
    d = await Deployment.create({ gates: [GATE] });
    await d.startBroker();
    await d.startCloud();
    const manager = { authorization: `Bearer ${d.httpToken('manager')}`, 'content-type': 'application/json' };
    const created = await fetch(`${d.cloudUrl}/api/v1/residents`, {
      method: 'POST',
      headers: manager,
      body: JSON.stringify({ personId: PERSON, compoundId: COMPOUND, name: '李秀英', idNumber: '440524188001015368' }),
    });
    expect(created.status).toBe(201);
    const health = await fetch(`${d.cloudUrl}/api/v1/health`, {
      method: 'PUT',
      headers: manager,
      body: JSON.stringify([{ personId: PERSON, colour: 'green', ts: Date.now() }]),
    });
    expect(health.status).toBe(200);

    await d.startEdge(GATE, {
      config: {
        devices: {
          qr: { path: qrPty.a, baudRate: 9600, direction: 'in' },
          turnstile: { path: turnstilePty.a, baudRate: 115200 },
        },
      },
    });
    const now = Date.now();
    const pass = signPass(
      {
        passId: 'a1b2c3d4e5f60718',
        personId: PERSON,
        compoundId: COMPOUND,
        kind: 'resident',
        notBefore: now - 60_000,
        expiresAt: now + 3_600_000,
      },
      d.keys.signing!,
    );
    sims.push(
      new AnxinProcess('sim-turnstile', ['sim', 'turnstile', '--port', turnstilePty.b, '--pass-delay', '100']),
      new AnxinProcess('sim-qr', [
        'sim',
        'qr',
        '--port',
        qrPty.b,
        '--baud',
        '9600',
        '--text',
        pass,
        '--interval',
        '500',
      ]),
    );
    for (const sim of sims) sim.spawn();
  }, 90_000);

  afterAll(async () => {
    for (const sim of sims) await sim.kill('SIGKILL');
    await d?.close();
    await Promise.allSettled([qrPty?.close(), turnstilePty?.close()]);
  });

  it('every scan is granted, the turnstile confirms the passage, and the cloud stores it', async () => {
    const manager = { authorization: `Bearer ${d.httpToken('manager')}` };
    const events = await eventually(
      async () => {
        const res = await fetch(`${d.cloudUrl}/api/v1/events?gate=${GATE}`, { headers: manager });
        const body = (await res.json()) as { events: { personId?: string; result: string; passed: boolean | null }[] };
        return body.events.length >= 3 ? body.events : undefined;
      },
      'three stored passages',
      30_000,
      () => sims.map((s) => `${s.name}:\n${s.output}`).join('\n'),
    );
    for (const event of events) {
      expect(event).toMatchObject({ personId: PERSON, result: 'granted', passed: true });
    }
    await d.expectAllHealthy();
  });

  it('the simulators stop on SIGTERM with exit code 0', async () => {
    for (const sim of sims) expect(await sim.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
