/**
 * The gate's configuration (docs/contract.md "Command line": flags > ANXIN_* env > JSON file, one zod
 * schema, `path: message` lines on error). Times are milliseconds unless the name says otherwise.
 */
import { z } from 'zod';
import { cardTypeFlagsProblem } from '../firmware-bridge/idreader/text-block.ts';
import {
  type ConfigExplanation,
  type ConfigSources,
  explainConfig,
  formatIssues,
  loadConfig,
} from '../shared/config.ts';
import { DIRECTIONS } from '../shared/enums.ts';
import { ConfigError } from '../shared/errors.ts';
import { idSchema } from '../shared/ids.ts';
import { pinHashSchema } from './terminal/guard-pin.ts';

const direction = z.enum(DIRECTIONS);
const baudRate = z.number().int().min(1200).max(4_000_000);
const serialPath = z.string().min(1, 'expected a serial port path');
const READER_NAME = /^[a-z0-9-]{1,32}$/;

const idCardReaderConfigSchema = z.object({
  path: serialPath,
  baudRate: baudRate.default(115200),
  /** Which way a person who swipes at this reader wants to go. */
  direction: direction.default('in'),
  pollIntervalMs: z.number().int().min(300).max(10_000).optional(),
  /** Type flags (text offset 248) of the permit layouts: unconfirmed (docs/devices.md §1), default J / I. */
  cardTypeFlags: z
    .object({ permit: z.string().optional(), foreign: z.string().optional() })
    .superRefine((flags, ctx) => {
      const problem = cardTypeFlagsProblem(flags);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});

const qrScannerConfigSchema = z.object({
  path: serialPath,
  baudRate: baudRate.default(9600),
  direction: direction.default('in'),
  terminator: z.enum(['auto', 'cr', 'lf', 'crlf', 'tab', 'none']).optional(),
  interByteTimeoutMs: z.number().int().min(1).max(10_000).optional(),
  maxLength: z.number().int().min(16).max(10_000).optional(),
  stripAim: z.boolean().optional(),
  trigger: z.enum(['none', 'gm65', 'honeywell']).optional(),
  /** Trigger mode: re-arm after this long without a read (the driver keeps the scanner armed). */
  retriggerMs: z.number().int().min(100).max(60_000).optional(),
});

const turnstileInput = z.enum(['passed-in', 'passed-out', 'forced', 'fire', 'tamper']);

const turnstileConfigSchema = z.object({
  path: serialPath,
  baudRate: baudRate.default(115200),
  /** OSDP address of the I/O board (docs/devices.md §5). */
  address: z.number().int().min(0).max(0x7e).default(0),
  pollIntervalMs: z.number().int().min(1).max(5_000).optional(),
  replyTimeoutMs: z.number().int().min(10).max(5_000).optional(),
  /** How long one unlock output stays on (osdp_OUT temporary-on). */
  pulseMs: z.number().int().min(100).max(60_000).default(3_000),
  /** Direction of cards read by an OSDP reader on the same bus (`facility:number` credentials). */
  cardDirection: direction.default('in'),
  inputMap: z.record(z.string().regex(/^\d{1,3}$/, 'expected an input number'), turnstileInput).optional(),
  outputMap: z.object({ unlockIn: z.number().int().min(0), unlockOut: z.number().int().min(0) }).optional(),
  /**
   * The PD's secure channel key file (32 hex digits, mode 0600; a relative path is inside `dataDir`),
   * written by `anxin gate osdp-pair`. With it the turnstile is driven only through the OSDP secure
   * channel (docs/devices.md §8); without it, in plain mode.
   */
  scbkFile: z.string().min(1, 'expected a path to the key file').optional(),
});

/**
 * A card reader that is an OSDP PD of its own on the turnstile's RS-485 line, at another address
 * (docs/devices.md §5.3): it shares `devices.turnstile.path`, so it names no port.
 */
const osdpReaderConfigSchema = z.object({
  /** None: it is on the turnstile's line (`devices.turnstile.path` / `baudRate`). */
  path: z.never({ message: "an OSDP reader shares devices.turnstile's line: give it no path" }).optional(),
  baudRate: z.never({ message: "an OSDP reader shares devices.turnstile's line: give it no baudRate" }).optional(),
  address: z.number().int().min(0).max(0x7e),
  direction: direction.default('in'),
  pollIntervalMs: z.number().int().min(1).max(5_000).optional(),
  replyTimeoutMs: z.number().int().min(10).max(5_000).optional(),
  /** The PD's secure channel key file, as `devices.turnstile.scbkFile`. */
  scbkFile: z.string().min(1, 'expected a path to the key file').optional(),
});

/**
 * One credential device of a lane (docs/lanes.md): an ID-card reader, a QR scanner or an OSDP card
 * reader on the turnstile's line, with the direction of the people who present at it. A two-way
 * lane has one or more on each side.
 */
const laneReaderConfigSchema = z.discriminatedUnion('kind', [
  idCardReaderConfigSchema.extend({ kind: z.literal('idreader'), name: z.string().regex(READER_NAME).optional() }),
  qrScannerConfigSchema.extend({ kind: z.literal('qr'), name: z.string().regex(READER_NAME).optional() }),
  osdpReaderConfigSchema.extend({ kind: z.literal('osdp'), name: z.string().regex(READER_NAME).optional() }),
]);
export type LaneReaderConfig = z.infer<typeof laneReaderConfigSchema> & { name: string };

/**
 * The terminal (docs/edge-agent.md "The terminal"): how long results stay, which lanes the screen
 * has, which host names it answers to, and the guards who may sign in to its panel.
 */
const terminalConfigSchema = z
  .object({
    /** A result stays at least this long; later ones wait in the lane's queue. */
    holdMs: z.number().int().min(500).max(30_000).default(3_000),
    /** The screen returns to idle this long after a result was shown. */
    clearMs: z.number().int().min(1_000).max(60_000).default(8_000),
    /** The screen's lanes (one result area each); default: the directions of the configured readers. */
    lanes: z.array(direction).min(1).max(2).optional(),
    /** Host names (besides loopback and the listen address) the terminal answers to, e.g. the kiosk's `gate-1.local`. */
    allowedHosts: z
      .array(z.string().regex(/^[a-z0-9.:-]{1,253}$/i, 'expected a host name or address'))
      .max(32)
      .default([]),
    /** Guards who may sign in to `/guard`: id, display name (written into manual opens), scrypt PIN hash. */
    guards: z
      .array(z.object({ id: idSchema, name: z.string().trim().min(1).max(64), pin: pinHashSchema }))
      .max(200)
      .default([]),
    /** A guard session ends after this long without use, and after `sessionMaxMs` in any case. */
    sessionIdleMs: z
      .number()
      .int()
      .min(60_000)
      .max(24 * 3_600_000)
      .default(15 * 60_000),
    sessionMaxMs: z
      .number()
      .int()
      .min(60_000)
      .max(7 * 86_400_000)
      .default(12 * 3_600_000),
    /** Mark the session cookie `Secure` (the terminal is served over HTTPS by a proxy). */
    secureCookie: z.boolean().default(false),
  })
  .superRefine((t, ctx) => {
    if (t.holdMs > t.clearMs) ctx.addIssue({ code: 'custom', path: ['holdMs'], message: 'must not exceed clearMs' });
    const ids = new Set<string>();
    t.guards.forEach((g, i) => {
      if (ids.has(g.id)) ctx.addIssue({ code: 'custom', path: ['guards', i, 'id'], message: 'duplicate guard id' });
      ids.add(g.id);
    });
  });

const keysFileJsonSchema = z.object({
  version: z.literal(1),
  current: z.number().int(),
  keys: z.array(z.object({ kid: z.number().int(), publicKey: z.string(), privateKey: z.string().optional() })).min(1),
  pepper: z.string(),
});

export const edgeConfigSchema = z
  .object({
    gateId: idSchema,
    compoundId: idSchema,
    mqtt: z.object({
      url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\/.+/, 'expected mqtt://, mqtts://, ws:// or wss:// URL'),
      /** The gate's device token (MQTT password); the username is the gate id. */
      token: z.string().min(1).optional(),
      /**
       * A file holding the device token, read again before every connect attempt: a rotated token
       * (written by provisioning into this file) takes effect without a restart. Wins over `token`.
       */
      tokenFile: z.string().min(1).optional(),
      /**
       * PEM bundle of the CA that signed the broker's certificate (a private CA), read when the
       * gate starts; with it only these CAs are trusted. Verification is never turned off.
       */
      caFile: z.string().min(1, 'expected a path to a PEM CA bundle').optional(),
      keepaliveSec: z.number().int().min(5).max(600).default(30),
      reconnectMs: z.number().int().min(100).max(60_000).default(1_000),
    }),
    /** Path of the deployment's keys file (public ring + pepper; private keys are ignored). */
    keysFile: z.string().min(1).optional(),
    /** The keys file inline, same shape as `keysFile` holds. */
    keys: keysFileJsonSchema.optional(),
    /** Directory of the gate's SQLite file (replica + journal). */
    dataDir: z.string().min(1).default('./data/gate'),
    http: z
      .object({
        enabled: z.boolean().default(true),
        port: z.number().int().min(0).max(65535).default(8090),
        host: z.string().min(1).default('127.0.0.1'),
      })
      .prefault({}),
    terminal: terminalConfigSchema.prefault({}),
    devices: z
      .object({
        /** The single-reader form of the first gate.json files; read as `readers: [{ kind: 'idreader', name: 'idreader', … }]`. */
        idreader: idCardReaderConfigSchema.optional(),
        /** The single-scanner form; read as `readers: [{ kind: 'qr', name: 'qr', … }]`. */
        qr: qrScannerConfigSchema.optional(),
        /** Any number of credential devices, each with its direction (docs/lanes.md). */
        readers: z.array(laneReaderConfigSchema).max(16).optional(),
        turnstile: turnstileConfigSchema.optional(),
      })
      .prefault({})
      .transform(migrateDevices),
    /** `virtual`: ports are in-process pairs (`virtual:<name>:a`) for the demo; `os`: real serial ports. */
    binding: z.enum(['os', 'virtual']).default('os'),
    timeouts: z
      .object({
        /** Granted but no "passed" input within this time: the turnstile relocks, event `passed: false`. */
        passageMs: z.number().int().min(100).max(120_000).default(10_000),
        /** A passed input this soon after a confirmed passage in the same direction is tailgating, not forcing. */
        tailgateWindowMs: z.number().int().min(0).max(60_000).default(3_000),
        /** Published events not acked within this time are sent again (the cloud dedupes by seq). */
        ackMs: z.number().int().min(500).max(600_000).default(30_000),
        /** A sync request not answered within this time is sent again. */
        syncRetryMs: z.number().int().min(500).max(600_000).default(15_000),
        /**
         * Connected, but no word on `anxin/v1/cloud/status` for this long: send the backlog and the
         * sync request anyway (a cloud or broker ACL from before the readiness message).
         */
        cloudReadyMs: z.number().int().min(100).max(600_000).default(1_000),
        /**
         * A distribution point's wait for the cloud's answer to a claim ask before it decides from
         * its replica (docs/supplies.md, "Once per household").
         */
        claimAnswerMs: z.number().int().min(100).max(120_000).default(2_000),
      })
      .prefault({}),
    /** No word from the cloud for longer than this: the terminal and status say "stale" (the gate keeps deciding). */
    stalenessLimitMs: z
      .number()
      .int()
      .min(1_000)
      .default(15 * 60_000),
    statusIntervalMs: z.number().int().min(1_000).max(3_600_000).default(30_000),
    /** The clock checked against the cloud's (docs/security.md "Clock"). */
    clock: z
      .object({
        /** Wall clock this far from the cloud's: decisions use the cloud-checked time, `clock-skew` alarm. */
        toleranceMs: z.number().int().min(1_000).max(86_400_000).default(60_000),
        /** A remembered cloud time (across restarts) is trusted this long without a new ack. */
        maxAgeMs: z
          .number()
          .int()
          .min(60_000)
          .max(90 * 86_400_000)
          .default(7 * 86_400_000),
      })
      .prefault({}),
    antiPassback: z.boolean().default(false),
    /** Normal mode: yellow is referred to the guard (`deny`, reason health-yellow) or let through (`grant`). */
    yellowPolicy: z.enum(['deny', 'grant']).default('deny'),
    journal: z
      .object({
        /** Unacked events beyond this depth raise a `journal-full` alarm (events are never dropped). */
        alarmDepth: z.number().int().min(1).default(200_000),
        /**
         * Free space on the data directory's file system below this raises the same alarm, well
         * before SQLite would fail a write (then the gate still acts, but cannot record).
         */
        minFreeBytes: z
          .number()
          .int()
          .min(0)
          .default(64 * 1024 * 1024),
        /** Acknowledged events are kept this long (a cloud restored from a backup gets them again). */
        keepAckedMs: z
          .number()
          .int()
          .min(0)
          .default(7 * 86_400_000),
        /** Unacked `events` messages in flight while draining. */
        maxInFlight: z.number().int().min(1).max(64).default(4),
        /** Events per message while draining (≤ MAX_EVENTS_PER_MESSAGE). */
        batchSize: z.number().int().min(1).max(500).default(500),
        /** SQLite `synchronous`: `full` survives power loss, `normal` only process crashes. */
        synchronous: z.enum(['full', 'normal']).default('full'),
      })
      .prefault({}),
  })
  .superRefine((cfg, ctx) => {
    if ((cfg.keysFile === undefined) === (cfg.keys === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['keysFile'], message: 'give exactly one of keysFile or keys' });
    }
  });

