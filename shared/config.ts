/**
 * Configuration: flags, then `ANXIN_*` environment variables, then a JSON file, merged in that
 * order of precedence and validated once by one zod schema (CONTRACT.md, "Command line").
 * This module does no I/O: the caller reads the file and passes its text.
 */
import type { z } from 'zod';
import { ConfigError } from './errors.ts';

export interface ConfigSources {
  /** Parsed command-line flags, keys in kebab-case or camelCase (`mqtt-port` or `mqttPort`). */
  flags?: Record<string, unknown>;
  /** The environment; only `ANXIN_*` keys are read. `ANXIN_MQTT_URL` → `mqttUrl`, `__` nests (`ANXIN_SERIAL__QR__PATH`). */
  env?: Record<string, string | undefined>;
  /** The JSON config file's text and its name (for messages). */
  file?: { name: string; text: string };
}

const camel = (s: string) => s.toLowerCase().replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Strings from env and flags: numbers and booleans are read as such; everything else stays a string. */
function scalar(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(value) && !/^-?0\d/.test(value)) return Number(value);
  return value;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: `over` wins; objects merge key by key, arrays and scalars replace. */
export function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergeConfig(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

export function envToConfig(env: Record<string, string | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('ANXIN_') || value === undefined) continue;
    setPath(out, key.slice('ANXIN_'.length).split('__').map(camel), scalar(value));
  }
  return out;
}

export function flagsToConfig(flags: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    setPath(out, key.split('.').map(camel), scalar(value));
  }
  return out;
}

/** `path: message` lines for a zod error, paths dotted (`serial.qr.baud: expected …`). */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/** Merges and validates; throws `ConfigError` whose `problems` are `path: message` lines. */
export function loadConfig<S extends z.ZodType>(schema: S, sources: ConfigSources): z.infer<S> {
  let fromFile: Record<string, unknown> = {};
  if (sources.file) {
    try {
      const parsed: unknown = JSON.parse(sources.file.text);
      if (!isPlainObject(parsed)) throw new Error('the top level must be an object');
      fromFile = parsed;
    } catch (err) {
      throw new ConfigError([`${sources.file.name}: not valid JSON config: ${(err as Error).message}`]);
    }
  }
  const merged = mergeConfig(mergeConfig(fromFile, envToConfig(sources.env ?? {})), flagsToConfig(sources.flags ?? {}));
  const result = schema.safeParse(merged);
  if (!result.success) throw new ConfigError(formatIssues(result.error));
  return result.data;
}
