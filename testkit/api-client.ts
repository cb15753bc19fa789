/**
 * One JSON call to the cloud's HTTP API as the suites make it: bearer token when given, a JSON
 * body when given; the answer's status and text, and the text parsed when there is any.
 */
export interface ApiAnswer<T> {
  status: number;
  ok: boolean;
  text: string;
  body: T;
}

export async function callApi<T = unknown>(
  url: string,
  method: string,
  options: { token?: string; body?: unknown } = {},
): Promise<ApiAnswer<T>> {
  const { token, body } = options;
  const res = await fetch(url, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, ok: res.ok, text, body: (text ? JSON.parse(text) : null) as T };
}
