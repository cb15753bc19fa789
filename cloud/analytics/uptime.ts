/**
 * Gate uptime from its status history, pure (docs/tracing.md, "Statistics"). The cloud keeps a
 * history row whenever a gate's `online` flag (or mode) changes, including the broker's last will
 * (`online: false`) when the gate drops off; between rows the state holds.
 */

export interface StatusChange {
  ts: number;
  online: boolean;
}

export interface Uptime {
  onlineMs: number;
  offlineMs: number;
  /** Before the first known status, and after `now` (the future is not known). */
  unknownMs: number;
  /** onlineMs / (onlineMs + offlineMs); null when nothing is known. */
  ratio: number | null;
}

/**
 * Splits `[from, to)` into online, offline and unknown time. `history` is sorted by `ts` and may
 * start before `from`: the last row at or before `from` gives the state at `from`.
 */
export function uptimeOf(history: readonly StatusChange[], from: number, to: number, now: number): Uptime {
  let onlineMs = 0;
  let offlineMs = 0;
  const end = Math.max(from, Math.min(to, now));
  let state: boolean | null = null;
  let cursor = from;
  for (const change of history) {
    if (change.ts > cursor) {
      const until = Math.min(change.ts, end);
      if (until > cursor) {
        if (state === true) onlineMs += until - cursor;
        else if (state === false) offlineMs += until - cursor;
        cursor = until;
      }
    }
    if (change.ts >= end) break;
    state = change.online;
  }
  if (end > cursor) {
    if (state === true) onlineMs += end - cursor;
    else if (state === false) offlineMs += end - cursor;
  }
  const span = Math.max(0, to - from);
  const known = onlineMs + offlineMs;
  return { onlineMs, offlineMs, unknownMs: span - known, ratio: known === 0 ? null : onlineMs / known };
}
