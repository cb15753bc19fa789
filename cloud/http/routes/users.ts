/** Users (admin): list and create logins (the HTTP twin of `anxin user add`). */
import { Hono } from 'hono';
import { userCreateSchema } from '../../../shared/schemas/http.ts';
import { hashPassword } from '../../auth/password-hash.ts';
import { ApiError } from '../api-error.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { validate } from '../validation.ts';

export function userRoutes(deps: RouteDeps) {
  const admin = deps.auth.requireRole([]);
  return new Hono<AppEnv>()
    .get('/', admin, async (c) => {
      const users = await deps.store.listUsers();
      return c.json({ users: users.map(({ passwordHash: _hash, ...user }) => user) });
    })
    .post('/', admin, validate('json', userCreateSchema), async (c) => {
      const input = c.req.valid('json');
      if (input.role === 'guard' && input.compoundId === undefined) {
        throw new ApiError(400, 'invalid-request', 'a guard is bound to one compound', [
          { path: 'compoundId', message: 'required for guards' },
        ]);
      }
      if (input.compoundId !== undefined && !(await deps.store.getCompound(input.compoundId))) {
        throw new ApiError(400, 'invalid-request', 'unknown compound', [
          { path: 'compoundId', message: 'no such compound' },
        ]);
      }
      const user = {
        username: input.username,
        passwordHash: await hashPassword(input.password),
        role: input.role,
        compoundId: input.compoundId ?? null,
        createdAt: deps.now(),
      };
      await deps.store.createUser(user);
      await deps.store.recordAudit({
        at: deps.now(),
        actor: c.var.actor.username,
        role: c.var.actor.role,
        action: 'user.create',
        compoundId: user.compoundId,
        target: user.username,
        detail: { role: user.role },
      });
      return c.json({ username: user.username, role: user.role, compoundId: user.compoundId }, 201);
    });
}
