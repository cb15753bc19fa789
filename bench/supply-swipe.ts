/**
 * Swipe → allocation shown at a distribution point (docs/supplies.md) whose replica holds N persons
 * (default 100 k): the time from the credential's read to the moment the point's screen row with the
 * household's allocation (or its refusal) is pushed to the terminal, measured in-process on the
 * gate's real SQLite file with its claim journal fsynced off the loop as on a gate. Series:
 *
 * - offline, ID card: a new household each swipe (identify + HMAC + replica reads + the claim
 *   journaled + the row shown) — the screen shows the final verdict;
 * - offline, QR pass: the same with an Ed25519-verified pass;
 * - offline, refused: a household that already claimed (the second member);
 * - online, ID card: the allocation shown while the cloud is asked (the ask answered on the next
 *   turn of the loop by a stand-in), and, for reference, the time to the cloud-decided verdict.
 *
 *   node --import tsx bench/supply-swipe.ts [--quick] [--persons 100k] [--swipes 3000]
 */
import { join } from 'node:path';
import { silentLogger } from '../shared/log.ts';
import { createKeysFile, type ParsedKeys, parseKeysFile } from '../shared/keys.ts';
import { newPassId, signPass } from '../shared/pass.ts';
import type { RoundRecord } from '../shared/schemas/supply.ts';
import { WalSync } from '../shared/wal-sync.ts';
import type { Credential, GateContext } from '../edge-agent/decision.ts';
import { type GateDatabase, openGateDatabase } from '../edge-agent/gate-database.ts';
import { ReplicaStore } from '../edge-agent/replica-store.ts';
import { ClaimJournalStore } from '../edge-agent/supply/claim-journal-store.ts';
import { ClaimUplink } from '../edge-agent/supply/claim-uplink.ts';
import { DistributionPoint } from '../edge-agent/supply/distribution-point.ts';
import { TerminalFeed } from '../edge-agent/terminal/terminal-feed.ts';
import { intFlag, runBench } from './lib/cli.ts';
import { generatePopulation, replicaChanges, type SyntheticPerson } from './lib/population.ts';
import { type BenchReport, latencyFigures } from './lib/report.ts';
import { Samples } from './lib/samples.ts';

const USAGE = `bench supply-swipe [--quick] [--persons N] [--swipes N] [--json FILE]
  swipe → allocation shown at a distribution point over a SQLite replica of N persons (default 100k; --quick 10k).`;
const TARGET = { p99: 50 };
const HOUR = 3_600_000;

const ROUND = (now: number): RoundRecord => ({
  roundId: 'r-1',
  compoundId: 'c-0',
  name: 'Week 1',
  items: [
    { name: 'rice', unit: 'kg', perHousehold: 5 },
    { name: 'oil', unit: 'L', perHousehold: 1 },
    { name: 'eggs', unit: 'pcs', perHousehold: 10 },
  ],
  form: 'pickup',
  window: { from: now - HOUR, to: now + 24 * HOUR },
  eligibility: 'all',
  status: 'open',
});

/** The gate's replica with the persons and one open round, as the sync would have left it. */
function loadReplica(db: GateDatabase, persons: readonly SyntheticPerson[], now: number): ReplicaStore {
  const replica = new ReplicaStore(db, { gateId: 'p-1' });
  const changes = replicaChanges(persons, now - HOUR);
  for (let i = 0; i < changes.length; i += 5_000) replica.applyDelta(changes.slice(i, i + 5_000), i + 5_000);
  replica.applyDelta([{ op: 'supply.round', round: ROUND(now) }], replica.rev() + 1);
  replica.touchCloudContact(now);
  return replica;
}

/** The first two members of every household of two or more: one claims, the other is refused. */
function householdPairs(persons: readonly SyntheticPerson[]): SyntheticPerson[][] {
  const byHousehold = new Map<string, SyntheticPerson[]>();
  for (const p of persons) {
    const h = p.record.householdId;
    if (!h || p.record.kind !== 'resident') continue;
    byHousehold.set(h, [...(byHousehold.get(h) ?? []), p]);
  }
  return [...byHousehold.values()].filter((m) => m.length >= 2);
}

