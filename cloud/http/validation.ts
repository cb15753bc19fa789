/**
 * Request validation: `@hono/zod-validator` with one shared hook that turns a zod failure into
 * the contract's error body (400 `invalid-request`, `issues: [{path, message}]`) — never the raw
 * zod result.
 */
import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import { z } from 'zod';
import { idSchema } from '../../shared/ids.ts';
import { ApiError } from './api-error.ts';

function issuesOf(error: z.core.$ZodError): { path: string; message: string }[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}

/** Validates one part of the request (`json`, `query`, `param`, …) against a schema. */
export function validate<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      throw new ApiError(
        400,
        'invalid-request',
        `invalid ${target === 'json' ? 'body' : target}`,
        issuesOf(result.error),
      );
    }
  });
}

/** `:id` path parameters: the shared id alphabet. */
export const idParamSchema = z.object({ id: idSchema });
