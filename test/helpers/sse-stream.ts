/**
 * A Server-Sent Events client over a real HTTP connection (`fetch`), for suites that watch the
 * cloud's `GET /api/v1/live`. It parses the event stream as the WHATWG spec does (fields `event`
 * and `data`, comments, blank line dispatches) and keeps every message and comment it saw.
 *
 *   const live = await openSseStream(`${base}/api/v1/live?token=${ticket}`);
 *   await live.waitForComment('connected');
 *   … live.messages.filter((m) => m.event === 'entry') …
 *   await live.close();
 */

export interface SseMessage {
  /** The `event:` field, or `message` when absent. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
}

export interface SseStream {
  /** HTTP status of the response. */
  status: number;
  contentType: string | null;
  /** Every dispatched message, in arrival order. */
  readonly messages: readonly SseMessage[];
  /** Every comment line (`: text`), without the colon and the one leading space. */
  readonly comments: readonly string[];
  /** Whether the server ended the stream. */
  readonly ended: boolean;
  /** Resolves once a comment equal to `text` arrived; rejects after `timeoutMs` or when the stream ends first. */
  waitForComment(text: string, timeoutMs?: number): Promise<void>;
  /** Aborts the request and waits for the reader to finish. */
  close(): Promise<void>;
}

const DEFAULT_WAIT_MS = 10_000;

/** Incremental parser: feed it decoded text, it calls back per message and per comment. */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];

  constructor(
    private readonly onMessage: (message: SseMessage) => void,
    private readonly onComment: (text: string) => void = () => {},
  ) {}

  /** O(n) per chunk; keeps only the unfinished last line. */
  push(text: string): void {
    this.buffer += text;
    // A trailing CR may be the first half of CRLF: keep it until the next chunk says.
    const lines = this.buffer.split(/\r\n|\n|\r(?!$)/);
    this.buffer = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onMessage({ event: this.event || 'message', data: this.data.join('\n') });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) {
      this.onComment(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    // `id` and `retry` are not used by the cloud; unknown fields are ignored, as the spec says.
  }
}

export async function openSseStream(url: string, init: { headers?: Record<string, string> } = {}): Promise<SseStream> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...init.headers },
    signal: controller.signal,
  });
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  let ended = false;
  const notify = () => {
    for (const waiter of [...waiters]) waiter();
  };
  const parser = new SseParser(
    (message) => {
      messages.push(message);
      notify();
    },
    (comment) => {
      comments.push(comment);
      notify();
    },
  );

  const pump = (async () => {
    if (!response.body) return;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(decoder.decode(value, { stream: true }));
      }
    } catch {
      // Aborted by close(), or the server went away: either way the stream is over.
    } finally {
      ended = true;
      notify();
    }
  })();

  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    messages,
    comments,
    get ended() {
      return ended;
    },
    waitForComment(text, timeoutMs = DEFAULT_WAIT_MS) {
      return new Promise<void>((resolve, reject) => {
        const finish = (error?: Error) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve();
        };
        const check = () => {
          if (comments.includes(text)) finish();
          else if (ended) finish(new Error(`the event stream ended before the comment "${text}"`));
        };
        const timer = setTimeout(
          () => finish(new Error(`no comment "${text}" on the event stream within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.add(check);
        check();
      });
    },
    async close() {
      controller.abort();
      await pump;
    },
  };
}
