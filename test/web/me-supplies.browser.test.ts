/**
 * `/me`'s Supplies card in Debian's Chromium, the resident on a phone (360×640, touch;
 * docs/supplies.md, "Residents"): hidden in normal times; in lockdown with a round for applicants
 * it shows the allocation, the form and the window in the compound's zone, and *Apply* — which
 * applies for the resident's own household (stored, audited with the resident as actor); a door
 * delivery recorded by the office shows as claimed; a failed load says so with *Retry* instead of
 * hiding the card; large text and 360 px without sideways scrolling; no CSP violation. Fails
 * (never skips) without Chromium.
 */
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fullCloudExtensions } from '../../cloud/full-cloud.ts';
import type { Actor } from '../../cloud/registry/actor.ts';
import { createKeysFile } from '../../shared/keys.ts';
import { launchBrowser, type TestBrowser } from '../../testkit/browser.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { callApi } from '../../testkit/api-client.ts';

const COMPOUND = 'supply-garden';
const ADMIN: Actor = { username: 'seed', role: 'admin' };
const PHONE = { viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const RESIDENT = { login: 'zhang.sm', password: 'correct horse battery' };
const HOUR = 3_600_000;

let testCloud: TestCloud;
let base: string;
let browser: TestBrowser;
let manager: string;
const violations: string[] = [];

async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, token = manager) {
  const answer = await callApi<T>(`${base}/api/v1${path}`, method, { token, body });
  if (!answer.ok) throw new Error(`${method} ${path}: HTTP ${answer.status} ${answer.text}`);
  return answer.body;
}

async function phonePage(): Promise<Page> {
  const context = await browser.newContext({ locale: 'zh-CN', timezoneId: 'America/New_York', ...PHONE });
  const page = await context.newPage();
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) => console.error('CSP ' + e.violatedDirective + ' ' + e.blockedURI));`,
  });
  page.on('console', (m) => {
    if (m.text().startsWith('CSP ')) violations.push(`${page.url()}: ${m.text()}`);
  });
  return page;
}

async function signIn(page: Page): Promise<void> {
  await page.goto(`${base}/me`);
  await page.fill('#me-login', RESIDENT.login);
  await page.fill('#me-password', RESIDENT.password);
  await page.click('#me-sign-in button[type=submit]');
  await page.waitForSelector('#me[data-state="home"]');
}

async function noSidewaysScroll(page: Page): Promise<void> {
  const [scroll, client] = (await page.evaluate(
    '[document.documentElement.scrollWidth, document.documentElement.clientWidth]',
  )) as [number, number];
  expect(scroll).toBeLessThanOrEqual(client);
}

beforeAll(async () => {
  const keysFile = createKeysFile();
  testCloud = await startTestCloud({ keysFile, ...fullCloudExtensions({ keysFile }) });
  base = testCloud.baseUrl;
  const { registry } = testCloud.cloud.core;
  await registry.createCompound({ id: COMPOUND, name: '安心花园', timeZone: 'Asia/Shanghai' }, ADMIN);
  for (const [personId, householdId, name] of [
    ['p-zhang', 'h-101', '张三明'],
    ['p-li', 'h-101', '李四'],
    ['p-wang', 'h-102', '王芳'],
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
  manager = await testCloud.login('boss');
  const { codes } = await api<{ codes: { code: string }[] }>('POST', '/activations', { personIds: ['p-zhang'] });
  const activated = await fetch(`${base}/api/v1/me/activate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: codes[0]!.code, ...RESIDENT }),
  });
  expect(activated.status).toBe(201);
  browser = await launchBrowser();
}, 60_000);

afterEach(() => browser?.expectNoPageFaults());

afterAll(async () => {
  await browser?.close();
  await testCloud?.stop();
}, 30_000);

