/**
 * The gate's stores over its real SQLite file as the agent wires them — the replica and the passage
 * journal — and a scan as the agent handles it while a turnstile is configured: decided, then
 * journaled, a grant pending (its effects reserved) until the turnstile reports. What the tests of
 * device-pass replays and of passage reservations drive without the agent.
 */
import { type Credential, type Decision, decideEntry, type GateContext } from '../../edge-agent/decision.ts';
import { type GateDatabase, openGateDatabase } from '../../edge-agent/gate-database.ts';
import { JournalStore } from '../../edge-agent/journal-store.ts';
import { journalEntryOf } from '../../edge-agent/passages.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import type { Change, EntryEvent } from '../../shared/schemas/mqtt.ts';
import { GATE, NOW } from './fixtures.ts';

export interface GateStores {
  db: GateDatabase;
  replica: ReplicaStore;
  journal: JournalStore;
}

/** Opens `dir`'s gate database (again, after a "restart"); `changes` go in at rev 1 when given. */
export function openGateStores(dir: string, changes?: readonly Change[]): GateStores {
  const db = openGateDatabase(dir, { synchronous: 'normal' });
  const replica = new ReplicaStore(db);
  if (changes) replica.applyDelta(changes, 1);
  replica.touchCloudContact(NOW);
  return { db, replica, journal: new JournalStore(db, replica) };
}

/** What the agent does with a scan while a turnstile is configured: a grant is journaled pending. */
export function scanPending(
  stores: GateStores,
  credential: Credential,
  gate: GateContext,
): { decision: Decision; event: EntryEvent } {
  const decision = decideEntry(credential, gate, stores.replica, NOW);
  const granted = decision.result === 'granted';
  const event = stores.journal.append(journalEntryOf(decision, GATE, NOW, 0), {
    final: !granted,
    ...(granted ? { effects: decision.effects } : {}),
  });
  return { decision, event };
}
