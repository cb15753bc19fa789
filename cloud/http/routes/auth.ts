/**
 * `POST /auth/login`: username + password → a bearer token naming a new server-side session
 * (cloud/auth/session-service.ts, 12 h at most, ended after 30 min unused). `POST /auth/logout` ends
 * the caller's session: every later request with that token is 401.
 */
import { Hono } from 'hono';
import { loginBodySchema } from '../../../shared/schemas/http.ts';
import { LoginThrottle } from '../../auth/login-throttle.ts';
import { DUMMY_PASSWORD_HASH, verifyPassword } from '../../auth/password-hash.ts';
import { ApiError } from '../api-error.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { clientAddress } from '../client-address.ts';
import { validate } from '../validation.ts';

export function authRoutes(deps: RouteDeps) {
  const throttle = new LoginThrottle(deps.now);
  const audit = (action: string, username: string, compoundId: string | null, detail: Record<string, unknown>) =>
    deps.store.recordAudit({
      at: deps.now(),
      actor: username,
      role: 'anonymous',
      action,
      compoundId,
      target: username,
      detail,
    });
  return new Hono<AppEnv>()
    .post('/login', validate('json', loginBodySchema), async (c) => {
      const { username, password } = c.req.valid('json');
      const address = clientAddress(c);
      const verdict = throttle.check(username, address);
      if (!verdict.ok) {
        const seconds = Math.ceil(verdict.retryAfterMs / 1000);
        c.header('retry-after', String(seconds));
        throw new ApiError(429, 'too-many-attempts', `too many failed sign-ins; try again in ${seconds} s`, undefined, {
          retryAfterSeconds: seconds,
        });
      }
      const user = await deps.store.getUser(username);
      // Hash even for an unknown user so the answer's timing does not tell which names exist.
      const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
      // A disabled user gets the same answer as a wrong password.
      if (!user || !ok || (await deps.sessions.isDisabled(user.username))) {
        const locked = throttle.failed(username, address);
        await audit('auth.login-failed', username, user?.compoundId ?? null, {
          address,
          ...(locked.username > 0 ? { lockedUsernameMs: locked.username } : {}),
          ...(locked.address > 0 ? { lockedAddressMs: locked.address } : {}),
        });
        throw new ApiError(401, 'invalid-credentials', 'wrong username or password');
      }
      throttle.succeeded(username);
      const session = await deps.sessions.issue({
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
    .post('/logout', deps.auth.requireRole(['guard', 'manager', 'provider', 'resident']), async (c) => {
      const { sessionId } = c.var.actor;
      if (sessionId !== undefined) await deps.sessions.end(sessionId, 'logout');
      return c.body(null, 204);
    });
}
