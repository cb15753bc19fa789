/**
 * The terminal's routes of the distribution role (docs/supplies.md), for a signed-in guard only:
 *
 * - `GET /api/supply/household?id=` — a household's members (masked), the current round, its claim;
 * - `POST /api/supply/claim {personId, reason}` — a claim for a member without a card: 200 with the
 *   hand-out, or 409 with the refusal's `error {code, message}` (`already-claimed`, `no-round`,
 *   `not-a-distribution-point`, …; supply/guard-claim.ts);
 * - `GET /api/guard/role` — the role in force, where it comes from, whether a guard may switch now,
 *   and the gate's own audit of switches;
 * - `POST /api/guard/role {role, reason}` — the guard's switch between passage (`entry`) and
 *   `distribution`, only in controlled or lockdown mode (409 `not-crisis` otherwise, audited at the
 *   gate); it works offline and reaches the cloud in the gate's status ("Switching at the gate").
 */
import { zValidator } from '@hono/zod-validator';
import type { Hono } from 'hono';
import { z } from 'zod';
import { gateRoleSchema } from '../../shared/schemas/mqtt.ts';
import type { GuardSessions } from './guard-session.ts';
import { limitBody, requireGuard, type TerminalEnv, validationHook } from './terminal-http.ts';
import type { TerminalBackend } from './terminal-state.ts';

const reason = z.string().trim().min(1, 'a reason is required').max(200);

/** A guard's supply claim for a household member without a card. */
const guardClaimSchema = z.object({ personId: z.string().trim().min(1).max(64), reason }).strict();
const householdQuery = z.object({
  id: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9._:-]+$/),
});
/** A guard's switch: the role (the shared `gateRoleSchema`) and why; the guard is the session's. */
const roleSwitchRequestSchema = z.object({ role: gateRoleSchema, reason }).strict();

const notHere = { error: { code: 'not-found', message: 'no distribution here' } };

export function supplyRoutes(app: Hono<TerminalEnv>, backend: TerminalBackend, sessions: GuardSessions): void {
  const guard = requireGuard(sessions);

  app.get('/api/supply/household', guard, zValidator('query', householdQuery, validationHook), (c) => {
    if (!backend.supplyHousehold) return c.json(notHere, 404);
    return c.json(backend.supplyHousehold(c.req.valid('query').id));
  });

  app.post('/api/supply/claim', guard, limitBody, zValidator('json', guardClaimSchema, validationHook), async (c) => {
    if (!backend.guardClaim) return c.json(notHere, 404);
    const { personId, reason } = c.req.valid('json');
    const answer = await backend.guardClaim({ personId, reason, guard: c.get('guard').name });
    return answer.ok ? c.json(answer.body) : c.json(answer.body, 409);
  });

  app.get('/api/guard/role', guard, (c) => {
    const { role } = backend.state();
    return c.json({ role: role ?? null, log: backend.roles?.recent(20) ?? [] });
  });

  app.post('/api/guard/role', guard, limitBody, zValidator('json', roleSwitchRequestSchema, validationHook), (c) => {
    if (!backend.roles) return c.json({ error: { code: 'not-found', message: 'this gate has no roles' } }, 404);
    const { role, reason } = c.req.valid('json');
    const answer = backend.roles.switchTo({ role, reason, guard: c.get('guard').name });
    if (!answer.ok) return c.json({ error: { code: answer.code, message: answer.message }, role: answer.role }, 409);
    return c.json({ ...answer, state: backend.state().role });
  });
}
