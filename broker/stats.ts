/**
 * The broker's counters: every refusal by kind and reason, plus a few totals. Plain numbers so the
 * cloud can scrape them (`BrokerServer.stats()`) and render Prometheus text without a client library.
 */
import type { AclRefusal } from './acl.ts';
import type { GuardRefusal } from './connection-guard.ts';
import type { ConnectRefusal } from './credentials.ts';
import type { PublishTally } from './unfinished-publishes.ts';

/** A publish can also be refused for its size, which is the adapter's concern, not the topic table's. */
export type PublishRefusal = AclRefusal | 'payload-too-large' | 'no-identity';
/** Why a live session was ended by the broker. */
export type KickReason =
  | 'revoked'
  | 'token-expired'
  | 'slow-reader'
  | 'keepalive-timeout'
  | 'packet-too-large'
  | 'cloud-drain-timeout';
/**
 * A subscription can also be refused for a feature this broker lacks: `$share/<group>/…` (aedes 1.x
 * has no shared subscriptions; broker/aedes-hooks.ts).
 */
export type SubscribeRefusal = AclRefusal | 'shared-subscription-unsupported';
/** Why a socket was closed before its CONNACK (broker/connection-guard.ts). */
export type SocketRefusal =
  | Exclude<GuardRefusal, 'slow-reader' | 'keepalive-timeout' | 'packet-too-large'>
  | 'too-many-pending';

export interface BrokerStats {
  clientsConnected: number;
  connectsAccepted: number;
  publishesAccepted: number;
  subscriptionsGranted: number;
  /**
   * Times a cloud's window was full and the broker waited for it to read (backpressure onto the
   * gates, broker/connection-guard.ts).
   */
  cloudWindowWaits: number;
  /**
   * What is held read from clients that aedes has not taken yet, across every connection, now —
   * each held chunk's bytes plus `HELD_CHUNK_OVERHEAD_BYTES` (1 KiB) — and the budget it is held to
   * (broker/unread-budget.ts).
   */
  unreadBytes: number;
  /** The most `unreadBytes` has been since the broker started. */
  unreadPeakBytes: number;
  unreadBudgetBytes: number;
  /**
   * Times a connection stopped reading its socket because that budget was used up (backpressure
   * onto the client, nothing dropped).
   */
  unreadBudgetWaits: number;
  /**
   * PUBLISHes read from clients that aedes has not finished yet (not every subscriber took them),
   * across every connection, now; the most it has been; and the times a gate's or observer's socket
   * was read no further because it had more than `maxUnfinishedPublishes` of them (backpressure onto
   * that client, nothing dropped; broker/unfinished-publishes.ts).
   */
  unfinishedPublishes: number;
  unfinishedPublishPeak: number;
  unfinishedPublishWaits: number;
  refused: {
    connect: Partial<Record<ConnectRefusal, number>>;
    publish: Partial<Record<PublishRefusal, number>>;
    subscribe: Partial<Record<SubscribeRefusal, number>>;
    /** Sockets closed before CONNACK by the connection limits. */
    socket: Partial<Record<SocketRefusal, number>>;
  };
  /** Sum of every refusal above. */
  refusedTotal: number;
  kicked: Partial<Record<KickReason, number>>;
  revokedTokens: number;
  /** Re-reads of the revocation file that failed (the previous list was kept). */
  revocationReloadErrors: number;
}

export class BrokerCounters {
  connectsAccepted = 0;
  publishesAccepted = 0;
  subscriptionsGranted = 0;
  cloudWindowWaits = 0;
  unreadBudgetWaits = 0;
  readonly #connect = new Map<ConnectRefusal, number>();
  readonly #publish = new Map<PublishRefusal, number>();
  readonly #subscribe = new Map<SubscribeRefusal, number>();
  readonly #socket = new Map<SocketRefusal, number>();
  readonly #kicked = new Map<KickReason, number>();

  refuseConnect(reason: ConnectRefusal): void {
    this.#connect.set(reason, (this.#connect.get(reason) ?? 0) + 1);
  }

  refusePublish(reason: PublishRefusal): void {
    this.#publish.set(reason, (this.#publish.get(reason) ?? 0) + 1);
  }

  refuseSubscribe(reason: SubscribeRefusal): void {
    this.#subscribe.set(reason, (this.#subscribe.get(reason) ?? 0) + 1);
  }

  refuseSocket(reason: SocketRefusal): void {
    this.#socket.set(reason, (this.#socket.get(reason) ?? 0) + 1);
  }

  kick(reason: KickReason): void {
    this.#kicked.set(reason, (this.#kicked.get(reason) ?? 0) + 1);
  }

  snapshot(extra: {
    clientsConnected: number;
    revokedTokens: number;
    revocationReloadErrors: number;
    unreadBytes: number;
    unreadPeakBytes: number;
    unreadBudgetBytes: number;
    publishes: PublishTally;
  }): BrokerStats {
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    return {
      clientsConnected: extra.clientsConnected,
      connectsAccepted: this.connectsAccepted,
      publishesAccepted: this.publishesAccepted,
      subscriptionsGranted: this.subscriptionsGranted,
      cloudWindowWaits: this.cloudWindowWaits,
      unreadBytes: extra.unreadBytes,
      unreadPeakBytes: extra.unreadPeakBytes,
      unreadBudgetBytes: extra.unreadBudgetBytes,
      unreadBudgetWaits: this.unreadBudgetWaits,
      unfinishedPublishes: extra.publishes.now,
      unfinishedPublishPeak: extra.publishes.peak,
      unfinishedPublishWaits: extra.publishes.waits,
      refused: {
        connect: Object.fromEntries(this.#connect),
        publish: Object.fromEntries(this.#publish),
        subscribe: Object.fromEntries(this.#subscribe),
        socket: Object.fromEntries(this.#socket),
      },
      refusedTotal: sum(this.#connect) + sum(this.#publish) + sum(this.#subscribe) + sum(this.#socket),
      kicked: Object.fromEntries(this.#kicked),
      revokedTokens: extra.revokedTokens,
      revocationReloadErrors: extra.revocationReloadErrors,
    };
  }
}
