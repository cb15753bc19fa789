/** `POST /auth/login`: username + password → a signed bearer token (12 h). */
import { Hono } from 'hono';
import { loginBodySchema } from '../../../shared/schemas/http.ts';
import { signToken } from '../../../shared/token.ts';
import { DUMMY_PASSWORD_HASH, verifyPassword } from '../../auth/password-hash.ts';
import { ApiError } from '../api-error.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { validate } from '../validation.ts';

export const USER_TOKEN_TTL_MS = 12 * 60 * 60 * 1000;

export function authRoutes(deps: RouteDeps) {
  return new Hono<AppEnv>().post('/login', validate('json', loginBodySchema), async (c) => {
    const { username, password } = c.req.valid('json');
    const user = await deps.store.getUser(username);
    // Hash even for an unknown user so the answer's timing does not tell which names exist.
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
    if (!user || !ok) throw new ApiError(401, 'invalid-credentials', 'wrong username or password');
    const expiresAt = deps.now() + USER_TOKEN_TTL_MS;
    const token = signToken(
      {
        sub: user.username,
        role: user.role,
        ...(user.compoundId !== null ? { compound: user.compoundId } : {}),
        exp: expiresAt,
        iat: deps.now(),
      },
      deps.signingKey,
    );
    return c.json({ token, role: user.role, expiresAt, ...(user.compoundId ? { compound: user.compoundId } : {}) });
  });
}
