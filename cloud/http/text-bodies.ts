/**
 * Request bodies that are text (JSON, CSV) must be valid UTF-8: decoded strictly, once, after the
 * size limit (cloud/http/body-limits.ts) and before any route sees them. A lenient decoder would
 * turn bad bytes into U+FFFD and store a name nobody typed; here the request is refused (400) and
 * nothing changes. JSON `\uD800`-style escapes of lone surrogates are refused the same way.
 */
import type { MiddlewareHandler } from 'hono';
import { isWellFormed } from '../../shared/text.ts';
import { ApiError } from './api-error.ts';

const TEXT_TYPES = /^(application\/(json|[\w.+-]+\+json)|text\/[\w.+-]+)\s*(;|$)/i;
/** A `\u` escape of a surrogate: only then is the parsed JSON walked for lone ones. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;

function everyStringWellFormed(value: unknown): boolean {
  if (typeof value === 'string') return isWellFormed(value);
  if (Array.isArray(value)) return value.every(everyStringWellFormed);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).every(([k, v]) => isWellFormed(k) && everyStringWellFormed(v));
  }
  return true;
}

export function textBodies(): MiddlewareHandler {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return async (c, next) => {
    const type = c.req.header('content-type');
    if (!c.req.raw.body || type === undefined || !TEXT_TYPES.test(type)) return next();
    const bytes = await c.req.arrayBuffer();
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw new ApiError(400, 'invalid-request', 'the body is not valid UTF-8');
    }
    if (SURROGATE_ESCAPE.test(text) && /json/i.test(type)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return next(); // the route's own validation answers malformed JSON
      }
      if (!everyStringWellFormed(parsed)) {
        throw new ApiError(400, 'invalid-request', 'the body contains a lone surrogate (not valid Unicode)');
      }
    }
    return next();
  };
}
