/**
 * Users: list and create logins (the HTTP twin of `anxin user add`), change a password, disable,
 * re-role, re-bind and delete them (docs/contract.md §3, the `/users` rows). Every change that alters what a
 * user may do — a new password, disabling, another role or compound, deletion — ends all of that
 * user's sessions (cloud/auth/session-service.ts): their next request is 401 and they sign in again.
 *
 * Admin only, except a password change of one's own account (with the old password). The last
 * enabled admin cannot be disabled, demoted or deleted, so the deployment never locks itself out.
 */
import { Hono } from 'hono';
import type { HttpRole } from '../../../shared/enums.ts';
import {
  passwordChangeSchema,
  userCreateSchema,
  usernameParamSchema,
  userPatchSchema,
} from '../../../shared/schemas/http.ts';
import { hashPassword, verifyPassword } from '../../auth/password-hash.ts';
import type { User } from '../../store/store.ts';
import { ApiError, forbidden, notFound } from '../api-error.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { validate } from '../validation.ts';

/** What the user routes share: the audit entry, the lookup, the last-admin rule and the compound binding. */
function userHelpers(deps: RouteDeps) {
  const audit = (actor: AppEnv['Variables']['actor'], action: string, user: User, detail: Record<string, unknown>) =>
    deps.store.recordAudit({
      at: deps.now(),
      actor: actor.username,
      role: actor.role,
      action,
      compoundId: user.compoundId,
      target: user.username,
      detail,
    });

  const userOf = async (username: string): Promise<User> => {
    const user = await deps.store.getUser(username);
    if (!user) throw notFound('user', username);
    return user;
  };

  /** Whether `username` is the only admin that can still sign in. */
  const isLastAdmin = async (username: string): Promise<boolean> => {
    const disabled = await deps.sessions.disabledUsers();
    const admins = (await deps.store.listUsers()).filter((u) => u.role === 'admin' && !disabled.has(u.username));
    return admins.length === 1 && admins[0]!.username === username;
  };

  const checkBinding = async (role: HttpRole, compoundId: string | null) => {
    if (role === 'guard' && compoundId === null) {
      throw new ApiError(400, 'invalid-request', 'a guard is bound to one compound', [
        { path: 'compoundId', message: 'required for guards' },
      ]);
    }
    if (compoundId !== null && !(await deps.store.getCompound(compoundId))) {
      throw new ApiError(400, 'invalid-request', 'unknown compound', [
        { path: 'compoundId', message: 'no such compound' },
      ]);
    }
  };

  return { audit, userOf, isLastAdmin, checkBinding };
}

type UserHelpers = ReturnType<typeof userHelpers>;

/** `GET /` and `POST /`: the logins, and a new one. */
function userListRoutes(deps: RouteDeps, h: UserHelpers): Hono<AppEnv> {
  const admin = deps.auth.requireRole([]);
  return new Hono<AppEnv>()
    .get('/', admin, async (c) => {
      const users = await deps.store.listUsers();
      const disabled = await deps.sessions.disabledUsers();
      const active = await deps.sessions.activeCounts();
      return c.json({
        users: users.map(({ passwordHash: _hash, ...user }) => ({
          ...user,
          disabled: disabled.has(user.username),
          activeSessions: active.get(user.username) ?? 0,
        })),
      });
    })
    .post('/', admin, validate('json', userCreateSchema), async (c) => {
      const input = c.req.valid('json');
      await h.checkBinding(input.role, input.compoundId ?? null);
      const user = {
        username: input.username,
        passwordHash: await hashPassword(input.password),
        role: input.role,
        compoundId: input.compoundId ?? null,
        createdAt: deps.now(),
      };
      await deps.store.createUser(user);
      // A name used before (deleted since) starts without its old flags.
      await deps.sessions.forget(user.username);
      await h.audit(c.var.actor, 'user.create', user, { role: user.role });
      return c.json({ username: user.username, role: user.role, compoundId: user.compoundId }, 201);
    });
}

