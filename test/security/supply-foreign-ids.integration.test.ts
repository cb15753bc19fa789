/**
 * Compound isolation on the supply entry points that *write* (docs/supplies.md, "Compound
 * isolation"), as a property on SQLite and on PostgreSQL: a distribution point of compound A, A's
 * manager and a resident of B name, in a round of A, a household or a person of compound B (or
 * none at all), through every way in — the point's `claims/ask` and `claims` as they arrive from
 * MQTT (the cloud's gate message router), `POST …/claims`, `POST …/applicants` and the resident's
 * `POST /me/supply/:id/apply`. Each is refused; a refused ask holds nothing and is audited; a
 * record is kept (its seq acknowledged) as a refusal naming no one, audited; and afterwards
 * nothing A can see — the round's claims and progress, the changes sent to A's points, A's audit —
 * names anything of B, and A's own household can still claim.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { CloudStore } from '../../cloud/store/store.ts';
import type { ClaimAck, ClaimRecord } from '../../shared/schemas/supply.ts';
import { createHarness, type Harness } from '../cloud/http/app-harness.ts';
import { storeBackends } from '../cloud/store/backends.ts';

const NOW = Date.UTC(2026, 11, 5, 2, 0, 0);
const ADMIN = { username: 'seed', role: 'admin' as const };
/** Compound B's people: their ids, households and names must never show in A. */
const B_PEOPLE = [
  ['p-b1', 'h-b1', '欧阳娜娜'],
  ['p-b2', 'h-b2', 'Zoë Quist'],
] as const;
const B_MARKS = ['c-2', 'p-b1', 'p-b2', 'h-b1', 'h-b2', '欧*娜', 'Z*t', '欧阳娜娜', 'Zoë'];
/** A mark as a whole token: a random id such as `99d4993c-2fe1-…` holds the letters `c-2` but names no one of B. */
const standalone = (mark: string): RegExp =>
  new RegExp(`(?<![\\w-])${mark.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`);

// biome-ignore lint/suspicious/noExplicitAny: answers are checked by the assertions that read them
type Json = any;

async function seed(h: Harness<CloudStore>) {
  await h.core.store.createGate({ id: 'g-1b', compoundId: 'c-1', name: 'East', antiPassback: false }, 1);
  const people = [
    ['p-1', 'h-1', 'c-1', '张三明'],
    ['p-2', 'h-2', 'c-1', '李四'],
    ...B_PEOPLE.map(([p, hh, name]) => [p, hh, 'c-2', name] as const),
  ] as const;
  for (const [personId, householdId, compoundId, name] of people) {
    await h.core.registry.createResident(
      {
        personId,
        compoundId,
        householdId,
        kind: 'resident',
        name,
        cards: [],
        elderly: false,
        validFrom: null,
        validTo: null,
      },
      ADMIN,
    );
  }
}

/** What a caller names: a household or a person of B, or a household no one has. */
const foreignArb = fc.oneof(
  fc.constantFrom(...B_PEOPLE).map(([personId, householdId]) => ({ householdId, personId })),
  fc.constant({ householdId: 'h-nowhere', personId: 'p-nowhere' }),
);
const entryArb = fc.constantFrom(
  'ask',
  'record-household',
  'record-person',
  'cloud-claim',
  'cloud-claim-member',
  'applicant',
  'resident-apply',
);

