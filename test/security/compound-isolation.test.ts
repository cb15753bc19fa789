/**
 * Compound isolation as an invariant (docs/security.md, "Compound isolation"): two generated
 * compounds whose household ids, names and passage times overlap; a manager and a guard bound to
 * compound A call every read route — lists, single records, searches, traces (person, contacts at
 * depth 1 and 2, gate), exports, statistics, events, audit, alarms, the web support routes — and the
 * oracle checks that no answer names anything of compound B (its id, its gates, its people).
 *
 * The resident role (cloud/me/) as the same kind of invariant, over every route the app has
 * (`app.routes`, so a route added later is covered without editing this file): a resident of
 * compound A gets 403 from every staff route, whatever its parameters, and the `/api/v1/me` routes
 * answer about their own household only — no id of compound B, no person of another household.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCloudCore } from '../../cloud/cloud-service.ts';
import { fullCloudExtensions } from '../../cloud/full-cloud.ts';
import type { Actor } from '../../cloud/registry/actor.ts';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { entryEvent } from '../cloud/fixtures.ts';

const ADMIN: Actor = { username: 'seed', role: 'admin' };
const NAMES = ['张三明', '李四', '王芳', 'John Smith', '欧阳娜娜'];
const HOUSEHOLDS = ['h-1', 'h-2', 'h-3'];
const T0 = Date.UTC(2026, 0, 5, 1, 0, 0);

const personArb = fc.record({ name: fc.constantFrom(...NAMES), household: fc.constantFrom(...HOUSEHOLDS) });
const worldArb = fc.record({
  a: fc.array(personArb, { minLength: 2, maxLength: 5 }),
  b: fc.array(personArb, { minLength: 2, maxLength: 5 }),
  /** Passages: (person index, minute offset); the same offsets are used in both compounds. */
  passages: fc.array(fc.tuple(fc.nat(4), fc.nat(30)), { minLength: 4, maxLength: 12 }),
});

type World = typeof worldArb extends fc.Arbitrary<infer T> ? T : never;

async function buildWorld(world: World) {
  const keysFile = createKeysFile();
  const store = new SqliteCloudStore({ path: ':memory:' });
  const ext = fullCloudExtensions({ keysFile });
  const core = createCloudCore({
    store,
    keys: parseKeysFile(keysFile),
    publish: async () => {},
    ingest: { flushIntervalMs: 1 },
    now: () => T0 + 3_600_000,
    extensions: ext.extensions,
  });
  const ids: Record<'a' | 'b', string[]> = { a: [], b: [] };
  for (const side of ['a', 'b'] as const) {
    const compoundId = `c-${side}`;
    await core.registry.createCompound({ id: compoundId, name: `Compound ${side}`, timeZone: 'Asia/Shanghai' }, ADMIN);
    await core.registry.registerGate({ id: `gate-${side}`, compoundId, name: '北门', antiPassback: false }, ADMIN);
    for (const [i, p] of world[side].entries()) {
      const personId = `${side}-person-${i}`;
      ids[side].push(personId);
      await core.registry.createResident(
        {
          personId,
          compoundId,
          householdId: p.household,
          kind: 'resident',
          name: p.name,
          cards: [],
          elderly: false,
          validFrom: null,
          validTo: null,
        },
        ADMIN,
      );
    }
    const events = world.passages.map(([who, minute], seq) =>
      entryEvent(`gate-${side}`, seq + 1, {
        personId: ids[side][who % ids[side].length]!,
        ts: T0 + minute * 60_000,
      }),
    );
    await core.ingest.accept(`gate-${side}`, JSON.stringify({ events }));
  }
  await core.ingest.flush();
  return { core, store, ids };
}

/** Routes anyone may call (sign-in, activation, pages, health); the resident's own are under /api/v1/me. */
const PUBLIC_ROUTES = new Set([
  'POST /api/v1/auth/login',
  'POST /api/v1/me/activation/check',
  'POST /api/v1/me/activate',
  'POST /api/v1/me/login',
  'POST /api/v1/visits/pass',
  'GET /healthz',
  'GET /metrics',
]);
const RESIDENT_ROUTES = /^(GET|POST|PUT|DELETE) \/api\/v1\/me(\/|$)|^POST \/api\/v1\/auth\/logout$/;

