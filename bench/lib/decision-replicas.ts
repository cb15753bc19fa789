/**
 * What bench/decision.ts decides over besides the gate's SQLite replica: the peer (the same replica
 * as plain Maps: what a decision would cost with no storage engine), and the device passes it scans
 * (phones, certificates and frames signed up front: signing is the cloud's and the phone's cost,
 * not the gate's), with the sync of some certificates to the gate (docs/passes.md, "Certificates by sync").
 */
import { generateKeyPairSync } from 'node:crypto';
import { DeviceCertificateVerifier } from '../../edge-agent/device-certificate-verifier.ts';
import type { SyncedCertificate } from '../../edge-agent/device-certificates.ts';
import type { ReplicaStore } from '../../edge-agent/replica-store.ts';
import type { ExitQuotaPolicy, ReplicaView } from '../../edge-agent/replica-view.ts';
import {
  buildDevicePassText,
  compressDeviceKey,
  DEFAULT_FRAME_SECONDS,
  nodeDeviceSigner,
  signDeviceCertificate,
} from '../../shared/device-pass.ts';
import type { Direction, HealthColour, Mode } from '../../shared/enums.ts';
import type { KeyRing, SigningKey } from '../../shared/keys.ts';
import { newPassId } from '../../shared/pass.ts';
import type { Change, PersonRecord } from '../../shared/schemas/mqtt.ts';
import type { SyntheticPerson } from './population.ts';

const DAY_MS = 86_400_000;

/** The peer: the same replica as plain Maps (what the decision would cost with no storage engine). */
export class MapReplica implements ReplicaView {
  private readonly byId = new Map<string, PersonRecord>();
  private readonly byHash = new Map<string, PersonRecord>();
  private readonly byCard = new Map<string, PersonRecord>();
  private readonly healthOf = new Map<string, HealthColour>();
  /** Certificates verified at sync, copied from the SQLite replica once its verifier is done. */
  readonly synced = new Map<string, SyncedCertificate>();
  constructor(
    persons: readonly SyntheticPerson[],
    private readonly contactAt: number,
  ) {
    for (const p of persons) {
      this.byId.set(p.record.personId, p.record);
      if (p.record.idHash) this.byHash.set(p.record.idHash, p.record);
      for (const c of p.record.cards) this.byCard.set(c, p.record);
      this.healthOf.set(p.record.personId, p.health);
    }
  }
  mode(): Mode {
    return 'normal';
  }
  rev(): number {
    return 1;
  }
  lastCloudContactAt(): number | null {
    return this.contactAt;
  }
  personById(id: string) {
    return this.byId.get(id);
  }
  personByIdHash(h: string) {
    return this.byHash.get(h);
  }
  personByCard(c: string) {
    return this.byCard.get(c);
  }
  health(id: string): HealthColour {
    return this.healthOf.get(id) ?? 'unknown';
  }
  isPassRevoked(): boolean {
    return false;
  }
  passUses(): number {
    return 0;
  }
  lastDirection(): Direction | undefined {
    return undefined;
  }
  lastFrameAt(): number | undefined {
    return undefined;
  }
  verifiedCertificate(passId: string): SyncedCertificate | undefined {
    return this.synced.get(passId);
  }
  exitQuota(): ExitQuotaPolicy | null {
    return null;
  }
  householdExitsSince(): number {
    return 0;
  }
}

export interface DevicePassSet {
  /** `pass.device` changes, one per certificate (what the cloud pushes). */
  changes: Change[];
  /** Per certificate, its frames' texts (each a scan the gate has not seen). */
  frames: string[][];
}

/** `count` certificates over a pool of 64 phones, `framesEach` frames each, 1 s apart, ending 20 s before `now`. */
export function devicePassSet(
  count: number,
  framesEach: number,
  options: { signing: SigningKey; compoundId: string; now: number; personId: () => string },
): DevicePassSet {
  const phones = Array.from({ length: 64 }, () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = pair.publicKey.export({ format: 'jwk' });
    const raw = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    return { key: compressDeviceKey(raw), sign: nodeDeviceSigner(pair.privateKey) };
  });
  const changes: Change[] = [];
  const frames = Array.from({ length: count }, (_, i) => {
    const phone = phones[i % phones.length]!;
    const payload = {
      passId: newPassId(),
      personId: options.personId(),
      compoundId: options.compoundId,
      kind: 'resident' as const,
      notBefore: options.now - DAY_MS,
      expiresAt: options.now + 30 * DAY_MS,
      frameSeconds: DEFAULT_FRAME_SECONDS,
      deviceKey: phone.key,
    };
    const certificate = signDeviceCertificate(payload, options.signing);
    changes.push({
      op: 'pass.device',
      passId: payload.passId,
      personId: payload.personId,
      certificate: certificate.toString('base64url'),
    });
    return Array.from({ length: framesEach }, (_, f) =>
      buildDevicePassText(certificate, options.now - 20_000 + f * 1_000, phone.sign),
    );
  });
  return { changes, frames };
}

/**
 * The sync of `set`'s certificates to the gate, as the agent does it: the delta applied (stored
 * unverified), then the background verifier run to the end. Returns the CPU per certificate of each
 * step, ms, and copies the verified rows into the peer.
 */
export function syncCertificates(
  replica: ReplicaStore,
  ring: KeyRing,
  set: DevicePassSet,
  peer: MapReplica,
): { applyMs: number; verifyMs: number } {
  const verifier = new DeviceCertificateVerifier({ certificates: replica.certificates, ring, isOpen: () => true });
  let start = process.cpuUsage();
  const chunk = 1_000;
  for (let i = 0; i < set.changes.length; i += chunk) {
    replica.applyDelta(set.changes.slice(i, i + chunk), replica.rev() + 1);
  }
  const apply = process.cpuUsage(start);
  start = process.cpuUsage();
  verifier.drain();
  const verify = process.cpuUsage(start);
  for (const change of set.changes) {
    if (change.op !== 'pass.device') continue;
    const row = replica.certificates.verifiedCertificate(change.passId);
    if (row) peer.synced.set(change.passId, row);
  }
  const perCertificate = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1_000 / set.changes.length;
  return { applyMs: perCertificate(apply), verifyMs: perCertificate(verify) };
}
