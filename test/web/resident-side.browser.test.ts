/**
 * The resident side in Debian's Chromium, the resident on a phone (360×640, touch): a manager
 * prints activation letters (the letter's QR read back by jsQR is the link), the resident opens
 * the link, activates and lands on `/me` (health, household, passages) without sideways scrolling,
 * in large text too; invites a visitor whose link shows a pass a real QR decoder reads as an `AX1:`
 * visitor pass; registers a return, which turns them yellow in the change log every gate syncs
 * from; the manager reviews it on `/dashboard/resident-side` and the colour comes back; lockdown
 * suspends invitations and hides the visitor's pass. No page reports a CSP violation. Fails (never
 * skips) without Chromium.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsqr from 'jsqr';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fullCloudExtensions } from '../../cloud/full-cloud.ts';
import type { Actor } from '../../cloud/registry/actor.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { verifyPass } from '../../shared/pass.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import { launchBrowser, type TestBrowser } from '../../testkit/browser.ts';
import { startTestCloud, TEST_PASSWORD, type TestCloud } from '../../testkit/cloud.ts';

type JsQr = typeof jsqr.default;
const jsQR: JsQr = (jsqr as unknown as { default?: JsQr }).default ?? (jsqr as unknown as JsQr);

const COMPOUND = 'me-garden';
const ADMIN: Actor = { username: 'seed', role: 'admin' };
const PHONE = { viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

let workDir: string;
let testCloud: TestCloud;
let base: string;
let browser: TestBrowser;
let keysFile: ReturnType<typeof createKeysFile>;
const violations: string[] = [];

async function newPage(options: Parameters<TestBrowser['newContext']>[0] = {}): Promise<Page> {
  const context = await browser.newContext({ locale: 'zh-CN', timezoneId: 'Asia/Shanghai', ...options });
  const page = await context.newPage();
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) => console.error('CSP ' + e.violatedDirective + ' ' + e.blockedURI));`,
  });
  page.on('console', (m) => {
    if (m.text().startsWith('CSP ')) violations.push(`${page.url()}: ${m.text()}`);
  });
  return page;
}

/** Decodes an `<img>` on the page with jsQR (drawn on a 400 px canvas). */
async function readQr(page: Page, selector: string): Promise<string> {
  // A string, run in the page: the tests are type-checked without the DOM library.
  const image = (await page.evaluate(`(async () => {
    const img = document.querySelector(${JSON.stringify(selector)});
    await img.decode();
    const size = 400;
    const canvas = document.createElement('canvas');
    canvas.width = size;
    canvas.height = size;
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, size, size);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, 0, 0, size, size);
    return { data: Array.from(ctx.getImageData(0, 0, size, size).data), size };
  })()`)) as { data: number[]; size: number };
  const decoded = jsQR(Uint8ClampedArray.from(image.data), image.size, image.size);
  if (!decoded) throw new Error(`jsQR could not read ${selector}`);
  return decoded.data;
}

async function noSidewaysScroll(page: Page): Promise<void> {
  const [scroll, client] = (await page.evaluate(
    '[document.documentElement.scrollWidth, document.documentElement.clientWidth]',
  )) as [number, number];
  expect(scroll).toBeLessThanOrEqual(client);
}

