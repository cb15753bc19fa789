/**
 * The embedded MQTT broker: aedes behind a TCP (or TLS) listener and an optional WebSocket
 * listener, with the device-token authentication and topic ACL of `aedes-hooks.ts`. Live sessions
 * end when their token is revoked or expires, so a stolen or retired token stops working at once
 * rather than at the next reconnect.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes } from 'aedes';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { AnxinError } from '../shared/errors.ts';
import type { KeyRing } from '../shared/keys.ts';
import { type Logger, silentLogger } from '../shared/log.ts';
import { type AedesHooks, createAedesHooks } from './aedes-hooks.ts';
import { cutReleaseChains } from './emit-turns.ts';
import { ConnectedClients } from './connected-clients.ts';
import { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS, GuardedConnection } from './connection-guard.ts';
import { DEFAULT_MAX_PAYLOAD, PACKET_OVERHEAD_BYTES } from './mqtt-framing.ts';
import { PendingConnections } from './pending-connections.ts';
import { RevocationList } from './revocations.ts';
import { markRedeliveries, type OutgoingStore } from './session-store.ts';
import { BrokerCounters, type BrokerStats } from './stats.ts';
import { PublishTally } from './unfinished-publishes.ts';
import { DEFAULT_EXPECTED_GATES, defaultUnreadBudget, UnreadBudget } from './unread-budget.ts';

export interface BrokerTlsOptions {
  /** PEM certificate chain. */
  cert: string | Buffer;
  /** PEM private key. */
  key: string | Buffer;
}

export interface BrokerServerOptions {
  /** MQTT port (0 picks a free one). With `tls` this port speaks MQTT over TLS only. */
  port: number;
  /** Interface to bind (default 127.0.0.1; the CLI binds 0.0.0.0). */
  host?: string;
  /** MQTT over WebSocket port (0 picks a free one); wss when `tls` is given. Off when absent. */
  wsPort?: number;
  tls?: BrokerTlsOptions;
  /** Public keys that verify device and service tokens. */
  keys: KeyRing;
  /** Revoked token ids: a file (hot-reloaded) and/or an initial list. */
  revocations?: { file?: string; jtis?: Iterable<string>; pollMs?: number };
  /** Largest accepted PUBLISH payload in bytes (default 1 MiB). */
  maxPayload?: number;
  /** Per-connection limits before and after CONNACK (broker/connection-guard.ts). */
  limits?: Partial<ConnectionLimits>;
  /**
   * Bytes read from all clients together that aedes has not taken yet (broker/unread-budget.ts);
   * past it, connections stop reading until there is room. Default: `expectedGates` × 512 KiB.
   */
  maxUnreadTotalBytes?: number;
  /** The fleet the default `maxUnreadTotalBytes` is sized for (default 256 gates). */
  expectedGates?: number;
  /** Sockets of one remote address that may wait for their CONNACK at once (default 64). */
  maxPendingPerAddress?: number;
  /** A socket that has not sent its CONNECT by then is closed (default 10 s). */
  connectTimeoutMs?: number;
  logger?: Logger;
  /** Clock for token expiry (tests). */
  now?: () => number;
}

export interface BrokerAddress {
  port: number;
  wsPort?: number;
}

export interface BrokerServer {
  start(): Promise<BrokerAddress>;
  stop(): Promise<void>;
  /**
   * Refuses from now on what the entry covers — a `jti`, or `subjectRevocation(sub, issuedBefore)`
   * for every earlier token of a subject (broker/revocations.ts) — and disconnects those sessions.
   */
  revoke(entry: string): void;
  stats(): BrokerStats;
}

class BrokerStartError extends AnxinError {
  constructor(what: string, cause: unknown) {
    super('broker-start-failed', `${what}: ${(cause as Error).message ?? String(cause)}`, { cause });
  }
}

export const DEFAULT_MAX_PENDING_PER_ADDRESS = 64;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

