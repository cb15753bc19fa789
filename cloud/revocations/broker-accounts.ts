/**
 * A broker that keeps one account per gate (Mosquitto's dynamic security, broker/mosquitto-dynsec.ts):
 * the port through which the cloud revokes a gate (cloud/revocations) and hands it a renewed token
 * (cloud/tokens/gate-token-renewal.ts). Declared here, apart from both, so neither imports the other.
 */
export interface BrokerAccounts {
  /** Creates or replaces the gate's account, with this token as its password. */
  putGate(gate: { id: string; compoundId: string }, token: string): Promise<void>;
  /** Refuses the gate's account from now on and disconnects its session. */
  disableGate(gateId: string): Promise<void>;
}
