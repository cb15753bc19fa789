/**
 * A refusal is never shown as green, on the terminal's `POST /api/supply/claim` (docs/supplies.md,
 * "A member without a card"), as a property over random gates and claims: the gate's role (a
 * distribution point or not), the round (running for all or for applicants, upcoming, closed, none),
 * the cloud (offline, granting, refusing with any reason) and who is claimed. Every answer, over
 * real HTTP from the terminal app to a real distribution point on a SQLite replica and claim journal:
 *
 * - 200 exactly when the verdict is `hand-out`, and then the screen's row is green;
 * - otherwise 409 with `error {code, message}`, `verdict: "refused"`, `refusal` = `error.code`, the
 *   screen's words for it and no allocation, and the screen's row (if any) red with those words;
 * - at a gate that is not a distribution point: `not-a-distribution-point` with the role, nothing
 *   decided, journaled or shown.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GateDatabase, openGateDatabase } from '../../../edge-agent/gate-database.ts';
import { ReplicaStore } from '../../../edge-agent/replica-store.ts';
import { ClaimJournalStore } from '../../../edge-agent/supply/claim-journal-store.ts';
import { ClaimUplink } from '../../../edge-agent/supply/claim-uplink.ts';
import { DistributionPoint } from '../../../edge-agent/supply/distribution-point.ts';
import type { GateRoleName } from '../../../edge-agent/supply/gate-role.ts';
import { guardClaimAt } from '../../../edge-agent/supply/guard-claim.ts';
import { type GuardClaimRefusal, REFUSAL_TEXT } from '../../../edge-agent/supply/refusal-text.ts';
import { GUARD_COOKIE, GuardSessions } from '../../../edge-agent/terminal/guard-session.ts';
import { screenResultOf } from '../../../edge-agent/terminal/screen.ts';
import { createTerminalApp } from '../../../edge-agent/terminal/terminal-app.ts';
import { TerminalFeed } from '../../../edge-agent/terminal/terminal-feed.ts';
import type { TerminalBackend, TerminalScan } from '../../../edge-agent/terminal/terminal-state.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { Change } from '../../../shared/schemas/mqtt.ts';
import { CLAIM_REFUSALS, type ClaimAsk, type ClaimRefusal, type RoundRecord } from '../../../shared/schemas/supply.ts';
import { TEST_GUARD, TEST_GUARD_PIN } from '../../../testkit/terminal-guard.ts';
import { COMPOUND, GATE, gateContext, HOUR, NOW, person } from '../fixtures.ts';

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
const ROUNDS = {
  running: [{ op: 'supply.round', round: ROUND }],
  applicants: [
    { op: 'supply.round', round: { ...ROUND, eligibility: 'applicants' } },
    { op: 'supply.apply', roundId: 'r-1', householdId: 'h1' },
  ],
  upcoming: [{ op: 'supply.round', round: { ...ROUND, window: { from: NOW + HOUR, to: NOW + 2 * HOUR } } }],
  closed: [{ op: 'supply.round', round: { ...ROUND, status: 'closed' } }],
  none: [],
} satisfies Record<string, Change[]>;
const PEOPLE: Change[] = [
  { op: 'person.upsert', person: person('alice', { householdId: 'h1' }) },
  { op: 'person.upsert', person: person('bob', { householdId: 'h1' }) },
  { op: 'person.upsert', person: person('carol', { householdId: 'h2' }) },
  { op: 'person.upsert', person: person('lone', { householdId: null }) },
];
const CLOUD_REFUSALS: ClaimRefusal[] = ['already-claimed', 'not-eligible', 'outside-window', 'round-closed'];

/** `refuses` without a `refusal`: the cloud says no and gives no reason (its answer's `refusal` is optional). */
type Cloud = { kind: 'offline' } | { kind: 'grants' } | { kind: 'refuses'; refusal?: ClaimRefusal };
interface Case {
  role: GateRoleName;
  round: keyof typeof ROUNDS;
  cloud: Cloud;
  claims: string[];
}

