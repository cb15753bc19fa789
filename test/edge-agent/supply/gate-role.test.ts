/**
 * The guard's role switch at the gate over a real SQLite file (edge-agent/supply/gate-role.ts,
 * docs/supplies.md "Switching at the gate"): refused and audited outside the crisis modes; in force
 * over the cloud's role until the cloud sets one later; a cloud role set before the switch (arriving
 * late, after a cut) does not undo it; lapsed when the crisis ends and not back with the next one;
 * switching back to the cloud's role drops it; kept across a restart; the audit bounded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GateDatabase, MetaTable, openGateDatabase } from '../../../edge-agent/gate-database.ts';
import type { EffectiveGateSettings } from '../../../edge-agent/gate-settings.ts';
import { GateRoleService, roleViewOf } from '../../../edge-agent/supply/gate-role.ts';

const T0 = Date.UTC(2026, 11, 5, 3, 0, 0);

function cloud(over: Partial<EffectiveGateSettings> = {}): EffectiveGateSettings {
  return {
    antiPassback: false,
    yellowPolicy: 'deny',
    stalenessLimitMs: 600_000,
    unlockMs: 3_000,
    passageMs: 10_000,
    labels: null,
    role: 'entry',
    roleSwitch: null,
    source: 'cloud',
    ...over,
  };
}

describe('the guard’s role switch', () => {
  let dir: string;
  let db: GateDatabase;
  let now: number;
  let roles: GateRoleService;
  const request = { role: 'distribution' as const, guard: '王保安', reason: 'rice arrived at the north gate' };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anxin-gate-role-'));
    db = openGateDatabase(dir);
    now = T0;
    roles = new GateRoleService(db, () => now);
  });
  afterEach(async () => {
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is refused outside controlled and lockdown, audited, and changes nothing', () => {
    for (const mode of ['normal', 'emergency-open'] as const) {
      const answer = roles.switchTo(request, cloud(), cloud(), mode);
      expect(answer).toMatchObject({ ok: false, code: 'not-crisis', role: 'entry' });
      expect(roles.settle(cloud(), mode).role).toBe('entry');
    }
    expect(roles.localSwitch).toBeUndefined();
    expect(roles.recent().map((e) => [e.outcome, e.mode, e.guard])).toEqual([
      ['refused', 'emergency-open', '王保安'],
      ['refused', 'normal', '王保安'],
    ]);
    expect(roleViewOf(cloud(), 'normal')).toMatchObject({ role: 'entry', source: 'cloud', switchable: false });
  });

  it('holds over the cloud’s role in a crisis, and is kept across a restart', () => {
    expect(roles.switchTo(request, cloud(), cloud(), 'lockdown')).toEqual({
      ok: true,
      changed: true,
      role: 'distribution',
      source: 'guard',
    });
    const inForce = roles.settle(cloud(), 'lockdown');
    expect(inForce).toMatchObject({ role: 'distribution', roleSwitch: { by: '王保安', at: T0 } });
    expect(roleViewOf(inForce, 'lockdown')).toMatchObject({ role: 'distribution', source: 'guard', switchable: true });
    // Switching to the role in force again changes nothing and records nothing.
    expect(roles.switchTo(request, cloud(), inForce, 'lockdown')).toMatchObject({ ok: true, changed: false });
    expect(roles.recent()).toHaveLength(1);
    // Controlled is a crisis mode too.
    expect(roles.settle(cloud(), 'controlled').role).toBe('distribution');
    // A restart reads the switch back from the gate's file.
    const again = new GateRoleService(db, () => now);
    expect(again.settle(cloud(), 'lockdown').role).toBe('distribution');
  });

  it('reads its stored switch with the shared schema: an older stored shape is kept, an unreadable one is no switch', () => {
    const meta = new MetaTable(db);
    const stored = (value: unknown) => {
      meta.set('role.localSwitch', typeof value === 'string' ? value : JSON.stringify(value));
      return new GateRoleService(db, () => now).localSwitch;
    };
    const mine = { role: 'distribution', by: '王保安', at: T0, reason: 'rice' };
    expect(stored(mine)).toEqual(mine);
    // Stored before the shared schema, with the guard under `guard`.
    expect(stored({ role: 'distribution', guard: '王保安', at: T0, reason: 'rice' })).toEqual(mine);
    for (const bad of [
      { ...mine, role: 'exit' },
      { ...mine, at: -1 },
      { ...mine, reason: 'x'.repeat(201) },
      { ...mine, by: 7 },
      { role: 'distribution', at: T0 },
      '{"role":',
      'null',
      '[]',
    ]) {
      expect(stored(bad), JSON.stringify(bad)).toBeUndefined();
    }
    // No switch read: the cloud's role is in force.
    expect(new GateRoleService(db, () => now).settle(cloud(), 'lockdown').role).toBe('entry');
  });

  it('the later decision wins: a cloud role set before the switch does not undo it, one set after does', () => {
    now = T0 + 60_000;
    roles.switchTo(request, cloud(), cloud(), 'lockdown');
    // A PATCH made at T0 (while the gate was cut off) arrives after the switch: the switch stays.
    expect(roles.settle(cloud({ role: 'entry', roleSetAt: T0 }), 'lockdown').role).toBe('distribution');
    // Any other setting the cloud sends (no new role) leaves it too.
    expect(roles.settle(cloud({ labels: { in: '北门 进', out: '北门 出' } }), 'lockdown').role).toBe('distribution');
    // A PATCH made after the switch wins, even to the same role the cloud had: the switch is dropped.
    const after = roles.settle(cloud({ role: 'entry', roleSetAt: T0 + 120_000 }), 'lockdown');
    expect(after).toMatchObject({ role: 'entry', roleSwitch: null });
    expect(roles.localSwitch).toBeUndefined();
    expect(roles.recent()[0]).toMatchObject({ outcome: 'superseded', from: 'distribution', to: 'entry' });
    // And it does not come back.
    expect(roles.settle(cloud({ role: 'entry', roleSetAt: T0 }), 'lockdown').role).toBe('entry');
  });

  it('lapses when the crisis ends and does not return with the next one', () => {
    roles.switchTo(request, cloud(), cloud(), 'controlled');
    expect(roles.settle(cloud(), 'normal')).toMatchObject({ role: 'entry', roleSwitch: null });
    expect(roles.recent()[0]).toMatchObject({ outcome: 'lapsed', detail: 'the compound is in normal mode' });
    expect(roles.settle(cloud(), 'lockdown').role).toBe('entry');
  });

  it('switching back to the cloud’s role drops the switch, so the cloud’s later changes rule again', () => {
    const distributionByCloud = cloud({ role: 'distribution', roleSetAt: T0 - 1000 });
    roles.switchTo({ ...request, role: 'entry' }, distributionByCloud, distributionByCloud, 'lockdown');
    const local = roles.settle(distributionByCloud, 'lockdown');
    expect(local).toMatchObject({ role: 'entry', roleSwitch: { role: 'entry' } });
    expect(roles.switchTo(request, distributionByCloud, local, 'lockdown')).toMatchObject({
      ok: true,
      changed: true,
      role: 'distribution',
      source: 'cloud',
    });
    expect(roles.localSwitch).toBeUndefined();
    expect(roles.recent()[0]).toMatchObject({ outcome: 'switched', detail: "back to the cloud's role" });
  });

  it('keeps the last 1000 audit entries', () => {
    const memory = openGateDatabase(':memory:');
    const busy = new GateRoleService(memory, () => now);
    for (let i = 0; i < 1005; i += 1) busy.switchTo(request, cloud(), cloud(), 'normal');
    const count = memory.prepare('SELECT COUNT(*) AS n FROM gate_role_log').get() as { n: number };
    expect(count.n).toBe(1000);
    expect(busy.recent(1)[0]!.id).toBe(1005);
    memory.close();
  });
});
