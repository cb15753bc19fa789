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
  const link = new LiveLink(compound, handlers, onState, onOpen);
  link.start();
  return {
    close: () => link.close(),
    state: () => link.state,
    lastDataAt: () => link.lastDataAt,
  };
}

/** One page's link to `/live`: the current EventSource, its state, the backoff and the stall watch. */
class LiveLink {
  #compound;
  #handlers;
  #onState;
  #onOpen;
  #source = null;
  #stopped = false;
  #failures = 0;
  #retryTimer = null;
  #watchTimer = null;
  #heartbeatMs = DEFAULT_HEARTBEAT_MS;
  #lastDataAt = null;
  #state = 'connecting';
  /** Set once the stream went stale: reconnect attempts stay "stale" until data flows again. */
  #staleSince = null;

  constructor(compound, handlers, onState, onOpen) {
    this.#compound = compound;
    this.#handlers = handlers;
    this.#onState = onState;
    this.#onOpen = onOpen;
  }

  get state() {
    return this.#state;
  }

  get lastDataAt() {
    return this.#lastDataAt;
  }

  start() {
    addEventListener('offline', this.#goneOffline);
    addEventListener('online', this.#backOnline);
    this.#watch();
    this.#connect();
  }

  close() {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#watchTimer);
    removeEventListener('offline', this.#goneOffline);
    removeEventListener('online', this.#backOnline);
    this.#drop();
  }

  #setState(next) {
    if (next === 'connecting' && this.#staleSince !== null) next = 'stale';
    if (!navigator.onLine && next !== 'open') next = 'offline';
    if (next === this.#state) return;
    this.#state = next;
    this.#onState(this.#state, { lastDataAt: this.#lastDataAt });
  }

  #reconnectLater() {
    if (this.#stopped || this.#retryTimer) return;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.#failures);
    this.#failures += 1;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#connect();
    }, delay);
  }

  #drop() {
    this.#source?.close();
    this.#source = null;
  }

  /** Something arrived: the stream is live. */
  #alive() {
    this.#lastDataAt = Date.now();
    this.#staleSince = null;
    if (this.#state !== 'open') this.#setState('open');
  }

  #watch() {
    clearInterval(this.#watchTimer);
    this.#watchTimer = setInterval(
      () => {
        if (this.#stopped || this.#lastDataAt === null || this.#staleSince !== null) return;
        if (this.#state !== 'open' && this.#state !== 'connecting') return;
        if (Date.now() - this.#lastDataAt > 2 * this.#heartbeatMs + STALE_MARGIN_MS) {
          this.#staleSince = Date.now();
          this.#setState('stale');
          this.#drop();
          this.#reconnectLater();
        }
      },
      Math.max(250, Math.min(1000, this.#heartbeatMs / 4)),
    );
  }

  async #connect() {
    if (this.#stopped) return;
    this.#setState('connecting');
    let ticket;
    try {
      ({ ticket } = await api('/auth/live-ticket', { method: 'POST' }));
    } catch {
      this.#setState('closed');
      this.#reconnectLater();
      return;
    }
    if (this.#stopped) return;
    const query = new URLSearchParams({ token: ticket });
    if (this.#compound) query.set('compound', this.#compound);
    const opened = new EventSource(`/api/v1/live?${query}`);
    this.#source = opened;
    this.#listen(opened);
  }

  /** The stream's own events; those of a stream already replaced are ignored. */
  #listen(opened) {
    opened.onopen = () => {
      this.#failures = 0;
      // Open, but not live until the first heartbeat or message arrives.
      if (this.#lastDataAt === null) this.#lastDataAt = Date.now();
      this.#onOpen();
    };
    opened.onerror = () => {
      if (opened !== this.#source) return;
      if (opened.readyState === EventSource.CLOSED) {
        this.#setState('closed');
        this.#drop();
        this.#reconnectLater();
      } else {
        this.#setState('connecting');
      }
    };
    opened.addEventListener('heartbeat', (event) => {
      if (opened !== this.#source) return;
      try {
        const beat = JSON.parse(event.data);
        if (Number.isFinite(beat.intervalMs) && beat.intervalMs > 0) this.#heartbeatMs = beat.intervalMs;
      } catch {
        // a malformed heartbeat still proves the stream is alive
      }
      this.#alive();
    });
    for (const type of EVENT_TYPES) {
      opened.addEventListener(type, (event) => {
        if (opened !== this.#source) return;
        this.#alive();
        const handler = this.#handlers[type];
        if (!handler) return;
        try {
          handler(JSON.parse(event.data));
        } catch (err) {
          console.error(`live ${type} message not handled`, err);
        }
      });
    }
  }

  #goneOffline = () => this.#setState('offline');

  #backOnline = () => {
    // Reconnect now rather than after the backoff.
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#failures = 0;
    this.#drop();
    this.#staleSince ??= Date.now();
    this.#connect();
  };
}
