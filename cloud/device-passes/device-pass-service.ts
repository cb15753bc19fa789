/**
 * Device passes in the cloud (docs/passes.md, "Device passes"): a resident whose manager chose the
 * `phone` medium enrols their phone's public key and gets a certificate signed with the cloud's
 * current key; enrolling again, switching back to `printed`, or revoking ends the previous pass
 * through the ordinary pass revocation (`pass.revoke`, pushed to every gate of the compound).
 */
import { createHash } from 'node:crypto';
import { encodeBase45 } from '../../shared/base45.ts';
import {
  compressDeviceKey,
  DEFAULT_FRAME_SECONDS,
  DEVICE_PASS_PREFIX,
  FRAME_ROTATE_SECONDS,
  signDeviceCertificate,
} from '../../shared/device-pass.ts';
import type { SigningKey } from '../../shared/keys.ts';
import { newPassId, PassError } from '../../shared/pass.ts';
import type { DevicePassView, PassMedium } from '../../shared/schemas/device-pass.ts';
import { RequestValidationError } from '../cloud-errors.ts';
import { ApiError } from '../http/api-error.ts';
import type { Actor } from '../registry/actor.ts';
import type { RegistryService } from '../registry/registry-service.ts';
import type { Logger } from '../../shared/log.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { CloudStore, Compound, Resident } from '../store/store.ts';
import { certificateChange, type DevicePassRecord, type DevicePassStore } from './device-pass-store.ts';

/** A certificate is good for this long (or until the resident's registration ends, if sooner). */
export const DEVICE_PASS_VALIDITY_MS = 30 * 24 * 3_600_000;
/** Enrolments per resident per rolling day: each one is a revocation every gate keeps until expiry. */
export const ENROLMENTS_PER_DAY = 5;
const DAY_MS = 24 * 3_600_000;

export interface DevicePassServiceOptions {
  store: CloudStore;
  registry: RegistryService;
  passes: DevicePassStore;
  signingKey: SigningKey;
  now: () => number;
  logger?: Logger;
}

export function deviceKeyId(compressed: Uint8Array): string {
  return createHash('sha256').update(compressed).digest('hex').slice(0, 16);
}

export class DevicePassService {
  private readonly enrolments = new Map<string, number[]>();

  constructor(private readonly options: DevicePassServiceOptions) {}

  private get now(): number {
    return this.options.now();
  }

  view(record: DevicePassRecord): DevicePassView {
    return {
      passId: record.passId,
      personId: record.personId,
      compoundId: record.compoundId,
      kind: 'resident',
      notBefore: record.notBefore,
      expiresAt: record.expiresAt,
      frameSeconds: record.frameSeconds,
      rotateSeconds: FRAME_ROTATE_SECONDS,
      certificate: record.certificate.toString('base64url'),
      deviceKeyId: record.deviceKeyId,
      label: record.label,
      issuedAt: record.issuedAt,
      serverTime: this.now,
    };
  }

  medium(personId: string): Promise<PassMedium> {
    return this.options.passes.medium(personId);
  }

  /** The manager's choice. Back to `printed` revokes the resident's device pass. */
  async setMedium(resident: Resident, medium: PassMedium, actor: Actor): Promise<void> {
    const { passes, store } = this.options;
    await passes.setMedium({ personId: resident.personId, medium, setBy: actor.username, setAt: this.now });
    await store.recordAudit({
      at: this.now,
      actor: actor.username,
      role: actor.role,
      action: 'pass.medium',
      compoundId: resident.compoundId,
      target: resident.personId,
      detail: { medium },
    });
    if (medium === 'printed') await this.revoke(resident.personId, actor);
  }

  /**
   * The resident's current device pass: undefined when there is none, or when it was revoked (e.g.
   * by a manager through `DELETE /passes/:id`) or has expired — then it is forgotten here too.
   */
  async current(personId: string): Promise<DevicePassRecord | undefined> {
    const record = await this.options.passes.current(personId);
    if (!record) return undefined;
    const pass = await this.options.store.getPass(record.passId);
    if (!pass || pass.revokedAt !== null || pass.expiresAt <= this.now) {
      await this.options.passes.clear(personId);
      return undefined;
    }
    return record;
  }

