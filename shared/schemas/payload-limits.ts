/**
 * How large a message the cloud sends a gate may be (docs/contract.md §2, docs/edge-agent.md
 * "Size limits on what the cloud sends"). The gate checks the payload's length against these
 * before it parses a byte of it, whatever the broker lets through (an operator may raise the
 * broker's `--max-payload` up to 256 MB; Mosquitto's own default has no limit at all).
 */

/** The most changes one delta, and the most records one snapshot part, carries (cloud/sync/). */
export const MAX_CHANGES_PER_MESSAGE = 1000;

/**
 * The brokers' payload ceiling (broker/aedes-hooks.ts, broker/mosquitto-config.ts; 1 MiB): no
 * message of the contract is larger, so it is also what a gate accepts for its largest messages.
 */
export const CONTRACT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** The topics the cloud sends a gate (docs/contract.md §2). */
export type CloudToGateTopic = 'sync' | 'changes' | 'cmd' | 'ack' | 'claimAck' | 'cloudStatus';

/**
 * The largest payload a gate reads on each of them, in bytes:
 * - `sync` (deltas and snapshot parts) and `changes` (live deltas): ≤ 1000 changes each. A person
 *   record is the largest common change: with every field at its schema's limit (64-character ids,
 *   a 64-character masked name in Chinese, 16 cards) it is under 1 KiB, so a part of 1000 of them
 *   stays under 1 MiB (test/edge-agent/cloud-input-limits.test.ts builds it); typical parts are a
 *   third of that. The brokers refuse anything larger anyway, so the gate refuses nothing the
 *   cloud can deliver through a broker configured as shipped.
 * - `cmd`: a `renew-token` command's token is ≤ 4096 characters, the rest ≤ 300: 16 KiB.
 * - `ack` (`{upTo, ts}`), `cloudStatus` (`{online, ts}`): under 100 bytes: 1 KiB.
 * - `claimAck`: an answer with where a household claimed (≤ 80 characters): 2 KiB.
 */
export const CLOUD_TO_GATE_MAX_BYTES: Readonly<Record<CloudToGateTopic, number>> = {
  sync: CONTRACT_MAX_PAYLOAD_BYTES,
  changes: CONTRACT_MAX_PAYLOAD_BYTES,
  cmd: 16 * 1024,
  ack: 1024,
  claimAck: 2 * 1024,
  cloudStatus: 1024,
};
