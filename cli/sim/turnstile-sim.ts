/**
 * `anxin sim turnstile --port PATH [--baud 115200] [--address 0] [--pass-delay 800]
 * [--behaviour pass|timeout|forced|tailgate]` (docs/contract.md, "Command line"): runs the OSDP
 * turnstile simulator on a real serial port until SIGINT/SIGTERM. Exit 0 on a signal, 2 on bad flags.
 */
import { createLogger } from '../../shared/log.ts';
import { OSDP_COMMAND_NAMES, type OsdpCommandName } from '../../firmware-bridge/osdp/codes.ts';
import { OSDP_BROADCAST } from '../../firmware-bridge/osdp/frame.ts';
import {
  OsdpTurnstileSimulator,
  SIMULATOR_PASS_DELAY_MS,
  TURNSTILE_BEHAVIOURS,
  type TurnstileBehaviour,
} from '../../firmware-bridge/osdp/simulator.ts';
import { integerFlag, parseSimArgs, reportProblems, type SimulatorCliIo } from '../sim-flags.ts';
import { untilStopSignal } from '../stop-signal.ts';

export const SIM_TURNSTILE_HELP = `Usage: anxin sim turnstile --port PATH [flags]

An OSDP peripheral (plain mode) with a turnstile behind it, on a real serial port.

  --port PATH         serial port (e.g. one end of a socat pty pair)   required
  --baud N            9600, 38400 or 115200                            [115200]
  --address N         OSDP address 0-126                               [0]
  --pass-delay MS     after an unlock, report the pass after MS ms     [${SIMULATOR_PASS_DELAY_MS}]
  --behaviour B       pass | timeout | forced | tailgate               [pass]
  --nak CMD[,CMD…]    refuse these commands with NAK 3, e.g. ISTAT,CAP  [none]
`;

const BAUD_RATES = [9600, 38400, 115200];

interface TurnstileSimFlags {
  path: string;
  baudRate: number;
  address: number;
  passDelayMs: number;
  behaviour: TurnstileBehaviour;
  nakCommands?: OsdpCommandName[];
}

/** Returns the flags, or the problems as `flag: message` lines. */
export function parseTurnstileSimFlags(argv: string[]): { flags: TurnstileSimFlags } | { problems: string[] } {
  const parsed = parseSimArgs('turnstile', argv, ['baud', 'address', 'pass-delay', 'behaviour', 'nak']);
  if (!parsed.values) return parsed;
  const { values, problems } = parsed;
  const baudRate = integerFlag('baud', values.baud, 115_200, [1, 4_000_000], problems);
  if (values.baud !== undefined && !BAUD_RATES.includes(baudRate)) {
    problems.push(`baud: must be one of ${BAUD_RATES.join(', ')}, got ${JSON.stringify(values.baud)}`);
  }
  const address = integerFlag('address', values.address, 0, [0, OSDP_BROADCAST - 1], problems);
  const passDelayMs = integerFlag('pass-delay', values['pass-delay'], SIMULATOR_PASS_DELAY_MS, [0, 600_000], problems);
  const behaviour = (values.behaviour ?? 'pass') as TurnstileBehaviour;
  if (!TURNSTILE_BEHAVIOURS.includes(behaviour)) {
    problems.push(
      `behaviour: must be one of ${TURNSTILE_BEHAVIOURS.join(', ')}, got ${JSON.stringify(values.behaviour)}`,
    );
  }
  const nakCommands = values.nak === undefined ? undefined : parseCommandList(values.nak, problems);
  if (problems.length > 0) return { problems };
  return {
    flags: { path: values.port!, baudRate, address, passDelayMs, behaviour, ...(nakCommands ? { nakCommands } : {}) },
  };
}

function parseCommandList(text: string, problems: string[]): OsdpCommandName[] {
  const names = text.split(',').map((name) =>
    name
      .trim()
      .toUpperCase()
      .replace(/^OSDP_/, ''),
  );
  const unknown = names.filter((name) => !OSDP_COMMAND_NAMES.includes(name as OsdpCommandName));
  if (unknown.length > 0 || names.length === 0) {
    problems.push(`nak: must list commands among ${OSDP_COMMAND_NAMES.join(', ')}, got ${JSON.stringify(text)}`);
  }
  return names as OsdpCommandName[];
}

export async function runSimulatorCli(argv: string[], io: SimulatorCliIo = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  const parsed = parseTurnstileSimFlags(argv);
  if ('problems' in parsed) {
    return reportProblems('turnstile', parsed.problems, stderr);
  }
  const { flags } = parsed;
  const logger = io.logger ?? createLogger();
  const log = logger.child({ component: 'sim.turnstile' });
  const simulator = new OsdpTurnstileSimulator({ ...flags, binding: io.binding, logger });
  simulator.on('unlock', (direction) => log.info({ direction, behaviour: simulator.behaviour }, 'unlock'));
  const stopped = io.until ?? untilStopSignal();
  await simulator.start();
  log.info(
    { port: flags.path, baudRate: flags.baudRate, address: flags.address, behaviour: flags.behaviour },
    'turnstile simulator ready',
  );
  await stopped;
  await simulator.stop();
  log.info({ ...simulator.stats }, 'turnstile simulator stopped');
  return 0;
}
