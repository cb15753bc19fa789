// The live feed (`GET /api/v1/live`, Server-Sent Events) for a page.
//
// EventSource cannot send an Authorization header, so the stream is opened with a one-minute
// ticket in `?token=` (POST /api/v1/auth/live-ticket). While the ticket is valid EventSource
// reconnects by itself; once a retry is refused (expired ticket → 401) the browser gives up
// (readyState CLOSED) and this module fetches a new ticket and opens a new stream, with backoff.
//
// An open connection is not proof of a live one: the server sends a `heartbeat` event
// `{ts, intervalMs}` when the stream opens and every `intervalMs`. When nothing at all arrives for
// two intervals and a margin, the stream is `stale`: the page says so, drops the connection and
// opens a new one. The browser going offline counts at once.

import { api } from './session.js';

const EVENT_TYPES = ['entry', 'alarm', 'alarm-ack', 'status'];
const MAX_BACKOFF_MS = 15_000;
/** Until the first heartbeat says otherwise (the server's default interval). */
const DEFAULT_HEARTBEAT_MS = 15_000;
const STALE_MARGIN_MS = 1_000;

/**
 * States: `connecting`, `open` (data or heartbeats arriving), `stale` (connection open or
 * reopening, but nothing for too long), `closed` (no connection; retrying), `offline` (the
 * browser has no network).
 *
 * @param {{ compound?: string, handlers: Record<string, (data: any) => void>,
 *   onState?: (state: string, info: {lastDataAt: number|null}) => void, onOpen?: () => void }} options
 * @returns {{ close(): void, state(): string, lastDataAt(): number|null }}
 */
export function openLiveStream({ compound, handlers, onState = () => {}, onOpen = () => {} }) {
  let source = null;
  let stopped = false;
  let failures = 0;
  let retryTimer = null;
  let watchTimer = null;
  let heartbeatMs = DEFAULT_HEARTBEAT_MS;
  let lastDataAt = null;
  let state = 'connecting';
  /** Set once the stream went stale: reconnect attempts stay "stale" until data flows again. */
  let staleSince = null;

  const setState = (next) => {
    if (next === 'connecting' && staleSince !== null) next = 'stale';
    if (!navigator.onLine && next !== 'open') next = 'offline';
    if (next === state) return;
    state = next;
    onState(state, { lastDataAt });
  };

  const reconnectLater = () => {
    if (stopped || retryTimer) return;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** failures);
    failures += 1;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      connect();
    }, delay);
  };

  const drop = () => {
    source?.close();
    source = null;
  };

  /** Something arrived: the stream is live. */
  const alive = () => {
    lastDataAt = Date.now();
    staleSince = null;
    if (state !== 'open') setState('open');
  };

  const watch = () => {
    clearInterval(watchTimer);
    watchTimer = setInterval(
      () => {
        if (stopped || lastDataAt === null || staleSince !== null) return;
        if (state !== 'open' && state !== 'connecting') return;
        if (Date.now() - lastDataAt > 2 * heartbeatMs + STALE_MARGIN_MS) {
          staleSince = Date.now();
          setState('stale');
          drop();
          reconnectLater();
        }
      },
      Math.max(250, Math.min(1000, heartbeatMs / 4)),
    );
  };

  async function connect() {
    if (stopped) return;
    setState('connecting');
    let ticket;
    try {
      ({ ticket } = await api('/auth/live-ticket', { method: 'POST' }));
    } catch {
      setState('closed');
      reconnectLater();
      return;
    }
    if (stopped) return;
    const query = new URLSearchParams({ token: ticket });
    if (compound) query.set('compound', compound);
    const opened = new EventSource(`/api/v1/live?${query}`);
    source = opened;
    opened.onopen = () => {
      failures = 0;
      // Open, but not live until the first heartbeat or message arrives.
      if (lastDataAt === null) lastDataAt = Date.now();
      onOpen();
    };
    opened.onerror = () => {
      if (opened !== source) return;
      if (opened.readyState === EventSource.CLOSED) {
        setState('closed');
        drop();
        reconnectLater();
      } else {
        setState('connecting');
      }
    };
    opened.addEventListener('heartbeat', (event) => {
      if (opened !== source) return;
      try {
        const beat = JSON.parse(event.data);
        if (Number.isFinite(beat.intervalMs) && beat.intervalMs > 0) heartbeatMs = beat.intervalMs;
      } catch {
        // a malformed heartbeat still proves the stream is alive
      }
      alive();
    });
    for (const type of EVENT_TYPES) {
      opened.addEventListener(type, (event) => {
        if (opened !== source) return;
        alive();
        const handler = handlers[type];
        if (!handler) return;
        try {
          handler(JSON.parse(event.data));
        } catch (err) {
          console.error(`live ${type} message not handled`, err);
        }
      });
    }
  }

  const goneOffline = () => setState('offline');
  const backOnline = () => {
    // Reconnect now rather than after the backoff.
    clearTimeout(retryTimer);
    retryTimer = null;
    failures = 0;
    drop();
    staleSince ??= Date.now();
    connect();
  };
  addEventListener('offline', goneOffline);
  addEventListener('online', backOnline);

  watch();
  connect();
  return {
    close() {
      stopped = true;
      clearTimeout(retryTimer);
      clearInterval(watchTimer);
      removeEventListener('offline', goneOffline);
      removeEventListener('online', backOnline);
      drop();
    },
    state: () => state,
    lastDataAt: () => lastDataAt,
  };
}
