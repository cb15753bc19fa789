/** Enumerations named by docs/contract.md. Each is a const tuple (for zod) plus its union type. */

export const MODES = ['normal', 'controlled', 'lockdown', 'emergency-open'] as const;
export type Mode = (typeof MODES)[number];

export const DIRECTIONS = ['in', 'out'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const METHODS = ['qr', 'idcard', 'card', 'manual', 'free'] as const;
export type Method = (typeof METHODS)[number];

export const RESULTS = ['granted', 'denied'] as const;
export type Result = (typeof RESULTS)[number];

export const HEALTH_COLOURS = ['green', 'yellow', 'red', 'unknown'] as const;
export type HealthColour = (typeof HEALTH_COLOURS)[number];

/** Reason codes of a decision. docs/contract.md lists the minimum; the last ones cover what the edge also decides. */
export const REASONS = [
  'ok',
  'unknown-person',
  'wrong-compound',
  'bad-signature',
  'pass-expired',
  'pass-not-yet-valid',
  'pass-revoked',
  'id-invalid',
  'id-card-expired',
  'health-red',
  'health-yellow',
  'health-unknown',
  'no-exit-quota',
  'anti-passback',
  'gate-locked',
  'manual',
  'free-passage',
  'malformed',
  'unknown-key',
  'person-inactive',
  'visitor-not-approved',
  'pass-used-up',
  'unsupported-card',
  /** Device passes (docs/passes.md, "Device passes"): the frame's ECDSA signature does not verify. */
  'bad-device-signature',
  /** The frame is older than its window plus the gate's clock tolerance (a screenshot). */
  'frame-expired',
  /** The frame's time is ahead of the gate's clock by more than the tolerance. */
  'frame-not-yet-valid',
  /** The frame is not newer than the newest one this gate already let through on that pass (a replay). */
  'frame-replayed',
] as const;
export type Reason = (typeof REASONS)[number];

export const DEVICE_STATES = ['ok', 'fault', 'absent'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

export const ALARM_KINDS = [
  'forced',
  'tailgate',
  'device-fault',
  'tamper',
  'fire',
  'journal-full',
  /** Raised by the cloud: a household's lockdown exits across the compound exceeded its quota. */
  'exit-quota-exceeded',
  /** The gate's clock disagrees with the cloud's beyond the tolerance (edge-agent/gate-clock.ts). */
  'clock-skew',
  /** Raised by the cloud: a gate's device token expires within 30 days (cloud/tokens/gate-token-renewal.ts). */
  'token-expiring',
  /** Raised by the cloud: a gate announces a contract version the cloud does not speak (docs/install.md). */
  'contract-mismatch',
  /** Raised by the cloud: a household claimed twice in one supply round (docs/supplies.md, "Once per household"). */
  'supply-double-claim',
  /** Raised by the cloud: it refused events of this gate (another compound's person, impossible time; cloud/ingest/event-admission.ts). */
  'events-refused',
  /** The gate skipped changes from the cloud it could not read, to apply the rest (edge-agent/sync-consumer.ts). */
  'sync-change-invalid',
  /** The gate refused a message from the cloud over its topic's size limit, unread (edge-agent/cloud-input-limits.ts). */
  'cloud-message-oversized',
] as const;
export type AlarmKind = (typeof ALARM_KINDS)[number];

export const COMMAND_KINDS = ['open', 'resync', 'reboot-devices', 'renew-token'] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

/** Token roles: the first three speak MQTT, the others HTTP (`provider`: a supply service provider, docs/supplies.md). */
export const ROLES = ['gate', 'cloud', 'observer', 'admin', 'manager', 'guard', 'provider', 'resident'] as const;
export type Role = (typeof ROLES)[number];
/** The logins of the `users` table (`/users`, `anxin user add`): the staff and the supply providers. */
export const HTTP_ROLES = ['admin', 'manager', 'guard', 'provider'] as const;
export type HttpRole = (typeof HTTP_ROLES)[number];
/**
 * Every role a cloud session may have: the staff's, plus `resident` — a person of the registry signed
 * in on the resident side (`/me`, cloud/me/), who reaches only `/api/v1/me/…` (docs/security.md,
 * "The resident role").
 */
export const SESSION_ROLES = [...HTTP_ROLES, 'resident'] as const;
export type SessionRole = (typeof SESSION_ROLES)[number];

export const PASS_KINDS = ['resident', 'visitor', 'exit-permit'] as const;
export type PassKind = (typeof PASS_KINDS)[number];

export const PERSON_KINDS = ['resident', 'staff', 'visitor'] as const;
export type PersonKind = (typeof PERSON_KINDS)[number];
