/** The SQLite supply store's prepared statements (sqlite-supply-store.ts), on the cloud's connection. */
import type { Database, Statement } from 'better-sqlite3';

const CLAIM_COLUMNS = `claim_id, round_id, compound_id, household_id, person_id, gate_id, seq, ts, method,
  outcome, refusal, decided_by, ask_id, guard, reason, standing, stored_at`;
const CLAIM_VALUES = '?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?';

export function prepareStatements(db: Database) {
  const p = (sql: string): Statement => db.prepare(sql);
  return {
    mode: p('SELECT mode FROM compounds WHERE id = ?'),
    insertRound: p(
      `INSERT INTO supply_rounds (round_id, compound_id, name, items, stock, form, window_from, window_to,
           eligibility, status, providers, woken, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)`,
    ),
    round: p('SELECT * FROM supply_rounds WHERE round_id = ?'),
    roundsOf: p('SELECT * FROM supply_rounds WHERE compound_id = ? ORDER BY created_at DESC LIMIT ?'),
    allRounds: p('SELECT * FROM supply_rounds ORDER BY created_at DESC LIMIT ?'),
    openCount: p("SELECT COUNT(*) AS n FROM supply_rounds WHERE compound_id = ? AND status = 'open'"),
    setStock: p('UPDATE supply_rounds SET stock = ?, stock_updated_at = ? WHERE round_id = ?'),
    close: p(
      "UPDATE supply_rounds SET status = 'closed', closed_by = ?, closed_at = ? WHERE round_id = ? AND status = 'open'",
    ),
    households: p(
      'SELECT COUNT(DISTINCT household_id) AS n FROM residents WHERE compound_id = ? AND household_id IS NOT NULL AND active = 1',
    ),
    householdKnown: p('SELECT 1 AS one FROM residents WHERE compound_id = ? AND household_id = ? LIMIT 1'),
    personHousehold: p('SELECT household_id FROM residents WHERE compound_id = ? AND person_id = ?'),
    applicants: p('SELECT COUNT(*) AS n FROM supply_applicants WHERE round_id = ?'),
    applied: p('SELECT 1 AS one FROM supply_applicants WHERE round_id = ? AND household_id = ?'),
    apply: p(
      'INSERT OR IGNORE INTO supply_applicants (round_id, household_id, applied_at, applied_by) VALUES (?, ?, ?, ?)',
    ),
    standings: p('SELECT standing, COUNT(*) AS n FROM supply_claims WHERE round_id = ? GROUP BY standing'),
    accepted: p(
      "SELECT claim_id, gate_id, ts FROM supply_claims WHERE round_id = ? AND household_id = ? AND standing = 'accepted'",
    ),
    claimExists: p('SELECT 1 AS one FROM supply_claims WHERE claim_id = ?'),
    insertClaim: p(`INSERT INTO supply_claims (${CLAIM_COLUMNS}) VALUES (${CLAIM_VALUES})`),
    // An accepted claim: nothing is written when the household has one (supply_claims_one_accepted).
    insertClaimIfFirst: p(
      `INSERT INTO supply_claims (${CLAIM_COLUMNS}) VALUES (${CLAIM_VALUES}) ON CONFLICT DO NOTHING`,
    ),
    claimsOf: p(
      `SELECT c.*, r.masked_name FROM supply_claims c
         LEFT JOIN residents r ON r.person_id = c.person_id AND r.compound_id = c.compound_id
         WHERE c.round_id = ? ORDER BY c.ts, c.claim_id LIMIT ?`,
    ),
    acceptedOfCompound: p(
      `SELECT c.round_id, c.household_id, c.claim_id, c.ts FROM supply_claims c JOIN supply_rounds r ON r.round_id = c.round_id
         WHERE c.compound_id = ? AND c.standing = 'accepted' AND (r.status = 'open' OR r.closed_at >= ?)`,
    ),
    applicantsOfCompound: p(
      `SELECT a.round_id, a.household_id FROM supply_applicants a JOIN supply_rounds r ON r.round_id = a.round_id
         WHERE r.compound_id = ? AND (r.status = 'open' OR r.closed_at >= ?)`,
    ),
    roundsForSnapshot: p("SELECT * FROM supply_rounds WHERE compound_id = ? AND (status = 'open' OR closed_at >= ?)"),
    hold: p('SELECT gate_id, ask_id, at FROM supply_holds WHERE round_id = ? AND household_id = ?'),
    putHold: p(
      `INSERT INTO supply_holds (round_id, household_id, gate_id, ask_id, at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (round_id, household_id) DO UPDATE SET gate_id = excluded.gate_id, ask_id = excluded.ask_id, at = excluded.at`,
    ),
    dropHold: p('DELETE FROM supply_holds WHERE round_id = ? AND household_id = ? AND ask_id = ?'),
    dropHoldsOf: p('DELETE FROM supply_holds WHERE round_id = ? AND household_id = ?'),
    mark: p('SELECT up_to FROM supply_claim_marks WHERE gate_id = ?'),
    setMark: p(
      'INSERT INTO supply_claim_marks (gate_id, up_to) VALUES (?, ?) ON CONFLICT (gate_id) DO UPDATE SET up_to = excluded.up_to',
    ),
    storedSeqsAfter: p('SELECT seq FROM supply_claims WHERE gate_id = ? AND seq > ? ORDER BY seq LIMIT 1000'),
    nextId: p('UPDATE supply_counter SET next = next + 1 WHERE id = 1 RETURNING next - 1 AS n'),
    gateName: p('SELECT name FROM gates WHERE id = ?'),
  };
}
