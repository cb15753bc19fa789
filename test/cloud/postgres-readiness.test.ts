/**
 * The refusal of `--db postgres://` stays honest as parts gain PostgreSQL implementations: every
 * per-engine factory (`cloud/<part>/open-*.ts`) is probed, so none is forgotten on the list, and
 * the probe touches no database.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROBED_MODULES, partsWithoutPostgres, postgresRefusal } from '../../cloud/postgres-readiness.ts';

const root = join(import.meta.dirname, '..', '..');

describe('PostgreSQL readiness', () => {
  it('probes every per-engine factory of the cloud', () => {
    const factories = readdirSync(join(root, 'cloud'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) =>
        readdirSync(join(root, 'cloud', d.name))
          .filter((f) => /^open-.*\.ts$/.test(f))
          .map((f) => `cloud/${d.name}/${f}`),
      );
    expect(factories.length).toBeGreaterThan(3);
    for (const f of factories) expect(PROBED_MODULES).toContain(f);
  });

  it('finds every part able to store on PostgreSQL', () => {
    expect(partsWithoutPostgres()).toEqual([]);
  });

  it('would name each missing part with its module in one line', () => {
    const pending = [
      { part: 'statistics and their rollups', where: 'cloud/analytics/open-analytics.ts' },
      { part: 'resident side', where: 'cloud/me/resident-side-store.ts' },
    ];
    const line = postgresRefusal(pending);
    expect(line).not.toContain('\n');
    for (const p of pending) expect(line).toContain(`${p.part} (${p.where})`);
  });
});
