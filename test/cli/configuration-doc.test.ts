/**
 * docs/configuration.md names every option of the gate, the cloud and the broker: every key of
 * their zod schemas (the gate's as dotted paths, e.g. `journal.minFreeBytes`) appears on the page,
 * so an option added without documentation fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { brokerConfigSchema } from '../../cli/commands/broker.ts';
import { cloudConfigSchema } from '../../cli/commands/cloud.ts';
import { edgeConfigSchema } from '../../edge-agent/config.ts';

const page = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

/** The object shape under a schema, through optional/default/prefault/pipe wrappers. */
function shapeOf(schema: z.core.$ZodType): Record<string, z.core.$ZodType> | undefined {
  const def = schema._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
  switch (def.type) {
    case 'object':
      return def.shape as Record<string, z.core.$ZodType>;
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
      return shapeOf(def.innerType as z.core.$ZodType);
    case 'pipe':
      return shapeOf(def.in as z.core.$ZodType);
    default:
      return undefined;
  }
}

/** Top-level keys, and for the gate the first nested level too (`mqtt.url`, `journal.batchSize`). */
function keys(schema: z.core.$ZodType, depth: number, prefix = ''): string[] {
  const shape = shapeOf(schema);
  if (!shape) return [];
  return Object.entries(shape).flatMap(([key, child]) => {
    const path = `${prefix}${key}`;
    const nested = depth > 0 && key !== 'devices' && key !== 'keys' ? keys(child, depth - 1, `${path}.`) : [];
    return nested.length > 0 ? nested : [path];
  });
}

describe('docs/configuration.md', () => {
  it.each([
    ['gate', edgeConfigSchema, 1],
    ['cloud', cloudConfigSchema, 0],
    ['broker', brokerConfigSchema, 0],
  ] as const)('names every option of the %s', (_name, schema, depth) => {
    const names = keys(schema as z.core.$ZodType, depth);
    expect(names.length).toBeGreaterThan(5);
    const missing = names.filter((name) => {
      const last = name.split('.').pop()!;
      return (
        !page.includes(`\`${name}\``) && !page.includes(`.${last}\``) && !page.includes(`\`${name.split('.')[0]}.`)
      );
    });
    expect(missing).toEqual([]);
  });

  it('states the one precedence rule the programs print', () => {
    expect(page).toContain('flag > environment > file > default');
    expect(page).toContain('--print-config');
  });
});
