/**
 * Every screen is a promise (docs/supplies.md, "The distribution role"): whatever a distribution
 * point refuses for, its row on the terminal — the guard panel's scan and the public screen's
 * result — carries that refusal's own reason code and words, red, never `ok`, never another
 * refusal's (before, all but two refusals were shown with the code `pass-used-up`).
 *
 * Over every `PointRefusal`: first through a real point (SQLite replica, claim journal, the cloud's
 * answers on its uplink) with one scenario per refusal — a refusal added without a scenario fails
 * here — then as a property over the row builder alone.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../shared/log.ts';
import type { Change } from '../../../shared/schemas/mqtt.ts';
import { CLAIM_REFUSALS, type ClaimAsk, type RoundRecord } from '../../../shared/schemas/supply.ts';
import { type GateDatabase, openGateDatabase } from '../../../edge-agent/gate-database.ts';
import { REASON_TEXT } from '../../../edge-agent/reason-text.ts';
import { ReplicaStore } from '../../../edge-agent/replica-store.ts';
import { ClaimJournalStore } from '../../../edge-agent/supply/claim-journal-store.ts';
import { ClaimUplink } from '../../../edge-agent/supply/claim-uplink.ts';
import { type DecidedOutcome, DistributionPoint } from '../../../edge-agent/supply/distribution-point.ts';
import { type DistributionOutcome, pointScan, screenReason } from '../../../edge-agent/supply/point-outcome.ts';
import { POINT_REFUSALS, type PointRefusal, REFUSAL_TEXT } from '../../../edge-agent/supply/refusal-text.ts';
import { screenResultOf } from '../../../edge-agent/terminal/screen.ts';
import type { TerminalScan } from '../../../edge-agent/terminal/terminal-state.ts';
import { TerminalFeed } from '../../../edge-agent/terminal/terminal-feed.ts';
import {
  COMPOUND,
  GATE,
  gateContext,
  HOUR,
  ID_NUMBERS,
  idHashOf,
  impostorKey,
  NOW,
  pass,
  person,
} from '../fixtures.ts';

const ROUND: RoundRecord = {
  roundId: 'r-1',
  compoundId: COMPOUND,
  name: 'Week 1',
  items: [{ name: 'rice', unit: 'kg', perHousehold: 5 }],
  form: 'pickup',
  window: { from: NOW - HOUR, to: NOW + HOUR },
  eligibility: 'all',
  status: 'open',
};

const idcard = (idNumber: string, over: { idNumberValid?: boolean; validTo?: string | null } = {}) => ({
  method: 'idcard' as const,
  direction: 'in' as const,
  card: { idNumber, idNumberValid: true, validTo: null, ...over },
});

/** What the row must say for a refusal: its own words, red, and a code that is not `ok` nor another refusal's. */
function expectRefusalRow(scan: TerminalScan, refusal: PointRefusal, code: string, what: string): void {
  const text = REFUSAL_TEXT[refusal];
  expect(scan.reason, what).toBe(code);
  expect(scan.reason, what).not.toBe('ok');
  expect(scan).toMatchObject({ result: 'denied', tone: 'refuse', colour: 'red', icon: '✗', waiting: false });
  expect(scan.supply, what).toMatchObject({ verdict: 'refused', refusal });
  expect(scan.zh.startsWith(`不发放：${text.zh}`), `${what}: ${scan.zh}`).toBe(true);
  expect(scan.en.startsWith(`Do not hand out: ${text.en}`), `${what}: ${scan.en}`).toBe(true);
  // No other refusal's words, and not the entry screen's "this pass has no uses left".
  for (const other of POINT_REFUSALS) {
    if (other !== refusal && !text.en.includes(REFUSAL_TEXT[other].en)) {
      expect(scan.en, `${what}: not ${other}`).not.toContain(REFUSAL_TEXT[other].en);
    }
  }
  expect(scan.en, what).not.toContain(REASON_TEXT['pass-used-up'].en);
  // The public screen shows the same code, colour and words.
  const shown = screenResultOf(scan, ['in']);
  expect(shown, what).toMatchObject({ reason: code, colour: 'red', tone: 'refuse', zh: scan.zh, en: scan.en });
  expect(shown.supply, what).toMatchObject({ verdict: 'refused' });
}

