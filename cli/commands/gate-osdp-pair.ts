/**
 * `anxin gate osdp-pair --config gate.json`: installs a fresh secure channel key in the gate's
 * turnstile PD (docs/hardware.md, "Pairing the turnstile"; docs/devices.md §8).
 *
 * - No key file yet: pairing. Handshake with the install key SCBK-D (the PD must be factory-fresh
 *   or reset to install mode), osdp_KEYSET of a new random key inside that encrypted session.
 * - A key file already: rotation. Handshake with the current key, osdp_KEYSET of a new one.
 *
 * Crash safety: the new key is written to `<key file>.pending` (0600) before the KEYSET goes out,
 * and moved over the key file only once a handshake with it succeeded. If the PD took the key but
 * the gate never heard its ACK, the next run finds the pending key and tries it too. The key is
 * never printed. The gate (`anxin edge`) must not be running: it owns the serial port.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadEdgeConfig } from '../../edge-agent/config.ts';
import { OsdpControlPanel } from '../../firmware-bridge/osdp/control-panel.ts';
import { readScbkFile, writeScbkFile } from '../../firmware-bridge/osdp/key-file.ts';
import type { BindingInterface } from '../../firmware-bridge/serial/port-options.ts';
import { VirtualBinding } from '../../firmware-bridge/testing/virtual-binding.ts';
import { AnxinError } from '../../shared/errors.ts';
import { createLogger, type Logger } from '../../shared/log.ts';

export const OSDP_PAIR_HELP = `Usage: anxin gate osdp-pair --config gate.json [--address N] [--timeout MS]

Installs a new OSDP secure channel key in the gate's turnstile PD and saves it, mode 0600, in
devices.turnstile.scbkFile (default: turnstile.scbk in the gate's dataDir). Without a key file
the PD must be in install mode (factory-fresh: it accepts the default key SCBK-D); with one, the
key is rotated. Stop the gate first: it owns the serial port.

  --config FILE   the gate's config (JSON)                               required
  --address N     another PD on the turnstile's line: the OSDP reader of devices.readers
                  at that address (its scbkFile, default osdp-N.scbk)     [the turnstile]
  --timeout MS    how long to wait for the PD at each step                [10000]
`;

export interface OsdpPairIo {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  logger?: Logger;
  /** A serial binding (tests); default: the config's (`virtual`) or the OS's. */
  binding?: BindingInterface;
}

type PairFlags = { config?: string; timeout?: string; address?: string };
type EdgeConfig = ReturnType<typeof loadEdgeConfig>;
/** The PD to pair: its address, where its key file is (or would be) and how gate.json names it. */
interface PairTarget {
  address: number;
  scbkFile: string | undefined;
  defaultFile: string;
  key: string;
}
interface PairAttempt {
  what: string;
  scbk?: Buffer;
  installMode?: boolean;
}

function parsePairFlags(argv: string[]): PairFlags | string {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        timeout: { type: 'string', default: '10000' },
        address: { type: 'string' },
      },
    }).values;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The turnstile, or the OSDP reader at `--address` on its line; a string says why there is none. */
function pairTarget(config: EdgeConfig, values: PairFlags): PairTarget | string {
  const turnstile = config.devices.turnstile!;
  if (values.address === undefined || Number(values.address) === turnstile.address) {
    return {
      address: turnstile.address,
      scbkFile: turnstile.scbkFile,
      defaultFile: 'turnstile.scbk',
      key: 'turnstile',
    };
  }
  const reader = config.devices.readers.find((r) => r.kind === 'osdp' && r.address === Number(values.address));
  if (reader?.kind !== 'osdp') {
    return `address: no OSDP reader at address ${values.address} in devices.readers (nor the turnstile)`;
  }
  return {
    address: reader.address,
    scbkFile: reader.scbkFile,
    defaultFile: `osdp-${reader.address}.scbk`,
    key: `readers (${reader.name})`,
  };
}

/**
 * One try: bring the PD up securely with `attempt`'s key, install `newKey` (remembered in
 * `pendingFile` until the PD has ACKed it, then saved in `keyFile`). Throws why it failed.
 */
