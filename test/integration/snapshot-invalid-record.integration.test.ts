/**
 * A snapshot with a record the gate cannot read (docs/edge-agent.md, "Invalid changes from the
 * cloud"), end to end: cloud, broker and a new gate in one process. The resident's row in the
 * cloud holds a card number the contract refuses (as a cloud of another version, or a row written
 * by hand, could); its change log is compacted, so the new gate gets a snapshot built from the rows.
 *
 * Before, the gate refused the whole part, never acknowledged it, and the cloud sent it again for
 * good: the gate never left rev 0. Now it skips that one record, applies the others, reaches the
 * compound's rev, and the cloud records its `sync-change-invalid` alarm.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { createKeysFile, parseKeysFile, publicOnly } from '../../shared/keys.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { eventually } from '../../testkit/deployment.ts';

const COMPOUND = 'c-bad-record';
const GATE = 'g-bad-record';

describe('a snapshot with one record the gate cannot read', () => {
  const keysFile = createKeysFile();
  const keys = parseKeysFile(keysFile);
  const dir = mkdtempSync(join(tmpdir(), 'anxin-bad-record-'));
  let broker: TestBroker;
  let cloud: TestCloud;
  let agent: EdgeAgent | undefined;
  let gateToken: string;
  const personIds: string[] = [];

  beforeAll(async () => {
    broker = await startTestBroker({ ring: keys.ring });
    cloud = await startTestCloud({ mqttUrl: broker.url, keysFile });
    const token = await cloud.login('admin');
    const api = async (path: string, body: unknown) => {
      const res = await fetch(`${cloud.baseUrl}/api/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(201);
      return (await res.json()) as Record<string, unknown>;
    };
    await api('/compounds', { id: COMPOUND, name: 'Bad record', timeZone: 'Asia/Shanghai' });
    gateToken = (await api('/gates', { id: GATE, compoundId: COMPOUND, name: 'North' })).token as string;
    for (const [i, name] of ['张三', '李四', '王五'].entries()) {
      const created = await api('/residents', { compoundId: COMPOUND, householdId: `h${i}`, name, cards: [`1:${i}`] });
      personIds.push(created.personId as string);
    }
    // The second resident's card as no gate of this version accepts it, written beside the cloud.
    const db = new BetterSqlite3(cloud.dbPath);
    db.prepare('UPDATE residents SET cards = ? WHERE person_id = ?').run('["not a card number"]', personIds[1]);
    db.close();
    await cloud.cloud.core.store.compactChangeLog(0);
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await cloud?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies the rest, reaches the compound rev and raises one alarm', async () => {
    const rev = (await cloud.cloud.core.store.getCompound(COMPOUND))!.rev;
    agent = createEdgeAgent(
      parseEdgeConfig({
        gateId: GATE,
        compoundId: COMPOUND,
        mqtt: { url: broker.url, token: gateToken, reconnectMs: 200 },
        keys: publicOnly(keysFile),
        dataDir: dir,
        http: { enabled: false },
      }),
    );
    await agent.start();
    await eventually(() => (agent!.state().rev >= rev ? true : undefined), `the gate at rev ${rev}`, 30_000);
    const present = (card: string) => agent!.present({ method: 'card', direction: 'in', card }).decision.reason;
    expect([present('1:0'), present('1:2')]).toEqual(['ok', 'ok']);
    expect(present('1:1')).toBe('unknown-person');
    const alarms = await eventually(async () => {
      const found = (await cloud.cloud.core.store.recentAlarms(GATE, 10)).filter(
        (a) => a.kind === 'sync-change-invalid',
      );
      return found.length > 0 ? found : undefined;
    }, 'the sync-change-invalid alarm at the cloud');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]!.detail).toContain(personIds[1]);
  }, 60_000);
});