describe('compound isolation (property)', () => {
  it('no answer to a compound-A caller names compound B, on any route', async () => {
    await fc.assert(
      fc.asyncProperty(worldArb, async (world) => {
        const { core, store, ids } = await buildWorld(world);
        try {
          const manager = (await core.sessions.issue({ username: 'mgr-a', role: 'manager', compound: 'c-a' })).token;
          const provider = (await core.sessions.issue({ username: 'prov', role: 'provider', compound: 'c-a' })).token;
          const providerUnbound = (await core.sessions.issue({ username: 'prov', role: 'provider' })).token;
          // A supply round in each compound (the same provider supplies both), with a claim each.
          const rounds: Record<'a' | 'b', string> = { a: '', b: '' };
          for (const side of ['a', 'b'] as const) {
            const round = await core.supply.createRound(
              {
                compoundId: `c-${side}`,
                name: 'Rice',
                items: [{ name: 'rice', unit: 'kg', perHousehold: 5 }],
                form: 'pickup',
                window: { from: T0, to: T0 + 7_200_000 },
                eligibility: 'all',
                providers: ['prov'],
                wake: true,
              },
              'seed',
            );
            rounds[side] = round.roundId;
            await core.supply.recordCloudClaim(
              round.roundId,
              { householdId: world[side][0]!.household, method: 'delivery', reason: 'door' },
              'seed',
            );
          }
          const guard = (await core.sessions.issue({ username: 'guard-a', role: 'guard', compound: 'c-a' })).token;
          const win = `from=${T0 - 3_600_000}&to=${T0 + 3_600_000}&reason=case-1`;
          const mine = ids.a;
          const paths: [string, string, 'ok' | 'any'][] = [
            [manager, '/api/v1/residents', 'ok'],
            [manager, '/api/v1/residents?household=h-1', 'ok'],
            [manager, '/api/v1/compounds', 'ok'],
            [manager, '/api/v1/gates', 'ok'],
            [guard, '/api/v1/gates', 'ok'],
            [manager, '/api/v1/events', 'ok'],
            [guard, '/api/v1/events', 'ok'],
            [manager, `/api/v1/stats/summary?compound=c-a&${win}`, 'ok'],
            [manager, `/api/v1/stats/hourly?compound=c-a&${win}`, 'ok'],
            [manager, `/api/v1/stats/gates?compound=c-a&${win}`, 'ok'],
            [manager, '/api/v1/audit', 'ok'],
            [manager, '/api/v1/alarms', 'ok'],
            [guard, '/api/v1/alarms', 'ok'],
            [manager, `/api/v1/trace/gate/gate-a?${win}`, 'ok'],
            [manager, `/api/v1/trace/gate/gate-a?${win}&format=csv`, 'ok'],
            [manager, `/api/v1/trace/search?q=${encodeURIComponent('张')}&reason=case-1`, 'ok'],
            [manager, `/api/v1/trace/search?q=${encodeURIComponent('a')}&reason=case-1`, 'ok'],
            [manager, '/api/v1/web/residents?compound=c-a', 'any'],
            [manager, '/api/v1/web/residents?compound=c-a&q=h-1', 'any'],
            // Asking for B outright is refused (403/404): the answers must not name it either.
            [manager, `/api/v1/trace/gate/gate-b?${win}`, 'any'],
            [manager, `/api/v1/stats/summary?compound=c-b&${win}`, 'any'],
            [manager, '/api/v1/events?compound=c-b', 'any'],
            [manager, '/api/v1/supply/rounds', 'ok'],
            [manager, `/api/v1/supply/rounds/${rounds.a}`, 'ok'],
            [manager, `/api/v1/supply/rounds/${rounds.a}/claims`, 'ok'],
            [manager, `/api/v1/supply/rounds/${rounds.a}/claims?format=csv`, 'ok'],
            [manager, `/api/v1/supply/rounds/${rounds.b}`, 'any'],
            [manager, `/api/v1/supply/rounds/${rounds.b}/claims`, 'any'],
            [provider, '/api/v1/supply/rounds', 'ok'],
            [provider, `/api/v1/supply/rounds/${rounds.a}`, 'ok'],
            [provider, `/api/v1/supply/rounds/${rounds.b}`, 'any'],
            [provider, '/api/v1/supply/rounds?compound=c-b', 'any'],
          ];
          for (const personId of mine) {
            paths.push(
              [manager, `/api/v1/residents/${personId}`, 'ok'],
              [manager, `/api/v1/events?person=${personId}`, 'ok'],
              [manager, `/api/v1/trace/person/${personId}?${win}`, 'any'],
              [manager, `/api/v1/trace/contacts/${personId}?${win}&depth=2`, 'any'],
              [manager, `/api/v1/trace/contacts/${personId}?${win}&depth=2&format=csv`, 'any'],
            );
          }
          for (const personId of ids.b) {
            paths.push(
              [manager, `/api/v1/residents/${personId}`, 'any'],
              [manager, `/api/v1/trace/person/${personId}?${win}`, 'any'],
              [manager, `/api/v1/trace/contacts/${personId}?${win}`, 'any'],
            );
          }
          const forbidden = ['c-b', 'gate-b', rounds.b, ...ids.b];
          // An unbound provider supplies both compounds; it still sees no person of either.
          const both = await core.app.request('/api/v1/supply/rounds', {
            headers: { authorization: `Bearer ${providerUnbound}` },
          });
          const bothText = await both.text();
          expect(bothText).toContain(rounds.b);
          for (const personId of [...ids.a, ...ids.b]) expect(bothText).not.toContain(personId);
          for (const [i, [token, path, expectOk]] of paths.entries()) {
            // A fresh manager per call, so the per-user rate limits never answer instead of the route.
            const caller =
              token === manager
                ? (await core.sessions.issue({ username: `mgr-a-${i}`, role: 'manager', compound: 'c-a' })).token
                : token;
            const res = await core.app.request(path, { headers: { authorization: `Bearer ${caller}` } });
            const body = await res.text();
            if (expectOk === 'ok') expect([path, res.status]).toEqual([path, 200]);
            else expect([200, 403, 404]).toContain(res.status);
            // A refusal may echo what the caller asked for; nothing else of B may appear.
            for (const word of forbidden.filter((w) => !path.includes(w))) {
              if (body.includes(word)) throw new Error(`${path} (${res.status}) names ${word}: ${body.slice(0, 400)}`);
            }
          }
        } finally {
          core.live.shutdown();
          await core.ingest.stop();
          await store.close();
        }
      }),
      { numRuns: 8 },
    );
  }, 120_000);

  it('a resident reaches only /api/v1/me, and there only their own household, on every route', async () => {
    await fc.assert(
      fc.asyncProperty(worldArb, fc.nat(4), async (world, pick) => {
        const { core, store, ids } = await buildWorld(world);
        try {
          const me = ids.a[pick % ids.a.length]!;
          const mine = (await store.getResident(me))!;
          const token = (await core.sessions.issue({ username: `r:${me}`, role: 'resident', compound: 'c-a' })).token;
          const household = new Set(
            (await store.listResidents({ compoundId: 'c-a', limit: 100 })).residents
              .filter((r) => r.householdId === mine.householdId)
              .map((r) => r.personId),
          );
          const strangers = ids.a.filter((id) => !household.has(id));
          const forbidden = ['c-b', 'gate-b', ...ids.b, ...strangers];
          const routes = [
            ...new Set(core.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`)),
          ];
          expect(routes.length).toBeGreaterThan(40);
          const values = [ids.b[0]!, strangers[0] ?? ids.b[1] ?? ids.b[0]!, me];
          for (const route of routes) {
            const [method, pattern] = route.split(' ') as [string, string];
            if (PUBLIC_ROUTES.has(route) || !pattern.startsWith('/api/')) continue;
            // Logging out ends the session: tried last.
            if (route === 'POST /api/v1/auth/logout') continue;
            for (const value of values) {
              const path = pattern.replace(/:[A-Za-z]+/g, value);
              const res = await core.app.request(path, {
                method,
                headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
                ...(method === 'GET' ? {} : { body: '{}' }),
              });
              const body = await res.text();
              if (!RESIDENT_ROUTES.test(route)) {
                expect([route, res.status]).toEqual([route, 403]);
                continue;
              }
              if (method === 'GET') expect([route, res.status]).toEqual([route, 200]);
              for (const word of forbidden.filter((w) => !path.includes(w))) {
                if (body.includes(word))
                  throw new Error(`${path} (${res.status}) names ${word}: ${body.slice(0, 400)}`);
              }
            }
          }
          const headers = { authorization: `Bearer ${token}` };
          expect((await core.app.request('/api/v1/auth/logout', { method: 'POST', headers })).status).toBe(204);
          expect((await core.app.request('/api/v1/me', { headers })).status).toBe(401);
        } finally {
          core.live.shutdown();
          await core.ingest.stop();
          await store.close();
        }
      }),
      { numRuns: 6 },
    );
  }, 120_000);
});
