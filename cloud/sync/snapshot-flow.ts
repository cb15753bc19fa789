/**
 * End-to-end flow control for snapshots (docs/cloud.md "Sync protocol", "Snapshot flow control").
 *
 * A broker PUBACK only says the broker took a part, not that the gate read it; the broker cuts off
 * a client whose unsent backlog passes its limit (4 MiB for a gate, broker/connection-guard.ts). So
 * the cloud keeps at most `maxInFlightBytes` of parts sent but not acknowledged by the gate on
 * `gates/{id}/sync/ack {snapshotRev, part}` (the highest part it has staged), always at least one
 * part, and sends more as acks come in.
 *
 * - A gate that never acks (an older agent, or acks that reached another cloud instance): with the
 *   window full and no ack for `paceMs`, one more part goes out, so the snapshot still completes,
 *   paced at one part per `paceMs`.
 * - A gate that did ack and then stays silent for `giveUpMs` has gone: the session ends (the gate
 *   asks again when it is back).
 * - A gate that asks again while its snapshot is under way: same snapshot rev, the session resumes
 *   from the first part not acknowledged (parts lost with a dropped connection go again; the gate
 *   stages a part twice only once); a newer rev replaces the session.
 *
 * The parts arrive as the store reads them (`add`, serialised once: the payload published is the
 * one measured for the window), so the first window goes out while the rest is still being read.
 *
 * State is per gate request, in the instance that answered it; nothing is global.
 */
import type { Logger } from '../../shared/log.ts';
import type { Publish } from './change-publisher.ts';
import { SnapshotReadStopped } from './snapshot-parts.ts';

/**
 * Half the gate's 4 MiB backlog limit (broker/connection-guard.ts): what the broker may hold for
 * the gate stays well under it, with room for everything else sent to the gate. A quarter (1 MiB,
 * two parts of 1000 residents) left a new gate idle for a round trip (its ack to the cloud, the
 * next part through the broker) after most parts: ~1 s of a 100 k-person snapshot (BENCHMARKS.md).
 */
const SNAPSHOT_WINDOW_BYTES = 2 * 1024 * 1024;
const SNAPSHOT_PACE_MS = 1_000;
const SNAPSHOT_GIVE_UP_MS = 60_000;

export interface SnapshotFlowOptions {
  publish: Publish;
  logger: Logger;
  maxInFlightBytes?: number;
  paceMs?: number;
  giveUpMs?: number;
  now?: () => number;
}

export type SessionEnd = 'sent' | 'replaced' | 'gave-up' | 'failed' | 'stopped';

/** A snapshot session as its sender sees it. */
export interface SnapshotSend {
  /** How the session ended; the same promise for a session resumed. */
  finished: Promise<SessionEnd>;
  /** The gate asked again for the snapshot under way: its parts are there, add none. */
  resumed: boolean;
  /** Resolves once what the window allows now is handed to MQTT (for a resumed session). */
  started: Promise<void>;
  /** The next part, as published (JSON); resolves once what the window allows is handed to MQTT. */
  add(payload: Buffer): Promise<void>;
  /** The parts could not be read: the session ends `failed` (the gate asks again). */
  fail(error: unknown): void;
}

interface Session {
  gateId: string;
  /** The compound whose records the parts carry: a session is resumed only for the same one. */
  compoundId: string;
  topic: string;
  rev: number;
  /** Parts in all. */
  parts: number;
  /** The parts read so far, as published. */
  payloads: Buffer[];
  /** Parts 1..acked are staged at the gate. */
  acked: number;
  /** The next part to send (1-based). */
  next: number;
  acksSeen: boolean;
  lastProgressAt: number;
  timer: NodeJS.Timeout | undefined;
  sending: boolean;
  done: (end: SessionEnd) => void;
  finished: Promise<SessionEnd>;
}