  /** Signs a certificate for the phone's key; the resident's previous device pass is revoked. */
  async enrol(resident: Resident, rawKey: string, label: string | undefined, actor: Actor): Promise<DevicePassRecord> {
    const { passes, store, registry, signingKey } = this.options;
    if ((await passes.medium(resident.personId)) !== 'phone') {
      throw new ApiError(
        409,
        'pass-medium-printed',
        'this resident has a printed pass; the property office can switch them to a phone pass',
      );
    }
    let deviceKey: Buffer;
    try {
      deviceKey = compressDeviceKey(Buffer.from(rawKey, 'base64url'));
    } catch (err) {
      if (!(err instanceof PassError)) throw err;
      throw new RequestValidationError('not a P-256 public key', [{ path: 'publicKey', message: err.message }]);
    }
    this.takeEnrolment(resident.personId);
    const now = this.now;
    const notBefore = Math.floor(now / 1000) * 1000;
    const until = resident.validTo === null ? Number.POSITIVE_INFINITY : resident.validTo;
    const expiresAt = Math.floor(Math.min(now + DEVICE_PASS_VALIDITY_MS, until) / 1000) * 1000;
    if (expiresAt <= notBefore) {
      throw new ApiError(409, 'registration-ended', "this resident's registration has ended");
    }
    const payload = {
      passId: newPassId(),
      personId: resident.personId,
      compoundId: resident.compoundId,
      kind: 'resident' as const,
      notBefore,
      expiresAt,
      frameSeconds: DEFAULT_FRAME_SECONDS,
      deviceKey,
    };
    let certificate: Buffer;
    try {
      certificate = signDeviceCertificate(payload, signingKey);
    } catch (err) {
      if (!(err instanceof PassError)) throw err;
      throw new RequestValidationError('cannot issue this pass', [{ path: 'personId', message: err.message }]);
    }
    await store.createPass({
      passId: payload.passId,
      personId: payload.personId,
      compoundId: payload.compoundId,
      kind: payload.kind,
      notBefore,
      expiresAt,
      useLimit: null,
      // The certificate alone: not a scannable pass (a gate calls it malformed), kept to show it again.
      text: DEVICE_PASS_PREFIX + encodeBase45(certificate),
      issuedBy: actor.username,
      issuedAt: now,
      revokedAt: null,
    });
    const record: DevicePassRecord = {
      passId: payload.passId,
      personId: payload.personId,
      compoundId: payload.compoundId,
      certificate,
      deviceKeyId: deviceKeyId(deviceKey),
      label: label ?? null,
      frameSeconds: payload.frameSeconds,
      notBefore,
      expiresAt,
      issuedAt: now,
    };
    const previous = await passes.replace(record);
    await store.recordAudit({
      at: now,
      actor: actor.username,
      role: actor.role,
      action: 'pass.device.enrol',
      compoundId: resident.compoundId,
      target: record.passId,
      detail: { personId: resident.personId, deviceKeyId: record.deviceKeyId, replaces: previous?.passId ?? null },
    });
    if (previous) await registry.revokePass(previous.passId, actor);
    return this.announce(record);
  }

  /**
   * Pushes the certificate to the compound's gates (`pass.device`, docs/passes.md "Certificates by
   * sync") so a phone's first scan finds it verified. After the revocation of the pass it replaces:
   * a failure here only costs the gates that first scan's speed, so it is logged, not answered.
   */
  private async announce(record: DevicePassRecord): Promise<DevicePassRecord> {
    try {
      await this.options.registry.publishChanges([await this.options.passes.announce(record)]);
    } catch (err) {
      this.options.logger?.warn({ err, passId: record.passId }, 'device pass certificate not pushed to the gates');
    }
    return record;
  }

  /** What a gate's snapshot carries of device passes: the compound's current certificates (cloud/http/extension.ts). */
  async snapshotRecords(compound: Compound): Promise<Change[]> {
    return (await this.options.passes.forSnapshot(compound.id, this.now)).map(certificateChange);
  }

  /** Revokes the resident's device pass, if any (a lost phone, or back to printed). */
  async revoke(personId: string, actor: Actor): Promise<string | undefined> {
    const record = await this.options.passes.clear(personId);
    if (!record) return undefined;
    const pass = await this.options.store.getPass(record.passId);
    if (pass && pass.revokedAt === null) await this.options.registry.revokePass(record.passId, actor);
    return record.passId;
  }

  private takeEnrolment(personId: string): void {
    const now = this.now;
    const recent = (this.enrolments.get(personId) ?? []).filter((at) => now - at < DAY_MS);
    if (recent.length >= ENROLMENTS_PER_DAY) {
      const seconds = Math.max(1, Math.ceil((recent[0]! + DAY_MS - now) / 1000));
      throw new ApiError(429, 'rate-limited', `at most ${ENROLMENTS_PER_DAY} phone enrolments a day`, undefined, {
        retryAfterSeconds: seconds,
      });
    }
    recent.push(now);
    this.enrolments.set(personId, recent);
  }
}