describe('a distribution point’s refusal on the screen', () => {
  let db: GateDatabase;
  let replica: ReplicaStore;
  let uplink: ClaimUplink;
  let point: DistributionPoint;
  let feed: TerminalFeed;
  let sent: { topic: string; payload: string }[];
  let now = NOW;

  const apply = (changes: Change[]) => replica.applyDelta(changes, replica.rev() + changes.length);

  beforeEach(() => {
    now = NOW;
    db = openGateDatabase(':memory:');
    replica = new ReplicaStore(db, { gateId: GATE });
    apply([
      { op: 'person.upsert', person: person('alice', { idHash: idHashOf(ID_NUMBERS.alice), householdId: 'h1' }) },
      { op: 'person.upsert', person: person('bob', { idHash: idHashOf(ID_NUMBERS.bob), householdId: 'h1' }) },
      { op: 'person.upsert', person: person('lone', { householdId: null }) },
    ]);
    const journal = new ClaimJournalStore(db, replica.supply);
    sent = [];
    uplink = new ClaimUplink({
      gateId: GATE,
      journal,
      publisher: {
        publish: (topic, payload) => {
          sent.push({ topic, payload });
          return true;
        },
      },
      logger: silentLogger,
      now: () => now,
      answerMs: 60_000,
    });
    feed = new TerminalFeed(silentLogger);
    point = new DistributionPoint({
      gateId: GATE,
      gate: gateContext(),
      replica,
      journal,
      uplink,
      feed,
      now: () => now,
      log: silentLogger,
    });
  });
  afterEach(() => {
    uplink.stop();
    db.close();
  });

  /** Alice swipes online and the cloud answers no, with `refusal` or without one. */
  async function cloudRefuses(refusal: PointRefusal | undefined): Promise<DecidedOutcome> {
    apply([{ op: 'supply.round', round: ROUND }]);
    uplink.connectionUp();
    const pending = point.present(idcard(ID_NUMBERS.alice));
    const ask = JSON.parse(sent.filter((s) => s.topic.endsWith('/claims/ask')).at(-1)!.payload) as ClaimAsk;
    uplink.handleAck(
      JSON.stringify({ ts: now, answer: { askId: ask.askId, granted: false, ...(refusal ? { refusal } : {}) } }),
    );
    return pending;
  }

  /** One way to each refusal, decided by the point itself (offline) or by the cloud. */
  const SCENARIOS: Record<PointRefusal, { code: string; run: () => Promise<DecidedOutcome> }[]> = {
    'already-claimed': [
      {
        code: 'already-claimed',
        run: async () => {
          apply([{ op: 'supply.round', round: ROUND }]);
          await point.present(idcard(ID_NUMBERS.alice));
          return point.present(idcard(ID_NUMBERS.bob));
        },
      },
    ],
    'not-eligible': [
      {
        code: 'not-eligible',
        run: async () => {
          apply([{ op: 'supply.round', round: { ...ROUND, eligibility: 'applicants' } }]);
          return point.present(idcard(ID_NUMBERS.alice));
        },
      },
    ],
    'outside-window': [
      {
        code: 'outside-window',
        run: async () => {
          apply([{ op: 'supply.round', round: { ...ROUND, window: { from: NOW + HOUR, to: NOW + 2 * HOUR } } }]);
          return point.present(idcard(ID_NUMBERS.alice));
        },
      },
    ],
    'round-closed': [{ code: 'round-closed', run: () => cloudRefuses('round-closed') }],
    'unknown-person': [
      {
        code: 'unknown-person',
        run: async () => {
          apply([{ op: 'supply.round', round: ROUND }]);
          return point.present(idcard(ID_NUMBERS.stranger));
        },
      },
    ],
    'no-household': [
      {
        code: 'no-household',
        run: async () => {
          apply([{ op: 'supply.round', round: ROUND }]);
          return point.present({ method: 'qr', direction: 'in', text: pass('lone') });
        },
      },
    ],
    'credential-invalid': [
      // The gate's own reason why the card or pass is not valid, not a vaguer (or wrong) one.
      {
        code: 'pass-expired',
        run: async () => {
          apply([{ op: 'supply.round', round: ROUND }]);
          return point.present({ method: 'qr', direction: 'in', text: pass('alice', { expiresAt: NOW - 1 }) });
        },
      },
      {
        code: 'bad-signature',
        run: async () => {
          apply([{ op: 'supply.round', round: ROUND }]);
          return point.present({ method: 'qr', direction: 'in', text: pass('alice', {}, impostorKey) });
        },
      },
      {
        code: 'id-invalid',
        run: async () => {
          apply([{ op: 'supply.round', round: ROUND }]);
          return point.present(idcard(ID_NUMBERS.invalid, { idNumberValid: false }));
        },
      },
    ],
    'no-round': [{ code: 'no-round', run: () => point.present(idcard(ID_NUMBERS.alice)) }],
    'no-reason-given': [{ code: 'no-reason-given', run: () => cloudRefuses(undefined) }],
  };

  it('has a scenario for every refusal there is', () => {
    expect(Object.keys(SCENARIOS).sort()).toEqual([...POINT_REFUSALS].sort());
  });

  for (const refusal of POINT_REFUSALS) {
    for (const [i, scenario] of SCENARIOS[refusal].entries()) {
      it(`${refusal} (${scenario.code}) is shown as itself, red`, async () => {
        const outcome = await scenario.run();
        expect(outcome).toMatchObject({ verdict: 'refused', refusal });
        const scan = feed.lastScans[0]!;
        expectRefusalRow(scan, refusal, scenario.code, `${refusal} #${i}`);
        // A card or pass that is not valid: the next line says why, in the gate's words.
        if (refusal === 'credential-invalid') {
          const why = REASON_TEXT[scenario.code as keyof typeof REASON_TEXT];
          expect({ zh: scan.nextZh, en: scan.nextEn }).toEqual({ zh: why.zh, en: why.en });
        }
      });
    }
  }

  // Every reason the cloud may give (and none) reaches the screen as that reason.
  for (const refusal of [...CLAIM_REFUSALS, undefined]) {
    it(`the cloud refusing ${refusal ?? 'without a reason'} is shown as ${refusal ?? 'no-reason-given'}`, async () => {
      const outcome = await cloudRefuses(refusal);
      const shown = refusal ?? 'no-reason-given';
      expect(outcome).toMatchObject({ verdict: 'refused', refusal: shown, decidedBy: 'cloud' });
      expectRefusalRow(feed.lastScans[0]!, shown, shown, `cloud ${shown}`);
    });
  }
});

