/**
 * The manager's Supplies section of the dashboard in Chromium (docs/supplies.md): asleep in normal
 * mode and saying so; a round opened explicitly from the form; its progress following claims made
 * meanwhile (a door delivery and a distribution point's records, one of them a double) without a
 * reload; the CSV export downloaded; the round closed — under the page's security policy.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fullCloudExtensions } from '../../cloud/full-cloud.ts';
import type { Actor } from '../../cloud/registry/actor.ts';
import { createKeysFile } from '../../shared/keys.ts';
import { launchBrowser, type TestBrowser } from '../../testkit/browser.ts';
import { startTestCloud, TEST_PASSWORD, type TestCloud } from '../../testkit/cloud.ts';

const COMPOUND = 'sunny-garden';
const ADMIN: Actor = { username: 'seed', role: 'admin' };
const WAIT_MS = 15_000;

describe('dashboard: supplies', () => {
  let workDir: string;
  let testCloud: TestCloud;
  let chrome: TestBrowser;
  let browser: BrowserContext;

  beforeAll(async () => {
    chrome = await launchBrowser();
    workDir = await mkdtemp(join(tmpdir(), 'anxin-supplies-web-'));
    const keysFile = createKeysFile();
    testCloud = await startTestCloud({ keysFile, ...fullCloudExtensions({ keysFile }) });
    const { registry } = testCloud.cloud.core;
    await registry.createCompound({ id: COMPOUND, name: '阳光花园', timeZone: 'Asia/Shanghai' }, ADMIN);
    await registry.registerGate(
      { id: 'point-1', compoundId: COMPOUND, name: '北门发放点', antiPassback: false },
      ADMIN,
    );
    for (const [personId, householdId, name] of [
      ['p-1', '3-2-301', '张三明'],
      ['p-2', '3-2-301', '张小明'],
      ['p-3', '3-2-302', '李四'],
      ['p-4', '3-2-303', '王芳'],
    ] as const) {
      await registry.createResident(
        {
          personId,
          compoundId: COMPOUND,
          householdId,
          kind: 'resident',
          name,
          cards: [],
          elderly: false,
          validFrom: null,
          validTo: null,
        },
        ADMIN,
      );
    }
    await testCloud.addUser('boss', 'manager', COMPOUND);
    browser = await chrome.newContext({
      locale: 'zh-CN',
      timezoneId: 'Asia/Shanghai',
      acceptDownloads: true,
    });
  }, 60_000);

  afterEach(() => chrome.expectNoPageFaults());

  afterAll(async () => {
    await chrome?.close();
    await testCloud?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }, 30_000);

  it('asleep, opened explicitly, progress live, exported and closed', { timeout: 90_000 }, async () => {
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') violations.push(m.text());
    });
    await page.goto(`${testCloud.baseUrl}/`);
    await page.fill('#username', 'boss');
    await page.fill('#password', TEST_PASSWORD);
    await Promise.all([
      page.waitForURL(`${testCloud.baseUrl}/dashboard`),
      page.click('#sign-in-form button[type=submit]'),
    ]);

    // Asleep in normal mode, in words.
    const asleep = page.locator('#supplies-asleep');
    await asleep.waitFor({ state: 'visible', timeout: WAIT_MS });
    expect(await asleep.textContent()).toContain('asleep');
    expect(await page.locator('#supplies').getAttribute('data-state')).toBe('ok');
    await page.locator('#round-wake-box').waitFor({ state: 'visible' });

    // Open a round explicitly from the form.
    await page.fill('#round-name', '蔬菜包 第1轮');
    await page.fill('#round-items', '大米, kg, 5, 100\n食用油, L, 1, 20');
    await page.fill('#round-from', '2020-01-01T08:00');
    await page.fill('#round-to', '2099-01-01T20:00');
    await page.check('#round-wake');
    await page.click('#round-form button[type=submit]');
    const row = page.locator('#rounds-body tr[data-status="open"]');
    await row.waitFor({ timeout: WAIT_MS });
    await asleep.waitFor({ state: 'hidden', timeout: WAIT_MS });
    expect(await row.locator('.served').textContent()).toBe('0 / 3');
    const roundId = (await row.getAttribute('data-round'))!;

    // Claims arrive while the page is open: a door delivery, then a point's records with a double.
    const { supply } = testCloud.cloud.core;
    supply.recordCloudClaim(roundId, { householdId: '3-2-302', method: 'delivery', reason: '送货上门' }, 'boss');
    await supply.onClaims('point-1', COMPOUND, [
      {
        gateId: 'point-1',
        seq: 1,
        ts: Date.now(),
        roundId,
        householdId: '3-2-301',
        personId: 'p-1',
        method: 'idcard',
        outcome: 'handed-out',
        decidedBy: 'replica',
      },
      {
        gateId: 'point-1',
        seq: 2,
        ts: Date.now(),
        roundId,
        householdId: '3-2-301',
        personId: 'p-2',
        method: 'qr',
        outcome: 'handed-out',
        decidedBy: 'replica',
      },
    ]);
    await page
      .locator('#rounds-body tr[data-status="open"] .served', { hasText: /^2 \/ 3$/ })
      .waitFor({ timeout: WAIT_MS });
    expect(await row.locator('.remaining').textContent()).toContain('1 · 重复 1 doubles');
    // Stock left: 100 − 3 × 5 rice (two served and one double).
    expect(await row.locator('.stock').textContent()).toContain('大米 85/100 kg');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      row.locator('[data-action="export"]').click(),
    ]);
    const csv = await readFile((await download.path())!, 'utf8');
    expect(csv).toContain('double');
    expect(csv).toContain('张*明');
    expect(csv).not.toContain('张三明');

    page.once('dialog', (dialog) => void dialog.accept());
    await row.locator('[data-action="close"]').click();
    await page.locator('#rounds-body tr[data-status="closed"]').waitFor({ timeout: WAIT_MS });
    // Closed and back in normal mode: asleep again.
    await asleep.waitFor({ state: 'visible', timeout: WAIT_MS });
    await page.screenshot({
      path: join(process.cwd(), 'test-results', 'web', 'dashboard-supplies.png'),
      fullPage: false,
    });
    expect(violations.filter((v) => /Content Security Policy|Refused/.test(v))).toEqual([]);
  });
});
