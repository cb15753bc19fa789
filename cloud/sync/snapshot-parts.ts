/**
 * Cuts a snapshot, as the store streams it (`RegistryStore.readSnapshot`), into the parts a gate
 * receives: `{snapshotRev, part, parts, records}`, 1-based, `size` records each (docs/contract.md,
 * MQTT). Each part is written as JSON from the records' texts once and handed on as the bytes that
 * are published — the window measures those same bytes (cloud/sync/snapshot-flow.ts). The records
 * the extensions add (`extra`) come last, as they always did.
 */
import type { SnapshotSink } from '../store/store.ts';

/** Where the parts go: called at `begin` with the rev and the number of parts; `undefined` stops the read. */
export type PartsTarget = (rev: number, parts: number) => ((payload: Buffer) => void) | undefined;

/**
 * The read was stopped on purpose: the gate's session was resumed (its parts exist already), or
 * it ended before its parts were all read (replaced by a newer snapshot, given up, stopped).
 */
export class SnapshotReadStopped extends Error {
  constructor() {
    super('snapshot read stopped: its session was resumed or has ended');
    this.name = 'SnapshotReadStopped';
  }
}

export class SnapshotPartCutter implements SnapshotSink {
  private rev = 0;
  private parts = 0;
  private cut = 0;
  private pending: string[] = [];
  private out: ((payload: Buffer) => void) | undefined;

  constructor(
    private readonly size: number,
    private readonly extra: readonly string[],
    private readonly target: PartsTarget,
  ) {}

  begin(rev: number, records: number): void {
    this.rev = rev;
    this.parts = Math.max(1, Math.ceil((records + this.extra.length) / this.size));
    this.out = this.target(rev, this.parts);
    if (!this.out) throw new SnapshotReadStopped();
  }

  page(records: readonly string[]): void {
    for (const record of records) this.pending.push(record);
    while (this.pending.length >= this.size) this.emit(this.pending.splice(0, this.size));
  }

  /** After the store's read: the extensions' records, then the last part. Returns the parts cut. */
  finish(): number {
    this.page(this.extra);
    if (this.pending.length > 0 || this.cut === 0) this.emit(this.pending.splice(0));
    if (this.cut !== this.parts) throw new Error(`snapshot cut into ${this.cut} parts, ${this.parts} announced`);
    return this.cut;
  }

  private emit(records: readonly string[]): void {
    this.cut += 1;
    if (this.cut > this.parts) throw new Error(`snapshot part ${this.cut} beyond the ${this.parts} announced`);
    const head = `{"snapshotRev":${this.rev},"part":${this.cut},"parts":${this.parts},"records":[`;
    this.out?.(Buffer.from(`${head}${records.join(',')}]}`));
  }
}