describe('the row builder', () => {
  const refused = fc.record({
    refusal: fc.constantFrom(...POINT_REFUSALS),
    decidedBy: fc.constantFrom('cloud' as const, 'replica' as const, undefined),
    withAllocation: fc.boolean(),
    claimedAt: fc.option(fc.record({ ts: fc.constant(NOW), where: fc.constantFrom('this point', 'g2') }), {
      nil: undefined,
    }),
    method: fc.constantFrom('qr' as const, 'idcard' as const, 'card' as const, 'guard' as const),
  });

  it('gives every refusal its own code and words, red, never ok', () => {
    fc.assert(
      fc.property(refused, (r) => {
        const outcome: DistributionOutcome = {
          verdict: 'refused',
          refusal: r.refusal,
          shownAt: 0n,
          ...(r.decidedBy ? { decidedBy: r.decidedBy } : {}),
          ...(r.claimedAt ? { claimedAt: r.claimedAt } : {}),
          ...(r.withAllocation
            ? {
                allocation: {
                  roundId: 'r-1',
                  roundName: 'Week 1',
                  householdId: 'h1',
                  maskedName: null,
                  items: [{ name: 'rice', unit: 'kg', quantity: 5 }],
                },
              }
            : {}),
        };
        expect(screenReason(outcome)).toBe(r.refusal);
        expectRefusalRow(
          pointScan(1, outcome, { method: r.method, lane: 'in', now: NOW }),
          r.refusal,
          r.refusal,
          'row',
        );
      }),
    );
  });

  it('a card or pass that is not valid carries the gate’s reason why; `ok` only for a hand-out or while asking', () => {
    const base = { shownAt: 0n } as const;
    expect(
      screenReason({ ...base, verdict: 'refused', refusal: 'credential-invalid', credentialFault: 'pass-revoked' }),
    ).toBe('pass-revoked');
    expect(screenReason({ ...base, verdict: 'refused', refusal: 'credential-invalid' })).toBe('credential-invalid');
    expect(screenReason({ ...base, verdict: 'hand-out' })).toBe('ok');
    expect(screenReason({ ...base, verdict: 'asking' })).toBe('ok');
  });
});
