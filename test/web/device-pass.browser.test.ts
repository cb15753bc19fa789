/**
 * The phone's pass page (`/me/pass`, docs/passes.md "Device passes") in headless Chromium at
 * 360×640: a resident activated through the resident side and switched to a phone pass by the
 * manager enrols the phone (WebCrypto key in IndexedDB), the page draws a frame, and 10 s later a
 * different one. Both are read back from the canvas pixels by jsQR; a gate deciding from the
 * cloud's snapshot admits the newer frame and refuses the older one (a replay) and, two minutes
 * later, the newer one too (a screenshot). `/me` shows the pass panel whose link opens the pass
 * again with the key kept in IndexedDB; the page fits 360 px.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsqr from 'jsqr';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fullCloudExtensions } from '../../cloud/full-cloud.ts';
import type { Actor } from '../../cloud/registry/actor.ts';
import { decideEntry, type GateContext } from '../../edge-agent/decision.ts';
import { openGateDatabase } from '../../edge-agent/gate-database.ts';
import { VerifiedPassCache } from '../../edge-agent/pass-cache.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { launchBrowser, type TestBrowser } from '../../testkit/browser.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { collectSnapshot } from '../helpers/collect-snapshot.ts';

type JsQr = typeof jsqr.default;
const jsQR: JsQr = (jsqr as unknown as { default?: JsQr }).default ?? (jsqr as unknown as JsQr);

const COMPOUND = 'phone-garden';
const PERSON = 'p-phone-1';
const ADMIN: Actor = { username: 'seed', role: 'admin' };
const WAIT_MS = 15_000;

let workDir: string;
let testCloud: TestCloud;
let chrome: TestBrowser;
let browser: BrowserContext;
let keys: ReturnType<typeof parseKeysFile>;
let session: Record<string, unknown>;

async function api(method: string, path: string, token: string | undefined, body?: unknown): Promise<Response> {
  return fetch(`${testCloud.baseUrl}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** The canvas as the phone shows it, read by a real QR decoder. */
async function readCanvas(page: Page): Promise<{ text: string; attribute: string; at: number }> {
  const image = (await page.evaluate(`(() => {
    const canvas = document.getElementById('pass-qr');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let binary = '';
    for (let i = 0; i < data.length; i += 0x8000) binary += String.fromCharCode(...data.subarray(i, i + 0x8000));
    return { width: canvas.width, pixels: btoa(binary), frame: canvas.dataset.frame ?? '', at: Number(canvas.dataset.frameAt) };
  })()`)) as { width: number; pixels: string; frame: string; at: number };
  const decoded = jsQR(new Uint8ClampedArray(Buffer.from(image.pixels, 'base64')), image.width, image.width);
  if (!decoded) throw new Error('jsQR could not read the canvas');
  return { text: decoded.data, attribute: image.frame, at: image.at };
}

