/**
 * Opaque pagination cursors: base64url of a small JSON tuple. They fit the query-string
 * pattern of the contract (`[A-Za-z0-9_-]+`) and say nothing about the storage engine.
 */
export function encodeCursor(parts: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

/** The tuple of a cursor, or `undefined` when it is not one of ours (the caller answers 400). */
export function decodeCursor(cursor: string): (string | number)[] | undefined {
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(parts) || !parts.every((p) => typeof p === 'string' || typeof p === 'number')) return undefined;
    return parts as (string | number)[];
  } catch {
    return undefined;
  }
}
