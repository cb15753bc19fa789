/**
 * Counts the anonymous (not yet admitted) sockets of each remote address, so one host cannot hold
 * more than `maxPerAddress` of them open at once while aedes' connect timeout runs.
 */
export class PendingConnections {
  readonly #counts = new Map<string, number>();

  constructor(readonly maxPerAddress: number) {}

  /** Takes a place for `address`; false when it has none left. */
  tryEnter(address: string): boolean {
    const count = this.#counts.get(address) ?? 0;
    if (count >= this.maxPerAddress) return false;
    this.#counts.set(address, count + 1);
    return true;
  }

  leave(address: string): void {
    const count = (this.#counts.get(address) ?? 1) - 1;
    if (count <= 0) this.#counts.delete(address);
    else this.#counts.set(address, count);
  }

  get size(): number {
    let total = 0;
    for (const count of this.#counts.values()) total += count;
    return total;
  }
}
