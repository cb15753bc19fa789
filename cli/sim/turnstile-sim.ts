/**
 * `anxin sim turnstile --port PATH [--baud 115200] [--address 0[,1…]] [--pass-delay 800]
 * [--behaviour pass|timeout|forced|tailgate] [--nak CMD,…] [--scbk HEX | --scbk-file PATH]
 * [--install-mode]` (docs/contract.md, "Command line"): runs the OSDP turnstile simulator — one PD
 * per address, all on one port — on a real serial port until SIGINT/SIGTERM. Exit 0 on a signal,
 * 2 on bad flags. Keys are never printed.
 */
import { existsSync } from 'node:fs';
import { readScbkFile, writeScbkFile } from '../../firmware-bridge/osdp/key-file.ts';
import { parseScbk } from '../../firmware-bridge/osdp/secure-channel.ts';
import { createLogger } from '../../shared/log.ts';
import { OSDP_COMMAND_NAMES, type OsdpCommandName } from '../../firmware-bridge/osdp/codes.ts';
import { OSDP_BROADCAST } from '../../firmware-bridge/osdp/frame.ts';
import {
  OsdpSimulatorLine,
  OsdpTurnstileSimulator,
  SIMULATOR_PASS_DELAY_MS,
  TURNSTILE_BEHAVIOURS,
  type TurnstileBehaviour,
} from '../../firmware-bridge/osdp/simulator.ts';
import { integerFlag, parseSimArgs, reportProblems, type SimulatorCliIo } from '../sim-flags.ts';
import { untilStopSignal } from '../stop-signal.ts';

const BAUD_RATES = [9600, 38400, 115200];

interface TurnstileSimFlags {
  path: string;
  baudRate: number;
  address: number;
  passDelayMs: number;
  behaviour: TurnstileBehaviour;
  nakCommands?: OsdpCommandName[];
  /** Present when more than one address was given. */
  addresses?: number[];
  scbk?: Buffer;
  scbkFile?: string;
  installMode?: boolean;
}

/** Returns the flags, or the problems as `flag: message` lines. */
export function parseTurnstileSimFlags(argv: string[]): { flags: TurnstileSimFlags } | { problems: string[] } {
  const installMode = argv.includes('--install-mode');
  const parsed = parseSimArgs(
    'turnstile',
    argv.filter((arg) => arg !== '--install-mode'),
    ['baud', 'address', 'pass-delay', 'behaviour', 'nak', 'scbk', 'scbk-file'],
  );
  if (!parsed.values) return parsed;
  const { values, problems } = parsed;
  const baudRate = integerFlag('baud', values.baud, 115_200, [1, 4_000_000], problems);
  if (values.baud !== undefined && !BAUD_RATES.includes(baudRate)) {
    problems.push(`baud: must be one of ${BAUD_RATES.join(', ')}, got ${JSON.stringify(values.baud)}`);
  }
  const addressTexts = (values.address ?? '0').split(',');
  const addresses = addressTexts.map((text) => integerFlag('address', text, 0, [0, OSDP_BROADCAST - 1], problems));
  if (new Set(addresses).size !== addresses.length) problems.push('address: each address once');
  const address = addresses[0]!;
  let scbk: Buffer | undefined;
  if (values.scbk !== undefined) {
    try {
      scbk = parseScbk(values.scbk);
    } catch {
      problems.push('scbk: must be 32 hex digits (16 bytes)');
    }
  }
  if (values.scbk !== undefined && values['scbk-file'] !== undefined)
    problems.push('scbk: give --scbk or --scbk-file, not both');
  if (
    (values.scbk !== undefined || values['scbk-file'] !== undefined) &&
    installMode &&
    values['scbk-file'] === undefined
  ) {
    problems.push('install-mode: a keyed PD (--scbk) does not accept the install key');
  }
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
    flags: {
      path: values.port!,
      baudRate,
      address,
      passDelayMs,
      behaviour,
      ...(nakCommands ? { nakCommands } : {}),
      ...(addresses.length > 1 ? { addresses } : {}),
      ...(scbk ? { scbk } : {}),
      ...(values['scbk-file'] !== undefined ? { scbkFile: values['scbk-file'] } : {}),
      ...(installMode ? { installMode } : {}),
    },
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
  let scbk = flags.scbk;
  if (flags.scbkFile && existsSync(flags.scbkFile)) {
    try {
      scbk = readScbkFile(flags.scbkFile);
    } catch (err) {
      return reportProblems('turnstile', [`scbk-file: ${(err as Error).message}`], stderr);
    }
  }
  const { addresses = [flags.address], scbkFile, ...common } = flags;
  const line = new OsdpSimulatorLine({ path: flags.path, baudRate: flags.baudRate, binding: io.binding, logger });
  const simulators = addresses.map(
    (address) =>
      new OsdpTurnstileSimulator({
        ...common,
        address,
        line,
        binding: io.binding,
        logger,
        ...(scbk ? { scbk } : {}),
        installMode: flags.installMode ?? (scbkFile !== undefined && !scbk),
      }),
  );
  for (const simulator of simulators) {
    const address = simulator.address;
    simulator.on('unlock', (direction) => log.info({ address, direction, behaviour: simulator.behaviour }, 'unlock'));
    simulator.on('handshake', (key) => log.info({ address, key }, 'secure channel established'));
    simulator.on('secure-failure', (reason) => log.warn({ address, reason }, 'secure channel refused'));
    simulator.on('keyset', (key) => {
      if (!scbkFile) {
        log.info({ address }, 'new key installed (kept in memory only: no --scbk-file)');
        return;
      }
      try {
        writeScbkFile(scbkFile, key);
        log.info({ address, file: scbkFile }, 'new key installed and saved');
      } catch (err) {
        log.error({ address, err: (err as Error).message }, 'new key installed but not saved');
      }
    });
  }
  const stopped = io.until ?? untilStopSignal();
  for (const simulator of simulators) await simulator.start();
  log.info(
    {
      port: flags.path,
      baudRate: flags.baudRate,
      address: flags.address,
      addresses,
      behaviour: flags.behaviour,
      secure: scbk
        ? 'keyed'
        : simulators[0]!.keyed
          ? 'keyed'
          : common.installMode || scbkFile
            ? 'install-mode'
            : 'plain',
    },
    'turnstile simulator ready',
  );
  await stopped;
  for (const simulator of simulators) await simulator.stop();
  const stats = simulators.map((s) => s.stats);
  const total = Object.fromEntries(
    Object.keys(stats[0]!).map((k) => [k, stats.reduce((sum, s) => sum + s[k as keyof typeof s], 0)]),
  );
  log.info({ ...total }, 'turnstile simulator stopped');
  return 0;
}
