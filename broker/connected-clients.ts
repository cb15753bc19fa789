/**
 * The clients the broker has let in, each held to its token: disconnected when the token expires
 * (a timer per client at its `exp`) or is revoked (on every change of the revocation list).
 */
import type { Client } from 'aedes';
import type { Logger } from '../shared/log.ts';
import type { AedesHooks } from './aedes-hooks.ts';
import type { RevocationList } from './revocations.ts';
import type { BrokerCounters } from './stats.ts';

/** setTimeout's ceiling (about 24.8 days): a later expiry is re-checked when this fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ConnectedClients {
  readonly #clients = new Set<Client>();
  readonly #expiryTimers = new Map<Client, NodeJS.Timeout>();

  constructor(
    private readonly sessions: Pick<AedesHooks, 'sessionOf'>,
    private readonly revocations: Pick<RevocationList, 'isRevoked'>,
    private readonly counters: BrokerCounters,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.#clients.size;
  }

  /** A client whose CONNECT was accepted: watched until its token expires. */
  add(client: Client): void {
    this.#clients.add(client);
    this.#watchExpiry(client);
  }

  forget(client: Client): void {
    this.#clients.delete(client);
    clearTimeout(this.#expiryTimers.get(client));
    this.#expiryTimers.delete(client);
  }

  /** Disconnects every client whose token is revoked now. */
  kickRevoked(): void {
    for (const client of this.#clients) {
      const session = this.sessions.sessionOf(client);
      if (!session || !this.revocations.isRevoked(session.claims)) continue;
      this.counters.kick('revoked');
      this.log.warn({ clientId: client.id, jti: session.claims.jti }, 'token revoked; disconnecting');
      client.close();
    }
  }

  /** Stops watching expiries (the broker is stopping). */
  stopTimers(): void {
    for (const timer of this.#expiryTimers.values()) clearTimeout(timer);
    this.#expiryTimers.clear();
  }

  clear(): void {
    this.#clients.clear();
  }

  #watchExpiry(client: Client): void {
    const session = this.sessions.sessionOf(client);
    if (!session) return;
    const remaining = session.claims.exp - this.now();
    const timer = setTimeout(
      () => {
        if (session.claims.exp > this.now()) return this.#watchExpiry(client);
        this.counters.kick('token-expired');
        this.log.info({ clientId: client.id, jti: session.claims.jti }, 'token expired; disconnecting');
        client.close();
      },
      Math.max(0, Math.min(remaining, MAX_TIMER_MS)),
    );
    timer.unref();
    this.#expiryTimers.set(client, timer);
  }
}