/**
 * The devices as the gate uses them: `devices.idreader` and `devices.qr` (one each, the first
 * schema) become the first entries of `readers`, named after their kind, so a gate.json written
 * before lanes keeps its meaning. Entries without a name are named `kind-direction`.
 */
function migrateDevices(
  devices: {
    idreader?: z.infer<typeof idCardReaderConfigSchema> | undefined;
    qr?: z.infer<typeof qrScannerConfigSchema> | undefined;
    readers?: z.infer<typeof laneReaderConfigSchema>[] | undefined;
    turnstile?: z.infer<typeof turnstileConfigSchema> | undefined;
  },
  ctx: z.RefinementCtx,
): { readers: LaneReaderConfig[]; turnstile?: z.infer<typeof turnstileConfigSchema> } {
  const { idreader, qr, readers = [], turnstile } = devices;
  const all: LaneReaderConfig[] = [
    ...(idreader ? [{ kind: 'idreader' as const, name: 'idreader', ...idreader }] : []),
    ...(qr ? [{ kind: 'qr' as const, name: 'qr', ...qr }] : []),
    ...readers.map((reader) => ({ ...reader, name: reader.name ?? `${reader.kind}-${reader.direction}` })),
  ];
  const seen = new Set<string>();
  for (const reader of all) {
    if (seen.has(reader.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['readers'],
        message: `two devices named "${reader.name}": give each reader its own name`,
      });
    }
    seen.add(reader.name);
  }
  const addresses = new Map<number, string>(turnstile ? [[turnstile.address, 'turnstile']] : []);
  for (const reader of all) {
    if (reader.kind !== 'osdp') continue;
    if (!turnstile) {
      ctx.addIssue({
        code: 'custom',
        path: ['readers'],
        message: `"${reader.name}" is an OSDP reader on the turnstile's line: devices.turnstile is needed`,
      });
    }
    const other = addresses.get(reader.address);
    if (other !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['readers'],
        message: `"${other}" and "${reader.name}" both use OSDP address ${reader.address}: one address per PD`,
      });
    }
    addresses.set(reader.address, reader.name);
  }
  const paths = new Map<string, string>();
  const withPorts = all.filter((reader) => reader.kind !== 'osdp') as Array<LaneReaderConfig & { path: string }>;
  for (const device of [...withPorts, ...(turnstile ? [{ name: 'turnstile', path: turnstile.path }] : [])]) {
    const other = paths.get(device.path);
    if (other !== undefined && !device.path.startsWith('virtual:')) {
      ctx.addIssue({
        code: 'custom',
        path: ['readers'],
        message: `"${other}" and "${device.name}" both use ${device.path}: one serial port per device`,
      });
    }
    paths.set(device.path, device.name);
  }
  return { readers: all, ...(turnstile ? { turnstile } : {}) };
}

export type EdgeConfig = z.infer<typeof edgeConfigSchema>;
/** What a caller writes (defaults may be left out). */
export type EdgeConfigInput = z.input<typeof edgeConfigSchema>;

/** Merges and validates; throws `ConfigError` (problems are `path: message` lines). */
export function loadEdgeConfig(sources: ConfigSources): EdgeConfig {
  return loadConfig(edgeConfigSchema, sources);
}

/** `loadEdgeConfig`, and where each value came from (`anxin edge --print-config`). */
export function explainEdgeConfig(
  sources: ConfigSources & { flagNames?: Record<string, string> },
): ConfigExplanation<EdgeConfig> {
  return explainConfig(edgeConfigSchema, sources);
}

/** Validates an in-memory config (the demo builds these). */
export function parseEdgeConfig(input: EdgeConfigInput): EdgeConfig {
  const result = edgeConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError(formatIssues(result.error));
  return result.data;
}