/** The gate behind the terminal, rebuilt for each case. */
let gate: {
  db: GateDatabase;
  point: DistributionPoint;
  uplink: ClaimUplink;
  journal: ClaimJournalStore;
  role: GateRoleName;
};
const feed = new TerminalFeed(silentLogger);
const backend: TerminalBackend = {
  state: () => {
    throw new Error('not asked in this test');
  },
  subscribe: () => () => {},
  manualOpen: () => ({ seq: null }),
  guardClaim: (request) => guardClaimAt(gate.point, request, gate.role, { log: silentLogger, onClaim: () => {} }),
};

function buildGate(c: Case): void {
  const db = openGateDatabase(':memory:');
  const replica = new ReplicaStore(db, { gateId: GATE });
  const changes = [...PEOPLE, ...ROUNDS[c.round]];
  replica.applyDelta(changes, changes.length);
  const journal = new ClaimJournalStore(db, replica.supply);
  const uplink: ClaimUplink = new ClaimUplink({
    gateId: GATE,
    journal,
    publisher: {
      publish(topic, payload) {
        if (!topic.endsWith('/claims/ask') || c.cloud.kind === 'offline') return true;
        const ask = JSON.parse(payload) as ClaimAsk;
        const answer =
          c.cloud.kind === 'grants'
            ? { askId: ask.askId, granted: true }
            : { askId: ask.askId, granted: false, ...(c.cloud.refusal ? { refusal: c.cloud.refusal } : {}) };
        queueMicrotask(() => uplink.handleAck(JSON.stringify({ ts: NOW, answer })));
        return true;
      },
    },
    logger: silentLogger,
    now: () => NOW,
    answerMs: 5_000,
  });
  if (c.cloud.kind !== 'offline') uplink.connectionUp();
  const point = new DistributionPoint({
    gateId: GATE,
    gate: gateContext(),
    replica,
    journal,
    uplink,
    feed,
    now: () => NOW,
    log: silentLogger,
  });
  gate = { db, point, uplink, journal, role: c.role };
}

let server: Server;
let base: string;
let cookie: string;

beforeAll(async () => {
  const sessions = new GuardSessions({ guards: [TEST_GUARD], idleMs: 600_000, maxMs: 3_600_000, logger: silentLogger });
  const signIn = await sessions.signIn(TEST_GUARD.id, TEST_GUARD_PIN);
  if (!signIn.ok) throw new Error('guard sign-in failed');
  cookie = `${GUARD_COOKIE}=${signIn.token}`;
  const app = createTerminalApp({
    backend,
    sessions,
    screen: { lanes: ['in'], holdMs: 4_000, clearMs: 8_000 },
    listenHost: '127.0.0.1',
    health: () => ({ status: 'ok' }),
    metrics: () => '',
  });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve()) as Server;
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Answer {
  status: number;
  text: string;
  body: Record<string, unknown> & {
    verdict?: string;
    refusal?: GuardClaimRefusal;
    error?: { code: string; message: string };
  };
  /** The screen's rows this claim pushed, the last version of each. */
  scans: TerminalScan[];
}

async function claim(personId: string): Promise<Answer> {
  const pushed = new Map<number, TerminalScan>();
  const unsubscribe = feed.subscribe((update) => {
    if (update.type === 'scan') pushed.set(update.scan.key, update.scan);
  });
  try {
    const res = await fetch(`${base}/api/supply/claim`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ personId, reason: 'card lost' }),
    });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text), scans: [...pushed.values()] };
  } finally {
    unsubscribe();
  }
}

const seen = new Set<string>();