function listen(server: NetServer | HttpServer, port: number, host: string, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(new BrokerStartError(`${what} on ${host}:${port}`, error));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function close(server: NetServer | HttpServer | undefined): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** What admitting a socket needs: the limits, who is waiting for CONNACK, and where to say so. */
interface Admission {
  limits: ConnectionLimits;
  pending: PendingConnections;
  /** What all connections together may read ahead of aedes. */
  budget: UnreadBudget;
  /** What all connections have unfinished (broker/unfinished-publishes.ts). */
  publishes: PublishTally;
  counters: BrokerCounters;
  log: Logger;
}

/** Hands a new socket to aedes behind the connection limits, or closes it when its address has no place left. */
function admitSocket(
  broker: Aedes,
  admission: Admission,
  socket: Duplex,
  address: string,
  request?: Parameters<Aedes['handle']>[1],
): void {
  const { limits, pending, budget, publishes, counters, log } = admission;
  if (!pending.tryEnter(address)) {
    counters.refuseSocket('too-many-pending');
    log.warn({ address, pending: pending.maxPerAddress }, 'too many connections waiting for CONNACK; closing');
    socket.destroy();
    return;
  }
  let client: { id?: string } | undefined;
  const connection = new GuardedConnection(
    socket,
    limits,
    {
      onRefused(reason) {
        if (reason === 'keepalive-timeout') {
          counters.kick('keepalive-timeout');
          log.info({ address, clientId: client?.id }, 'nothing from the client for 1.5 × its keepalive; disconnecting');
        } else if (reason === 'slow-reader') {
          counters.kick('slow-reader');
          log.warn(
            { address, clientId: client?.id, maxQueuedBytes: limits.maxQueuedBytes },
            'client does not read its messages; disconnecting',
          );
        } else if (reason === 'packet-too-large') {
          counters.kick('packet-too-large');
          log.warn(
            { address, clientId: client?.id, maxPacketBytes: limits.maxPacketBytes },
            'client announced a packet over the size limit; disconnecting',
          );
        } else {
          counters.refuseSocket(reason);
          log.warn({ address, reason }, 'connection refused before CONNACK');
        }
      },
      onSettled: () => pending.leave(address),
      onWindowFull: () => {
        counters.cloudWindowWaits += 1;
      },
    },
    budget,
    publishes,
  );
  client = broker.handle(connection as unknown as Parameters<Aedes['handle']>[0], request);
}

/** The WebSocket listener (MQTT over ws/wss on `wsPort`), each socket admitted like a TCP one. */
function createWebSocketListener(
  options: BrokerServerOptions,
  admit: (socket: Duplex, address: string, request: Parameters<Aedes['handle']>[1]) => void,
  log: Logger,
) {
  const web = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }) : createHttpServer();
  const wss = new WebSocketServer({ server: web });
  wss.on('connection', (socket, request) => {
    const stream = createWebSocketStream(socket);
    // A socket reset surfaces on both the ws and the stream; aedes handles the stream's.
    socket.on('error', (error) => log.debug({ err: error.message }, 'websocket error'));
    admit(stream, request.socket.remoteAddress ?? 'unknown', request);
  });
  return { web, wss };
}

/** aedes with the hooks, its events wired to the connected clients. */
async function createAedes(
  hooks: AedesHooks,
  clients: ConnectedClients,
  { counters, log }: Pick<Admission, 'counters' | 'log'>,
  connectTimeout: number,
) {
  const broker = await Aedes.createBroker({
    ...hooks,
    // The guard keeps each client's keepalive (connection-guard.ts, "Keepalive"): aedes' own would
    // count only the packets it handled, and close a gate held back behind a full cloud.
    preConnect(client, packet, done) {
      (client.conn as unknown as GuardedConnection).keepAlive(packet.keepalive ?? 0);
      packet.keepalive = 0;
      hooks.preConnect(client, packet, done);
    },
    connectTimeout,
    // aedes' default cap stays: at most 100 messages being delivered at once, the rest in one FIFO
    // (a cloud's acks wait there behind gate messages already read — the live latency in
    // docs/cloud.md, "Ingest pipeline"). Without the cap every gate message goes straight into the
    // cloud's window and the gates refill it as fast as the cloud reads, so the window never empties,
    // never emits `drain`, and aedes' 60 s drain timer closes a cloud that is reading at full speed.
  });
  // A backlog in aedes' emitter is released a turn at a time, never in one synchronous chain.
  await cutReleaseChains(broker);
  // Set by aedes once it listens; its typings omit it.
  markRedeliveries((broker as unknown as { persistence: OutgoingStore }).persistence);
  broker.on('clientReady', (client) => {
    (client.conn as unknown as GuardedConnection).admit({ cloud: hooks.sessionOf(client)?.identity.role === 'cloud' });
    clients.add(client);
  });
  broker.on('clientDisconnect', (client) => clients.forget(client));
  // Emitted once every subscriber took the message: one of the client's publishes is finished
  // (connection-guard.ts, "Unfinished publishes"). A will or an API publish has no guard to tell.
  broker.on('publish', (_packet, client) => {
    if (client?.conn instanceof GuardedConnection) client.conn.published();
  });
  broker.on('clientError', (client, error) => {
    // The only wait aedes has on a socket is a cloud's full window (connection-guard.ts): a cloud
    // that took nothing for aedes' drain timeout is gone, not slow.
    if (error.message === 'drain timeout') {
      counters.kick('cloud-drain-timeout');
      log.warn({ clientId: client.id }, 'cloud took no message for the drain timeout; disconnecting');
      return;
    }
    log.debug({ clientId: client.id, err: error.message }, 'client error');
  });
  broker.on('connectionError', (_client, error) => log.debug({ err: error.message }, 'connection error'));
  return broker;
}

