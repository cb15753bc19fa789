/**
 * `anxin sim idreader --port PATH [--baud 115200] [--id NUMBER] [--name NAME] [--interval 3000]`
 * (docs/contract.md §1, simulators): a SAM_V ID-card reader on a real serial port. It answers every command as a
 * reader does and, every `interval` ms (the first time at once), lays a card on the reader for one
 * second, then lifts it: the given ID number, or a freshly generated valid one each time. Runs until
 * SIGINT/SIGTERM (exit 0); bad flags exit 2 with one `flag: problem` line each.
 */
import { generateIdNumber, maskIdNumber, validateIdNumber } from '../../shared/id-number.ts';
import { createLogger } from '../../shared/log.ts';
import { SAMV_BAUD_RATES } from '../../firmware-bridge/idreader/frame.ts';
import { IdCardReaderSimulator, type SimulatedCard } from '../../firmware-bridge/idreader/simulator.ts';
import { parseSimArgs, reportProblems, type SimulatorCliIo } from '../sim-flags.ts';
import { untilStopSignal } from '../stop-signal.ts';

const DEFAULT_ID_CARD_READER_SIM_BAUD = 115_200;
const DEFAULT_ID_CARD_READER_SIM_INTERVAL_MS = 3_000;
/** How long each card lies on the reader (docs/contract.md: one second). */
const CARD_HOLD_MS = 1_000;

export interface IdCardReaderSimFlags {
  path: string;
  baudRate: number;
  idNumber?: string;
  name?: string;
  intervalMs: number;
}

/** Returns the flags, or the problems as `flag: message` lines. */
export function parseIdCardReaderSimFlags(argv: string[]): { flags: IdCardReaderSimFlags } | { problems: string[] } {
  const parsed = parseSimArgs('idreader', argv, ['baud', 'id', 'name', 'interval']);
  if (!parsed.values) return parsed;
  const { values, problems } = parsed;
  let baudRate = DEFAULT_ID_CARD_READER_SIM_BAUD;
  if (values.baud !== undefined) {
    baudRate = Number(values.baud);
    if (!SAMV_BAUD_RATES.includes(baudRate as (typeof SAMV_BAUD_RATES)[number]) || !/^\d+$/.test(values.baud)) {
      problems.push(`baud: must be one of ${SAMV_BAUD_RATES.join(', ')}, got ${JSON.stringify(values.baud)}`);
    }
  }
  const idNumber = values.id?.toUpperCase();
  if (idNumber !== undefined && !/^\d{17}[\dX]$/.test(idNumber)) {
    problems.push(`id: must be 17 digits and a check character (0-9 or X), got ${JSON.stringify(values.id)}`);
  }
  const name = values.name;
  if (name !== undefined && (name.trim() === '' || name.length > 15)) {
    problems.push(`name: must be 1 to 15 characters, got ${JSON.stringify(name)}`);
  }
  let intervalMs = DEFAULT_ID_CARD_READER_SIM_INTERVAL_MS;
  if (values.interval !== undefined) {
    intervalMs = Number(values.interval);
    if (!/^\d+$/.test(values.interval) || intervalMs <= CARD_HOLD_MS || !Number.isSafeInteger(intervalMs)) {
      problems.push(`interval: must be an integer above ${CARD_HOLD_MS} (ms), got ${JSON.stringify(values.interval)}`);
    }
  }
  if (problems.length > 0) return { problems };
  const flags: IdCardReaderSimFlags = { path: values.port!, baudRate, intervalMs };
  if (idNumber !== undefined) flags.idNumber = idNumber;
  if (name !== undefined) flags.name = name;
  return { flags };
}

const NAMES = ['王秀英', '李伟', '张敏', '刘洋', '陈静', '杨磊', '赵丽', '黄强', '周芳', '吴军', '欧阳娜娜', '马艳'];
const STREETS = ['建国路', '人民路', '解放路', '中山路', '长安街', '和平里', '朝阳门外大街'];

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.min(items.length - 1, Math.floor(random() * items.length))]!;
}

/** Birth date and sex from the number when it carries a real date, else neutral defaults. */
function factsOf(idNumber: string): { birthDate: string; sex: SimulatedCard['sex'] } {
  const check = validateIdNumber(idNumber);
  if (check.ok) return { birthDate: check.birthDate, sex: check.sex };
  const digits = /^\d{6}(\d{4})(\d{2})(\d{2})\d{2}(\d)/.exec(idNumber);
  const birthDate = digits ? `${digits[1]}-${digits[2]}-${digits[3]}` : '';
  const real = /^\d{4}-\d{2}-\d{2}$/.test(birthDate) && !Number.isNaN(Date.parse(`${birthDate}T00:00:00Z`));
  const sex = digits ? (Number(digits[4]) % 2 === 1 ? 'male' : 'female') : 'unknown';
  return { birthDate: real ? new Date(`${birthDate}T00:00:00Z`).toISOString().slice(0, 10) : '1990-01-01', sex };
}

/** A plausible card: cards of people born before 1970 are 长期 (no expiry), others valid 20 years. */
export function simulatedCard(random: () => number, idNumber?: string, name?: string): SimulatedCard {
  const number = idNumber ?? generateIdNumber(random);
  const { birthDate, sex } = factsOf(number);
  const year = Number(birthDate.slice(0, 4));
  const validFrom = `${Math.max(year + 16, 2016)}-03-01`;
  return {
    name: name ?? pick(random, NAMES),
    sex,
    nationCode: '01',
    birthDate,
    address: `北京市朝阳区${pick(random, STREETS)}${1 + Math.floor(random() * 200)}号`,
    idNumber: number,
    authority: '北京市公安局朝阳分局',
    validFrom,
    validTo: year < 1970 ? null : `${Number(validFrom.slice(0, 4)) + 20}-03-01`,
  };
}

export async function runSimulatorCli(argv: string[], io: SimulatorCliIo = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  const parsed = parseIdCardReaderSimFlags(argv);
  if ('problems' in parsed) {
    return reportProblems('idreader', parsed.problems, stderr);
  }
  const { flags } = parsed;
  const random = io.random ?? Math.random;
  const logger = io.logger ?? createLogger();
  const log = logger.child({ component: 'sim.idreader' });
  const simulator = new IdCardReaderSimulator({
    path: flags.path,
    baudRate: flags.baudRate,
    binding: io.binding,
    logger,
  });
  const stopped = io.until ?? untilStopSignal();
  await simulator.start();
  log.info(
    { port: flags.path, baudRate: flags.baudRate, intervalMs: flags.intervalMs },
    'ID-card reader simulator ready',
  );

  let laid = 0;
  let liftTimer: ReturnType<typeof setTimeout> | undefined;
  const layCard = () => {
    const card = simulatedCard(random, flags.idNumber, flags.name);
    simulator.presentCard(card);
    laid += 1;
    log.info({ idNumber: maskIdNumber(card.idNumber), laid }, 'card laid on the reader');
    liftTimer = setTimeout(() => simulator.removeCard(), CARD_HOLD_MS);
  };
  layCard();
  const layTimer = setInterval(layCard, flags.intervalMs);

  await stopped;
  clearInterval(layTimer);
  clearTimeout(liftTimer);
  await simulator.stop();
  log.info({ laid, commands: simulator.counters }, 'ID-card reader simulator stopped');
  return 0;
}
