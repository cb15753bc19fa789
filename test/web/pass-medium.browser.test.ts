/**
 * The dashboard's pass medium per resident in Debian's Chromium (docs/passes.md, "Device passes";
 * docs/web.md): a manager opens *通行方式 Pass medium* on a resident's row, sees the printed pass
 * (the default), chooses the phone pass and saves (stored, audited `pass.medium`); once the
 * resident enabled it on a phone the dialog says so, and going back to printed warns first that the
 * phone pass is revoked — and it is, at once; a visitor's row has no such control; a failed load
 * says so and cannot be saved; at 390 px the dialog fits. No CSP violation. Fails (never skips)
 * without Chromium.
 */
import { webcrypto } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fullCloudExtensions } from '../../cloud/full-cloud.ts';
import type { Actor } from '../../cloud/registry/actor.ts';
import { createKeysFile } from '../../shared/keys.ts';
import { startTestCloud, TEST_PASSWORD, type TestCloud } from '../../testkit/cloud.ts';
import { callApi } from '../../testkit/api-client.ts';
import { launchBrowser, requireChromium, type TestBrowser } from '../../testkit/browser.ts';

const COMPOUND = 'medium-garden';
const ADMIN: Actor = { username: 'seed', role: 'admin' };

let testCloud: TestCloud;
let base: string;
let chrome: TestBrowser;
let manager: string;
let resident: string;
const violations: string[] = [];

async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, token = manager) {
  const answer = await callApi<T>(`${base}/api/v1${path}`, method, { token, body });
  if (!answer.ok) throw new Error(`${method} ${path}: HTTP ${answer.status} ${answer.text}`);
  return answer.body;
}

async function dashboard(viewport = { width: 1280, height: 900 }): Promise<Page> {
  const context = await chrome.newContext({ viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
  const page = await context.newPage();
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) => console.error('CSP ' + e.violatedDirective + ' ' + e.blockedURI));`,
  });
  page.on('console', (m) => {
    if (m.text().startsWith('CSP ')) violations.push(`${page.url()}: ${m.text()}`);
  });
  await page.goto(`${base}/`);
  await page.fill('#username', 'boss');
  await page.fill('#password', TEST_PASSWORD);
  await Promise.all([page.waitForURL(`${base}/dashboard`), page.click('#sign-in-form button[type=submit]')]);
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector('tr[data-person-id="p-zhang"]');
  return page;
}

async function openMedium(page: Page, personId: string): Promise<void> {
  await page.click(`tr[data-person-id="${personId}"] .medium-resident`);
  await page.waitForSelector('#medium-dialog[open] #medium-form:not([data-state="loading"])');
}

beforeAll(async () => {
  requireChromium(); // before the cloud is stood up: a missing browser fails at once
  const keysFile = createKeysFile();
  testCloud = await startTestCloud({ keysFile, ...fullCloudExtensions({ keysFile }) });
  base = testCloud.baseUrl;
  const { registry } = testCloud.cloud.core;
  await registry.createCompound({ id: COMPOUND, name: '安心花园', timeZone: 'Asia/Shanghai' }, ADMIN);
  for (const [personId, name, kind] of [
    ['p-zhang', '张三明', 'resident'],
    ['p-visitor', '赵六', 'visitor'],
  ] as const) {
    await registry.createResident(
      {
        personId,
        compoundId: COMPOUND,
        householdId: 'h-101',
        kind,
        name,
        cards: [],
        elderly: false,
        validFrom: null,
        validTo: kind === 'visitor' ? Date.now() + 86_400_000 : null,
      },
      ADMIN,
    );
  }
  await testCloud.addUser('boss', 'manager', COMPOUND);
  manager = await testCloud.login('boss');
  const { codes } = await api<{ codes: { code: string }[] }>('POST', '/activations', { personIds: ['p-zhang'] });
  const session = await fetch(`${base}/api/v1/me/activate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: codes[0]!.code, login: 'zhang.sm', password: 'correct horse battery' }),
  });
  resident = ((await session.json()) as { token: string }).token;
  chrome = await launchBrowser();
}, 60_000);

afterEach(() => chrome.expectNoPageFaults());

afterAll(async () => {
  await chrome?.close();
  await testCloud?.stop();
}, 30_000);

describe('dashboard: printed or phone pass per resident', () => {
  it('switches a resident to the phone pass, and back to printed with a warning that revokes the phone pass', async () => {
    const page = await dashboard();
    expect(await page.$('tr[data-person-id="p-visitor"] .medium-resident')).toBeNull();

    await openMedium(page, 'p-zhang');
    expect(await page.getAttribute('#medium-form', 'data-medium')).toBe('printed');
    expect(await page.isChecked('#medium-printed')).toBe(true);
    expect(await page.textContent('#medium-who')).toContain('张*明');
    await page.check('#medium-phone');
    expect(await page.isHidden('#medium-warning')).toBe(true);
    await page.click('#medium-save');
    await page.waitForSelector('#medium-dialog', { state: 'hidden' });
    expect(await page.textContent('#residents-note')).toContain('Phone pass');
    expect(await api('GET', '/residents/p-zhang/pass-medium')).toMatchObject({ medium: 'phone', devicePass: null });
    const audit = await api<{ entries: { actor: string; target: string; detail: unknown }[] }>(
      'GET',
      '/audit?action=pass.medium',
    );
    expect(audit.entries).toEqual([
      expect.objectContaining({ actor: 'boss', target: 'p-zhang', detail: { medium: 'phone' } }),
    ]);

    // The resident enables it on a phone (what /me/pass does with WebCrypto).
    const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const publicKey = Buffer.from(await webcrypto.subtle.exportKey('raw', pair.publicKey)).toString('base64url');
    const enrolled = await api<{ passId: string }>(
      'POST',
      '/me/pass/device',
      { publicKey, label: '我的手机' },
      resident,
    );

    await openMedium(page, 'p-zhang');
    expect(await page.getAttribute('#medium-form', 'data-medium')).toBe('phone');
    expect(await page.textContent('#medium-current')).toContain('已绑定手机');
    await page.check('#medium-printed');
    await page.waitForSelector('#medium-warning:not([hidden])');
    await page.click('#medium-save');
    await page.waitForSelector('#medium-dialog', { state: 'hidden' });
    expect(await api('GET', '/residents/p-zhang/pass-medium')).toMatchObject({ medium: 'printed', devicePass: null });
    const pass = await testCloud.cloud.core.store.getPass(enrolled.passId);
    expect(pass?.revokedAt).not.toBeNull();
    await page.context().close();
  }, 90_000);

  it('a failed load says so and cannot be saved; at 390 px the dialog fits', async () => {
    const page = await dashboard({ width: 390, height: 844 });
    await page.route('**/api/v1/residents/p-zhang/pass-medium', (route) =>
      route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":{"code":"internal"}}' }),
    );
    await openMedium(page, 'p-zhang');
    expect(await page.getAttribute('#medium-form', 'data-state')).toBe('failed');
    expect(await page.textContent('#medium-error')).toContain('加载失败');
    expect(await page.isDisabled('#medium-save')).toBe(true);
    const [dialogRight, width] = (await page.evaluate(
      "[document.querySelector('#medium-dialog').getBoundingClientRect().right, document.documentElement.clientWidth]",
    )) as [number, number];
    expect(dialogRight).toBeLessThanOrEqual(width);
    await page.click('#medium-cancel');
    await page.context().close();
    expect(violations).toEqual([]);
  }, 60_000);
});
