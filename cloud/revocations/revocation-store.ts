/**
 * Revoked device tokens, as the cloud records them and hands them to brokers (docs/security.md,
 * "A stolen gate"). An entry is what `broker/revocations.ts` understands: a token id, or
 * `sub:<gateId>@<ms>` — every token of that gate issued before then. Kept in their own table with
 * their own version table, beside the store's (open-revocation-store.ts picks the engine's).
 */
export interface Revocation {
  entry: string;
  subject: string | null;
  reason: string;
  by: string;
  at: number;
}

export interface RevocationStore {
  /** Records an entry; an entry already recorded keeps its first record. */
  add(revocation: Revocation): Promise<void>;
  /** Every entry, oldest first. */
  list(): Promise<Revocation[]>;
}

/** The broker's revocation file format (broker/revocations.ts): one entry per line, `#` comments. */
export function revocationFileText(revocations: readonly Revocation[]): string {
  const lines = revocations.map((r) => `${r.entry}  # ${new Date(r.at).toISOString()} by ${r.by}`);
  return `# Revoked device tokens, written by the Anxin cloud. Do not edit by hand.\n${lines.map((l) => `${l}\n`).join('')}`;
}
