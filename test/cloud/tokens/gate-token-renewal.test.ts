/**
 * The cloud's side of token renewal and the contract check (cloud/tokens/gate-token-renewal.ts),
 * and the gate's checks on what it is sent (edge-agent/token-store.ts), with recording fakes.
 * The whole path over real processes: test/integration/token-renewal.integration.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryGateDuties } from '../../helpers/memory-gate-duties.ts';
import { GateTokenRenewal, type GateTokenRenewalOptions } from '../../../cloud/tokens/gate-token-renewal.ts';
import { LiveHub } from '../../../cloud/live/live-hub.ts';
import { GateTokenStore } from '../../../edge-agent/token-store.ts';
import { createKeysFile, parseKeysFile } from '../../../shared/keys.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { GateStatus } from '../../../shared/schemas/mqtt.ts';
import { signToken } from '../../../shared/token.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);
const keys = parseKeysFile(createKeysFile());
const signing = keys.signing!;

function status(over: Partial<GateStatus> = {}): GateStatus {
  return {
    online: true,
    mode: 'normal',
    rev: 1,
    journalDepth: 0,
    devices: { idreader: 'absent', qr: 'ok', turnstile: 'ok' },
    version: '0.1.0',
    ts: NOW,
    ...over,
  };
}

function renewal(
  now = () => NOW,
  accounts?: { putGate: (gate: { id: string; compoundId: string }, token: string) => Promise<void> },
) {
  const sent: { topic: string; message: { kind: string; token: string } }[] = [];
  const alarms: { kind: string; detail: string }[] = [];
  const commands: { kind: string }[] = [];
  const audits: { action: string }[] = [];
  const r = new GateTokenRenewal({
    store: {
      recordCommand: async (c) => void commands.push(c),
      recordAudit: async (a) => void audits.push(a),
      recordAlarm: async (a) => void alarms.push(a),
    },
    signingKey: signing,
    publish: async (topic, message) => void sent.push({ topic, message: message as { kind: string; token: string } }),
    live: new LiveHub(),
    logger: silentLogger,
    now,
    duties: new MemoryGateDuties(),
    ...(accounts ? { accounts } : {}),
  });
  return { r, sent, alarms, commands, audits };
}

describe('GateTokenRenewal', () => {
  it('sets the broker account to the renewed token only after the gate confirmed it', async () => {
    const put: { gate: { id: string; compoundId: string }; token: string }[] = [];
    const { r, sent, commands } = renewal(() => NOW, {
      putGate: async (gate, token) => void put.push({ gate, token }),
    });
    await r.onStatus('g1', 'c1', status({ tokenExpiresAt: NOW + 59 * DAY }));
    const cmdId = (commands[0] as unknown as { cmdId: string }).cmdId;
    expect(put).toEqual([]); // sent, not yet stored by the gate: the account keeps the old password
    await r.onCommandResult('g2', cmdId, true, 'renew-token'); // another gate cannot confirm it
    await r.onCommandResult('g1', 'unknown', true, 'renew-token');
    expect(put).toEqual([]);
    await r.onCommandResult('g1', cmdId, true, 'renew-token');
    expect(put).toEqual([{ gate: { id: 'g1', compoundId: 'c1' }, token: sent[0]!.message.token }]);
    await r.onCommandResult('g1', cmdId, true, 'renew-token'); // once
    expect(put).toHaveLength(1);
    expect(r.counters.accountsUpdated).toBe(1);
  });

  it('is always given the duties the instances share: it has no in-memory default of its own', () => {
    const without = {
      store: { recordCommand: async () => {}, recordAudit: async () => {}, recordAlarm: async () => {} },
      signingKey: signing,
      publish: async () => {},
      live: new LiveHub(),
      logger: silentLogger,
      now: () => NOW,
    };
    // Checked by the type checker: claims kept in each instance's memory would renew and alarm once per instance.
    // @ts-expect-error `duties` is required (production passes openGateDuties(store.engine); tests a MemoryGateDuties).
    const options: GateTokenRenewalOptions = without;
    expect(options).not.toHaveProperty('duties');
  });

  it('reads no renewal note for the result of another kind of command', async () => {
    const duties = new MemoryGateDuties();
    const noted = vi.spyOn(duties, 'noted');
    const r = new GateTokenRenewal({
      store: { recordCommand: async () => {}, recordAudit: async () => {}, recordAlarm: async () => {} },
      signingKey: signing,
      publish: async () => {},
      live: new LiveHub(),
      logger: silentLogger,
      now: () => NOW,
      duties,
      accounts: { putGate: async () => {} },
    });
    await r.onCommandResult('g1', 'c-open', true, 'open');
    await r.onCommandResult('g1', 'c-resync', true, 'resync');
    expect(noted).not.toHaveBeenCalled();
    // A renewal's answer this instance did not send: another instance's note is read.
    await r.onCommandResult('g1', 'c-renew', true, 'renew-token');
    expect(noted).toHaveBeenCalledTimes(1);
  });

  it('leaves the broker account alone when the gate refused the renewed token, and survives a failing broker', async () => {
    let calls = 0;
    const { r, commands } = renewal(() => NOW, {
      putGate: async () => {
        calls += 1;
        throw new Error('broker unreachable');
      },
    });
    await r.onStatus('g1', 'c1', status({ tokenExpiresAt: NOW + 59 * DAY }));
    const cmdId = (commands[0] as unknown as { cmdId: string }).cmdId;
    await r.onCommandResult('g1', cmdId, false, 'renew-token');
    expect(calls).toBe(0);
    await r.onStatus('g1', 'c1', status({ tokenExpiresAt: NOW + 59 * DAY }));
    const later = renewal(() => NOW + 2 * 3_600_000, {
      putGate: async () => {
        calls += 1;
        throw new Error('broker unreachable');
      },
    });
    await later.r.onStatus('g1', 'c1', status({ tokenExpiresAt: NOW + 59 * DAY }));
    const again = (later.commands[0] as unknown as { cmdId: string }).cmdId;
    await expect(later.r.onCommandResult('g1', again, true, 'renew-token')).resolves.toBeUndefined();
    expect(calls).toBe(1);
    expect(later.r.counters.accountFailures).toBe(1);
  });

  it('leaves a token with more than 60 days alone; renews one with less, once per hour while unchanged', async () => {
    const { r, sent, alarms, commands, audits } = renewal();
    await r.onStatus('g1', 'c1', status({ tokenExpiresAt: NOW + 61 * DAY }));
    expect(sent).toEqual([]);
    await r.onStatus('g1', 'c1', status({ tokenExpiresAt: NOW + 59 * DAY }));
    await r.onStatus('g1', 'c1', status({ tokenExpiresAt: NOW + 59 * DAY }));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.topic).toBe('anxin/v1/gates/g1/cmd');
    expect(sent[0]!.message.kind).toBe('renew-token');
    expect(commands).toMatchObject([{ kind: 'renew-token', gateId: 'g1', by: 'cloud' }]);
    expect(audits).toMatchObject([{ action: 'gate.token', target: 'g1', actor: 'cloud' }]);
    expect(alarms).toEqual([]);
    // The new token is for exactly that gate, a year long.
    const store = new GateTokenStore(
      { dataDir: ':memory:', gateId: 'g1', compoundId: 'c1', ring: keys.ring, logger: silentLogger, now: () => NOW },
      undefined,
    );
    expect(store.accept(sent[0]!.message.token).exp).toBe(NOW + 365 * DAY);
  });

  it('raises token-expiring within 30 days (once a day), and renews only an online gate', async () => {
    let now = NOW;
    const { r, sent, alarms } = renewal(() => now);
    await r.onStatus('g1', 'c1', status({ online: false, tokenExpiresAt: NOW + 10 * DAY }));
    expect(alarms).toMatchObject([{ kind: 'token-expiring', gateId: 'g1' }]);
    expect(alarms[0]!.detail).toMatch(/\(10 days\)/);
    expect(sent).toEqual([]);
    now += 3_600_000;
    await r.onStatus('g1', 'c1', status({ online: false, tokenExpiresAt: NOW + 10 * DAY }));
    expect(alarms).toHaveLength(1);
    now += DAY;
    await r.onStatus('g1', 'c1', status({ online: true, tokenExpiresAt: NOW + 10 * DAY }));
    expect(alarms).toHaveLength(2);
    expect(sent).toHaveLength(1);
  });

  it('checks the contract: none announced (an older gate) or v1 is fine; a newer one raises contract-mismatch once', async () => {
    const { r, alarms } = renewal();
    await r.onStatus('old', 'c1', status());
    await r.onStatus('same', 'c1', status({ contract: 1 }));
    expect(alarms).toEqual([]);
    await r.onStatus('newer', 'c1', status({ contract: 2 }));
    await r.onStatus('newer', 'c1', status({ contract: 2 }));
    expect(alarms).toMatchObject([{ kind: 'contract-mismatch', gateId: 'newer' }]);
    expect(alarms[0]!.detail).toMatch(/contract v2, this cloud v1/);
  });
});

describe('GateTokenStore (the gate)', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const token = (over: { sub?: string; compound?: string; exp?: number; role?: 'gate' | 'cloud' } = {}) =>
    signToken(
      {
        sub: over.sub ?? 'g1',
        role: over.role ?? 'gate',
        compound: over.compound ?? 'c1',
        exp: over.exp ?? NOW + 100 * DAY,
      },
      signing,
    );
  const open = (configured: string | undefined) =>
    new GateTokenStore(
      { dataDir: dir!, gateId: 'g1', compoundId: 'c1', ring: keys.ring, logger: silentLogger, now: () => NOW },
      configured,
    );

  it('refuses another gate’s, another compound’s, a non-gate, a foreign-key and an older token; keeps a stored one across restarts', () => {
    dir = mkdtempSync(join(tmpdir(), 'anxin-token-store-'));
    const configured = token({ exp: NOW + 20 * DAY });
    const store = open(configured);
    expect(store.current).toBe(configured);
    expect(() => store.accept(token({ sub: 'g2' }))).toThrow(/not a valid gate token for this gate/);
    expect(() => store.accept(token({ compound: 'c2' }))).toThrow(/not a valid gate token/);
    expect(() => store.accept(token({ role: 'cloud' }))).toThrow(/not a valid gate token/);
    const foreign = signToken(
      { sub: 'g1', role: 'gate', compound: 'c1', exp: NOW + 300 * DAY },
      parseKeysFile(createKeysFile()).signing!,
    );
    expect(() => store.accept(foreign)).toThrow(/not a valid gate token/);
    expect(() => store.accept(token({ exp: NOW + 10 * DAY }))).toThrow(/expires no later/);
    const renewed = token({ exp: NOW + 365 * DAY });
    store.accept(renewed);
    expect(store.current).toBe(renewed);
    // A restart with the old gate.json: the stored renewal wins; a newer hand-issued one wins over it.
    expect(open(configured).current).toBe(renewed);
    const byHand = token({ exp: NOW + 400 * DAY });
    expect(open(byHand).current).toBe(byHand);
  });
});