async function pairOnce(
  cp: OsdpControlPanel,
  attempt: PairAttempt,
  newKey: Buffer,
  files: { keyFile: string; pendingFile: string },
  timeoutMs: number,
): Promise<void> {
  cp.on('error', () => {});
  try {
    await cp.start();
    await withTimeout(onlineSecure(cp), timeoutMs, `the PD did not come up with ${attempt.what}`);
    writeScbkFile(files.pendingFile, newKey);
    await withTimeout(cp.setKey(newKey), timeoutMs, 'the PD did not confirm the new key');
    writeScbkFile(files.keyFile, newKey);
    unlinkSync(files.pendingFile);
  } finally {
    await cp.stop();
  }
}

export async function runOsdpPair(argv: string[], io: OsdpPairIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const fail = (message: string) => {
    stderr.write(`anxin gate osdp-pair: ${message}\n`);
    return 2;
  };
  const values = parsePairFlags(argv);
  if (typeof values === 'string') return fail(values);
  if (!values.config) return fail('config: required (--config gate.json)');
  const timeoutMs = Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000) {
    return fail('timeout: expected a whole number of ms from 100 to 600000');
  }
  let config: EdgeConfig;
  try {
    config = loadEdgeConfig({ file: { name: values.config, text: readFileSync(values.config, 'utf8') } });
  } catch (err) {
    return fail((err as Error).message);
  }
  const turnstile = config.devices.turnstile;
  if (!turnstile) return fail(`${values.config}: no devices.turnstile to pair`);
  const target = pairTarget(config, values);
  if (typeof target === 'string') return fail(target);
  const keyFile = resolve(config.dataDir, target.scbkFile ?? target.defaultFile);
  const pendingFile = `${keyFile}.pending`;
  const logger = io.logger ?? createLogger();
  const binding = io.binding ?? (config.binding === 'virtual' ? VirtualBinding : undefined);

  let current: Buffer | undefined;
  let pending: Buffer | undefined;
  try {
    if (existsSync(keyFile)) current = readScbkFile(keyFile);
    if (existsSync(pendingFile)) pending = readScbkFile(pendingFile);
  } catch (err) {
    return fail((err as Error).message);
  }

  // Who to try, in order: the key we hold (rotation) or the install key (pairing), then a key a
  // previous run may have installed without hearing the ACK.
  const attempts: PairAttempt[] = [
    current ? { what: 'the current key', scbk: current } : { what: 'the install key (SCBK-D)', installMode: true },
    ...(pending ? [{ what: 'the key of an unfinished pairing', scbk: pending }] : []),
  ];
  const newKey = randomBytes(16);
  const problems: string[] = [];
  for (const attempt of attempts) {
    const cp = new OsdpControlPanel({
      path: turnstile.path,
      baudRate: turnstile.baudRate,
      address: target.address,
      ...(binding ? { binding } : {}),
      ...(attempt.scbk ? { scbk: attempt.scbk } : {}),
      ...(attempt.installMode ? { installMode: true } : {}),
      logger: logger.child({ component: 'osdp-pair' }),
    });
    try {
      await pairOnce(cp, attempt, newKey, { keyFile, pendingFile }, timeoutMs);
    } catch (err) {
      problems.push(`${attempt.what}: ${(err as Error).message}`);
      continue;
    }
    stdout.write(
      `${current ? 'rotated' : 'paired'}: the PD at address ${target.address} on ${turnstile.path} holds a new key, saved in ${keyFile} (mode 0600)\n`,
    );
    if (!target.scbkFile) stdout.write(`add to ${values.config}: "scbkFile": "${keyFile}" in devices.${target.key}\n`);
    return 0;
  }
  stderr.write(`anxin gate osdp-pair: could not pair the PD at address ${target.address} on ${turnstile.path}\n`);
  for (const problem of problems) stderr.write(`  ${problem}\n`);
  return 1;
}

function onlineSecure(cp: OsdpControlPanel): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const check = () => {
      if (cp.status === 'ok' && cp.secure) {
        cp.off('status', check);
        resolve();
      } else if (cp.status === 'fault' && cp.faultReason && !cp.faultReason.startsWith('serial port')) {
        cp.off('status', check);
        reject(new AnxinError('osdp-pair', cp.faultReason));
      }
    };
    cp.on('status', check);
    check();
  });
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new AnxinError('osdp-pair', `${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
