/**
 * Gate tokens do not expire silently (docs/edge-agent.md, "Token renewal"). Every gate announces
 * when its device token expires (`tokenExpiresAt` in its status) and which contract it speaks
 * (`contract`). On each status of an online gate:
 * - a token expiring within `renewBeforeMs` (default 60 days) is renewed: the cloud signs a new
 *   one (role gate, same gate and compound, `lifetimeMs`, default 365 days) and sends it over the
 *   gate's own `cmd` topic as `renew-token`, recorded and audited like every command, at most
 *   once per `retryMs` (default 1 hour) while the gate still reports the old expiry;
 * - a token expiring within `alarmBeforeMs` (default 30 days) raises a `token-expiring` alarm,
 *   shown on the console, at most once a day per gate: renewal failed (the gate was offline for
 *   months, refused the token, or its key was retired) and somebody must look;
 * - a gate announcing a contract newer than this cloud's raises `contract-mismatch`, at most once a
 *   day per gate and contract. A gate that announces none is older than the announcement and speaks v1.
 * A gate the broker refuses (revoked) sends no status, so it is never renewed.
 *
 * Every cloud instance subscribes the statuses itself, so each of these is claimed in the database
 * first (cloud/tokens/gate-duties.ts): one renewal, one alarm per gate across every instance —
 * the spacing above counts from whichever instance did it.
 *
 * With a broker that keeps one account per gate (Mosquitto's dynamic security, `accounts`), the
 * renewed token must also become the account's password — but only once the gate has stored it
 * (its `cmd/result` ok): set earlier, the broker would cut off a gate that holds only the old token.
 * Until then the gate falls back to its previous token when the broker refuses the new one
 * (edge-agent/mqtt-link.ts).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { CommandKind } from '../../shared/enums.ts';
import { idSchema } from '../../shared/ids.ts';
import type { GateStatus } from '../../shared/schemas/mqtt.ts';
import { MAX_KID, MIN_KID, type SigningKey } from '../../shared/keys.ts';
import type { Logger } from '../../shared/log.ts';
import { newTokenId, signToken, tokenIdSchema } from '../../shared/token.ts';
import { topics } from '../../shared/topics.ts';
import { CONTRACT_VERSION } from '../../shared/version.ts';
import type { LiveHub } from '../live/live-hub.ts';
import type { BrokerAccounts } from '../revocations/broker-accounts.ts';
import type { CloudStore } from '../store/store.ts';
import type { GateDuties } from './gate-duties.ts';

const DAY_MS = 86_400_000;

/**
 * The note another instance left in `gate_duties` for a renewal it sent: only a gate's claims are
 * ever signed again from it, whatever else the row holds.
 */
const renewalNoteSchema = z.strictObject({
  cmdId: z.string().max(128),
  /** The signing key's id the sender signed with: only an instance holding the same key re-signs. */
  kid: z.number().int().min(MIN_KID).max(MAX_KID),
  claims: z.strictObject({
    sub: idSchema,
    role: z.literal('gate'),
    compound: idSchema,
    exp: z.number().int().positive(),
    iat: z.number().int().positive(),
    /** The token's own rule: a note another rule would pass is never signed again. */
    jti: tokenIdSchema,
  }),
});
const TOKEN_RENEW_BEFORE_MS = 60 * DAY_MS;
const TOKEN_ALARM_BEFORE_MS = 30 * DAY_MS;
const TOKEN_LIFETIME_MS = 365 * DAY_MS;

export interface GateTokenRenewalOptions {
  store: Pick<CloudStore, 'recordCommand' | 'recordAudit' | 'recordAlarm'>;
  signingKey: SigningKey;
  publish: (topic: string, message: unknown) => Promise<void>;
  live: LiveHub;
  logger: Logger;
  now: () => number;
  renewBeforeMs?: number;
  alarmBeforeMs?: number;
  lifetimeMs?: number;
  retryMs?: number;
  /** The broker's per-gate accounts, when it keeps them (Mosquitto). */
  accounts?: Pick<BrokerAccounts, 'putGate'>;
  /** Where renewals and alarms are claimed, once across every instance (the cloud's `openGateDuties`). */
  duties: GateDuties;
}

export class GateTokenRenewal {
  private readonly duties: GateDuties;
  /** Renewals sent and not yet confirmed by the gate, by command id (bounded by the number of gates). */
  private readonly pending = new Map<string, { gateId: string; compoundId: string; token: string }>();
  readonly counters = { renewed: 0, alarms: 0, accountsUpdated: 0, accountFailures: 0 };

  constructor(private readonly options: GateTokenRenewalOptions) {
    this.duties = options.duties;
  }

