/**
 * Which compound a gate belongs to, for ingest's hot path. Registered gates are cached for good
 * (a gate never changes compound); unknown ones are asked of the store every time, so a gate
 * registered a moment ago is accepted at once.
 */
import type { Gate, RegistryStore } from '../store/store.ts';

export class GateDirectory {
  private readonly known = new Map<string, string>();

  constructor(private readonly store: Pick<RegistryStore, 'getGate'>) {}

  async compoundOf(gateId: string): Promise<string | undefined> {
    const cached = this.known.get(gateId);
    if (cached !== undefined) return cached;
    const gate = await this.store.getGate(gateId);
    if (gate) this.known.set(gate.id, gate.compoundId);
    return gate?.compoundId;
  }

  remember(gate: Pick<Gate, 'id' | 'compoundId'>): void {
    this.known.set(gate.id, gate.compoundId);
  }
}
