import { z } from 'zod';
import { InvalidIdError } from './errors.ts';

/**
 * Gate, compound, person, household and pass ids share one alphabet. It excludes `/`, `+`, `#`
 * and `$`, so an id can never change the shape of an MQTT topic or filter.
 */
export const ID_PATTERN = /^[a-z0-9-]{1,64}$/;

export const idSchema = z.string().regex(ID_PATTERN, 'expected [a-z0-9-]{1,64}');
export type Id = z.infer<typeof idSchema>;

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

export function assertId(kind: string, value: unknown): string {
  if (!isValidId(value)) throw new InvalidIdError(kind, value);
  return value;
}