  /** Called with every stored status of a gate. Never throws (logs instead): status handling goes on. */
  async onStatus(gateId: string, compoundId: string, status: GateStatus): Promise<void> {
    try {
      await this.checkContract(gateId, compoundId, status);
      await this.checkToken(gateId, compoundId, status);
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message, gateId }, 'token renewal check failed');
    }
  }

  private async checkContract(gateId: string, compoundId: string, status: GateStatus): Promise<void> {
    const contract = status.contract ?? 1;
    if (contract <= CONTRACT_VERSION) return;
    if (!(await this.duties.claim(gateId, 'contract-alarm', `v${contract}`, this.options.now(), DAY_MS))) return;
    await this.alarm(
      gateId,
      compoundId,
      'contract-mismatch',
      `gate speaks contract v${contract}, this cloud v${CONTRACT_VERSION}: upgrade the cloud first (docs/install.md)`,
    );
  }

  private async checkToken(gateId: string, compoundId: string, status: GateStatus): Promise<void> {
    const exp = status.tokenExpiresAt;
    if (exp === undefined) return;
    const now = this.options.now();
    const left = exp - now;
    if (left < (this.options.alarmBeforeMs ?? TOKEN_ALARM_BEFORE_MS)) {
      if (await this.duties.claim(gateId, 'token-alarm', '', now, DAY_MS)) {
        const days = Math.max(0, Math.floor(left / DAY_MS));
        await this.alarm(
          gateId,
          compoundId,
          'token-expiring',
          `device token expires ${new Date(exp).toISOString()} (${days} days): renewal has not reached the gate; anxin gate add re-issues one by hand`,
        );
      }
    }
    if (!status.online || left >= (this.options.renewBeforeMs ?? TOKEN_RENEW_BEFORE_MS)) return;
    const retryMs = this.options.retryMs ?? 3_600_000;
    if (!(await this.duties.claim(gateId, 'token-renewal', String(exp), now, retryMs))) return;
    await this.renew(gateId, compoundId, now);
  }

  private async renew(gateId: string, compoundId: string, now: number): Promise<void> {
    const exp = now + (this.options.lifetimeMs ?? TOKEN_LIFETIME_MS);
    const claims = { sub: gateId, role: 'gate' as const, compound: compoundId, exp, iat: now, jti: newTokenId() };
    const token = signToken(claims, this.options.signingKey);
    const cmdId = randomBytes(8).toString('hex');
    const { store } = this.options;
    await store.recordCommand({
      cmdId,
      gateId,
      kind: 'renew-token',
      direction: null,
      reason: 'token renewal',
      by: 'cloud',
      issuedAt: now,
      result: null,
    });
    await store.recordAudit({
      at: now,
      actor: 'cloud',
      role: 'admin',
      action: 'gate.token',
      compoundId,
      target: gateId,
      detail: { renewal: true, expiresAt: exp },
    });
    if (this.options.accounts) {
      for (const [id, entry] of this.pending) if (entry.gateId === gateId) this.pending.delete(id);
      this.pending.set(cmdId, { gateId, compoundId, token });
      // The gate's `ok` is a shared subscription: it may reach another instance, which signs the same
      // token again from these claims with the same key (Ed25519 signatures are deterministic).
      // Claims and the key's id only, no signature.
      await this.duties.note(
        gateId,
        'token-renewal',
        JSON.stringify({ cmdId, kid: this.options.signingKey.kid, claims }),
      );
    }
    await this.options.publish(topics.gateCmd(gateId), { cmdId, kind: 'renew-token', token, by: 'cloud' });
    this.counters.renewed += 1;
    this.options.logger.info({ gateId, expiresAt: new Date(exp).toISOString() }, 'gate token renewal sent');
  }

  /**
   * A gate answered a command of `kind`: a confirmed renewal becomes its broker account's password.
   * Only a renewal's answer is looked at (another kind reads nothing). Never throws.
   */
  async onCommandResult(gateId: string, cmdId: string, ok: boolean, kind: CommandKind): Promise<void> {
    if (kind !== 'renew-token') return;
    const entry = this.pending.get(cmdId) ?? (await this.sentByAnother(gateId, cmdId));
    if (!entry || entry.gateId !== gateId) return;
    this.pending.delete(cmdId);
    // Answered: no instance takes this renewal up again.
    if (this.options.accounts) await this.duties.note(gateId, 'token-renewal', '').catch(() => undefined);
    if (!ok || !this.options.accounts) return;
    try {
      await this.options.accounts.putGate({ id: gateId, compoundId: entry.compoundId }, entry.token);
      this.counters.accountsUpdated += 1;
      this.options.logger.info({ gateId }, 'broker account set to the renewed token');
    } catch (error) {
      this.counters.accountFailures += 1;
      this.options.logger.error(
        { gateId, err: (error as Error).message },
        'broker account not updated: the gate keeps its previous token until the next renewal',
      );
    }
  }

  /** A renewal another instance sent (its note in the database), its token signed again from its claims. */
  private async sentByAnother(gateId: string, cmdId: string) {
    if (!this.options.accounts) return undefined;
    try {
      const noted = await this.duties.noted(gateId, 'token-renewal');
      const sent = noted ? renewalNoteSchema.parse(JSON.parse(noted)) : undefined;
      if (sent?.cmdId !== cmdId || sent.claims.sub !== gateId) return undefined;
      // Signed with another key (a rolling key change), the token would differ from the one the
      // gate got, and setting it as the gate's broker password would lock the gate out.
      if (sent.kid !== this.options.signingKey.kid) {
        this.counters.accountFailures += 1;
        this.options.logger.warn(
          { gateId, cmdId, noteKid: sent.kid, kid: this.options.signingKey.kid },
          'renewal signed with another key: broker account not updated here (the gate falls back to its previous token until the next renewal)',
        );
        return undefined;
      }
      const token = signToken(sent.claims, this.options.signingKey);
      return { gateId, compoundId: sent.claims.compound, token };
    } catch (error) {
      this.options.logger.warn({ gateId, err: (error as Error).message }, 'renewal note unreadable');
      return undefined;
    }
  }

  private async alarm(
    gateId: string,
    compoundId: string,
    kind: 'token-expiring' | 'contract-mismatch',
    detail: string,
  ): Promise<void> {
    const ts = this.options.now();
    await this.options.store.recordAlarm({ kind, ts, detail, gateId, compoundId, receivedAt: ts });
    // `here`: raised from a status, which every cloud instance receives and judges itself.
    this.options.live.publish({ type: 'alarm', data: { kind, ts, detail, gateId, compoundId } }, 'here');
    this.counters.alarms += 1;
    this.options.logger.warn({ gateId, kind, detail }, 'gate alarm raised by the cloud');
  }
}
