/**
 * `anxin sim idreader|qr|turnstile --port PATH …` (docs/contract.md §1, simulators): a device simulator
 * on a real serial port, e.g. one end of a socat pty pair, for testing an edge agent without
 * hardware. The QR scanner lives here; the ID-card reader and the turnstile in `cli/sim/`.
 * Runs until SIGINT/SIGTERM, then exits 0.
 */
import { existsSync } from 'node:fs';
import { QR_SUFFIXES, type QrSuffix, QrScannerSimulator } from '../../firmware-bridge/qr/simulator.ts';
import { readKeysFile } from '../../shared/keys.ts';
import { createLogger } from '../../shared/log.ts';
import { newPassId, signPass } from '../../shared/pass.ts';
import { integerFlag, parseSimArgs, reportProblems, type SimulatorCliIo } from '../sim-flags.ts';
import { runSimulatorCli as runIdCardReaderSim } from '../sim/idreader-sim.ts';
import { runSimulatorCli as runTurnstileSim } from '../sim/turnstile-sim.ts';
import { untilStopSignal } from '../stop-signal.ts';

/** Used only when no keys file is at hand to sign a demo pass with (a bare scanner test). */
export const DEFAULT_QR_SIM_TEXT = 'ANXIN-DEMO-QR';
/** The demo's first resident (see `anxin demo`); a pass for them opens the demo's gates. */
const DEMO_PASS_PERSON = { personId: 'p-000001', compoundId: 'sunny-garden' };

/**
 * The default `--text`: a valid resident pass for the demo's first resident, signed with the
 * deployment key in `keysPath` (what `anxin demo` and `anxin keys init` write), valid for a day.
 */
export function demoPassText(keysPath: string, now = Date.now()): string | undefined {
  if (!existsSync(keysPath)) return undefined;
  const signing = readKeysFile(keysPath).signing;
  if (!signing) return undefined;
  return signPass(
    {
      passId: newPassId(),
      ...DEMO_PASS_PERSON,
      kind: 'resident',
      notBefore: now - 60_000,
      expiresAt: now + 86_400_000,
    },
    signing,
  );
}
const DEFAULT_QR_SIM_BAUD = 9600;
const DEFAULT_QR_SIM_INTERVAL_MS = 3000;

export const help = `Usage: anxin sim idreader|qr|turnstile --port PATH [flags]

A device simulator on a real serial port (e.g. one end of a socat pty pair:
  socat -d -d pty,raw,echo=0,link=/tmp/qr-gate pty,raw,echo=0,link=/tmp/qr-sim
then the gate opens /tmp/qr-gate and the simulator /tmp/qr-sim).

  anxin sim qr --port PATH [--baud ${DEFAULT_QR_SIM_BAUD}] [--text TEXT] [--suffix cr|lf|crlf|tab|none] [--interval ${DEFAULT_QR_SIM_INTERVAL_MS}] [--keys data/keys.json]
      a serial QR scanner: writes TEXT and the suffix (default cr) every interval ms; without --text,
      a valid pass of the demo's first resident signed with the keys file (if there is one)
  anxin sim idreader --port PATH [--baud 115200] [--id NUMBER] [--name NAME] [--interval 3000]
      a SAM_V national ID-card reader that lays a card on the reader every interval ms for one second
  anxin sim turnstile --port PATH [--baud 115200] [--address 0] [--pass-delay 800] [--behaviour pass|timeout|forced|tailgate]
      an OSDP peripheral (plain mode) with a turnstile behind it

Stops on SIGINT/SIGTERM (exit 0). Bad flags exit 2 with one "flag: problem" line each.
`;

export type SimIo = SimulatorCliIo;

/** The simulators of `cli/sim/`, each `(argv, io) → exit code`. */
const SIMULATORS = {
  idreader: (argv: string[], io: SimIo) => runIdCardReaderSim(argv, io),
  turnstile: (argv: string[], io: SimIo) => runTurnstileSim(argv, io),
  qr: (argv: string[], io: SimIo) => runQr(argv, io),
} satisfies Record<string, (argv: string[], io: SimIo) => Promise<number>>;

export async function run(argv: string[], io: SimIo = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  const [kind, ...rest] = argv;
  if (kind !== undefined && Object.hasOwn(SIMULATORS, kind)) {
    return SIMULATORS[kind as keyof typeof SIMULATORS](rest, io);
  }
  stderr.write(
    `anxin sim: ${kind === undefined ? 'missing device' : `unknown device ${JSON.stringify(kind)}`}; expected idreader, qr or turnstile\n`,
  );
  return 2;
}

interface QrSimFlags {
  path: string;
  baudRate: number;
  text: string;
  suffix: QrSuffix;
  intervalMs: number;
}

/** Returns the flags, or the problems as `flag: message` lines. */
export function parseQrSimFlags(argv: string[]): { flags: QrSimFlags } | { problems: string[] } {
  const parsed = parseSimArgs('qr', argv, ['baud', 'text', 'suffix', 'interval', 'keys']);
  if (!parsed.values) return parsed;
  const { values, problems } = parsed;
  const baudRate = integerFlag('baud', values.baud, DEFAULT_QR_SIM_BAUD, [1, 4_000_000], problems);
  const intervalMs = integerFlag('interval', values.interval, DEFAULT_QR_SIM_INTERVAL_MS, [1, 86_400_000], problems);
  const suffix = (values.suffix ?? 'cr') as QrSuffix;
  if (!QR_SUFFIXES.includes(suffix)) {
    problems.push(`suffix: must be one of ${QR_SUFFIXES.join(', ')}, got ${JSON.stringify(values.suffix)}`);
  }
  let text = values.text;
  if (text === undefined) {
    try {
      text = demoPassText(values.keys ?? 'data/keys.json') ?? DEFAULT_QR_SIM_TEXT;
    } catch (err) {
      problems.push(`keys: ${(err as Error).message.split('\n')[0]}`);
      text = DEFAULT_QR_SIM_TEXT;
    }
  }
  if (text === '') problems.push('text: must not be empty');
  if (problems.length > 0) return { problems };
  return { flags: { path: values.port!, baudRate, text, suffix, intervalMs } };
}

async function runQr(argv: string[], io: SimIo): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  const parsed = parseQrSimFlags(argv);
  if ('problems' in parsed) {
    return reportProblems('qr', parsed.problems, stderr);
  }
  const { flags } = parsed;
  const logger = (io.logger ?? createLogger()).child({ component: 'sim.qr' });
  const simulator = new QrScannerSimulator({
    path: flags.path,
    baudRate: flags.baudRate,
    suffix: flags.suffix,
    binding: io.binding,
    logger: io.logger,
  });
  const stopped = io.until ?? untilStopSignal();
  await simulator.start();
  logger.info(
    { port: flags.path, baudRate: flags.baudRate, suffix: flags.suffix, intervalMs: flags.intervalMs },
    'QR scanner simulator ready',
  );
  let sent = 0;
  let inFlight = false;
  const timer = setInterval(() => {
    // A scan at 9600 baud takes ~200 ms on the wire; never start one before the last has gone.
    if (inFlight) return;
    inFlight = true;
    simulator
      .scan(flags.text)
      .then(
        () => {
          sent++;
          logger.debug({ sent }, 'scan sent');
        },
        (err: Error) => logger.warn({ err: err.message }, 'scan not sent; port down'),
      )
      .finally(() => {
        inFlight = false;
      });
  }, flags.intervalMs);
  await stopped;
  clearInterval(timer);
  await simulator.stop();
  logger.info({ sent }, 'QR scanner simulator stopped');
  return 0;
}
