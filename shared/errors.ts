/**
 * Typed errors with a stable `code`. Boundaries (HTTP, MQTT ingest, CLI) turn them into the
 * contract's error shapes; nothing below a boundary formats errors for people.
 */
export class AnxinError extends Error {
  readonly code: string;
  readonly details?: unknown;

  constructor(code: string, message: string, details?: unknown) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** An identifier (gate, compound, person …) outside the allowed alphabet. */
export class InvalidIdError extends AnxinError {
  constructor(kind: string, value: unknown) {
    super('invalid-id', `invalid ${kind} id ${JSON.stringify(value)}: expected [a-z0-9-]{1,64}`);
  }
}

/** A topic that is not one of the contract's topics. */
export class TopicError extends AnxinError {
  constructor(topic: string, why: string) {
    super('invalid-topic', `topic ${JSON.stringify(topic)}: ${why}`);
  }
}

/** Configuration that failed validation; `problems` are `path: message` lines. */
export class ConfigError extends AnxinError {
  readonly problems: string[];

  constructor(problems: string[]) {
    super('invalid-config', problems.join('\n'));
    this.problems = problems;
  }
}
