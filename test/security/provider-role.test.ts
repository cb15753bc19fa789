/**
 * The `provider` role as an invariant (docs/security.md, "HTTP (cloud: `cloud/http/auth-middleware.ts`)"; docs/supplies.md): a supply
 * service provider keeps the stock of the rounds it supplies and sees no resident data. Every route
 * the full cloud serves — enumerated from the app itself, so a route added later is covered without
 * editing this file — is called by a provider (bound to the compound and unbound), with generated
 * residents, households and claims behind it. The oracle: only the provider's supply routes answer
 * 2xx; nothing answered names a person, a household, a name or a masked name.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCloudCore } from '../../cloud/cloud-service.ts';
import { fullCloudExtensions } from '../../cloud/full-cloud.ts';
import type { Actor } from '../../cloud/registry/actor.ts';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { maskName } from '../../shared/masking.ts';
import { entryEvent } from '../cloud/fixtures.ts';

const ADMIN: Actor = { username: 'seed', role: 'admin' };
const T0 = Date.UTC(2026, 11, 5, 1, 0, 0);
const NAMES = ['张三明', '李四', '王芳芳', 'John Smith', '欧阳娜娜'];
/** The routes a provider may use: the rounds naming it and their stock. */
const PROVIDER_ROUTES = new Set([
  'GET /api/v1/supply/rounds',
  'GET /api/v1/supply/rounds/:id',
  'PUT /api/v1/supply/rounds/:id/stock',
]);

const worldArb = fc.record({
  people: fc.array(fc.record({ name: fc.constantFrom(...NAMES), household: fc.stringMatching(/^hh-[a-z0-9]{3,8}$/) }), {
    minLength: 2,
    maxLength: 6,
  }),
  claims: fc.array(fc.tuple(fc.nat(5), fc.boolean()), { minLength: 1, maxLength: 6 }),
});