/** Every claim's answer and screen row agree, and a refusal is never green anywhere. */
function expectHonest(c: Case, answer: Answer, journalBefore: number): void {
  const { status, body, scans, text } = answer;
  const what = `${JSON.stringify(c)} → ${status} ${text}`;
  if (body.verdict === 'hand-out') {
    seen.add('hand-out');
    expect(status, what).toBe(200);
    expect(scans, what).toHaveLength(1);
    expect(scans[0], what).toMatchObject({ tone: 'grant', colour: 'green', result: 'granted' });
    return;
  }
  expect(status, what).toBe(409);
  expect(body.verdict, what).toBe('refused');
  const refusal = body.refusal!;
  seen.add(refusal);
  expect(body.error, what).toEqual({ code: refusal, message: REFUSAL_TEXT[refusal].en });
  expect(body, what).toMatchObject(REFUSAL_TEXT[refusal]);
  expect(body, what).not.toHaveProperty('allocation');
  expect(text, what).not.toContain('hand-out');
  if (c.role !== 'distribution') {
    expect(refusal, what).toBe('not-a-distribution-point');
    expect(body.role, what).toBe(c.role);
    expect(scans, what).toEqual([]);
    expect(gate.journal.depth(), what).toBe(journalBefore);
    return;
  }
  expect(refusal, what).not.toBe('not-a-distribution-point');
  // Accurate: a refusal the cloud decided carries the cloud's reason, or says it gave none.
  if (body.decidedBy === 'cloud' && c.cloud.kind === 'refuses') {
    expect(refusal, what).toBe(c.cloud.refusal ?? 'no-reason-given');
  }
  expect(scans, what).toHaveLength(1);
  const screen = screenResultOf(scans[0]!, ['in']);
  expect(screen, what).toMatchObject({
    tone: 'refuse',
    colour: 'red',
    result: 'denied',
    supply: { verdict: 'refused' },
  });
  expect(screen.zh, what).toContain(REFUSAL_TEXT[refusal].zh);
  expect(screen.en, what).toContain(REFUSAL_TEXT[refusal].en);
}

const caseOf = fc.record({
  role: fc.constantFrom<GateRoleName>('distribution', 'distribution', 'entry'),
  round: fc.constantFrom(...(Object.keys(ROUNDS) as (keyof typeof ROUNDS)[])),
  cloud: fc.oneof(
    fc.constant<Cloud>({ kind: 'offline' }),
    fc.constant<Cloud>({ kind: 'grants' }),
    fc.constantFrom(...CLOUD_REFUSALS).map((refusal): Cloud => ({ kind: 'refuses', refusal })),
    fc.constant<Cloud>({ kind: 'refuses' }),
  ),
  claims: fc.array(fc.constantFrom('alice', 'bob', 'carol', 'lone', 'ghost'), { minLength: 1, maxLength: 4 }),
});

/** One case of each refusal, so that every reason is met whatever the random runs draw. */
const EXAMPLES: Case[] = [
  { role: 'entry', round: 'running', cloud: { kind: 'offline' }, claims: ['alice'] },
  { role: 'distribution', round: 'running', cloud: { kind: 'offline' }, claims: ['alice', 'bob', 'lone', 'ghost'] },
  { role: 'distribution', round: 'applicants', cloud: { kind: 'offline' }, claims: ['carol'] },
  { role: 'distribution', round: 'upcoming', cloud: { kind: 'offline' }, claims: ['alice'] },
  { role: 'distribution', round: 'none', cloud: { kind: 'offline' }, claims: ['alice'] },
  { role: 'distribution', round: 'running', cloud: { kind: 'refuses', refusal: 'round-closed' }, claims: ['carol'] },
  { role: 'distribution', round: 'running', cloud: { kind: 'refuses' }, claims: ['alice'] },
];

describe('POST /api/supply/claim: a refusal is never shown as green (property)', () => {
  it('200 and green only for a hand-out; every refusal 409, structured, red, with its words', async () => {
    await fc.assert(
      fc.asyncProperty(caseOf, async (c) => {
        buildGate(c);
        try {
          for (const personId of c.claims) {
            const before = gate.journal.depth();
            expectHonest(c, await claim(personId), before);
          }
        } finally {
          gate.uplink.stop();
          gate.db.close();
        }
      }),
      { numRuns: 60, examples: EXAMPLES.map((e) => [e]) },
    );
    // Not vacuous: the runs met the hand-out and every refusal a guard's claim can get (a card or
    // pass that is not valid is a swipe's, never a guard's).
    const reachable = [
      ...CLAIM_REFUSALS.filter((r) => r !== 'credential-invalid'),
      'no-round',
      'no-reason-given',
      'not-a-distribution-point',
    ];
    expect([...seen].sort()).toEqual(['hand-out', ...reachable].sort());
  });
});