/** `PUT /:username/password`: one's own (with the old password), or anyone's by an admin. */
function passwordRoutes(deps: RouteDeps, h: UserHelpers): Hono<AppEnv> {
  const anyone = deps.auth.requireRole(['guard', 'manager']);
  return new Hono<AppEnv>().put(
    '/:username/password',
    anyone,
    validate('param', usernameParamSchema),
    validate('json', passwordChangeSchema),
    async (c) => {
      const actor = c.var.actor;
      const { username } = c.req.valid('param');
      const { oldPassword, newPassword } = c.req.valid('json');
      const own = actor.username === username;
      if (!own && actor.role !== 'admin') throw forbidden('you may change only your own password');
      const user = await h.userOf(username);
      if (own) {
        // Even an admin proves the old password for their own account: a stolen token alone cannot take it over.
        if (oldPassword === undefined || !(await verifyPassword(oldPassword, user.passwordHash))) {
          throw new ApiError(403, 'wrong-password', 'the old password is wrong', [
            { path: 'oldPassword', message: 'does not match' },
          ]);
        }
      }
      await deps.store.setPasswordHash(username, await hashPassword(newPassword));
      const ended = await deps.sessions.endAllOf(username, 'password');
      await h.audit(actor, own ? 'user.password' : 'user.password-reset', user, { endedSessions: ended });
      return c.body(null, 204);
    },
  );
}

/** `PATCH /:username` and `DELETE /:username`: what a user may do changes, and their sessions end. */
function userChangeRoutes(deps: RouteDeps, h: UserHelpers): Hono<AppEnv> {
  const admin = deps.auth.requireRole([]);
  return new Hono<AppEnv>()
    .patch(
      '/:username',
      admin,
      validate('param', usernameParamSchema),
      validate('json', userPatchSchema),
      async (c) => {
        const actor = c.var.actor;
        const { username } = c.req.valid('param');
        const patch = c.req.valid('json');
        const user = await h.userOf(username);
        const role = patch.role ?? user.role;
        const compoundId = patch.compoundId !== undefined ? patch.compoundId : user.compoundId;
        const demotes = user.role === 'admin' && (role !== 'admin' || patch.disabled === true);
        if (demotes && (await h.isLastAdmin(username))) {
          throw new ApiError(409, 'last-admin', 'the last enabled admin cannot be disabled or demoted');
        }
        if (role !== user.role || compoundId !== user.compoundId) {
          await h.checkBinding(role, compoundId);
          await deps.store.updateUser(username, { role, compoundId });
        }
        if (patch.disabled !== undefined) await deps.sessions.setDisabled(username, patch.disabled, actor.username);
        // Whatever changed, the old tokens carry the old facts: they end.
        const ended = await deps.sessions.endAllOf(username, patch.disabled ? 'disabled' : 'changed');
        const after = { ...user, role, compoundId };
        await h.audit(actor, 'user.update', after, {
          ...(patch.disabled !== undefined ? { disabled: patch.disabled } : {}),
          ...(role !== user.role ? { role: { from: user.role, to: role } } : {}),
          ...(compoundId !== user.compoundId ? { compoundId: { from: user.compoundId, to: compoundId } } : {}),
          endedSessions: ended,
        });
        return c.json({
          username,
          role,
          compoundId,
          disabled: await deps.sessions.isDisabled(username),
        });
      },
    )
    .delete('/:username', admin, validate('param', usernameParamSchema), async (c) => {
      const { username } = c.req.valid('param');
      const user = await h.userOf(username);
      if (user.role === 'admin' && (await h.isLastAdmin(username))) {
        throw new ApiError(409, 'last-admin', 'the last enabled admin cannot be deleted');
      }
      await deps.store.deleteUser(username);
      const ended = await deps.sessions.endAllOf(username, 'deleted');
      await deps.sessions.forget(username);
      await h.audit(c.var.actor, 'user.delete', user, { endedSessions: ended });
      return c.body(null, 204);
    });
}

export function userRoutes(deps: RouteDeps) {
  const h = userHelpers(deps);
  return new Hono<AppEnv>()
    .route('/', userListRoutes(deps, h))
    .route('/', passwordRoutes(deps, h))
    .route('/', userChangeRoutes(deps, h));
}
