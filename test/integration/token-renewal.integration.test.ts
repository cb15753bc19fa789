/**
 * Gate tokens do not expire silently (docs/edge-agent.md, "Token renewal"), with real processes:
 * `anxin broker --revocations`, `anxin cloud`, `anxin edge`. A gate whose token expires in 20 days
 * announces it; the cloud raises a `token-expiring` alarm (on the console's alarm list) and sends a
 * fresh token over the gate's own `cmd` topic; the gate stores it atomically (0600, beside its
 * database) and uses it on its next connect — shown by revoking the old token at the broker: the
 * gate is cut off, reconnects with the new one and is online again; after a restart it starts with
 * the stored token although gate.json still holds the revoked one.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFile, rename } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyToken } from '../../shared/token.ts';
import { COMPOUND, Deployment, eventually } from '../../testkit/deployment.ts';

const GATE = 'north-1';
const DAY = 86_400_000;

describe('gate token renewal over the gate’s own topic', () => {
  let d: Deployment;
  const oldJti = 'old-token-jti-1';

  beforeAll(async () => {
    d = await Deployment.create({ gates: [GATE], revocations: true });
    await d.startBroker();
    await d.startCloud();
    await d.startEdge(GATE, { token: d.token(GATE, 'gate', { exp: Date.now() + 20 * DAY, jti: oldJti }) });
  }, 90_000);

  afterAll(async () => {
    await d?.close();
  });

  it('alarms, renews, stores the new token 0600 and connects with it once the old one is revoked', async () => {
    const guard = { authorization: `Bearer ${d.httpToken('guard')}` };
    const alarm = await eventually(
      async () => {
        const res = await fetch(`${d.cloudUrl}/api/v1/alarms?compound=${COMPOUND}`, { headers: guard });
        const body = (await res.json()) as { alarms: { kind: string; gateId: string; detail: string }[] };
        return body.alarms.find((a) => a.kind === 'token-expiring' && a.gateId === GATE);
      },
      'the token-expiring alarm on the console',
      30_000,
    );
    expect(alarm.detail).toMatch(/device token expires .* \((19|20) days\)/);

    const stored = join(d.gateDataDir(GATE), 'renewed-token');
    const token = await eventually(
      () => {
        try {
          return readFileSync(stored, 'utf8').trim();
        } catch {
          return undefined;
        }
      },
      'the renewed token stored by the gate',
      30_000,
    );
    expect(statSync(stored).mode & 0o777).toBe(0o600);
    const check = verifyToken(token, d.keys.ring, Date.now());
    expect(check.ok && check.claims).toMatchObject({ sub: GATE, role: 'gate', compound: COMPOUND });
    expect(check.ok && check.claims.exp).toBeGreaterThan(Date.now() + 300 * DAY);
    // Revoke the old token at the broker: the live session is cut; the next connect uses the new one.
    await writeFile(`${d.revocationsPath}.tmp`, `${oldJti}\n`);
    await rename(`${d.revocationsPath}.tmp`, d.revocationsPath);
    await eventually(async () => (await d.gateState(GATE))?.online === false, 'the old session cut off', 20_000);
    await eventually(async () => (await d.gateState(GATE))?.online === true, 'online again with the new token', 30_000);

    // A restart: gate.json still holds the revoked token; the stored renewal is what connects.
    await d.kill(GATE, 'SIGTERM');
    await d.startEdge(GATE);
    await eventually(async () => (await d.gateState(GATE))?.online === true, 'online after a restart', 30_000);
    await d.expectAllHealthy();
  }, 120_000);
});

/**
 * A broker that does not know the renewed token (Mosquitto's account keeps its password until an
 * admin updates it): the gate must not lock itself out with a token only the cloud knows. Shown by
 * revoking the *renewed* token at the broker: the gate falls back to the previous, still valid one,
 * comes back online, and reports that token's expiry so the cloud's renewal and alarm go on.
 */
describe('a renewed token the broker refuses', () => {
  let d: Deployment;

  beforeAll(async () => {
    d = await Deployment.create({ gates: [GATE], revocations: true });
    await d.startBroker();
    await d.startCloud();
    await d.startEdge(GATE, { token: d.token(GATE, 'gate', { exp: Date.now() + 20 * DAY, jti: 'previous-jti' }) });
  }, 90_000);

  afterAll(async () => {
    await d?.close();
  });

  it('falls back to the previous token and reports its expiry', async () => {
    const stored = join(d.gateDataDir(GATE), 'renewed-token');
    const renewed = await eventually(
      () => {
        try {
          return readFileSync(stored, 'utf8').trim();
        } catch {
          return undefined;
        }
      },
      'the renewed token stored by the gate',
      30_000,
    );
    const check = verifyToken(renewed, d.keys.ring, Date.now());
    if (!check.ok) throw new Error('the renewed token does not verify');
    await writeFile(`${d.revocationsPath}.tmp`, `${check.claims.jti}\n`);
    await rename(`${d.revocationsPath}.tmp`, d.revocationsPath);
    // The broker cuts a session only for a revoked token in use; restart the gate so it presents the renewed one.
    await d.kill(GATE, 'SIGTERM');
    await d.startEdge(GATE);
    await eventually(async () => (await d.gateState(GATE))?.online === true, 'online on the previous token', 60_000);
    const manager = { authorization: `Bearer ${d.httpToken('manager')}` };
    const status = await eventually(
      async () => {
        const res = await fetch(`${d.cloudUrl}/api/v1/gates/${GATE}`, { headers: manager });
        const body = (await res.json()) as { status: { online: boolean; tokenExpiresAt?: number } | null };
        const s = body.status;
        return s?.online && s.tokenExpiresAt !== undefined && s.tokenExpiresAt < Date.now() + 30 * DAY ? s : undefined;
      },
      'the previous token’s expiry in the status the cloud holds',
      30_000,
    );
    expect(status.tokenExpiresAt).toBeLessThan(Date.now() + 21 * DAY);
  }, 150_000);
});