/** The point with its journal (fsynced off the loop) and an uplink to a stand-in cloud that grants every ask. */
function pointOver(db: GateDatabase, replica: ReplicaStore, keys: ParsedKeys) {
  const wal = new WalSync(`${db.name}-wal`);
  const journal = new ClaimJournalStore(db, replica.supply, wal);
  const answered = { asks: 0 };
  const uplink: ClaimUplink = new ClaimUplink({
    gateId: 'p-1',
    journal,
    publisher: {
      publish: (topic, payload) => {
        if (topic.endsWith('/claims/ask')) {
          const { askId } = JSON.parse(payload) as { askId: string };
          answered.asks += 1;
          setImmediate(() => uplink.handleAck(JSON.stringify({ ts: Date.now(), answer: { askId, granted: true } })));
        } else {
          const { claims } = JSON.parse(payload) as { claims: { seq: number }[] };
          setImmediate(() => uplink.handleAck(JSON.stringify({ ts: Date.now(), upTo: claims.at(-1)!.seq })));
        }
        return true;
      },
    },
    logger: silentLogger,
  });
  journal.onDurable = () => uplink.pump();
  const gate: GateContext = {
    gateId: 'p-1',
    compoundId: 'c-0',
    ring: keys.ring,
    pepper: keys.pepper,
    antiPassback: false,
    yellowPolicy: 'deny',
    stalenessLimitMs: 15 * 60_000,
    fireAlarm: false,
  };
  const feed = new TerminalFeed(silentLogger);
  const point = new DistributionPoint({
    gateId: 'p-1',
    gate,
    replica,
    journal,
    uplink,
    feed,
    now: Date.now,
    log: silentLogger,
  });
  return { point, uplink, journal, wal, answered };
}

const idcard = (p: SyntheticPerson): Credential => ({
  method: 'idcard',
  direction: 'in',
  card: { idNumber: p.idNumber, idNumberValid: true, validTo: null },
});

/** One series: each swipe from its read to the first row shown (and, `final`, to the verdict). */
async function series(
  report: BenchReport,
  point: DistributionPoint,
  name: string,
  credentials: readonly Credential[],
  expect: string,
  final = false,
): Promise<void> {
  const shown = new Samples();
  const decided = new Samples();
  for (const credential of credentials) {
    const start = process.hrtime.bigint();
    let first = 0n;
    const outcome = await point.present(credential, start, () => {
      first = process.hrtime.bigint();
    });
    decided.addNs(process.hrtime.bigint() - start);
    shown.addNs(first - start);
    if (outcome.verdict !== expect)
      throw new Error(
        `${name}: expected ${expect}, got ${outcome.verdict} ${outcome.verdict === 'refused' ? outcome.refusal : ''}`,
      );
  }
  report.add(...latencyFigures(`${name}: swipe → allocation shown`, shown.distribution(), TARGET));
  if (final) {
    report.add(
      ...latencyFigures(`${name}: swipe → cloud's verdict shown (stand-in cloud, in-process)`, decided.distribution()),
    );
  }
}

await runBench(
  'supply-swipe',
  USAGE,
  { persons: { type: 'string' }, swipes: { type: 'string' } },
  async ({ report, quick, values, tempDir }) => {
    const personCount = intFlag(values, 'persons', quick ? 10_000 : 100_000);
    const swipes = intFlag(values, 'swipes', quick ? 500 : 3_000);
    const keys = parseKeysFile(createKeysFile());
    const now = Date.now();
    report.progress(`generating ${personCount} persons`);
    const persons = generatePopulation({ count: personCount, pepper: keys.pepper }).persons;
    const db = openGateDatabase(join(await tempDir('supply'), 'gate'), { synchronous: 'normal' });
    const replica = loadReplica(db, persons, now);
    report.progress(`replica loaded: ${replica.personCount()} persons`);
    const pairs = householdPairs(persons);
    if (pairs.length < 3 * swipes) throw new Error(`only ${pairs.length} households of two; lower --swipes`);
    const { point, uplink, journal, wal, answered } = pointOver(db, replica, keys);
    let next = 0;
    const households = (n: number) => {
      const slice = pairs.slice(next, next + n);
      next += n;
      return slice;
    };

    report.progress('offline series');
    const offline = households(swipes);
    await series(
      report,
      point,
      'offline, ID card, new household',
      offline.map((m) => idcard(m[0]!)),
      'hand-out',
    );
    await series(
      report,
      point,
      'offline, ID card, household already claimed',
      offline.map((m) => idcard(m[1]!)),
      'refused',
    );
    const passes = households(swipes).map((m) =>
      signPass(
        {
          passId: newPassId(),
          personId: m[0]!.record.personId,
          compoundId: 'c-0',
          kind: 'resident',
          notBefore: now - HOUR,
          expiresAt: now + HOUR,
        },
        keys.signing!,
      ),
    );
    await series(
      report,
      point,
      'offline, QR pass, new household',
      passes.map((text) => ({ method: 'qr', direction: 'in', text })),
      'hand-out',
    );
    report.progress('online series');
    uplink.connectionUp();
    await series(
      report,
      point,
      'online, ID card, new household (asking the cloud)',
      households(swipes).map((m) => idcard(m[0]!)),
      'hand-out',
      true,
    );
    report.add({ name: 'asks answered by the stand-in cloud', value: answered.asks, unit: '' });
    report.add({ name: 'claim journal depth at the end', value: journal.depth(), unit: '' });
    uplink.stop();
    wal.close();
    db.close();
  },
);
