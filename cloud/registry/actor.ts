import type { SessionRole } from '../../shared/enums.ts';

/** Who is asking: the claims of a verified bearer token. */
export interface Actor {
  username: string;
  role: SessionRole;
  /** Set for users bound to one compound (every guard, every resident); they see only that compound. */
  compound?: string;
  /** The caller's session (its sign-in token's `jti`; cloud/auth/session-service.ts). */
  sessionId?: string;
}

/** Whether the actor may manage records of the compound: admins and unbound actors all, others their own. */
export function manages(actor: Actor, compoundId: string): boolean {
  return actor.compound === undefined || actor.role === 'admin' || actor.compound === compoundId;
}
