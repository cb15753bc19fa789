/**
 * Security headers on every answer of the cloud — pages, assets, API answers and errors alike
 * (docs/security.md, "Browser"). The pages load only their own files from `/assets/` (no inline
 * script, no inline style attribute, no outside origin), so the policy can be strict:
 *
 * - `Content-Security-Policy`: everything from this origin only; no inline script; nothing may
 *   frame the pages (`frame-ancestors 'none'`, against click-jacking of the guard's open button);
 *   no plugins; forms post only here; `<base>` cannot be changed.
 * - `X-Content-Type-Options: nosniff`: an uploaded CSV or an error body is never run as script.
 * - `Referrer-Policy: no-referrer`: a page's URL never travels to another site.
 * - `Permissions-Policy`: no camera, microphone, geolocation, payment, USB or serial for the pages.
 * - `X-Frame-Options: DENY` for browsers that predate `frame-ancestors`.
 * - `Cross-Origin-Opener-Policy` / `Cross-Origin-Resource-Policy`: same-origin.
 */
import type { MiddlewareHandler } from 'hono';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), interest-cohort=()',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** Sets the headers on whatever answer comes back, errors included. */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
  };
}
