/**
 * Configuration: flags, then `ANXIN_*` environment variables, then a JSON file, merged in that
 * order of precedence and validated once by one zod schema (docs/contract.md, "Command line").
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

/** A literal's entry in the set `typesAt` returns: the exact string for strings, else its type. */
const literal = (value: unknown) => (typeof value === 'string' ? `=${value}` : typeof value);

/**
 * The scalar types a schema accepts at `path`: what a string from the environment or a flag may be
 * read as (`=value` for a string literal or enum member). Walks zod's definitions through wrappers
 * (optional, default, pipe, …), unions and objects; an empty set means the schema does not know
 * the path (it will say so itself).
 */
function typesAt(schema: z.core.$ZodType, path: readonly string[], out = new Set<string>()): Set<string> {
  const def = schema._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
  const inner = (key: string) => def[key] as z.core.$ZodType;
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'nonoptional':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return typesAt(inner('innerType'), path, out);
    case 'pipe':
      return typesAt(inner('in'), path, out);
    case 'lazy':
      return typesAt((def.getter as () => z.core.$ZodType)(), path, out);
    case 'union':
      for (const option of def.options as z.core.$ZodType[]) typesAt(option, path, out);
      return out;
    case 'intersection':
      typesAt(inner('left'), path, out);
      return typesAt(inner('right'), path, out);
    case 'object': {
      if (path.length === 0) return out.add('object');
      const child =
        (def.shape as Record<string, z.core.$ZodType>)[path[0]!] ?? (def.catchall as z.core.$ZodType | undefined);
      return child ? typesAt(child, path.slice(1), out) : out;
    }
    case 'record':
      return path.length === 0 ? out.add('object') : typesAt(inner('valueType'), path.slice(1), out);
    case 'literal':
      for (const value of def.values as unknown[]) out.add(literal(value));
      return out;
    case 'enum':
      for (const value of Object.values(def.entries as Record<string, unknown>)) out.add(literal(value));
      return out;
    default:
      return path.length === 0 ? out.add(def.type) : out;
  }
}

/**
 * A string from env or flags, read as the schema expects at its path: a number or a boolean only
 * where the schema takes one and no string (`--password 12345678` stays a string, `--port 8080`
 * becomes a number). Anything else stays as given, for the schema to judge.
 */
function scalarFor(schema: z.core.$ZodType | undefined, path: readonly string[], value: unknown): unknown {
  if (typeof value !== 'string' || schema === undefined) return value;
  const types = typesAt(schema, path);
  if (types.has('string') || types.has(`=${value}`)) return value;
  if (types.has('boolean') && (value === 'true' || value === 'false')) return value === 'true';
  if (types.has('number') && /^-?\d+(\.\d+)?$/.test(value) && !/^-?0\d/.test(value)) return Number(value);
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
function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergeConfig(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

/** `ANXIN_*` variables as a config object; with `schema`, numbers and booleans are read where it takes them. */
export function envToConfig(
  env: Record<string, string | undefined>,
  schema?: z.core.$ZodType,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('ANXIN_') || value === undefined) continue;
    const path = key.slice('ANXIN_'.length).split('__').map(camel);
    setPath(out, path, scalarFor(schema, path, value));
  }
  return out;
}

/** Flags (`mqtt-port`, `serial.qr.baud`) as a config object, read like `envToConfig`. */
function flagsToConfig(flags: Record<string, unknown>, schema?: z.core.$ZodType): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    const path = key.split('.').map(camel);
    setPath(out, path, scalarFor(schema, path, value));
  }
  return out;
}

/** `path: message` lines for a zod error, paths dotted (`serial.qr.baud: expected …`). */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/** The one precedence rule of every command (docs/configuration.md). */
const PRECEDENCE = 'flag > env (ANXIN_*) > file > default';

/** Where each value came from: `flag --x`, `env ANXIN_X`, `file NAME` or `default`. */
export interface ConfigExplanation<T> {
  config: T;
  /** dotted path → source, for every value given by a flag, the environment or the file. */
  sources: Record<string, string>;
  /** Values of the file that a flag or the environment replaced: say so, never silently. */
  overrides: { path: string; by: string; fileValue: unknown; value: unknown }[];
}

function leaves(value: unknown, prefix: string[] = [], out = new Map<string, unknown>()): Map<string, unknown> {
  if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) leaves(v, [...prefix, k], out);
  } else if (prefix.length > 0) out.set(prefix.join('.'), value);
  return out;
}

/** `loadConfig`, and where every value came from (for `--print-config` and the start-up log). */
export function explainConfig<S extends z.ZodType>(
  schema: S,
  sources: ConfigSources & { flagNames?: Record<string, string> },
): ConfigExplanation<z.infer<S>> {
  const config = loadConfig(schema, sources);
  const fromFile = sources.file ? (JSON.parse(sources.file.text) as Record<string, unknown>) : {};
  const envNames = new Map<string, string>();
  for (const [key, value] of Object.entries(sources.env ?? {})) {
    if (!key.startsWith('ANXIN_') || value === undefined) continue;
    envNames.set(key.slice('ANXIN_'.length).split('__').map(camel).join('.'), key);
  }
  const flagPaths = new Map<string, string>();
  for (const [key, value] of Object.entries(sources.flags ?? {})) {
    if (value === undefined) continue;
    flagPaths.set(key.split('.').map(camel).join('.'), sources.flagNames?.[key] ?? `--${key}`);
  }
  const fileLeaves = leaves(fromFile);
  const result: ConfigExplanation<z.infer<S>> = { config, sources: {}, overrides: [] };
  for (const path of fileLeaves.keys()) result.sources[path] = `file ${sources.file?.name ?? ''}`.trim();
  for (const [path, name] of envNames) result.sources[path] = `env ${name}`;
  for (const [path, name] of flagPaths) result.sources[path] = `flag ${name}`;
  const effective = leaves(config);
  for (const path of new Set([...envNames.keys(), ...flagPaths.keys()])) {
    if (!fileLeaves.has(path)) continue;
    const value = effective.get(path);
    const fileValue = fileLeaves.get(path);
    if (value !== fileValue) result.overrides.push({ path, by: result.sources[path] ?? '', fileValue, value });
  }
  return result;
}

const SECRET_KEY = /token|pepper|privatekey|password|secret/i;

/** The config with every secret replaced by `(secret)`: safe to print and to paste into a ticket. */
/** `scheme://user:` up to the password, which ends at the `@` before the host. */
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/:@]*:)[^/@]*@/i;

export function redactSecrets(value: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key) && value !== undefined && value !== null) return '(secret)';
  // A password inside a URL (`postgres://user:password@host/db`): the rest of the URL stays readable.
  if (typeof value === 'string') return value.replace(URL_PASSWORD, '$1(secret)@');
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v));
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactSecrets(v, k)]));
  return value;
}

/** The text `--print-config` prints: the rule, the effective values (secrets redacted) and their sources. */
export function printableConfig(explained: ConfigExplanation<unknown>): string {
  return `${JSON.stringify(
    { precedence: PRECEDENCE, config: redactSecrets(explained.config), sources: explained.sources },
    null,
    2,
  )}\n`;
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
  const merged = mergeConfig(
    mergeConfig(fromFile, envToConfig(sources.env ?? {}, schema)),
    flagsToConfig(sources.flags ?? {}, schema),
  );
  const result = schema.safeParse(merged);
  if (!result.success) throw new ConfigError(formatIssues(result.error));
  return result.data;
}
