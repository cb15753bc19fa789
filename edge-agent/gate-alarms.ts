/**
 * The gate's alarms (docs/contract.md §2, `alarms`) and the conditions that raise them: a deep
 * journal, a disk nearly full under it, a failing journal write or fsync, a skewed wall clock.
 * Each condition raises one alarm per episode; alarms raised while the link is down are kept
 * (the newest 100) and sent when it is back. The terminal shows the last 20.
 */
import { statfs } from 'node:fs/promises';
import type { AlarmKind } from '../shared/enums.ts';
import type { Logger } from '../shared/log.ts';
import type { AlarmMessage } from '../shared/schemas/mqtt.ts';
import { topics } from '../shared/topics.ts';
import type { EdgeConfig } from './config.ts';
import type { GateClock } from './gate-clock.ts';
import type { TerminalAlarm } from './terminal/terminal-state.ts';
import type { EventPublisher } from './uplink.ts';

const RECENT_ALARMS = 20;
/** Alarms raised while offline are kept (newest) and sent on reconnect. */
const QUEUED_ALARMS = 100;
/** The journal-full alarm clears only once the depth is well below the limit again. */
const JOURNAL_ALARM_HYSTERESIS = 0.9;

export interface GateAlarmsOptions {
  gateId: string;
  now: () => number;
  log: Logger;
  counters: { alarms: number };
  /** The link while the agent runs; undefined otherwise (the alarm is queued). */
  publisher: () => EventPublisher | undefined;
  /** Every raised alarm, after it was recorded (the terminal and the agent's `alarm` event). */
  onAlarm: (alarm: AlarmMessage) => void;
}

export class GateAlarms {
  private readonly recentAlarms: TerminalAlarm[] = [];
  private readonly queued: AlarmMessage[] = [];

  constructor(private readonly options: GateAlarmsOptions) {}

  /** The newest alarms first (the guard panel). */
  get recent(): TerminalAlarm[] {
    return [...this.recentAlarms];
  }

  raise(kind: AlarmKind, detail: string): void {
    const { options } = this;
    const alarm: AlarmMessage = { kind, ts: options.now(), detail: detail.slice(0, 500) };
    options.counters.alarms += 1;
    options.log.warn({ kind, detail }, 'alarm');
    this.recentAlarms.unshift(alarm);
    this.recentAlarms.length = Math.min(this.recentAlarms.length, RECENT_ALARMS);
    if (!this.send(alarm)) {
      this.queued.push(alarm);
      if (this.queued.length > QUEUED_ALARMS) this.queued.shift();
    }
    options.onAlarm(alarm);
  }

  /** Sends the alarms queued while offline, oldest first, until the link refuses one. */
  flush(): void {
    while (this.queued.length > 0) {
      if (!this.send(this.queued[0]!)) return;
      this.queued.shift();
    }
  }

  private send(alarm: AlarmMessage): boolean {
    const publisher = this.options.publisher();
    if (!publisher) return false;
    return publisher.publish(topics.gateAlarms(this.options.gateId), JSON.stringify(alarm), { qos: 1 });
  }
}

async function statfsFreeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

export interface AlarmWatchOptions {
  config: Pick<EdgeConfig, 'dataDir' | 'journal' | 'clock'>;
  alarms: GateAlarms;
  clock: GateClock;
  journalDepth: () => number;
  /** Free bytes on the file system of a directory (tests). Default: `statfs`. */
  freeSpace?: ((dir: string) => Promise<number>) | undefined;
  running: () => boolean;
  /** Something the status shows changed. */
  changed: () => void;
  log: Logger;
}

/** The conditions behind `journal-full` and `clock-skew`, each raised once per episode. */
export class AlarmWatch {
  private journalDeep = false;
  private diskLow = false;
  private journalWriteFailing = false;
  private journalSyncFailing = false;
  private clockAlarmed = false;

  constructor(private readonly options: AlarmWatchOptions) {}

  /** The status flag: the journal is deep, or the disk under it is nearly full. */
  get journalFull(): boolean {
    return this.journalDeep || this.diskLow;
  }

  checkJournalDepth(): void {
    const depth = this.options.journalDepth();
    const limit = this.options.config.journal.alarmDepth;
    if (!this.journalDeep && depth >= limit) {
      this.journalDeep = true;
      this.options.alarms.raise(
        'journal-full',
        `journal holds ${depth} unacknowledged events (alarm depth ${limit}); nothing is dropped`,
      );
      this.options.changed();
    } else if (this.journalDeep && depth < limit * JOURNAL_ALARM_HYSTERESIS) {
      this.journalDeep = false;
      this.options.changed();
    }
  }

  /** Low disk for the journal raises `journal-full` before SQLite would fail a write; clears at twice the reserve. */
  async checkFreeSpace(): Promise<void> {
    const { config } = this.options;
    const reserve = config.journal.minFreeBytes;
    if (reserve === 0 || config.dataDir === ':memory:') return;
    let free: number;
    try {
      free = await (this.options.freeSpace ?? statfsFreeBytes)(config.dataDir);
    } catch (error) {
      this.options.log.warn({ err: (error as Error).message }, 'cannot read the free disk space');
      return;
    }
    if (!this.options.running()) return;
    if (!this.diskLow && free < reserve) {
      this.diskLow = true;
      this.options.alarms.raise(
        'journal-full',
        `${Math.floor(free / 1048576)} MiB free for the journal (reserve ${Math.floor(reserve / 1048576)} MiB); nothing is dropped yet`,
      );
      this.options.changed();
    } else if (this.diskLow && free >= 2 * reserve) {
      this.diskLow = false;
      this.options.changed();
    }
  }

  /** A passage was journaled: a failing streak ends, and the depth may have crossed the limit. */
  journalWritten(): void {
    this.journalWriteFailing = false;
    this.checkJournalDepth();
  }

  /**
   * The gate still acts on its decision (people must not be locked in), but loudly: the caller
   * counts and logs every unrecorded passage, the alarm is raised once per failing streak.
   */
  journalWriteFailed(error: Error): void {
    if (this.journalWriteFailing) return;
    this.journalWriteFailing = true;
    this.options.alarms.raise('journal-full', `journal write failed: ${error.message}`);
  }

  journalDurable(): void {
    this.journalSyncFailing = false;
  }

  journalSyncFailed(error: Error): void {
    this.options.log.error({ err: error.message }, 'journal fsync failed; events are held back until it succeeds');
    if (this.journalSyncFailing || !this.options.running()) return;
    this.journalSyncFailing = true;
    this.options.alarms.raise('journal-full', `journal fsync failed: ${error.message}`);
  }

  /** One `clock-skew` alarm per episode; it clears once the wall clock is back within half the tolerance. */
  checkClock(): void {
    const info = this.options.clock.info();
    if (info.skewed && !this.clockAlarmed) {
      this.clockAlarmed = true;
      const days = (info.skewMs! / 86_400_000).toFixed(2);
      this.options.alarms.raise(
        'clock-skew',
        `wall clock ${info.skewMs! > 0 ? 'ahead of' : 'behind'} the cloud by ${Math.abs(info.skewMs!)} ms (${days} d); ` +
          `passes are judged by the cloud-checked time (${info.source})`,
      );
    } else if (
      this.clockAlarmed &&
      (info.skewMs === undefined || Math.abs(info.skewMs) <= this.options.config.clock.toleranceMs / 2)
    ) {
      this.clockAlarmed = false;
    }
  }
}
