/**
 * Retiring a gate's credentials (docs/security.md, "A stolen gate"), admin only, audit-logged:
 *
 * - `POST /api/v1/gates/:id/revoke {reason}` — every device token of the gate issued until now
 *   stops working at the broker (entry `sub:<gateId>@<now>`); live sessions end at once.
 * - `POST /api/v1/gates/:id/token` — a fresh device token for the (replacement) gate, shown once.
 * - `GET /api/v1/revocations[?format=file]` — the entries, as JSON or in the broker's file format.
 *
 * Brokers learn of entries through sinks: the revocations file an `anxin broker --revocations`
 * watches, and/or an embedded broker's `revoke()`. Both get every entry again at start-up, so a
 * restarted broker or a lost file never re-admits a revoked gate.
 *
 * A broker that cannot check our tokens (Mosquitto, which compares each password with a stored
 * hash) keeps one account per gate instead: with `accounts`, a revoke disables the gate's account
 * (and so disconnects it) and a new token becomes its password — one account at a time, nobody
 * else touched. Those calls are awaited and their outcome is in the answer (`brokerAccount`); the
 * broker keeps its own state, so nothing is replayed at start-up, and a failed call is made again
 * by repeating the request.
 */
import type { BrokerAccounts } from './broker-accounts.ts';
import { renameSync, writeFileSync } from 'node:fs';
import { Hono } from 'hono';
import type { Logger } from '../../shared/log.ts';
import { subjectRevocation } from '../../shared/revocation-entry.ts';
import { gateRevokeSchema } from '../../shared/schemas/http.ts';
import { signToken } from '../../shared/token.ts';
import { notFound } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import { API_BASE, type CloudExtensionFactory, type ExtensionContext } from '../http/extension.ts';
import { idParamSchema, validate } from '../http/validation.ts';
import { openRevocationStore } from './open-revocation-store.ts';
import { type RevocationStore, revocationFileText } from './revocation-store.ts';

const GATE_TOKEN_TTL_MS = 365 * 86_400_000;

/**
 * A broker that keeps one account per gate (Mosquitto's dynamic security; the implementation is
 * `broker/mosquitto-dynsec.ts`, wired in by `anxin cloud --mosquitto-admin`).
 */
export type { BrokerAccounts } from './broker-accounts.ts';

export interface RevocationSinks {
  /** Rewritten (write to a temporary name, then rename) whenever an entry is added, and at start. */
  file?: string;
  /** Told of every entry: all of them at start, then each new one (an embedded broker's `revoke`). */
  onRevocation?: (entry: string) => void;
  /** A broker with an account per gate (Mosquitto's dynamic security, broker/mosquitto-dynsec.ts). */
  accounts?: BrokerAccounts;
}

/** Hands entries to the brokers: the whole file rewritten, each added entry to `onRevocation`. */
function sinkWriter(revocations: RevocationStore, sinks: RevocationSinks) {
  return async (added: readonly string[]) => {
    if (sinks.file) {
      const temporary = `${sinks.file}.${process.pid}.tmp`;
      writeFileSync(temporary, revocationFileText(await revocations.list()), { mode: 0o644 });
      renameSync(temporary, sinks.file);
    }
    for (const entry of added) sinks.onRevocation?.(entry);
  };
}

type BrokerAccountOutcome = { brokerAccount?: 'applied' | 'failed' };

/** Applies one account change on the broker; 'applied', 'failed' (logged), or absent without such a broker. */
function brokerAccountChanger(accounts: BrokerAccounts | undefined, log: Logger) {
  return async (
    gateId: string,
    what: string,
    change: (accounts: BrokerAccounts) => Promise<void>,
  ): Promise<BrokerAccountOutcome> => {
    if (!accounts) return {};
    try {
      await change(accounts);
      log.info({ gateId }, `${what} on the broker`);
      return { brokerAccount: 'applied' };
    } catch (err) {
      log.error({ err, gateId }, `could not ${what} on the broker; repeat the request`);
      return { brokerAccount: 'failed' };
    }
  };
}

