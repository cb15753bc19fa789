/**
 * The one adapter between the pure policy (`credentials.ts`, `acl.ts`) and aedes: its
 * `authenticate`, `authorizePublish` and `authorizeSubscribe` hooks. Every refusal is logged
 * and counted here, so nothing else needs to know how aedes reports them.
 *
 * How aedes turns our answers into MQTT 3.1.1:
 * - authenticate: an error carrying `returnCode` becomes that CONNACK code (§3.2.2.3), then close.
 *   aedes replaces a zero-length client id by `aedes_<uuid>` before `authenticate`, so `preConnect`
 *   notes which CONNECTs came without one (they get 0x02, credentials.ts).
 * - authorizePublish: 3.1.1 has no negative PUBACK, so an error closes the connection (§3.3.5:
 *   "either make a positive acknowledgement … or close the Network Connection"); the message is
 *   never delivered. A refused last will is dropped silently.
 * - authorizeSubscribe: a `null` subscription becomes granted QoS 0x80 in the SUBACK (§3.9.3).
 */
import type { AedesOptions, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import type { KeyRing } from '../shared/keys.ts';
import type { Logger } from '../shared/log.ts';
import type { TokenClaims } from '../shared/token.ts';
import { type BrokerIdentity, canPublish, canSubscribe, splitSharedFilter } from './acl.ts';
import { checkConnect } from './credentials.ts';
import { DEFAULT_MAX_PAYLOAD } from './mqtt-framing.ts';
import type { RevocationList } from './revocations.ts';
import type { BrokerCounters, SubscribeRefusal } from './stats.ts';

/** docs/contract.md payloads are small JSON; the largest is a 500-event journal batch (well under 1 MiB). */

export interface AedesHooksOptions {
  ring: KeyRing;
  revocations: RevocationList;
  counters: BrokerCounters;
  /** Largest accepted PUBLISH payload in bytes (default 1 MiB). */
  maxPayload?: number;
  logger: Logger;
  now?: () => number;
}

export interface Session {
  identity: BrokerIdentity;
  claims: TokenClaims;
}

export type AedesHooks = Required<
  Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'>
> & {
  /** The verified identity of a connected client (undefined before a successful CONNECT). */
  sessionOf(client: Client): Session | undefined;
};

/** aedes keeps the CONNECT's will on the client before calling `authenticate`; it is not in its typings. */
type ClientWithWill = Client & { _will?: { topic: string; retain?: boolean } | null };

class PublishRefusedError extends Error {
  readonly code = 'publish-refused';
}

export function createAedesHooks(options: AedesHooksOptions): AedesHooks {
  const { ring, revocations, counters, logger } = options;
  const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  const now = options.now ?? Date.now;
  const sessions = new WeakMap<Client, Session>();
  const withoutClientId = new WeakSet<Client>();

  return {
    sessionOf: (client) => sessions.get(client),

    preConnect(client, packet, done) {
      if (!packet.clientId) withoutClientId.add(client);
      done(null, true);
    },

    authenticate(client, username, password, done) {
      const will = (client as ClientWithWill)._will ?? undefined;
      const check = checkConnect(
        { clientId: withoutClientId.has(client) ? '' : client.id, username, password, ...(will ? { will } : {}) },
        { ring, isRevoked: (claims) => revocations.isRevoked(claims), nowMs: now() },
      );
      if (!check.ok) {
        counters.refuseConnect(check.reason);
        logger.warn(
          { clientId: client.id, username, reason: check.reason, returnCode: check.returnCode, jti: check.claims?.jti },
          'connection refused',
        );
        done(connectRefusal(check.reason, check.returnCode), false);
        return;
      }
      sessions.set(client, { identity: check.identity, claims: check.claims });
      counters.connectsAccepted++;
      logger.info({ clientId: client.id, role: check.identity.role, jti: check.claims.jti }, 'client authenticated');
      done(null, true);
    },

    authorizePublish(client, packet: PublishPacket, callback) {
      // A null client is a will aedes publishes for a session it no longer holds; every will was
      // vetted against the ACL at CONNECT (credentials.ts), so only the reserved space is guarded.
      if (client === null) {
        if (packet.topic.startsWith('$')) return callback(new PublishRefusedError(`${packet.topic}: reserved topic`));
        return callback(null);
      }
      const session = sessions.get(client);
      const size = packet.payload?.length ?? 0;
      const decision = publishDecision(session, packet, size, maxPayload);
      if (!decision.allowed) {
        counters.refusePublish(decision.reason);
        logger.warn(
          { clientId: client.id, role: session?.identity.role, topic: packet.topic, size, reason: decision.reason },
          'publish refused',
        );
        return callback(
          new PublishRefusedError(`publish on ${JSON.stringify(packet.topic)} refused: ${decision.reason}`),
        );
      }
      counters.publishesAccepted++;
      callback(null);
    },

    authorizeSubscribe(client, subscription: Subscription, callback) {
      const session = sessions.get(client);
      const decision = session
        ? subscribeDecision(session.identity, subscription.topic)
        : ({ allowed: false, reason: 'role-not-allowed' } as const);
      if (!decision.allowed) {
        counters.refuseSubscribe(decision.reason);
        logger.warn(
          { clientId: client.id, role: session?.identity.role, filter: subscription.topic, reason: decision.reason },
          'subscription refused',
        );
        return callback(null, null);
      }
      counters.subscriptionsGranted++;
      callback(null, subscription);
    },
  };
}

/** The CONNACK refusal aedes sends: `returnCode` is the MQTT 3.1.1 code (4 bad credentials, 5 not authorized). */
function connectRefusal(reason: string, returnCode: number): AuthenticateError {
  const error = new Error(`connection refused: ${reason}`) as AuthenticateError;
  error.returnCode = returnCode as AuthenticateError['returnCode'];
  return error;
}

/** Whether `session` may publish `packet` of `size` bytes: an identity, the size limit, then the topic table. */
function publishDecision(session: Session | undefined, packet: PublishPacket, size: number, maxPayload: number) {
  if (!session) return { allowed: false, reason: 'no-identity' } as const;
  if (size > maxPayload) return { allowed: false, reason: 'payload-too-large' } as const;
  return canPublish(session.identity, packet.topic, { retain: packet.retain });
}

/**
 * The topic table's answer, and one more refusal: aedes 1.x has no shared subscriptions, so
 * `$share/g/f` would be a literal filter matching nothing, and subscribing `f` instead would hand
 * every message to every instance — not the split the cloud asked for. Refused (SUBACK 0x80), so
 * the cloud says so and stops (docs/deploy.md, "Scaling out"); Mosquitto, EMQX and HiveMQ split.
 */
function subscribeDecision(
  identity: BrokerIdentity,
  filter: string,
): { allowed: true } | { allowed: false; reason: SubscribeRefusal } {
  const decision = canSubscribe(identity, filter);
  if (decision.allowed && splitSharedFilter(filter))
    return { allowed: false, reason: 'shared-subscription-unsupported' };
  return decision;
}
