/**
 * Gate duties in one process only, for tests that build a `GateTokenRenewal` without a cloud store
 * (cloud/tokens/gate-duties.ts): the SQLite duties on a private in-memory database, so the claim
 * rule is the production statement, not a copy. Production passes the cloud's own duties
 * (`openGateDuties`), which every instance shares: a default kept in memory would let each instance
 * renew and alarm on its own.
 */
import BetterSqlite3 from 'better-sqlite3';
import { SqliteGateDuties } from '../../cloud/tokens/gate-duties.ts';

export class MemoryGateDuties extends SqliteGateDuties {
  constructor() {
    super(new BetterSqlite3(':memory:'));
  }
}
