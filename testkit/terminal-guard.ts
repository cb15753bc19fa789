/**
 * A guard for the gate terminal's sign-in (edge-agent/terminal/guard-session.ts), and raw HTTP
 * requests that may set any `Host`/`Origin` (fetch does not let a caller choose `Host`).
 */
import { request } from 'node:http';
import { hashGuardPin } from '../edge-agent/terminal/guard-pin.ts';

/** The PIN in clear, for tests only; the config holds `pin` (a cheap scrypt cost keeps tests quick). */
export const TEST_GUARD_PIN = '246810';
export const TEST_GUARD = {
  id: 'guard-1',
  name: '测试门卫',
  pin: hashGuardPin(TEST_GUARD_PIN, { N: 1024, r: 8, p: 1 }),
};

/** Signs in as the test guard; resolves with the `cookie` header value for later requests. */
export async function guardCookie(base: string, guardId = TEST_GUARD.id, pin = TEST_GUARD_PIN): Promise<string> {
  const res = await fetch(`${base}/api/guard/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ guardId, pin }),
  });
  if (!res.ok) throw new Error(`guard sign-in: HTTP ${res.status} ${await res.text()}`);
  const cookie = res.headers.get('set-cookie');
  if (!cookie) throw new Error('guard sign-in: no cookie');
  return cookie.split(';')[0]!;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP/1.1 request with exactly these headers (Host included). */
export function rawRequest(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers: options.headers ?? {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}
