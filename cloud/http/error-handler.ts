/**
 * The one place errors become HTTP answers: `{ error: { code, message, issues? } }`, a status
 * from the error's code, and never a stack trace. Unexpected errors are logged and answered 500.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AnxinError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { RequestValidationError } from '../cloud-errors.ts';
import { ApiError } from './api-error.ts';

const STATUS_OF_CODE: Record<string, ContentfulStatusCode> = {
  'not-found': 404,
  conflict: 409,
  'invalid-request': 400,
  'mqtt-unavailable': 503,
};

function statusOfCode(code: string): ContentfulStatusCode | undefined {
  return STATUS_OF_CODE[code] ?? (code.startsWith('invalid-') ? 400 : undefined);
}

const CODE_OF_STATUS: Record<number, string> = {
  400: 'invalid-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  413: 'too-large',
};

export function createErrorHandler(logger: Logger) {
  return (err: Error, c: Context): Response => {
    if (err instanceof ApiError) {
      // The rest of an oversized body is not drained: the connection ends with the answer.
      if (err.status === 413) c.header('connection', 'close');
      return c.json(
        {
          error: {
            code: err.code,
            message: err.message,
            ...(err.issues ? { issues: err.issues } : {}),
            ...(err.extra ?? {}),
          },
        },
        err.status as ContentfulStatusCode,
      );
    }
    if (err instanceof HTTPException) {
      const status = err.status as ContentfulStatusCode;
      return c.json({ error: { code: CODE_OF_STATUS[status] ?? 'http-error', message: err.message } }, status);
    }
    if (err instanceof AnxinError) {
      const status = statusOfCode(err.code);
      if (status !== undefined) {
        const issues = err instanceof RequestValidationError ? err.issues : undefined;
        return c.json({ error: { code: err.code, message: err.message, ...(issues ? { issues } : {}) } }, status);
      }
    }
    logger.error({ err, method: c.req.method, path: c.req.path }, 'unhandled error');
    return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
  };
}
