/**
 * Expected HTTP failures: an `HTTPException` that also carries the contract's error `code` and
 * `issues`, turned into `{ error: { code, message, issues? } }` by the one `onError` (app.ts).
 */
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Issue } from '../cloud-errors.ts';

export class ApiError extends HTTPException {
  readonly code: string;
  readonly issues: Issue[] | undefined;
  readonly extra: Record<string, unknown> | undefined;

  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    issues?: Issue[],
    extra?: Record<string, unknown>,
  ) {
    super(status, { message });
    this.code = code;
    this.issues = issues;
    this.extra = extra;
  }
}

export const unauthorized = (message = 'a valid bearer token is required') =>
  new ApiError(401, 'unauthorized', message);
export const forbidden = (message = 'your role may not do this') => new ApiError(403, 'forbidden', message);
export const notFound = (kind: string, id: string) =>
  new ApiError(404, 'not-found', `${kind} ${JSON.stringify(id)} not found`);
