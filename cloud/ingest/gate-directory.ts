/**
 * Which compound a gate belongs to, for ingest's hot path. Registered gates are cached for good
 * (a gate never changes compound); unknown ones are asked of the store every time, so a gate
 * registered a moment ago is accepted at once.
 */
import type { Gate, RegistryStore } from '../store/store.ts';

export class GateDirectory {
  private readonly known = new Map<string, string>();

  constructor(private readonly store: Pick<RegistryStore, 'getGate'>) {}

  /** At once for a cached gate (ingest's fast path); else from the store. */
  compoundOf(gateId: string): string | Promise<string | undefined> {
    return this.known.get(gateId) ?? this.lookUp(gateId);
  }

  private async lookUp(gateId: string): Promise<string | undefined> {
    const gate = await this.store.getGate(gateId);
    if (gate) this.known.set(gate.id, gate.compoundId);
    return gate?.compoundId;
  }

  remember(gate: Pick<Gate, 'id' | 'compoundId'>): void {
    this.known.set(gate.id, gate.compoundId);
  }
}