describe.each(storeBackends())('supply entry points naming another compound, on $name', (backend) => {
  afterAll(() => backend.dispose());

  it('are refused, audited where they come from a point, and change nothing A can see', async () => {
    const h = await createHarness({ store: await backend.open(), now: () => NOW });
    try {
      await seed(h);
      const manager = await h.token('manager', 'c-1');
      const residentB = (await h.core.sessions.issue({ username: 'r:p-b1', role: 'resident', compound: 'c-2' })).token;
      const request = async (method: string, path: string, token: string, body?: unknown) =>
        h.request(method, path, { token, ...(body === undefined ? {} : { body }) });
      const created = await request('POST', '/api/v1/supply/rounds', manager, {
        compoundId: 'c-1',
        name: 'Rice',
        items: [{ name: 'rice', unit: 'kg', perHousehold: 5 }],
        form: 'pickup',
        window: { from: NOW - 3_600_000, to: NOW + 3_600_000 },
        eligibility: 'applicants',
        wake: true,
      });
      const { roundId } = (await created.json()) as Json;
      const acks = (gateId: string) =>
        h.published.filter((p) => p.topic === `anxin/v1/gates/${gateId}/claims/ack`).map((p) => p.payload as ClaimAck);
      const until = async (check: () => boolean) => {
        while (!check()) await new Promise((r) => setImmediate(r));
      };
      const route = (gateId: string, kind: string, payload: unknown) =>
        h.core.router.route(`anxin/v1/gates/${gateId}/${kind}`, Buffer.from(JSON.stringify(payload)));
      let seq = 0;
      const record = (extra: Partial<ClaimRecord>): ClaimRecord => ({
        gateId: 'g-1',
        seq: ++seq,
        ts: NOW,
        roundId,
        method: 'idcard',
        outcome: 'handed-out',
        decidedBy: 'replica',
        ...extra,
      });
      /** The round's progress but the count of refusals (a refused record is one). */
      const progress = async () => {
        const { refused: _, ...rest } = (
          (await (await request('GET', `/api/v1/supply/rounds/${roundId}`, manager)).json()) as Json
        ).progress;
        return rest;
      };
      const before = await progress();
      const holdsBefore = h.core.supply.counters.holds;

      await fc.assert(
        fc.asyncProperty(entryArb, foreignArb, async (entry, foreign) => {
          if (entry === 'ask') {
            const askId = randomUUID();
            const seen = acks('g-1').length;
            await route('g-1', 'claims/ask', { askId, roundId, householdId: foreign.householdId, ts: NOW });
            await until(() => acks('g-1').length > seen);
            expect(acks('g-1').at(-1)?.answer).toEqual({ askId, granted: false, refusal: 'no-household' });
          } else if (entry === 'record-household' || entry === 'record-person') {
            const named =
              entry === 'record-household'
                ? { householdId: foreign.householdId }
                : { householdId: 'h-1', personId: foreign.personId };
            const mine = record(named);
            await route('g-1', 'claims', { claims: [mine] });
            await until(() => acks('g-1').some((a) => a.upTo === mine.seq));
            const claims = (
              (await (await request('GET', `/api/v1/supply/rounds/${roundId}/claims`, manager)).json()) as Json
            ).claims;
            const kept = claims.find((c: Json) => c.claimId === `g-1:${mine.seq}`);
            expect(kept).toMatchObject({
              outcome: 'refused',
              standing: 'refused',
              householdId: null,
              maskedName: null,
            });
          } else if (entry === 'cloud-claim' || entry === 'cloud-claim-member') {
            const body =
              entry === 'cloud-claim'
                ? { householdId: foreign.householdId, method: 'delivery', reason: 'door' }
                : { householdId: 'h-1', personId: foreign.personId, method: 'guard', reason: 'no card' };
            const res = await request('POST', `/api/v1/supply/rounds/${roundId}/claims`, manager, body);
            expect(res.status).toBe(404);
          } else if (entry === 'applicant') {
            const res = await request('POST', `/api/v1/supply/rounds/${roundId}/applicants`, manager, {
              householdId: foreign.householdId,
            });
            expect(res.status).toBe(404);
          } else {
            const res = await request('POST', `/api/v1/me/supply/${roundId}/apply`, residentB);
            expect(res.status).toBe(404);
          }
          // Nothing changed, and nothing of B is in anything A sees.
          expect(h.core.supply.counters.holds).toBe(holdsBefore);
          expect(await progress()).toEqual(before);
          const toA = h.published.filter((p) => p.topic === 'anxin/v1/compounds/c-1/changes');
          expect(JSON.stringify(toA)).not.toContain('supply.claim');
          const claims = await (await request('GET', `/api/v1/supply/rounds/${roundId}/claims`, manager)).text();
          const audit = await (await request('GET', '/api/v1/audit?limit=500', manager)).text();
          for (const seen of [claims, audit, JSON.stringify(toA)]) {
            for (const mark of B_MARKS) expect(seen).not.toMatch(standalone(mark));
          }
        }),
        { numRuns: backend.name === 'postgres' ? 20 : 40 },
      );

      // The refusals that came from the point are in A's audit, naming no one.
      const audit = ((await (await request('GET', '/api/v1/audit?limit=500', manager)).json()) as Json).entries;
      const fromPoint = audit.filter((e: Json) => e.actor === 'g-1');
      expect(fromPoint.length).toBe(h.core.supply.counters.foreign);
      for (const e of fromPoint) expect(['supply.ask.refused', 'supply.claim.refused']).toContain(e.action);

      // A's own household still claims: the refusals held nothing.
      await request('POST', `/api/v1/supply/rounds/${roundId}/applicants`, manager, { householdId: 'h-1' });
      const askId = randomUUID();
      await route('g-1b', 'claims/ask', { askId, roundId, householdId: 'h-1', ts: NOW });
      await until(() => acks('g-1b').length > 0);
      expect(acks('g-1b').at(-1)?.answer).toEqual({ askId, granted: true });
    } finally {
      await h.close();
    }
  });

  it('a point of A asking for a household of B gets a refusal, holds nothing and is audited', async () => {
    const h = await createHarness({ store: await backend.open(), now: () => NOW });
    try {
      await seed(h);
      const manager = await h.token('manager', 'c-1');
      const created = await h.request('POST', '/api/v1/supply/rounds', {
        token: manager,
        body: {
          compoundId: 'c-1',
          name: 'Rice',
          items: [{ name: 'rice', unit: 'kg', perHousehold: 5 }],
          form: 'pickup',
          window: { from: NOW - 3_600_000, to: NOW + 3_600_000 },
          eligibility: 'all',
          wake: true,
        },
      });
      const { roundId } = (await created.json()) as Json;
      const askId = randomUUID();
      await h.core.router.route(
        'anxin/v1/gates/g-1/claims/ask',
        Buffer.from(JSON.stringify({ askId, roundId, householdId: 'h-b1', ts: NOW })),
      );
      const answered = () => h.published.find((p) => p.topic === 'anxin/v1/gates/g-1/claims/ack');
      while (!answered()) await new Promise((r) => setImmediate(r));
      expect((answered()!.payload as ClaimAck).answer).toEqual({ askId, granted: false, refusal: 'no-household' });
      expect(h.core.supply.counters).toMatchObject({ holds: 0, foreign: 1 });
      const audit = (await (
        await h.request('GET', '/api/v1/audit?action=supply.ask.refused', { token: manager })
      ).json()) as Json;
      expect(audit.entries).toMatchObject([
        { actor: 'g-1', role: 'gate', action: 'supply.ask.refused', compoundId: 'c-1', target: roundId },
      ]);
      expect(JSON.stringify(audit)).not.toContain('h-b1');
    } finally {
      await h.close();
    }
  });
});
