/**
 * Revocation entries, the contract between whoever revokes device tokens (the cloud, an operator)
 * and the brokers that enforce it (the embedded broker's `--revocations` file or `revoke()`).
 *
 * - `<jti>`: that one token.
 * - `sub:<subject>@<epoch ms>`: every token of that subject issued (`iat`) before that instant —
 *   what retires a stolen gate's credentials while a token issued for its replacement still works.
 */

/** What an entry is checked against: the claims of a verified token. */
export interface RevocableToken {
  jti: string;
  sub: string;
  iat: number;
}

const SUBJECT_ENTRY = /^sub:([^@\s]{1,64})@(\d{1,16})$/;

export function subjectRevocation(subject: string, issuedBeforeMs: number): string {
  return `sub:${subject}@${Math.floor(issuedBeforeMs)}`;
}

/** `{subject, before}` for a subject entry, undefined for a plain token id. */
export function parseSubjectRevocation(entry: string): { subject: string; before: number } | undefined {
  const match = SUBJECT_ENTRY.exec(entry);
  return match ? { subject: match[1]!, before: Number(match[2]) } : undefined;
}
