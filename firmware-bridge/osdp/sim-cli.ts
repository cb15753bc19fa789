/**
 * `anxin sim turnstile --port PATH [--baud 115200] [--address 0] [--pass-delay 800]
 * [--behaviour pass|timeout|forced|tailgate]` (CONTRACT.md, "Command line"): runs the OSDP
 * turnstile simulator on a real serial port until SIGINT/SIGTERM. Exit 0 on a signal, 2 on bad flags.
 */
import { parseArgs } from 'node:util';
import { createLogger, type Logger } from '../../shared/log.ts';
import type { BindingInterface } from '../serial/port-options.ts';
import { OSDP_BROADCAST } from './frame.ts';
import {
  OsdpTurnstileSimulator,
  SIMULATOR_PASS_DELAY_MS,
  TURNSTILE_BEHAVIOURS,
  type TurnstileBehaviour,
} from './simulator.ts';

export const SIM_TURNSTILE_HELP = `Usage: anxin sim turnstile --port PATH [flags]

An OSDP peripheral (plain mode) with a turnstile behind it, on a real serial port.

  --port PATH         serial port (e.g. one end of a socat pty pair)   required
  --baud N            9600, 38400 or 115200                            [115200]
  --address N         OSDP address 0-126                               [0]
  --pass-delay MS     after an unlock, report the pass after MS ms     [${SIMULATOR_PASS_DELAY_MS}]
  --behaviour B       pass | timeout | forced | tailgate               [pass]
`;

const BAUD_RATES = [9600, 38400, 115200];

export interface SimulatorCliIo {
  stderr?: NodeJS.WritableStream;
  logger?: Logger;
  /** For tests: a serial binding other than the OS one. */
  binding?: BindingInterface;
  /** For tests: resolves to stop the simulator instead of waiting for SIGINT/SIGTERM. */
  until?: Promise<void>;
}

class UsageError extends Error {}

function integer(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${flag}: expected an integer, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`--${flag}: must be ${min}–${max}, got ${n}`);
  return n;
}

function parseFlags(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      baud: { type: 'string' },
      address: { type: 'string' },
      'pass-delay': { type: 'string' },
      behaviour: { type: 'string' },
    },
  });
  // `anxin sim turnstile …` may hand over the device name too.
  const extra = positionals.filter((p) => p !== 'turnstile');
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  if (!values.port) throw new UsageError('--port: required');
  const baudRate = integer('baud', values.baud, 115_200, 1, 4_000_000);
  if (!BAUD_RATES.includes(baudRate))
    throw new UsageError(`--baud: must be one of ${BAUD_RATES.join(', ')}, got ${baudRate}`);
  const behaviour = (values.behaviour ?? 'pass') as TurnstileBehaviour;
  if (!TURNSTILE_BEHAVIOURS.includes(behaviour)) {
    throw new UsageError(
      `--behaviour: must be one of ${TURNSTILE_BEHAVIOURS.join(', ')}, got ${JSON.stringify(behaviour)}`,
    );
  }
  return {
    path: values.port,
    baudRate,
    address: integer('address', values.address, 0, 0, OSDP_BROADCAST - 1),
    passDelayMs: integer('pass-delay', values['pass-delay'], SIMULATOR_PASS_DELAY_MS, 0, 600_000),
    behaviour,
  };
}

function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

export async function runSimulatorCli(argv: string[], io: SimulatorCliIo = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    // parseArgs' own errors (unknown flag, missing value) are one line already.
    const message = (err as Error).message.split('\n')[0];
    stderr.write(`anxin sim turnstile: ${message}\n`);
    return 2;
  }
  const logger = io.logger ?? createLogger();
  const simulator = new OsdpTurnstileSimulator({ ...flags, binding: io.binding, logger });
  const stopped = io.until ?? untilSignal();
  await simulator.start();
  logger.info(
    { component: 'osdp.sim', port: flags.path, address: flags.address, behaviour: flags.behaviour },
    'turnstile simulator ready',
  );
  await stopped;
  await simulator.stop();
  return 0;
}
