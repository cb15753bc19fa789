import type { Actor } from '../registry/actor.ts';

/** Hono environment of the cloud app: the authenticated caller set by `requireRole`. */
export interface AppEnv {
  Variables: { actor: Actor };
}
