/**
 * Faults survived (docs/security.md, "Faults survived"): broker, cloud and edge agent as real child processes, killed with real
 * signals in the middle of their work and restarted. Passages come from the gate terminal's
 * manual open (journaled before its HTTP answer), many at a time. Each scenario ends with the same
 * assertion (`expectEveryPassageStoredOnce`): seq 1 … lastSeq stored exactly once, every confirmed
 * passage among them, every process up and healthy with nobody's help.
 *
 * `ANXIN_SOAK_CYCLES` (default 1) repeats each kill/restart cycle; `npm run soak` raises it.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Deployment, eventually } from '../../testkit/deployment.ts';

const GATE = 'g-faults';
const CYCLES = Math.max(1, Number(process.env.ANXIN_SOAK_CYCLES ?? 1));
const BURST = 240;

let d: Deployment;
const confirmed: number[] = [];

beforeAll(async () => {
  d = await Deployment.running({ gates: [GATE] });
}, 60_000);

afterAll(async () => {
  await d?.close();
}, 30_000);

describe('faults survived by broker, cloud and edge processes', () => {
  it('stores a warm-up burst exactly once', async () => {
    const { seqs, failed } = await d.burst(GATE, 50);
    expect(failed).toBe(0);
    confirmed.push(...seqs);
    await d.expectEveryPassageStoredOnce(GATE, confirmed);
  });

  it('survives the broker killed (SIGKILL) and restarted during a burst', { timeout: 120_000 }, async () => {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const running = d.burst(GATE, BURST);
      await eventually(() => d.storedSeqs(GATE).length >= confirmed.length + 40 || undefined, 'the burst under way');
      await d.kill('broker', 'SIGKILL');
      await eventually(async () => (await d.gateState(GATE))?.online === false, 'the gate to notice');
      await new Promise((resolve) => setTimeout(resolve, 300));
      await d.startBroker();
      const { seqs, failed } = await running;
      // The gate decides alone: the broker being gone never fails a passage.
      expect(failed).toBe(0);
      confirmed.push(...seqs);
      await d.expectEveryPassageStoredOnce(GATE, confirmed);
    }
  });

  it('survives the cloud killed (SIGKILL) mid-batch, reopening its disk database', { timeout: 120_000 }, async () => {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const before = d.storedSeqs(GATE).length;
      const running = d.burst(GATE, BURST);
      await eventually(() => d.storedSeqs(GATE).length >= before + 40 || undefined, 'the cloud storing the burst');
      await d.kill('cloud', 'SIGKILL');
      const { seqs, failed } = await running;
      expect(failed).toBe(0);
      confirmed.push(...seqs);

      // The database a crashed cloud left behind (WAL and all) is whole and holds no duplicates.
      const db = new Database(d.cloudDb);
      try {
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
        const dupes = db
          .prepare(
            'SELECT COUNT(*) AS n FROM (SELECT gate_id, seq FROM events GROUP BY gate_id, seq HAVING COUNT(*) > 1)',
          )
          .get() as { n: number };
        expect(dupes.n).toBe(0);
      } finally {
        db.close();
      }

      await d.startCloud();
      await d.expectEveryPassageStoredOnce(GATE, confirmed);
    }
    // What the restarted cloud serves carries both clocks: the gate's `ts` and its own `receivedAt`.
    const res = await fetch(`${d.cloudUrl}/api/v1/events?gate=${GATE}&limit=5`, {
      headers: { authorization: `Bearer ${d.httpToken('manager')}` },
    });
    expect(res.status).toBe(200);
    const { events } = (await res.json()) as { events: { ts: number; receivedAt: number }[] };
    expect(events).toHaveLength(5);
    for (const e of events) {
      expect(e.ts).toBeGreaterThan(0);
      expect(e.receivedAt).toBeGreaterThanOrEqual(e.ts - 60_000);
    }
  });

  it('survives the edge agent killed (SIGKILL) mid-journal-write and restarted', { timeout: 120_000 }, async () => {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const lastBefore = d.gateLastSeq(GATE);
      const running = d.burst(GATE, BURST * 2, 16);
      await eventually(() => d.gateLastSeq(GATE) >= lastBefore + 60 || undefined, 'the journal growing');
      await d.kill(GATE, 'SIGKILL');
      const { seqs, failed } = await running;
      // Requests in flight at the kill fail; whatever was journaled must still reach the cloud.
      expect(failed).toBeGreaterThan(0);
      confirmed.push(...seqs);
      await d.startEdge(GATE);
      const { lastSeq } = await d.expectEveryPassageStoredOnce(GATE, confirmed);
      expect(lastSeq).toBeGreaterThanOrEqual(Math.max(...confirmed));
      // The restarted gate goes on numbering where the journal left off.
      const next = await d.manualOpen(GATE);
      expect(next).toBe(lastSeq + 1);
      confirmed.push(next!);
      await d.expectEveryPassageStoredOnce(GATE, confirmed);
    }
  });
});