async function changes(): Promise<Change[]> {
  // What a gate at rev 1 is sent: every change since (rev 0 would be answered with a snapshot).
  const read = await testCloud.cloud.core.store.readChanges(COMPOUND, 1, 10_000);
  return read.kind === 'delta' ? read.changes.map((c) => c.change) : [];
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'anxin-resident-side-'));
  keysFile = createKeysFile();
  testCloud = await startTestCloud({ keysFile, ...fullCloudExtensions({ keysFile }) });
  base = testCloud.baseUrl;
  const { registry } = testCloud.cloud.core;
  await registry.createCompound({ id: COMPOUND, name: '安心花园', timeZone: 'Asia/Shanghai' }, ADMIN);
  await registry.registerGate({ id: 'me-north', compoundId: COMPOUND, name: '北门', antiPassback: false }, ADMIN);
  for (const [personId, name] of [
    ['p-zhang', '张三明'],
    ['p-li', '李四'],
  ] as const) {
    await registry.createResident(
      {
        personId,
        compoundId: COMPOUND,
        householdId: 'h-101',
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
  await registry.updateHealth([{ personId: 'p-zhang', colour: 'green', ts: Date.now() - 60_000 }], ADMIN);
  await testCloud.addUser('boss', 'manager', COMPOUND);
  browser = await launchBrowser();
}, 60_000);

afterEach(() => browser?.expectNoPageFaults());

afterAll(async () => {
  await browser?.close();
  await testCloud?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 30_000);

async function managerPage(): Promise<Page> {
  const page = await newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${base}/`);
  await page.fill('#username', 'boss');
  await page.fill('#password', TEST_PASSWORD);
  await Promise.all([page.waitForURL(`${base}/dashboard`), page.click('#sign-in-form button[type=submit]')]);
  await Promise.all([page.waitForURL(`${base}/dashboard/resident-side`), page.click('#resident-side-link')]);
  await page.waitForSelector('#manage[data-state="ok"]');
  return page;
}

describe('the resident side on a phone', () => {
  let link = '';
  let phone: Page;

  it('a manager prints activation letters; the resident activates from the letter’s QR link', async () => {
    const manager = await managerPage();
    await manager.fill('#issue-household', 'h-101');
    await manager.click('#issue-form button[type=submit]');
    await manager.waitForSelector('.letter[data-person="p-zhang"]');
    expect(await manager.locator('.letter').count()).toBe(2);
    const code = await manager.textContent('.letter[data-person="p-zhang"] .letter-code strong');
    expect(code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    link = await readQr(manager, '.letter[data-person="p-zhang"] .letter-qr');
    expect(link).toBe(`${base}/me/activate#code=${code}`);
    expect(await manager.textContent('.letter[data-person="p-zhang"]')).not.toContain('张三明');
    await manager.waitForSelector('#codes tbody tr[data-state="open"]');
    await manager.context().close();

    phone = await newPage(PHONE);
    await phone.goto(link);
    await phone.waitForSelector('#activate-for:not([hidden])');
    expect(await phone.textContent('#activate-for')).toContain('张*明');
    // The code left the address bar (and so the history) as soon as the page read it.
    expect(phone.url()).toBe(`${base}/me/activate`);
    await phone.fill('#activate-login', 'zhang.sm');
    await phone.fill('#activate-password', 'correct horse 1');
    await phone.fill('#activate-password2', 'correct horse 1');
    await phone.click('#activate-form button[type=submit]');
    await phone.waitForSelector('#me[data-state="home"]');
    expect(phone.url()).toBe(`${base}/me`);
    expect(await phone.getAttribute('#health-card', 'data-health')).toBe('green');
    expect(await phone.textContent('#me-health')).toContain('绿码');
    expect(await phone.textContent('#members')).toContain('李*');
    expect(await phone.textContent('#me')).not.toMatch(/张三明|李四/);
    await phone.waitForSelector('#passages-state[data-state="ok"]');
    await noSidewaysScroll(phone);
    await phone
      .screenshot({ path: join('test-results', 'web', 'me-phone.png'), fullPage: true })
      .catch(() => undefined);
    // Large text: bigger, remembered, still no sideways scrolling.
    const fontSize = `Number.parseFloat(getComputedStyle(document.getElementById('me-health')).fontSize)`;
    const before = (await phone.evaluate(fontSize)) as number;
    await phone.tap('#large-text');
    const after = (await phone.evaluate(fontSize)) as number;
    expect(after).toBeGreaterThan(before);
    await noSidewaysScroll(phone);
    await phone.reload();
    await phone.waitForSelector('#me[data-state="home"]');
    expect(await phone.evaluate(`document.body.classList.contains('large-text')`)).toBe(true);
    // A used code does not work twice.
    const again = await newPage(PHONE);
    await again.goto(link);
    await again.waitForSelector('#activate-error:not(:empty)');
    expect(await again.textContent('#activate-error')).toContain('已使用');
    await again.context().close();
  }, 60_000);

  it('invites a visitor; the link shows a visitor pass a QR decoder reads and the gate’s key verifies', async () => {
    await phone.fill('#visitor-name', '赵小红');
    await phone.fill('#visitor-phone', '4321');
    await phone.selectOption('#visitor-uses', '3');
    await phone.tap('#visitor-form button[type=submit]');
    await phone.waitForSelector('#visitor-link-box:not([hidden])');
    const visitLink = await phone.inputValue('#visitor-link');
    expect(visitLink).toMatch(new RegExp(`^${base}/visit#[A-Za-z0-9_-]{32}$`));
    await phone.waitForSelector('#visitor-list li[data-state="today"]');
    expect(await phone.textContent('#visitor-list')).toContain('赵*红');
    await noSidewaysScroll(phone);

    const visitor = await newPage(PHONE);
    await visitor.goto(visitLink);
    await visitor.waitForSelector('#visit[data-state="ok"]');
    const text = await readQr(visitor, '#visit-qr');
    const check = verifyPass(text, parseKeysFile(keysFile).ring, Date.now());
    expect(check.ok && check.pass.kind).toBe('visitor');
    expect(check.ok && check.pass.useLimit).toBe(3);
    expect(await visitor.textContent('#visit')).toContain('赵*红');
    await noSidewaysScroll(visitor);

    // Lockdown: the household cannot invite, and the link no longer shows the pass.
    await testCloud.cloud.core.registry.setMode(COMPOUND, 'lockdown', '楼内病例', ADMIN);
    await visitor.reload();
    await visitor.waitForSelector('#visit[data-state="visitors-suspended"]');
    expect(await visitor.isVisible('#visit-qr')).toBe(false);
    await phone.reload();
    await phone.waitForSelector('#me[data-state="home"]');
    expect(await phone.isHidden('#visitor-form')).toBe(true);
    expect(await phone.textContent('#visitor-note')).toContain('暂停访客');
    await testCloud.cloud.core.registry.setMode(COMPOUND, 'normal', '解封', ADMIN);
    await visitor.context().close();
  }, 60_000);

  it('registers a return: yellow at every gate through the change log; the manager clears it', async () => {
    await phone.reload();
    await phone.waitForSelector('#me[data-state="home"]');
    await phone.fill('#return-origin', '武汉');
    await phone.selectOption('#return-transport', 'train');
    await phone.fill('#return-detail', 'G1234');
    await phone.tap('#return-form button[type=submit]');
    await phone.waitForSelector('#health-card[data-health="yellow"]');
    await phone.waitForSelector('#return-list li[data-status="pending"]');
    expect(await phone.textContent('#me-notice')).toContain('已登记');
    const yellow = (await changes()).filter((c) => c.op === 'health' && c.personId === 'p-zhang');
    expect(yellow.at(-1)).toMatchObject({ op: 'health', colour: 'yellow' });
    await noSidewaysScroll(phone);

    const manager = await managerPage();
    await manager.waitForSelector('.return-row');
    expect(await manager.textContent('#returns-list')).toContain('武汉');
    expect(await manager.textContent('#returns-list')).not.toContain('张三明');
    await manager.fill('.return-row .review-note', '已核酸阴性 negative test');
    await manager.click('.return-row button.clear');
    await manager.waitForSelector('.return-row', { state: 'detached' });
    const back = (await changes()).filter((c) => c.op === 'health' && c.personId === 'p-zhang');
    expect(back.at(-1)).toMatchObject({ op: 'health', colour: 'green' });
    await manager.context().close();

    await phone.reload();
    await phone.waitForSelector('#health-card[data-health="green"]');
    await phone.waitForSelector('#return-list li[data-status="cleared"]');
    expect(violations).toEqual([]);
  }, 60_000);

  it('signs out, and a wrong password is refused on the sign-in form', async () => {
    await phone.tap('#sign-out');
    await phone.waitForSelector('#me[data-state="signed-out"]');
    await phone.fill('#me-login', 'zhang.sm');
    await phone.fill('#me-password', 'wrong password');
    await phone.tap('#me-sign-in button[type=submit]');
    await phone.waitForSelector('#me-sign-in-error:not(:empty)');
    expect(await phone.textContent('#me-sign-in-error')).toContain('错误');
    await phone.fill('#me-password', 'correct horse 1');
    await phone.tap('#me-sign-in button[type=submit]');
    await phone.waitForSelector('#me[data-state="home"]');
    await phone.context().close();
  }, 30_000);
});