describe('provider role (property)', () => {
  it('a provider reaches only its rounds and stock, and no answer on any route names a resident or household', async () => {
    await fc.assert(
      fc.asyncProperty(worldArb, async (world) => {
        const keysFile = createKeysFile();
        const store = new SqliteCloudStore({ path: ':memory:' });
        const ext = fullCloudExtensions({ keysFile });
        const core = createCloudCore({
          store,
          keys: parseKeysFile(keysFile),
          publish: async () => {},
          ingest: { flushIntervalMs: 1 },
          now: () => T0,
          extensions: ext.extensions,
        });
        try {
          await core.registry.createCompound({ id: 'c-a', name: 'Compound A', timeZone: 'Asia/Shanghai' }, ADMIN);
          await core.registry.registerGate(
            { id: 'gate-a', compoundId: 'c-a', name: '北门', antiPassback: false },
            ADMIN,
          );
          await core.registry.setMode('c-a', 'lockdown', 'case found', ADMIN);
          const persons: string[] = [];
          for (const [i, p] of world.people.entries()) {
            const personId = `person-${i}-${p.household}`;
            persons.push(personId);
            await core.registry.createResident(
              {
                personId,
                compoundId: 'c-a',
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
          await core.ingest.accept(
            'gate-a',
            JSON.stringify({
              events: persons.map((personId, i) => entryEvent('gate-a', i + 1, { personId, ts: T0 - 60_000 })),
            }),
          );
          await core.ingest.flush();
          const round = await core.supply.createRound(
            {
              compoundId: 'c-a',
              name: 'Rice',
              items: [{ name: 'rice', unit: 'kg', perHousehold: 5, stock: 500 }],
              form: 'pickup',
              window: { from: T0 - 3_600_000, to: T0 + 3_600_000 },
              eligibility: 'all',
              providers: ['veg-co'],
              wake: false,
            },
            'mgr',
          );
          for (const [seq, [who, viaGate]] of world.claims.entries()) {
            const personId = persons[who % persons.length]!;
            const householdId = world.people[who % persons.length]!.household;
            if (viaGate) {
              await core.supply.onClaims('gate-a', 'c-a', [
                {
                  gateId: 'gate-a',
                  seq: seq + 1,
                  ts: T0,
                  roundId: round.roundId,
                  householdId,
                  personId,
                  method: 'idcard',
                  outcome: 'handed-out',
                  decidedBy: 'replica',
                },
              ]);
            } else {
              try {
                await core.supply.recordCloudClaim(
                  round.roundId,
                  { householdId, personId, method: 'delivery', reason: 'door' },
                  'mgr',
                );
              } catch {
                // already claimed: fine, the world has what it has
              }
            }
          }
          const secrets = [
            ...persons,
            ...world.people.map((p) => p.household),
            ...world.people.map((p) => p.name),
            ...world.people.map((p) => maskName(p.name)),
          ];
          const tokens = {
            bound: (await core.sessions.issue({ username: 'veg-co', role: 'provider', compound: 'c-a' })).token,
            unbound: (await core.sessions.issue({ username: 'veg-co', role: 'provider' })).token,
          };
          // The oracle's words are real: the manager's claim list names the households the provider must not see.
          const managerToken = (await core.sessions.issue({ username: 'mgr-a', role: 'manager', compound: 'c-a' }))
            .token;
          const claimsSeen = await (
            await core.app.request(`/api/v1/supply/rounds/${round.roundId}/claims`, {
              headers: { authorization: `Bearer ${managerToken}` },
            })
          ).text();
          expect(world.people.some((p) => claimsSeen.includes(p.household))).toBe(true);
          const routes = [
            ...new Map(
              core.app.routes.filter((r) => r.method !== 'ALL').map((r) => [`${r.method} ${r.path}`, r]),
            ).values(),
          ];
          expect(routes.length).toBeGreaterThan(40);
          const fill = (path: string) =>
            path
              .replace('/supply/rounds/:id', `/supply/rounds/${round.roundId}`)
              .replace(/\/compounds\/:id/, '/compounds/c-a')
              .replace(/\/gates\/:id/, '/gates/gate-a')
              .replace(/\/residents\/:id/, `/residents/${persons[0]}`)
              .replace(/:personId/, persons[0]!)
              .replace(/:gateId/, 'gate-a')
              .replace(/:[a-zA-Z]+/g, 'x-1');
          // Logging out would end the tokens the walk goes on with (test/cloud/http/sessions.test.ts).
          for (const route of routes.filter((r) => r.path !== '/api/v1/auth/logout')) {
            for (const token of Object.values(tokens)) {
              const path = fill(route.path);
              const query = `?compound=c-a&from=${T0 - 3_600_000}&to=${T0 + 3_600_000}&reason=r&q=a`;
              const init: RequestInit = {
                method: route.method,
                headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              };
              if (route.method !== 'GET' && route.method !== 'HEAD')
                init.body = route.path.endsWith('/stock')
                  ? JSON.stringify({ items: [{ name: 'rice', stock: 480 }] })
                  : '{}';
              const res = await core.app.request(`${path}${query}`, init);
              const body = await res.text();
              const key = `${route.method} ${route.path}`;
              if (PROVIDER_ROUTES.has(key)) expect([key, res.status]).toEqual([key, 200]);
              else if (
                !['/healthz', '/metrics', '/api/v1/auth/login', '/api/v1/auth/logout'].includes(route.path) &&
                !route.path.startsWith('/api/v1/users/:') &&
                route.path !== '/api/v1/live' &&
                !route.path.startsWith('/api/v1/auth')
              ) {
                // Everything else refuses the role (a page route may answer its HTML shell, which carries no data).
                if (res.status < 300 && !(res.headers.get('content-type') ?? '').startsWith('text/html')) {
                  throw new Error(`${key} answered ${res.status} to a provider: ${body.slice(0, 200)}`);
                }
              }
              // A page's HTML is a static shell (the same for every world; its sample text may show a
              // masked name like 张*明): person ids, households and full names are still checked.
              const html = (res.headers.get('content-type') ?? '').startsWith('text/html');
              for (const secret of html ? secrets.filter((x) => !x.includes('*')) : secrets) {
                if (body.includes(secret))
                  throw new Error(`${key} (${res.status}) names ${secret} to a provider: ${body.slice(0, 300)}`);
              }
            }
          }
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
