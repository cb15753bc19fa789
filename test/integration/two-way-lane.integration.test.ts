/**
 * A two-way turnstile lane as installed (docs/lanes.md): on the entry side a QR scanner and an
 * ID-card reader, on the exit side a second QR scanner, one OSDP turnstile between them — every
 * device on its own socat pty pair, driven by the `anxin sim` processes, the gate a real
 * `anxin edge --config gate.json` whose `devices.readers` lists the three readers with their
 * directions. Each side's credential opens the turnstile in its own direction, the turnstile
 * confirms the passage on the matching input, and the cloud stores it with that direction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPass } from '../../shared/pass.ts';
import { openPtyPair, type PtyPair } from '../../testkit/socat.ts';
import { AnxinProcess, COMPOUND, Deployment, eventually } from '../../testkit/deployment.ts';

const GATE = 'east-lane';
const PERSON = 'p-000001';
const ID_NUMBER = '440524188001015368';

interface StoredEvent {
  personId?: string;
  result: string;
  direction: string;
  method: string;
  passed: boolean | null;
  passId?: string;
}

const ENTRY_PASS = 'a1b2c3d4e5f60718';
const EXIT_PASS = 'b1b2c3d4e5f60718';

describe('a two-way lane: readers on both sides of one turnstile, over real ptys', () => {
  let d: Deployment;
  let ptys: Record<'qrIn' | 'idIn' | 'qrOut' | 'turnstile', PtyPair>;
  const sims: AnxinProcess[] = [];

  beforeAll(async () => {
    const [qrIn, idIn, qrOut, turnstile] = await Promise.all([
      openPtyPair(),
      openPtyPair(),
      openPtyPair(),
      openPtyPair(),
    ]);
    ptys = { qrIn, idIn, qrOut, turnstile };
    d = await Deployment.create({ gates: [GATE] });
    await d.startBroker();
    await d.startCloud();
    const manager = { authorization: `Bearer ${d.httpToken('manager')}`, 'content-type': 'application/json' };
    const created = await fetch(`${d.cloudUrl}/api/v1/residents`, {
      method: 'POST',
      headers: manager,
      body: JSON.stringify({ personId: PERSON, compoundId: COMPOUND, name: '李秀英', idNumber: ID_NUMBER }),
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
          readers: [
            { kind: 'qr', name: 'qr-entry', path: qrIn.a, baudRate: 9600, direction: 'in' },
            { kind: 'idreader', name: 'id-entry', path: idIn.a, baudRate: 115200, direction: 'in' },
            { kind: 'qr', name: 'qr-exit', path: qrOut.a, baudRate: 9600, direction: 'out' },
          ],
          turnstile: { path: turnstile.a, baudRate: 115200 },
        },
      },
    });
    await eventually(
      async () => {
        const s = await d.gateState(GATE);
        return s?.devices.qr === 'ok' && s.devices.idreader === 'ok' ? s : undefined;
      },
      'both QR scanners and the ID-card reader open',
      20_000,
    );
    const now = Date.now();
    const pass = (passId: string) =>
      signPass(
        {
          passId,
          personId: PERSON,
          compoundId: COMPOUND,
          kind: 'resident',
          notBefore: now - 60_000,
          expiresAt: now + 3_600_000,
        },
        d.keys.signing!,
      );
    const qrSim = (name: string, port: string, text: string) =>
      new AnxinProcess(name, ['sim', 'qr', '--port', port, '--baud', '9600', '--text', text, '--interval', '700']);
    sims.push(
      new AnxinProcess('sim-turnstile', ['sim', 'turnstile', '--port', turnstile.b, '--pass-delay', '100']),
      qrSim('sim-qr-entry', qrIn.b, pass(ENTRY_PASS)),
      qrSim('sim-qr-exit', qrOut.b, pass(EXIT_PASS)),
      new AnxinProcess('sim-id-entry', ['sim', 'idreader', '--port', idIn.b, '--id', ID_NUMBER, '--interval', '1500']),
    );
    for (const sim of sims) sim.spawn();
  }, 90_000);

  afterAll(async () => {
    for (const sim of sims) await sim.kill('SIGKILL');
    await d?.close();
    await Promise.allSettled(Object.values(ptys ?? {}).map((pty) => pty.close()));
  });

  it('entries through both entry readers and exits through the exit scanner, each confirmed by the turnstile', async () => {
    const manager = { authorization: `Bearer ${d.httpToken('manager')}` };
    const events = await eventually(
      async () => {
        const res = await fetch(`${d.cloudUrl}/api/v1/events?gate=${GATE}&limit=500`, { headers: manager });
        const body = (await res.json()) as { events: StoredEvent[] };
        const seen = (direction: string, method: string) =>
          body.events.some((e) => e.direction === direction && e.method === method && e.passed === true);
        return seen('in', 'qr') && seen('in', 'idcard') && seen('out', 'qr') ? body.events : undefined;
      },
      'a confirmed entry by QR, an entry by ID card and an exit by QR',
      45_000,
      () => sims.map((s) => `${s.name}:\n${s.output}`).join('\n'),
    );
    // Every event went the way the reader that read it faces: the entry pass and the ID card in,
    // the exit pass out — whatever the result (a scan while the arm is still turning is refused).
    for (const event of events) {
      if (event.method === 'idcard') expect(event.direction).toBe('in');
      if (event.passId === ENTRY_PASS) expect(event.direction).toBe('in');
      if (event.passId === EXIT_PASS) expect(event.direction).toBe('out');
      if (event.result === 'granted') expect(event.personId).toBe(PERSON);
    }
    expect(events.filter((e) => e.passed === true).length).toBeGreaterThanOrEqual(3);
    await d.expectAllHealthy();
  });
});
