/**
 * Device pass routes (docs/passes.md, "Device passes"; docs/contract.md §5):
 *
 * - manager: `GET/PUT /api/v1/residents/:id/pass-medium` — printed or phone, per resident, with the
 *   resident's current device pass; back to `printed` revokes it;
 * - resident (session of the resident side): `GET/POST/DELETE /api/v1/me/pass/device` — the phone
 *   posts its public key and gets the certificate; the identity is the session's, never a parameter.
 *
 * The resident's session check is the resident side's (`requireResident`, cloud/me/resident-auth.ts).
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { type MeEnv, requireResident } from '../me/resident-auth.ts';
import { devicePassEnrolSchema, passMediumSchema } from '../../shared/schemas/device-pass.ts';
import { notFound } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import { API_BASE, type CloudExtensionFactory, type ExtensionContext } from '../http/extension.ts';
import { canSee } from '../http/auth-middleware.ts';
import { idParamSchema, validate } from '../http/validation.ts';
import type { Resident } from '../store/store.ts';
import { openDevicePassStore } from './open-device-pass-store.ts';
import { DevicePassService } from './device-pass-service.ts';
import { passPageRoutes, registerMePanel } from './pass-page.ts';

type ResidentEnv = MeEnv;

function devicePassService(ctx: ExtensionContext): DevicePassService {
  return new DevicePassService({
    store: ctx.store,
    registry: ctx.registry,
    passes: openDevicePassStore(ctx.store.engine),
    signingKey: ctx.signingKey,
    now: ctx.now,
    logger: ctx.logger,
  });
}

/** `/api/v1/me/pass/…` for one resident, given the middleware that makes them one. */
export function meDevicePassRoutes(
  service: DevicePassService,
  resident: MiddlewareHandler<ResidentEnv>,
  now: () => number,
): Hono<ResidentEnv> {
  return new Hono<ResidentEnv>()
    .get('/device', resident, async (c) => {
      const me = c.var.resident;
      const record = await service.current(me.personId);
      return c.json({
        medium: await service.medium(me.personId),
        devicePass: record ? service.view(record) : null,
        serverTime: now(),
      });
    })
    .post('/device', resident, validate('json', devicePassEnrolSchema), async (c) => {
      const { publicKey, label } = c.req.valid('json');
      const record = await service.enrol(c.var.resident, publicKey, label, c.var.actor);
      return c.json(service.view(record), 201, { 'cache-control': 'no-store' });
    })
    .delete('/device', resident, async (c) => {
      const revoked = await service.revoke(c.var.resident.personId, c.var.actor);
      if (!revoked) throw notFound('device pass of', c.var.resident.personId);
      return c.body(null, 204);
    });
}

/** Device passes as an extension of the cloud (cloud/http/extension.ts). */
export function devicePassExtension(): CloudExtensionFactory {
  return (ctx) => {
    const service = devicePassService(ctx);
    return {
      name: 'device passes',
      mount: (app) => mountDevicePassRoutes(app, ctx, service),
      // The current certificates, so a gate that takes a snapshot has them before their first scan.
      snapshotRecords: (compound) => service.snapshotRecords(compound),
    };
  };
}

function mountDevicePassRoutes(app: Hono<AppEnv>, ctx: ExtensionContext, service: DevicePassService): void {
  const manager = ctx.auth.requireRole(['manager']);
  const residentOf = async (actor: AppEnv['Variables']['actor'], id: string) => {
    const resident = await ctx.store.getResident(id);
    if (!resident || !canSee(actor, resident.compoundId)) throw notFound('resident', id);
    return resident;
  };
  const answer = async (resident: Resident) => {
    const record = await service.current(resident.personId);
    return {
      personId: resident.personId,
      medium: await service.medium(resident.personId),
      devicePass: record ? service.view(record) : null,
    };
  };
  app.route(
    `${API_BASE}/residents`,
    new Hono<AppEnv>()
      .get('/:id/pass-medium', manager, validate('param', idParamSchema), async (c) =>
        c.json(await answer(await residentOf(c.var.actor, c.req.valid('param').id))),
      )
      .put(
        '/:id/pass-medium',
        manager,
        validate('param', idParamSchema),
        validate('json', passMediumSchema),
        async (c) => {
          const resident = await residentOf(c.var.actor, c.req.valid('param').id);
          await service.setMedium(resident, c.req.valid('json').medium, c.var.actor);
          return c.json(await answer(resident));
        },
      ),
  );
  const resident = requireResident(ctx.auth, ctx.store, ctx.sessions);
  app.route(`${API_BASE}/me/pass`, meDevicePassRoutes(service, resident, ctx.now) as unknown as Hono<AppEnv>);
  app.route('/me/pass', passPageRoutes());
  registerMePanel();
}
