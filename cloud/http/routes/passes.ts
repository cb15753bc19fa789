/** Passes (manager): issue a signed QR pass, read it, render it as SVG or PNG, revoke it. */
import { Hono } from 'hono';
import { isDevicePassText } from '../../../shared/device-pass.ts';
import { renderPassPng, renderPassSvg } from '../../../shared/pass.ts';
import { passIssueSchema } from '../../../shared/schemas/http.ts';
import type { Pass } from '../../store/store.ts';
import { ApiError, notFound } from '../api-error.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { canSee } from '../auth-middleware.ts';
import { idParamSchema, validate } from '../validation.ts';

export function passView(p: Pass) {
  return {
    passId: p.passId,
    personId: p.personId,
    compoundId: p.compoundId,
    kind: p.kind,
    notBefore: p.notBefore,
    expiresAt: p.expiresAt,
    useLimit: p.useLimit,
    text: p.text,
    issuedBy: p.issuedBy,
    issuedAt: p.issuedAt,
    revokedAt: p.revokedAt,
  };
}

export function passRoutes(deps: RouteDeps) {
  const manager = deps.auth.requireRole(['manager']);
  const passOf = async (actor: AppEnv['Variables']['actor'], id: string) => {
    const pass = await deps.store.getPass(id);
    if (!pass || !canSee(actor, pass.compoundId)) throw notFound('pass', id);
    return pass;
  };
  /** A device pass is only ever shown by its phone, a new frame every few seconds (docs/passes.md). */
  const printable = (pass: Pass) => {
    if (isDevicePassText(pass.text)) {
      throw new ApiError(409, 'device-pass', `pass ${pass.passId} is a device pass: only its phone shows it`);
    }
    return pass;
  };
  return new Hono<AppEnv>()
    .post('/', manager, validate('json', passIssueSchema), async (c) => {
      const pass = await deps.registry.issuePass(c.req.valid('json'), c.var.actor);
      return c.json(passView(pass), 201);
    })
    .get('/:id', manager, validate('param', idParamSchema), async (c) =>
      c.json(passView(await passOf(c.var.actor, c.req.valid('param').id))),
    )
    .get('/:id/qr.svg', manager, validate('param', idParamSchema), async (c) => {
      const pass = printable(await passOf(c.var.actor, c.req.valid('param').id));
      return c.body(await renderPassSvg(pass.text), 200, {
        'content-type': 'image/svg+xml',
        'cache-control': 'no-store',
      });
    })
    .get('/:id/qr.png', manager, validate('param', idParamSchema), async (c) => {
      const pass = printable(await passOf(c.var.actor, c.req.valid('param').id));
      const png = await renderPassPng(pass.text);
      return c.body(new Uint8Array(png), 200, { 'content-type': 'image/png', 'cache-control': 'no-store' });
    })
    .delete('/:id', manager, validate('param', idParamSchema), async (c) => {
      const pass = await passOf(c.var.actor, c.req.valid('param').id);
      await deps.registry.revokePass(pass.passId, c.var.actor);
      return c.body(null, 204);
    });
}
