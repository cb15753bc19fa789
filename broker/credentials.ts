/**
 * CONNECT authentication as a pure function: username = client id, password = a device/user token
 * signed by the deployment key (docs/contract.md §2, "Broker authentication").
 *
 * CONNACK return codes (MQTT 3.1.1 §3.2.2.3) — the split we document in docs/deploy.md:
 * - 2 "identifier rejected": a zero-length client id. §3.1.3.1 lets a server assign one to a
 *   clean session, but here the client id is the identity (= the token's `sub`), so none is assigned.
 * - 4 "bad user name or password": the password is not a usable token — missing, malformed,
 *   signed by an unknown key, badly signed, expired or revoked. The client needs new credentials.
 * - 5 "not authorized": the token is genuine but does not allow this connection — a role that does
 *   not speak MQTT, a client id or username other than the token's `sub`, or a last will on a
 *   topic the identity may not publish. The credentials are fine; the request is not.
 */
import type { KeyRing } from '../shared/keys.ts';
import { type TokenClaims, verifyToken } from '../shared/token.ts';
import { type BrokerIdentity, canPublish, isMqttRole } from './acl.ts';

const CONNACK_IDENTIFIER_REJECTED = 2;
const CONNACK_BAD_USERNAME_OR_PASSWORD = 4;
const CONNACK_NOT_AUTHORIZED = 5;

export type ConnectRefusal =
  | 'empty-client-id'
  | 'no-credentials'
  | 'malformed'
  | 'unknown-key'
  | 'bad-signature'
  | 'expired'
  | 'revoked'
  | 'role-not-allowed'
  | 'client-id-mismatch'
  | 'will-not-allowed';

type ReturnCode = 2 | 4 | 5;

const RETURN_CODES: Record<ConnectRefusal, ReturnCode> = {
  'empty-client-id': CONNACK_IDENTIFIER_REJECTED,
  'no-credentials': CONNACK_BAD_USERNAME_OR_PASSWORD,
  malformed: CONNACK_BAD_USERNAME_OR_PASSWORD,
  'unknown-key': CONNACK_BAD_USERNAME_OR_PASSWORD,
  'bad-signature': CONNACK_BAD_USERNAME_OR_PASSWORD,
  expired: CONNACK_BAD_USERNAME_OR_PASSWORD,
  revoked: CONNACK_BAD_USERNAME_OR_PASSWORD,
  'role-not-allowed': CONNACK_NOT_AUTHORIZED,
  'client-id-mismatch': CONNACK_NOT_AUTHORIZED,
  'will-not-allowed': CONNACK_NOT_AUTHORIZED,
};

export interface ConnectAttempt {
  /** As sent in the CONNECT: empty when the client sent none (the broker's own stand-in id is not it). */
  clientId: string;
  username: string | undefined;
  password: Buffer | string | undefined;
  /** The last will of the CONNECT, checked now so a will can never be published where its owner could not. */
  will?: { topic: string; retain?: boolean };
}

export type ConnectCheck =
  | { ok: true; identity: BrokerIdentity; claims: TokenClaims }
  | { ok: false; reason: ConnectRefusal; returnCode: ReturnCode; claims?: TokenClaims };

export interface CredentialContext {
  ring: KeyRing;
  /** By the token's id, or by a cut-off for its subject (broker/revocations.ts). */
  isRevoked: (claims: TokenClaims) => boolean;
  nowMs: number;
}

function refuse(reason: ConnectRefusal, claims?: TokenClaims): ConnectCheck {
  return { ok: false, reason, returnCode: RETURN_CODES[reason], ...(claims ? { claims } : {}) };
}

export function checkConnect(attempt: ConnectAttempt, context: CredentialContext): ConnectCheck {
  if (attempt.clientId.length === 0) return refuse('empty-client-id');
  if (attempt.username === undefined || attempt.password === undefined || attempt.password.length === 0) {
    return refuse('no-credentials');
  }
  const token = typeof attempt.password === 'string' ? attempt.password : attempt.password.toString('utf8');
  const check = verifyToken(token, context.ring, context.nowMs);
  if (!check.ok) return refuse(check.reason);
  const { claims } = check;
  if (context.isRevoked(claims)) return refuse('revoked', claims);
  if (!isMqttRole(claims.role)) return refuse('role-not-allowed', claims);
  if (attempt.clientId !== claims.sub || attempt.username !== claims.sub) return refuse('client-id-mismatch', claims);
  const identity: BrokerIdentity = {
    clientId: claims.sub,
    role: claims.role,
    ...(claims.compound === undefined ? {} : { compound: claims.compound }),
  };
  if (attempt.will && !canPublish(identity, attempt.will.topic, { retain: attempt.will.retain ?? false }).allowed) {
    return refuse('will-not-allowed', claims);
  }
  return { ok: true, identity, claims };
}