interface GateCredentialDeps {
  ctx: ExtensionContext;
  revocations: RevocationStore;
  publish: (added: readonly string[]) => Promise<void>;
  onBrokerAccount: ReturnType<typeof brokerAccountChanger>;
  log: Logger;
}

/** `POST /gates/:id/revoke` and `POST /gates/:id/token` (admin, audited). */
function gateCredentialRoutes({ ctx, revocations, publish, onBrokerAccount, log }: GateCredentialDeps): Hono<AppEnv> {
  const admin = ctx.auth.requireRole([]);
  const gateOf = async (id: string) => {
    const gate = await ctx.store.getGate(id);
    if (!gate) throw notFound('gate', id);
    return gate;
  };
  const audit = (
    actor: AppEnv['Variables']['actor'],
    action: string,
    gate: { id: string; compoundId: string },
    detail: Record<string, unknown>,
  ) =>
    ctx.store.recordAudit({
      at: ctx.now(),
      actor: actor.username,
      role: actor.role,
      action,
      compoundId: gate.compoundId,
      target: gate.id,
      detail,
    });
  return new Hono<AppEnv>()
    .post('/:id/revoke', admin, validate('param', idParamSchema), validate('json', gateRevokeSchema), async (c) => {
      const gate = await gateOf(c.req.valid('param').id);
      const { reason } = c.req.valid('json');
      const at = ctx.now();
      const entry = subjectRevocation(gate.id, at);
      await revocations.add({ entry, subject: gate.id, reason, by: c.var.actor.username, at });
      await audit(c.var.actor, 'gate.revoke', gate, { reason, entry });
      await publish([entry]);
      log.warn({ gateId: gate.id, entry, by: c.var.actor.username }, 'gate tokens revoked');
      const broker = await onBrokerAccount(gate.id, 'disable the gate account', (a) => a.disableGate(gate.id));
      return c.json({ gateId: gate.id, entry, revokedBefore: at, ...broker });
    })
    .post('/:id/token', admin, validate('param', idParamSchema), async (c) => {
      const gate = await gateOf(c.req.valid('param').id);
      // One millisecond past any revocation made in this same instant, which covers `iat < at` only.
      const iat = ctx.now() + 1;
      const expiresAt = iat + GATE_TOKEN_TTL_MS;
      const token = signToken(
        { sub: gate.id, role: 'gate', compound: gate.compoundId, exp: expiresAt, iat },
        ctx.signingKey,
      );
      await audit(c.var.actor, 'gate.token', gate, { expiresAt });
      const broker = await onBrokerAccount(gate.id, 'set the gate account', (a) => a.putGate(gate, token));
      return c.json({ gateId: gate.id, token, expiresAt, ...broker }, 201);
    });
}

/**
 * Revocations as an extension of the cloud (cloud/http/extension.ts): the routes above, and every
 * entry handed to the sinks again as soon as the cloud opens it (before it connects to a broker).
 */
export function revocationExtension(sinks: RevocationSinks = {}): CloudExtensionFactory {
  return (ctx) => {
    const revocations = openRevocationStore(ctx.store.engine);
    const log = ctx.logger.child({ component: 'cloud.revocations' });
    const publish = sinkWriter(revocations, sinks);
    const onBrokerAccount = brokerAccountChanger(sinks.accounts, log);
    const mount = (app: Hono<AppEnv>) => {
      app.route(`${API_BASE}/gates`, gateCredentialRoutes({ ctx, revocations, publish, onBrokerAccount, log }));
      app.get(`${API_BASE}/revocations`, ctx.auth.requireRole([]), async (c) => {
        const all = await revocations.list();
        if (c.req.query('format') === 'file') {
          return c.text(revocationFileText(all), 200, { 'content-type': 'text/plain; charset=utf-8' });
        }
        return c.json({ revocations: all });
      });
    };
    revocations
      .list()
      .then((all) => publish(all.map((r) => r.entry)))
      .catch((err: unknown) => log.error({ err }, 'could not hand the revocations to the brokers'));
    return { name: 'revocations', mount };
  };
}