beforeAll(async () => {
  chrome = await launchBrowser();
  workDir = await mkdtemp(join(tmpdir(), 'anxin-device-pass-page-'));
  const keysFile = createKeysFile();
  keys = parseKeysFile(keysFile);
  testCloud = await startTestCloud({ keysFile, ...fullCloudExtensions({ keysFile }) });
  const { registry } = testCloud.cloud.core;
  await registry.createCompound({ id: COMPOUND, name: '手机花园', timeZone: 'Asia/Shanghai' }, ADMIN);
  await registry.createResident(
    {
      personId: PERSON,
      compoundId: COMPOUND,
      householdId: 'h-1',
      kind: 'resident',
      name: '王小明',
      cards: [],
      elderly: false,
      validFrom: null,
      validTo: null,
    },
    ADMIN,
  );
  await testCloud.addUser('boss', 'manager', COMPOUND);
  const manager = await testCloud.login('boss');
  expect(
    (await api('PUT', '/api/v1/health', manager, [{ personId: PERSON, colour: 'green', ts: Date.now() }])).status,
  ).toBe(200);
  const codes = (await (await api('POST', '/api/v1/activations', manager, { personIds: [PERSON] })).json()) as {
    codes: { code: string }[];
  };
  const activated = await api('POST', '/api/v1/me/activate', undefined, {
    code: codes.codes[0]!.code,
    login: 'wang.xm',
    password: 'correct horse battery',
  });
  expect(activated.status).toBe(201);
  session = (await activated.json()) as Record<string, unknown>;
  expect((await api('PUT', `/api/v1/residents/${PERSON}/pass-medium`, manager, { medium: 'phone' })).status).toBe(200);

  browser = await chrome.newContext({
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    viewport: { width: 360, height: 640 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
}, 60_000);

afterEach(() => chrome?.expectNoPageFaults());

afterAll(async () => {
  await chrome?.close();
  await testCloud?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('the phone pass page at 360×640', () => {
  it('enrols, rotates the QR, and a gate refuses the older frame and, later, a screenshot', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const start = Date.now();
    await page.clock.install({ time: start });
    await page.addInitScript({
      content: `sessionStorage.setItem('anxin.me.session', ${JSON.stringify(JSON.stringify(session))});`,
    });
    await page.goto(`${testCloud.baseUrl}/me/pass`);
    await page.locator('#pass-enrol-button').click({ timeout: WAIT_MS });
    await page.locator('#pass-qr[data-frame]').waitFor({ timeout: WAIT_MS });
    const first = await readCanvas(page);
    expect(first.text).toBe(first.attribute);
    expect(first.text.startsWith('AX2:')).toBe(true);

    // One rotation later (10 s on the page's clock) the phone shows another frame.
    await page.clock.runFor(10_000);
    await page.waitForFunction(`Number(document.getElementById('pass-qr')?.dataset.frameAt) > ${first.at}`, undefined, {
      timeout: WAIT_MS,
    });
    const second = await readCanvas(page);
    expect(second.text).toBe(second.attribute);
    expect(second.text).not.toBe(first.text);
    expect(second.at - first.at).toBeGreaterThanOrEqual(10);

    // A gate of the compound, deciding offline from the cloud's snapshot.
    const snapshot = await collectSnapshot(testCloud.cloud.core.store, COMPOUND);
    const replica = new ReplicaStore(openGateDatabase(':memory:'));
    replica.applyDelta(snapshot.records, snapshot.rev);
    const gateNow = start + 11_000;
    replica.touchCloudContact(gateNow);
    const gate: GateContext = {
      gateId: 'north',
      compoundId: COMPOUND,
      ring: keys.ring,
      pepper: keys.pepper,
      antiPassback: false,
      yellowPolicy: 'deny',
      stalenessLimitMs: 60_000,
      fireAlarm: false,
      passCache: new VerifiedPassCache(),
    };
    const granted = decideEntry({ method: 'qr', direction: 'in', text: second.text }, gate, replica, gateNow);
    expect(granted).toMatchObject({ result: 'granted', reason: 'ok', personId: PERSON });
    replica.recordPassage(granted.effects, 'in', gateNow);
    const old = decideEntry({ method: 'qr', direction: 'out', text: first.text }, gate, replica, gateNow);
    expect(old).toMatchObject({ result: 'denied', reason: 'frame-replayed' });
    expect(old.display.colour).toBe('red');
    const later = gateNow + 120_000;
    replica.touchCloudContact(later);
    const screenshot = decideEntry({ method: 'qr', direction: 'out', text: second.text }, gate, replica, later);
    expect(screenshot).toMatchObject({ result: 'denied', reason: 'frame-expired' });

    // Drawn on whole device pixels, version 13, and the page fits the phone's width.
    const layout = (await page.evaluate(`(() => {
      const canvas = document.getElementById('pass-qr');
      return {
        version: canvas.dataset.version,
        modulePx: Number(canvas.dataset.modulePx),
        cssWidth: canvas.getBoundingClientRect().width,
        scrollWidth: document.documentElement.scrollWidth,
      };
    })()`)) as { version: string; modulePx: number; cssWidth: number; scrollWidth: number };
    expect(layout.version).toBe('13');
    expect(layout.modulePx).toBeGreaterThanOrEqual(6);
    expect(layout.cssWidth).toBeGreaterThanOrEqual(250);
    expect(layout.scrollWidth).toBeLessThanOrEqual(360);
    await page.locator('#pass-countdown').filter({ hasText: '秒后自动更新' }).waitFor({ timeout: WAIT_MS });
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);

  it('/me shows the pass panel; its link opens the pass, the key still on the phone, no enrolling again', async () => {
    const page = await browser.newPage();
    await page.addInitScript({
      content: `sessionStorage.setItem('anxin.me.session', ${JSON.stringify(JSON.stringify(session))});`,
    });
    await page.goto(`${testCloud.baseUrl}/me`);
    const open = page.locator('#pass-panel a#pass-open');
    await open.filter({ hasText: '出示通行码' }).waitFor({ timeout: WAIT_MS });
    await Promise.all([page.waitForURL(`${testCloud.baseUrl}/me/pass`), open.click()]);
    await page.locator('#pass-qr[data-frame]').waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#pass-enrol').isHidden()).toBe(true);
    await page.locator('#pass-large').check();
    expect(await page.evaluate(`document.body.classList.contains('large')`)).toBe(true);
    await page.close();
  }, 60_000);
});