export class SnapshotFlow {
  private readonly sessions = new Map<string, Session>();
  private readonly maxInFlightBytes: number;
  private readonly paceMs: number;
  private readonly giveUpMs: number;
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly options: SnapshotFlowOptions) {
    this.maxInFlightBytes = options.maxInFlightBytes ?? SNAPSHOT_WINDOW_BYTES;
    this.paceMs = options.paceMs ?? SNAPSHOT_PACE_MS;
    this.giveUpMs = options.giveUpMs ?? SNAPSHOT_GIVE_UP_MS;
    this.now = options.now ?? Date.now;
    this.log = options.logger.child({ component: 'cloud.sync.flow' });
  }

  /** The snapshot rev being sent to a gate, if any. */
  activeRev(gateId: string): number | undefined {
    return this.sessions.get(gateId)?.rev;
  }

  /**
   * Starts a session sending snapshot `rev` in `parts` parts to a gate, the parts to follow with
   * `add`. A session for the same gate, rev and parts resumes from its first unacknowledged part
   * instead (`resumed`: the same session, so `finished` is the promise already handed out).
   */
  send(gateId: string, topic: string, snapshot: { compoundId: string; rev: number; parts: number }): SnapshotSend {
    const current = this.sessions.get(gateId);
    if (
      current &&
      current.compoundId === snapshot.compoundId &&
      current.rev === snapshot.rev &&
      current.parts === snapshot.parts
    ) {
      // Asked again: what was sent but not acknowledged may be lost. A gate that never acks is
      // simply let run (rewinding it would restart a paced send every time it retries).
      if (current.acksSeen) current.next = current.acked + 1;
      current.lastProgressAt = this.now();
      return this.handle(current, true);
    }
    if (current) this.end(current, 'replaced');
    let done: (end: SessionEnd) => void = () => {};
    const finished = new Promise<SessionEnd>((resolve) => {
      done = resolve;
    });
    const session: Session = {
      gateId,
      compoundId: snapshot.compoundId,
      topic,
      rev: snapshot.rev,
      parts: snapshot.parts,
      payloads: [],
      acked: 0,
      next: 1,
      acksSeen: false,
      lastProgressAt: this.now(),
      timer: undefined,
      sending: false,
      done,
      finished,
    };
    this.sessions.set(gateId, session);
    return this.handle(session, false);
  }

  private handle(session: Session, resumed: boolean): SnapshotSend {
    return {
      finished: session.finished,
      resumed,
      started: resumed ? this.pump(session) : Promise.resolve(),
      add: (payload) => {
        if (resumed || session.payloads.length >= session.parts) throw new Error('snapshot part beyond its parts');
        // Replaced by a newer snapshot, given up or stopped: the read stops rather than hold the
        // store's reader (and its read transaction) for parts nobody will send.
        if (this.sessions.get(session.gateId) !== session) throw new SnapshotReadStopped();
        session.payloads.push(payload);
        return this.pump(session);
      },
      fail: (error) => {
        if (this.sessions.get(session.gateId) !== session) return;
        this.log.warn({ err: error, gateId: session.gateId }, 'snapshot parts could not be read');
        this.end(session, 'failed');
      },
    };
  }

  /** `gates/{id}/sync/ack`: parts 1..`part` of `snapshotRev` are staged at the gate. */
  ack(gateId: string, snapshotRev: number, part: number): boolean {
    const session = this.sessions.get(gateId);
    if (!session || session.rev !== snapshotRev) return false; // another instance's, or old
    session.acksSeen = true;
    if (part > session.acked) {
      // A gate cannot have staged a part the cloud has not sent: an ack beyond that (a confused or
      // hostile gate) must not skip the parts it never received and end the session as sent.
      session.acked = Math.min(part, session.next - 1, session.parts);
      if (session.next <= session.acked) session.next = session.acked + 1;
      session.lastProgressAt = this.now();
    }
    if (session.acked >= session.parts) {
      this.end(session, 'sent');
      return true;
    }
    void this.pump(session);
    return true;
  }

  /** Ends every session (the cloud stops). */
  stop(): void {
    for (const session of [...this.sessions.values()]) this.end(session, 'stopped');
  }

  /** Bytes sent and not yet acknowledged. */
  private inFlight(session: Session): number {
    let bytes = 0;
    for (let part = session.acked + 1; part < session.next; part++) bytes += session.payloads[part - 1]?.length ?? 0;
    return bytes;
  }

  private windowOpen(session: Session): boolean {
    const next = session.payloads[session.next - 1];
    if (!next) return false; // sent to the end, or not read yet
    if (session.next === session.acked + 1) return true; // always at least one part in flight
    return this.inFlight(session) + next.length <= this.maxInFlightBytes;
  }

  /** Sends what the window allows; resolves once that is handed to MQTT. */
  private pump(session: Session): Promise<void> {
    if (session.sending || this.sessions.get(session.gateId) !== session) return Promise.resolve();
    session.sending = true;
    return this.sendWhileOpen(session);
  }

  private async sendWhileOpen(session: Session, force = false): Promise<void> {
    try {
      while (this.sessions.get(session.gateId) === session && (force || this.windowOpen(session))) {
        force = false;
        const part = session.next;
        const payload = session.payloads[part - 1];
        if (!payload) break;
        session.next = part + 1;
        await this.options.publish(session.topic, payload);
      }
    } catch (err) {
      this.log.warn({ err, gateId: session.gateId }, 'snapshot part could not be published');
      this.end(session, 'failed');
      return;
    } finally {
      session.sending = false;
    }
    if (this.sessions.get(session.gateId) !== session) return;
    if (session.next > session.parts && !session.acksSeen) {
      // Every part went out to a gate that does not ack: nothing more to wait for.
      this.end(session, 'sent');
      return;
    }
    this.arm(session);
  }

  /** With the window full: wait for an ack; pace one part on if none comes; give up on a silent acker. */
  private arm(session: Session): void {
    if (session.timer) clearTimeout(session.timer);
    session.timer = setTimeout(() => {
      session.timer = undefined;
      if (this.sessions.get(session.gateId) !== session || session.sending) return;
      const silentFor = this.now() - session.lastProgressAt;
      if (session.acksSeen && silentFor >= this.giveUpMs) {
        this.log.info(
          { gateId: session.gateId, acked: session.acked },
          'gate stopped acknowledging: snapshot given up',
        );
        this.end(session, 'gave-up');
        return;
      }
      if (session.acksSeen || session.next > session.parts) {
        this.arm(session); // an acking gate is waited for (or given up on), never pushed past its window
        return;
      }
      session.sending = true;
      void this.sendWhileOpen(session, true);
    }, this.paceMs);
    session.timer.unref?.();
  }

  private end(session: Session, end: SessionEnd): void {
    if (session.timer) clearTimeout(session.timer);
    session.timer = undefined;
    if (this.sessions.get(session.gateId) === session) this.sessions.delete(session.gateId);
    this.log.debug({ gateId: session.gateId, end, acked: session.acked }, 'snapshot session ended');
    session.done(end);
  }
}
