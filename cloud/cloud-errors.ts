/** Typed failures of the cloud's services; the HTTP boundary maps each `code` to a status. */
import { AnxinError } from '../shared/errors.ts';

export class NotFoundError extends AnxinError {
  constructor(kind: string, id: string) {
    super('not-found', `${kind} ${JSON.stringify(id)} not found`);
  }
}

export class ConflictError extends AnxinError {
  constructor(kind: string, id: string) {
    super('conflict', `${kind} ${JSON.stringify(id)} already exists`);
  }
}

export class InvalidCursorError extends AnxinError {
  constructor() {
    super('invalid-cursor', 'the cursor is not one this server issued');
  }
}

export interface Issue {
  path: string;
  message: string;
}

/** Input that passed its schema but fails a deeper check (an ID number's check character, a CSV row). */
export class RequestValidationError extends AnxinError {
  readonly issues: Issue[];

  constructor(message: string, issues: Issue[], details?: unknown) {
    super('invalid-request', message, details);
    this.issues = issues;
  }
}
