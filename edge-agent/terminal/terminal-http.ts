/**
 * What the terminal's route modules share (terminal-app.ts, terminal-supply-routes.ts): the
 * context's type, the validation answer, the body limit applied before a body is read, and the
 * guard check (a session cookie from the guard's sign-in with id and PIN, guard-session.ts).
 */
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie } from 'hono/cookie';
import type { z } from 'zod';
import { formatIssues } from '../../shared/config.ts';
import { GUARD_COOKIE, type GuardIdentity, type GuardSessions } from './guard-session.ts';

export type TerminalEnv = { Variables: { guard: GuardIdentity } };

/** The largest request body any route takes (a manual open's reason is ≤ 200 characters). */
export const MAX_BODY_BYTES = 4096;

export function validationHook(result: { success: boolean; error?: unknown }, c: Context) {
  if (!result.success) {
    const issues = formatIssues(result.error as z.ZodError);
    return c.json({ error: { code: 'invalid-request', message: issues.join('; '), issues } }, 400);
  }
  return undefined;
}

export const limitBody = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: (c) =>
    c.json(
      { error: { code: 'payload-too-large', message: `request bodies are limited to ${MAX_BODY_BYTES} bytes` } },
      413,
    ),
});

/** Lets a request through only with a live guard session; the guard's identity is in `c.get('guard')`. */
export function requireGuard(sessions: GuardSessions) {
  return async (c: Context<TerminalEnv>, next: () => Promise<void>) => {
    const guard = sessions.check(getCookie(c, GUARD_COOKIE));
    if (!guard) {
      return c.json({ error: { code: 'unauthorized', message: 'guard sign-in required (/guard)' } }, 401);
    }
    c.set('guard', guard);
    await next();
    return undefined;
  };
}