describe('/me: supplies', () => {
  let roundId: string;
  const from = Date.UTC(2030, 0, 1, 1, 0); // 09:00 in Shanghai
  const to = from + 10 * HOUR;

  it('stays hidden in normal times', async () => {
    const page = await phonePage();
    await signIn(page);
    await page.waitForSelector('#supplies[data-state="none"]', { state: 'attached' });
    expect(await page.isHidden('#supplies')).toBe(true);
    await page.context().close();
  }, 60_000);

  it('shows an open round in lockdown: allocation, form, window in the compound’s zone, and applies', async () => {
    await testCloud.cloud.core.registry.setMode(COMPOUND, 'lockdown', 'outbreak', ADMIN);
    ({ roundId } = await api<{ roundId: string }>('POST', '/supply/rounds', {
      compoundId: COMPOUND,
      name: '第一轮 蔬菜包',
      items: [
        { name: '大米', unit: 'kg', perHousehold: 5 },
        { name: '食用油', unit: 'L', perHousehold: 1 },
      ],
      form: 'pickup',
      window: { from: Date.now() - HOUR, to: Date.now() + 24 * HOUR },
      eligibility: 'applicants',
    }));
    // A second round, for everyone, with a fixed window to check the zone.
    await api('POST', '/supply/rounds', {
      compoundId: COMPOUND,
      name: '送货上门 药品',
      items: [{ name: '退烧药', unit: '盒', perHousehold: 1 }],
      form: 'delivery',
      window: { from, to },
      eligibility: 'all',
    });
    const page = await phonePage();
    await signIn(page);
    await page.waitForSelector('#supplies[data-state="open"]');
    const card = page.locator(`li[data-round="${roundId}"]`);
    expect(await card.locator('h3').textContent()).toBe('第一轮 蔬菜包');
    expect(await card.locator('[data-item="大米"]').textContent()).toContain('5 kg');
    expect(await card.locator('[data-item="食用油"]').textContent()).toContain('1 L');
    expect(await card.textContent()).toContain('到发放点领取');
    expect(await card.locator('[data-standing]').getAttribute('data-standing')).toBe('must-apply');
    // The browser is in New York; the window is printed in the compound's (Shanghai) time.
    const other = page.locator('li.supply-round').filter({ hasText: '送货上门 药品' });
    expect(await other.locator('.supply-window').textContent()).toContain('2030-01-01 09:00 至 2030-01-01 19:00');
    expect(await other.locator('[data-standing]').getAttribute('data-standing')).toBe('eligible');
    expect(await other.textContent()).toContain('Delivered to your door');
    await noSidewaysScroll(page);

    await card.locator('button.supply-apply').tap();
    await page.waitForSelector(`li[data-round="${roundId}"] [data-standing="applied"]`);
    // Stored for the resident's own household and audited with the resident as actor.
    expect(await testCloud.cloud.core.supply.hasApplied(roundId, 'h-101')).toBe(true);
    expect(await testCloud.cloud.core.supply.hasApplied(roundId, 'h-102')).toBe(false);
    const audit = await api<{ entries: { actor: string; target: string }[] }>('GET', '/audit?action=supply.apply');
    expect(audit.entries).toEqual([expect.objectContaining({ actor: 'r:p-zhang', target: roundId })]);

    // Large text at 360 px: still one column without sideways scrolling.
    await page.tap('#large-text');
    await noSidewaysScroll(page);
    await page.screenshot({ path: 'test-results/web/me-supplies-phone.png', fullPage: true });
    await page.context().close();
  }, 60_000);

  it('shows the household’s claim, and a failed load as a failure with Retry', async () => {
    await api('POST', `/supply/rounds/${roundId}/claims`, { householdId: 'h-101', method: 'delivery', reason: 'door' });
    const page = await phonePage();
    let fail = true;
    await page.route('**/api/v1/me/supply', (route) =>
      fail
        ? route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":{"code":"internal"}}' })
        : route.continue(),
    );
    await signIn(page);
    await page.waitForSelector('#supplies[data-state="failed"]');
    expect(await page.isVisible('#supplies')).toBe(true);
    expect(await page.textContent('#supplies-state')).toContain('加载失败');
    fail = false;
    await page.click('#supplies-state button');
    await page.waitForSelector(`li[data-round="${roundId}"] [data-standing="claimed"]`);
    const claimed = await page.textContent(`li[data-round="${roundId}"] [data-standing="claimed"]`);
    expect(claimed).toContain('本户已领取');
    expect(claimed).toContain('物业');
    await page.context().close();
  }, 60_000);

  it('hides the card again once the compound is back to normal and the rounds are closed', async () => {
    await testCloud.cloud.core.registry.setMode(COMPOUND, 'normal', 'over', ADMIN);
    const { rounds } = await api<{ rounds: { roundId: string; status: string }[] }>(
      'GET',
      `/supply/rounds?compound=${COMPOUND}`,
    );
    for (const r of rounds) if (r.status === 'open') await api('POST', `/supply/rounds/${r.roundId}/close`);
    const page = await phonePage();
    await signIn(page);
    await page.waitForSelector('#supplies[data-state="none"]', { state: 'attached' });
    expect(await page.isHidden('#supplies')).toBe(true);
    await page.context().close();
    expect(violations).toEqual([]);
  }, 60_000);
});
