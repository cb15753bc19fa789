// The live feed (`GET /api/v1/live`, Server-Sent Events) for a page.
//
// EventSource cannot send an Authorization header, so the stream is opened with a one-minute
// ticket in `?token=` (POST /api/v1/auth/live-ticket). While the ticket is valid EventSource
// reconnects by itself; once a retry is refused (expired ticket → 401) the browser gives up
// (readyState CLOSED) and this module fetches a new ticket and opens a new stream, with backoff.

import { api } from './session.js';

const EVENT_TYPES = ['entry', 'alarm', 'alarm-ack', 'status'];
const MAX_BACKOFF_MS = 15_000;

/**
 * @param {{ compound?: string, handlers: Record<string, (data: any) => void>,
 *   onState?: (state: 'connecting'|'open'|'closed') => void, onOpen?: () => void }} options
 * @returns {{ close(): void }}
 */
export function openLiveStream({ compound, handlers, onState = () => {}, onOpen = () => {} }) {
  let source = null;
  let stopped = false;
  let failures = 0;
  let retryTimer = null;

  const reconnectLater = () => {
    if (stopped || retryTimer) return;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** failures);
    failures += 1;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      connect();
    }, delay);
  };

  async function connect() {
    onState('connecting');
    let ticket;
    try {
      ({ ticket } = await api('/auth/live-ticket', { method: 'POST' }));
    } catch {
      onState('closed');
      reconnectLater();
      return;
    }
    if (stopped) return;
    const query = new URLSearchParams({ token: ticket });
    if (compound) query.set('compound', compound);
    source = new EventSource(`/api/v1/live?${query}`);
    source.onopen = () => {
      failures = 0;
      onState('open');
      onOpen();
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        onState('closed');
        source.close();
        reconnectLater();
      } else {
        onState('connecting');
      }
    };
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (event) => {
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

  connect();
  return {
    close() {
      stopped = true;
      clearTimeout(retryTimer);
      source?.close();
    },
  };
}
