/**
 * Structured logging (pino): JSON lines, one child logger per component
 * (`logger.child({ component: 'edge.uplink' })`). Building a logger does no I/O by itself;
 * the process decides the destination and level (`ANXIN_LOG_LEVEL`, default `info`).
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Human-readable one-line output instead of JSON (used when stdout is a TTY). */
  pretty?: boolean;
  destination?: NodeJS.WritableStream;
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** A tiny pretty printer so the human mode needs no extra dependency. */
function prettyStream(out: NodeJS.WritableStream): NodeJS.WritableStream {
  return {
    write(chunk: string) {
      try {
        const { level, time, component, msg, pid: _pid, hostname: _h, ...rest } = JSON.parse(chunk);
        const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
        const when = new Date(time).toISOString().slice(11, 23);
        return out.write(`${when} ${LEVEL_NAMES[level] ?? level} ${component ?? '-'}: ${msg ?? ''}${extra}\n`);
      } catch {
        return out.write(chunk);
      }
    },
  } as NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.ANXIN_LOG_LEVEL ?? 'info';
  const out = options.destination ?? process.stdout;
  const pretty = options.pretty ?? (out === process.stdout && process.stdout.isTTY === true);
  return pino({ level, base: { pid: process.pid } }, pretty ? prettyStream(out) : (out as pino.DestinationStream));
}

/** A logger that drops everything: for tests and libraries used without a process around them. */
export const silentLogger: Logger = pino({ level: 'silent' });