/** The limits every socket is admitted under, with the one read-ahead budget they share (broker/unread-budget.ts). */
function createAdmission(options: BrokerServerOptions, counters: BrokerCounters, log: Logger): Admission {
  // The largest packet follows the largest payload, as Mosquitto's max_packet_size does.
  const maxPacketBytes = (options.maxPayload ?? DEFAULT_MAX_PAYLOAD) + PACKET_OVERHEAD_BYTES;
  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, maxPacketBytes, ...options.limits };
  const budget = new UnreadBudget(
    options.maxUnreadTotalBytes ??
      defaultUnreadBudget(options.expectedGates ?? DEFAULT_EXPECTED_GATES, limits.maxUnreadBytes),
    () => {
      counters.unreadBudgetWaits += 1;
    },
  );
  return {
    limits,
    pending: new PendingConnections(options.maxPendingPerAddress ?? DEFAULT_MAX_PENDING_PER_ADDRESS),
    budget,
    publishes: new PublishTally(),
    counters,
    log,
  };
}

export function createBrokerServer(options: BrokerServerOptions): BrokerServer {
  const log = (options.logger ?? silentLogger).child({ component: 'broker' });
  const now = options.now ?? Date.now;
  const host = options.host ?? '127.0.0.1';
  const counters = new BrokerCounters();
  const admission = createAdmission(options, counters, log);
  const { budget, publishes } = admission;
  let aedes: Aedes | undefined;
  let tcp: NetServer | undefined;
  let web: HttpServer | undefined;
  let wss: WebSocketServer | undefined;

  const revocations = new RevocationList({
    ...options.revocations,
    logger: log,
    onRevoked: () => clients.kickRevoked(),
  });
  const hooks: AedesHooks = createAedesHooks({
    ring: options.keys,
    revocations,
    counters,
    logger: log,
    now,
    ...(options.maxPayload === undefined ? {} : { maxPayload: options.maxPayload }),
  });
  const clients = new ConnectedClients(hooks, revocations, counters, log, now);

  async function start(): Promise<BrokerAddress> {
    revocations.start();
    const broker = await createAedes(hooks, clients, admission, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    aedes = broker;
    const admit = (socket: Duplex, address: string, request?: Parameters<Aedes['handle']>[1]) =>
      admitSocket(broker, admission, socket, address, request);
    const handle = (socket: Duplex & { remoteAddress?: string | undefined }) =>
      admit(socket, socket.remoteAddress ?? 'unknown');
    // No Nagle: a broker's writes are small (PUBACKs, a gate's ack), and with it each waited for
    // the ACK of the one before — live ingest 0.47 → 0.52 × the raw transport (BENCHMARKS.md).
    tcp = options.tls
      ? createTlsServer({ cert: options.tls.cert, key: options.tls.key, noDelay: true }, handle)
      : createNetServer({ noDelay: true }, handle);
    const port = await listen(tcp, options.port, host, options.tls ? 'MQTT over TLS' : 'MQTT');
    const address: BrokerAddress = { port };
    if (options.wsPort !== undefined) {
      ({ web, wss } = createWebSocketListener(options, admit, log));
      address.wsPort = await listen(web, options.wsPort, host, 'MQTT over WebSocket');
    }
    log.info({ host, ...address, tls: Boolean(options.tls) }, 'broker listening');
    return address;
  }

  async function stop(): Promise<void> {
    revocations.stop();
    clients.stopTimers();
    const broker = aedes;
    aedes = undefined;
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
    for (const socket of wss?.clients ?? []) socket.terminate();
    wss?.close();
    web?.closeAllConnections();
    await Promise.all([close(tcp), close(web)]);
    clients.clear();
    log.info('broker stopped');
  }

  return {
    start,
    stop,
    revoke: (entry) => revocations.revoke(entry),
    stats: () =>
      counters.snapshot({
        clientsConnected: clients.size,
        revokedTokens: revocations.size,
        revocationReloadErrors: revocations.stats.reloadErrors,
        unreadBytes: budget.used,
        unreadPeakBytes: budget.peak,
        unreadBudgetBytes: budget.limit,
        publishes,
      }),
  };
}
