/**
 * `POST /auth/login`: username + password → a bearer token naming a new server-side session
 * (cloud/auth/session-book.ts, 12 h at most, ended after 30 min unused). `POST /auth/logout` ends
 * the caller's session: every later request with that token is 401.
 */
import { Hono } from 'hono';
import { loginBodySchema } from '../../../shared/schemas/http.ts';
import { DUMMY_PASSWORD_HASH, verifyPassword } from '../../auth/password-hash.ts';
import { ApiError } from '../api-error.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { validate } from '../validation.ts';

export function authRoutes(deps: RouteDeps) {
  return new Hono<AppEnv>()
    .post('/login', validate('json', loginBodySchema), async (c) => {
      const { username, password } = c.req.valid('json');
      const user = await deps.store.getUser(username);
      // Hash even for an unknown user so the answer's timing does not tell which names exist.
      const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
      // A disabled user gets the same answer as a wrong password.
      if (!user || !ok || deps.sessions.isDisabled(user.username)) {
        throw new ApiError(401, 'invalid-credentials', 'wrong username or password');
      }
      const session = deps.sessions.issue({
        username: user.username,
        role: user.role,
        ...(user.compoundId !== null ? { compound: user.compoundId } : {}),
      });
      return c.json({
        token: session.token,
        role: user.role,
        expiresAt: session.expiresAt,
        idleTimeoutMs: deps.sessions.idleMs,
        ...(user.compoundId ? { compound: user.compoundId } : {}),
      });
    })
    .post('/logout', deps.auth.requireRole(['guard', 'manager']), (c) => {
      const { sessionId } = c.var.actor;
      if (sessionId !== undefined) deps.sessions.end(sessionId, 'logout');
      return c.body(null, 204);
    });
}
