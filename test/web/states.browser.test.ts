/**
 * The pages' honest states and the manager's daily tools (docs/web.md, "Honest states"), in Debian's Chromium driven
 * by playwright-core against a real broker and cloud, at 1440×900 and at phone widths. Gates are
 * MQTT clients with real device tokens that publish status, passages and alarms the way an edge
 * agent does; the browser reaches the cloud through a TCP proxy that can stall the live stream
 * (connection open, no bytes), and failing routes are made with request interception.
 *
 * Every page runs under the cloud's strict Content-Security-Policy (no inline script or style,
 * cloud/http/security-headers.ts); a violation fails the suite.
 *
 * Screenshots go to `test-results/web/` (copies in docs/screenshots/, see docs/web.md).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fullCloudExtensions } from '../../cloud/full-cloud.ts';
import type { Actor } from '../../cloud/registry/actor.ts';
import type { AlarmKind, HealthColour, Reason, Result } from '../../shared/enums.ts';
import { generateIdNumber } from '../../shared/id-number.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import type { EntryEvent, GateStatus } from '../../shared/schemas/mqtt.ts';
import { topics } from '../../shared/topics.ts';
import { launchBrowser, type TestBrowser } from '../../testkit/browser.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, TEST_PASSWORD, type TestCloud } from '../../testkit/cloud.ts';
import { type StallProxy, startStallProxy } from '../helpers/stall-proxy.ts';

// Browser-side callbacks run in Chromium; the project's TypeScript has no DOM library, so the few
// globals they use are declared here.
interface BrowserNode {
  id: string;
  tagName: string;
  classList: Iterable<string>;
  parentElement: BrowserNode | null;
  getBoundingClientRect(): { right: number; width: number };
  closest(selector: string): BrowserNode | null;
  getAttribute(name: string): string | null;
}
declare const document: {
  scrollingElement: { scrollWidth: number; clientWidth: number } | null;
  querySelectorAll(selector: string): Iterable<BrowserNode>;
  querySelector(selector: string): { textContent: string | null } | null;
  activeElement: (BrowserNode & { marked?: boolean }) | null;
  addEventListener(
    type: string,
    listener: (e: { violatedDirective: string; blockedURI: string; sourceFile: string; lineNumber: number }) => void,
  ): void;
};
declare const window: Record<string, unknown>;
declare const sessionStorage: { setItem(key: string, value: string): void; getItem(key: string): string | null };
declare function getComputedStyle(node: unknown): { overflowX: string; fontSize: string };

const RESULTS_DIR = join(process.cwd(), 'test-results', 'web');
const COMPOUND = 'sunny-garden';
const GATES = [
  { id: 'sunny-north', name: '北门 North gate' },
  { id: 'sunny-south', name: '南门 South gate' },
];
const ADMIN: Actor = { username: 'seed', role: 'admin' };
/** Generous bound for anything that crosses the system. */
const WAIT_MS = 10_000;
/** The cloud's heartbeat on /live: a stalled stream shows stale after about two of these (plus a second). Not
 * shorter: on a busy machine a late heartbeat must not read as a stall in the tests that want a live link. */
const HEARTBEAT_MS = 1_000;
const DESKTOP = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };
const SMALL_PHONE = { width: 360, height: 740 };

let broker: TestBroker;
let testCloud: TestCloud;
let proxy: StallProxy;
let base: string;
let browser: TestBrowser;
const gateClients = new Map<string, MqttClient>();
const seqs = new Map<string, number>();
const contexts: BrowserContext[] = [];

// ---- the gates: MQTT clients with device tokens ------------------------------------------------

function status(overrides: Partial<GateStatus> = {}): GateStatus {
  return {
    online: true,
    mode: 'normal',
    rev: 0,
    journalDepth: 0,
    devices: { idreader: 'ok', qr: 'ok', turnstile: 'ok' },
    version: 'test',
    ts: Date.now(),
    ...overrides,
  };
}

async function publishStatus(gateId: string, overrides: Partial<GateStatus> = {}): Promise<void> {
  await gateClients
    .get(gateId)!
    .publishAsync(topics.gateStatus(gateId), JSON.stringify(status(overrides)), { qos: 1, retain: true });
}

async function publishEntry(
  gateId: string,
  e: { personId?: string; result: Result; reason: Reason; health?: HealthColour; ts?: number },
): Promise<EntryEvent> {
  const seq = (seqs.get(gateId) ?? 0) + 1;
  seqs.set(gateId, seq);
  const event: EntryEvent = {
    gateId,
    seq,
    ts: e.ts ?? Date.now(),
    direction: 'in',
    method: 'idcard',
    result: e.result,
    reason: e.reason,
    ...(e.personId ? { personId: e.personId } : {}),
    health: e.health ?? 'green',
    mode: 'normal',
    passed: e.result === 'granted' ? true : null,
    decisionMs: 12,
  };
  await gateClients
    .get(gateId)!
    .publishAsync(topics.gateEvents(gateId), JSON.stringify({ events: [event] }), { qos: 1 });
  return event;
}

async function publishAlarm(gateId: string, kind: AlarmKind, detail: string): Promise<void> {
  await gateClients
    .get(gateId)!
    .publishAsync(topics.gateAlarms(gateId), JSON.stringify({ kind, ts: Date.now(), detail }), { qos: 1 });
}

async function storedEvent(gateId: string, seq: number): Promise<void> {
  await vi.waitFor(
    async () => {
      const { events } = await testCloud.cloud.core.store.queryEvents({ gateId, limit: 50 });
      expect(events.some((e) => e.seq === seq)).toBe(true);
    },
    { timeout: WAIT_MS, interval: 50 },
  );
}

// ---- the browser --------------------------------------------------------------------------------

/** A fresh context (own storage) at a viewport; every Content-Security-Policy violation is recorded. */
async function newContext(viewport: { width: number; height: number }, extra: { timezoneId?: string } = {}) {
  const context = await browser.newContext({
    viewport,
    locale: 'zh-CN',
    // The browser's zone differs from the compound's: the pages must still show the compound's.
    timezoneId: extra.timezoneId ?? 'America/New_York',
    acceptDownloads: true,
  });
  contexts.push(context);
  await context.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      w.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  return context;
}

async function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __csp: string[] }).__csp);
}

async function signIn(page: Page, username: string, landing: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.fill('#username', username);
  await page.fill('#password', TEST_PASSWORD);
  await Promise.all([page.waitForURL(`${base}${landing}`), page.click('#sign-in-form button[type=submit]')]);
  await page.locator('body[data-ready="true"]').waitFor({ timeout: WAIT_MS });
}

/** Whether the page is wider than its viewport (sideways scrolling). */
async function overflowX(page: Page): Promise<{ scrollWidth: number; clientWidth: number; culprits: string[] }> {
  return page.evaluate(() => {
    const root = document.scrollingElement!;
    const width = root.clientWidth;
    const culprits = [...document.querySelectorAll('body *')]
      .filter((node) => {
        const box = node.getBoundingClientRect();
        if (box.width === 0 || box.right <= width + 1) return false;
        // Inside a scroll container of its own, it does not widen the page.
        for (let p = node.parentElement; p; p = p.parentElement) {
          const style = getComputedStyle(p);
          if (style.overflowX === 'auto' || style.overflowX === 'scroll' || style.overflowX === 'hidden') {
            return p.getBoundingClientRect().right > width + 1;
          }
        }
        return true;
      })
      .slice(0, 5)
      .map((node) => `${node.tagName.toLowerCase()}#${node.id}.${[...node.classList].join('.')}`);
    return { scrollWidth: root.scrollWidth, clientWidth: width, culprits };
  });
}

async function expectNoSidewaysScroll(page: Page, what: string): Promise<void> {
  const o = await overflowX(page);
  expect(o.scrollWidth, `${what}: ${o.culprits.join(', ')}`).toBeLessThanOrEqual(o.clientWidth);
}

const shot = (page: Page, name: string, fullPage = true) =>
  page.screenshot({ path: join(RESULTS_DIR, name), fullPage, animations: 'disabled' });

// ---- the system ---------------------------------------------------------------------------------

beforeAll(async () => {
  await mkdir(RESULTS_DIR, { recursive: true });
  const keysFile = createKeysFile();
  const keys = parseKeysFile(keysFile);
  broker = await startTestBroker({ ring: keys.ring });
  testCloud = await startTestCloud({
    keysFile,
    mqttUrl: broker.url,
    liveHeartbeatMs: HEARTBEAT_MS,
    ...fullCloudExtensions({ keysFile }),
  });
  proxy = await startStallProxy(Number(new URL(testCloud.baseUrl).port));
  base = proxy.url;

  const { registry } = testCloud.cloud.core;
  await registry.createCompound({ id: COMPOUND, name: '阳光花园 Sunny Garden', timeZone: 'Asia/Shanghai' }, ADMIN);
  for (const gate of GATES) {
    const { token } = await registry.registerGate({ ...gate, compoundId: COMPOUND, antiPassback: false }, ADMIN);
    const client = await mqtt.connectAsync(broker.url, {
      clientId: gate.id,
      username: gate.id,
      password: token,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    gateClients.set(gate.id, client);
  }
  await testCloud.addUser('guard', 'guard', COMPOUND);
  const residents = [
    { personId: 'p-zhang', name: '张三明', householdId: 'h-0101', phone: '13800001234' },
    { personId: 'p-zhang-wife', name: '王芳', householdId: 'h-0101', phone: '13800002222' },
    { personId: 'p-zhang-son', name: '张小明', householdId: 'h-0101' },
    { personId: 'p-li', name: '李四', householdId: 'h-0102', phone: '13900005678' },
    ...Array.from({ length: 126 }, (_, i) => ({
      personId: `p-${String(i).padStart(4, '0')}`,
      name: `赵${i}号`,
      householdId: `h-${1000 + Math.floor(i / 3)}`,
    })),
  ];
  await registry.importResidents(
    residents.map((r, i) => ({
      ...r,
      compoundId: COMPOUND,
      kind: 'resident' as const,
      cards: [],
      elderly: false,
      validFrom: null,
      validTo: null,
      row: i + 2,
    })),
    ADMIN,
  );
  await registry.updateHealth(
    residents.map((r) => ({ personId: r.personId, colour: 'green' as const, ts: Date.now() })),
    ADMIN,
  );
  for (const gate of GATES) await publishStatus(gate.id);
  // Passages today: the Zhang household passes the north gate together, one refusal at the south.
  // "Today" is the compound's (Asia/Shanghai, UTC+8), the dashboard's default period: an hour ago is
  // yesterday there from 16:00 to 17:00 UTC, so the passages start no earlier than its midnight (in
  // its first 90 s the last ones are up to 90 s ahead, within admission's 5 min tolerance).
  const shanghaiMidnight = Date.now() - ((Date.now() + 8 * 3_600_000) % 86_400_000);
  const t = Math.max(Date.now() - 60 * 60_000, shanghaiMidnight + 1_000);
  await publishEntry('sunny-north', { personId: 'p-zhang', result: 'granted', reason: 'ok', ts: t });
  await publishEntry('sunny-north', { personId: 'p-zhang-wife', result: 'granted', reason: 'ok', ts: t + 30_000 });
  await publishEntry('sunny-north', { personId: 'p-li', result: 'granted', reason: 'ok', ts: t + 60_000 });
  const last = await publishEntry('sunny-south', {
    personId: 'p-0001',
    result: 'denied',
    reason: 'health-red',
    health: 'red',
    ts: t + 90_000,
  });
  await storedEvent('sunny-south', last.seq);

  browser = await launchBrowser({ extraArgs: ['--disable-quic', '--autoplay-policy=no-user-gesture-required'] });
}, 60_000);

afterEach(() => browser?.expectNoPageFaults());

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  for (const client of gateClients.values()) await client.endAsync().catch(() => undefined);
  await proxy?.stop();
  await testCloud?.stop();
  await broker?.stop();
}, 30_000);

// ---- the guard console --------------------------------------------------------------------------

describe('guard console', () => {
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    context = await newContext(DESKTOP);
    page = await context.newPage();
    await signIn(page, 'guard', '/console');
    await page.locator('#live-state[data-state="open"]').waitFor({ timeout: WAIT_MS });
  });

  it('is served under a strict Content-Security-Policy', async () => {
    const response = await page.request.get(`${base}/console`);
    const csp = response.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
  });

  it('shows times in the compound zone and says so, whatever the browser zone', async () => {
    expect(await page.textContent('#zone-label')).toContain('Asia/Shanghai UTC+8');
    const row = page.locator('#feed tr[data-gate="sunny-south"]').first();
    const ts = Number(await row.getAttribute('data-ts'));
    const shanghai = new Date(ts + 8 * 3_600_000).toISOString().slice(11, 19);
    expect(await row.locator('td.time').textContent()).toBe(shanghai);
  });

  it('says a failed alarm load is a failure — never "no open alarms" — and recovers on retry', async () => {
    await publishAlarm('sunny-north', 'tamper', 'cover opened');
    await page.locator('#alarms .alarm').first().waitFor({ timeout: WAIT_MS });
    await page.route('**/api/v1/alarms?**', (route) =>
      route.fulfill({
        status: 500,
        contentType: 'application/json',
        body: '{"error":{"code":"internal","message":"boom"}}',
      }),
    );
    await page.route('**/api/v1/gates?**', (route) => route.abort('connectionrefused'));
    await page.reload();
    const alarmsState = page.locator('#alarms-state[data-state="failed"]');
    await alarmsState.waitFor({ timeout: WAIT_MS });
    expect(await alarmsState.textContent()).toContain('Failed to load');
    expect(await alarmsState.textContent()).toContain('HTTP 500');
    expect(await page.locator('#alarms-empty').isVisible()).toBe(false);
    expect(await page.textContent('#alarm-count')).toBe('?');
    expect(await page.title()).toMatch(/^!/);
    await page.locator('#gates-state[data-state="failed"]').waitFor({ timeout: WAIT_MS });
    expect(await page.textContent('#gates-state')).toContain('Cannot reach the server');
    await shot(page, 'console-failed.png', false);

    await page.unroute('**/api/v1/alarms?**');
    await page.unroute('**/api/v1/gates?**');
    await page.click('#alarms-state .retry');
    await page.locator('#alarms .alarm').first().waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#alarms-state').getAttribute('data-state')).toBe('ok');
    // The alarm was drawn before the gates were known (by id); once they load it names its gate.
    await page.click('#gates-state .retry');
    await page.locator('.gate[data-state="online"]').first().waitFor({ timeout: WAIT_MS });
    await page.locator('#alarms .alarm .gate-name', { hasText: '北门 North gate' }).waitFor({ timeout: WAIT_MS });
    expect(await page.title()).toMatch(/^\(1\)/);
  });

  it('shows a stalled stream as stale on the header, the banner and every gate card, and heals', async () => {
    await page.locator('#live-state[data-state="open"]').waitFor({ timeout: WAIT_MS });
    expect(await page.locator('.gate[data-state="online"]').count()).toBe(2);
    proxy.stall();
    await page.locator('#live-state[data-state="stale"]').waitFor({ timeout: WAIT_MS });
    expect(await page.locator('.gate[data-state="stale"]').count()).toBe(2);
    expect(await page.locator('.gate[data-state="online"]').count()).toBe(0);
    expect(await page.locator('#link-banner').isVisible()).toBe(true);
    expect(await page.textContent('#link-banner')).toContain('out of date');
    expect(await page.title()).toContain('⚠');
    await shot(page, 'console-stale.png', false);
    proxy.resume();
    await page.locator('#live-state[data-state="open"]').waitFor({ timeout: 30_000 });
    await page.locator('.gate[data-state="online"]').nth(1).waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#link-banner').isVisible()).toBe(false);
  }, 60_000);

  it('shows a cut network as offline everywhere, and comes back', async () => {
    await context.setOffline(true);
    await page.locator('#live-state[data-state="offline"]').waitFor({ timeout: WAIT_MS });
    expect(await page.locator('.gate[data-state="link-down"]').count()).toBe(2);
    expect(await page.textContent('#link-banner')).toContain('Offline');
    await context.setOffline(false);
    await page.locator('#live-state[data-state="open"]').waitFor({ timeout: 30_000 });
    await page.locator('.gate[data-state="online"]').nth(1).waitFor({ timeout: WAIT_MS });
  }, 60_000);

  it('updates gate cards in place: keyboard focus on "Remote open" survives status messages', async () => {
    const button = page.locator('.gate[data-gate-id="sunny-north"] button.open-gate');
    await button.focus();
    await button.evaluate((node) => {
      (node as unknown as { marked: boolean }).marked = true;
    });
    for (let depth = 1; depth <= 5; depth++) await publishStatus('sunny-north', { journalDepth: depth });
    await expect
      .poll(() => page.textContent('.gate[data-gate-id="sunny-north"] .journal-depth'), { timeout: WAIT_MS })
      .toBe('5');
    await publishStatus('sunny-north', { devices: { idreader: 'fault', qr: 'ok', turnstile: 'ok' } });
    await page.locator('.gate[data-gate-id="sunny-north"] .pill.fault').waitFor({ timeout: WAIT_MS });
    const focused = await page.evaluate(() => {
      const active = document.activeElement;
      return { same: active?.marked === true, gate: active?.closest('.gate')?.getAttribute('data-gate-id') };
    });
    expect(focused).toEqual({ same: true, gate: 'sunny-north' });
    await publishStatus('sunny-north');
  });

  it('rings, badges the title and notifies for a new alarm; muted, it stays silent', async () => {
    const notified = await context.newPage();
    await context.grantPermissions(['notifications'], { origin: base });
    await notified.addInitScript(() => {
      const calls: string[] = [];
      (window as unknown as { __notes: string[] }).__notes = calls;
      class FakeNotification {
        static permission = 'granted';
        static requestPermission = async () => 'granted';
        constructor(title: string) {
          calls.push(title);
        }
      }
      (window as unknown as { Notification: unknown }).Notification = FakeNotification;
    });
    await signIn(notified, 'guard', '/console');
    await notified.locator('#live-state[data-state="open"]').waitFor({ timeout: WAIT_MS });
    await notified.click('#notify-toggle');
    expect(await notified.getAttribute('#notify-toggle', 'aria-pressed')).toBe('true');
    const before = await notified.locator('#alarms .alarm').count();
    await publishAlarm('sunny-south', 'forced', 'door forced');
    await expect.poll(() => notified.locator('#alarms .alarm').count(), { timeout: WAIT_MS }).toBe(before + 1);
    expect(await notified.getAttribute('#sound-toggle', 'data-played')).toBe('1');
    expect(await notified.title()).toMatch(new RegExp(`^\\(${before + 1}\\)`));
    expect(await notified.evaluate(() => (window as unknown as { __notes: string[] }).__notes)).toEqual([
      expect.stringContaining('Turnstile forced'),
    ]);

    await notified.click('#sound-toggle');
    expect(await notified.textContent('#sound-toggle')).toContain('Muted');
    await publishAlarm('sunny-south', 'tailgate', 'two people');
    await expect.poll(() => notified.locator('#alarms .alarm').count(), { timeout: WAIT_MS }).toBe(before + 2);
    expect(await notified.getAttribute('#sound-toggle', 'data-played')).toBe('1');
    // The choice is remembered.
    await notified.reload();
    await notified.locator('body[data-ready="true"]').waitFor({ timeout: WAIT_MS });
    expect(await notified.textContent('#sound-toggle')).toContain('Muted');
    await notified.click('#sound-toggle');
    expect(await cspViolations(notified)).toEqual([]);
    await notified.close();
  });

  it('acknowledges an alarm with a note, stored and audited', async () => {
    const alarm = page.locator('#alarms .alarm').first();
    const id = Number(await alarm.getAttribute('data-alarm-id'));
    await alarm.locator('button.ack').click();
    await page.locator('#ack-dialog[open]').waitFor();
    await page.fill('#ack-note', '已到场查看，误报 checked, false alarm');
    await page.click('#ack-submit');
    await page.locator(`#alarms [data-alarm-id="${id}"]`).waitFor({ state: 'detached', timeout: WAIT_MS });
    const audit = await testCloud.cloud.core.store.listAudit({ action: 'alarm.ack', limit: 5 });
    expect(audit.entries[0]).toMatchObject({
      actor: 'guard',
      target: String(id),
      detail: { note: '已到场查看，误报 checked, false alarm' },
    });
  });

  it('pauses the feed (new passages wait, counted) and filters it to refusals or one gate', async () => {
    await page.selectOption('#feed-result', 'denied');
    const visible = page.locator('#feed tr:not([hidden])');
    await expect.poll(() => visible.count()).toBeGreaterThan(0);
    for (const result of await visible.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-result')))) {
      expect(result).toBe('denied');
    }
    await page.selectOption('#feed-result', '');
    await page.selectOption('#feed-gate', 'sunny-north');
    for (const gate of await visible.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-gate')))) {
      expect(gate).toBe('sunny-north');
    }
    await page.selectOption('#feed-gate', '');

    await page.click('#feed-pause');
    const event = await publishEntry('sunny-north', { personId: 'p-li', result: 'denied', reason: 'anti-passback' });
    await page.locator('#feed-queued', { hasText: '1 new while paused' }).waitFor({ timeout: WAIT_MS });
    expect(await page.locator(`#feed tr[data-gate="sunny-north"][data-seq="${event.seq}"]`).count()).toBe(0);
    await page.click('#feed-pause');
    await page.locator(`#feed tr[data-gate="sunny-north"][data-seq="${event.seq}"]`).waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#feed-queued').isVisible()).toBe(false);
  });

  it('has a wall mode readable from 2 m, remembered across reloads', async () => {
    await page.click('#wall-toggle');
    expect(await page.getAttribute('body', 'class')).toContain('wall');
    const size = await page
      .locator('#feed td.masked-name')
      .first()
      .evaluate((td) => Number.parseFloat(getComputedStyle(td).fontSize));
    expect(size).toBeGreaterThanOrEqual(20);
    const state = await page
      .locator('.gate .online')
      .first()
      .evaluate((n) => Number.parseFloat(getComputedStyle(n).fontSize));
    expect(state).toBeGreaterThanOrEqual(24);
    await page.reload();
    await page.locator('body.wall[data-ready="true"]').waitFor({ timeout: WAIT_MS });
    await page.locator('#live-state[data-state="open"]').waitFor({ timeout: WAIT_MS });
    await shot(page, 'console-wall.png', false);
    await page.click('#wall-toggle');
    expect(await cspViolations(page)).toEqual([]);
  });
});

// ---- phone widths ---------------------------------------------------------------------------------

describe('phone widths', () => {
  for (const viewport of [PHONE, SMALL_PHONE]) {
    it(`every page works at ${viewport.width}×${viewport.height} without sideways scrolling`, async () => {
      const context = await newContext(viewport);
      const page = await context.newPage();
      await page.goto(`${base}/`);
      await expectNoSidewaysScroll(page, 'sign-in');
      await signIn(page, 'guard', '/console');
      await page.locator('#live-state[data-state="open"]').waitFor({ timeout: WAIT_MS });
      await page.locator('#feed tr').first().waitFor({ timeout: WAIT_MS });
      await expectNoSidewaysScroll(page, 'console');
      // The feed shows the name and the result of a passage on the screen.
      const row = page.locator('#feed tr').first();
      for (const cell of ['td.masked-name', 'td.result-cell', 'td.time']) {
        const box = await row.locator(cell).boundingBox();
        expect(box, cell).not.toBeNull();
        expect(box!.x + box!.width, cell).toBeLessThanOrEqual(viewport.width);
        expect(await row.locator(cell).isVisible(), cell).toBe(true);
      }
      if (viewport === PHONE) await shot(page, 'console-phone.png', false);
      await page.click('#wall-toggle');
      await expectNoSidewaysScroll(page, 'console, wall mode');
      await page.click('#wall-toggle');

      const manager = await (await newContext(viewport)).newPage();
      await signIn(manager, 'manager', '/dashboard');
      await manager.locator('#stats[data-state="ok"]').waitFor({ timeout: WAIT_MS });
      await manager.locator('#resident-rows tr[data-person-id]').first().waitFor({ timeout: WAIT_MS });
      await manager.locator('#audit-rows tr').first().waitFor({ timeout: WAIT_MS });
      await manager.locator('details.import-box summary').click();
      await expectNoSidewaysScroll(manager, 'dashboard');
      if (viewport === PHONE) await shot(manager, 'dashboard-phone.png', false);
      expect(await cspViolations(page)).toEqual([]);
      expect(await cspViolations(manager)).toEqual([]);
    }, 60_000);
  }
});

// ---- every load, failing ----------------------------------------------------------------------------

/** An HTTP 500 with the API's error shape. */
const failWith500 = (route: Route) =>
  route.fulfill({
    status: 500,
    contentType: 'application/json',
    body: '{"error":{"code":"internal","message":"boom"}}',
  });

/** The API path `/api/v1<path>` with or without a query, nothing longer. */
const apiPath = (path: string) => new RegExp(`/api/v1${path.replaceAll('/', '\\/')}(\\?.*)?$`);

describe('every load a page makes, failing, is shown as a failure — never as all clear', () => {
  beforeAll(async () => {
    // An alarm is open while the loads fail: "no open alarms" would be a lie.
    const before = (await testCloud.cloud.core.store.recentAlarms('sunny-south', 100)).length;
    await publishAlarm('sunny-south', 'tamper', 'cover opened during the failing-route checks');
    await vi.waitFor(
      async () => expect((await testCloud.cloud.core.store.recentAlarms('sunny-south', 100)).length).toBe(before + 1),
      { timeout: WAIT_MS, interval: 50 },
    );
  });

  /** What the console must show when one of its loads fails (the rest of the page works). */
  const consoleLoads: { path: string; failure: (page: Page) => Promise<void> }[] = [
    {
      path: '/gates',
      failure: async (page) => {
        await page.locator('#gates-state[data-state="failed"]').waitFor({ timeout: WAIT_MS });
        expect(await page.locator('.gate').count()).toBe(0);
      },
    },
    {
      path: '/alarms',
      failure: async (page) => {
        await page.locator('#alarms-state[data-state="failed"]').waitFor({ timeout: WAIT_MS });
        expect(await page.textContent('#alarm-count')).toBe('?');
      },
    },
    {
      path: '/events',
      failure: async (page) => {
        // (Every reconnect of the stream retries, so the panel may pass through "loading" again.)
        await page.locator('#feed-state[data-state="failed"]', { hasText: 'HTTP 500' }).waitFor({ timeout: WAIT_MS });
      },
    },
    {
      path: '/web/compound',
      failure: async (page) => {
        await page.locator('#zone-label', { hasText: 'Compound zone unknown' }).waitFor({ timeout: WAIT_MS });
      },
    },
    {
      path: '/auth/live-ticket',
      failure: async (page) => {
        await page.locator('#live-state[data-state="closed"]').waitFor({ timeout: WAIT_MS });
        expect(await page.locator('.gate[data-state="link-down"]').count()).toBe(2);
        expect(await page.textContent('#link-banner')).toContain('out of date');
      },
    },
    {
      path: '/live',
      failure: async (page) => {
        await page.locator('#live-state[data-state="closed"]').waitFor({ timeout: WAIT_MS });
        expect(await page.locator('.gate[data-state="link-down"]').count()).toBe(2);
      },
    },
  ];

  /** Nothing on the console says all is well: no "no open alarms", no live header, no online gate. */
  async function expectNoAllClear(page: Page, failed: string): Promise<void> {
    expect(await page.locator('#alarms-empty').isVisible(), failed).toBe(false);
    expect(await page.locator('#feed-filtered-empty').isVisible(), failed).toBe(false);
    if (failed === '/live' || failed === '/auth/live-ticket') {
      expect(await page.getAttribute('#live-state', 'data-state'), failed).not.toBe('open');
      expect(await page.locator('.gate[data-state="online"]').count(), failed).toBe(0);
    }
  }

  for (const load of consoleLoads) {
    it(`console: ${load.path} failing is said on the page, with the rest still working, and heals`, async () => {
      const context = await newContext(DESKTOP);
      const page = await context.newPage();
      await signIn(page, 'guard', '/console');
      await page.route(apiPath(load.path), failWith500);
      await page.reload();
      await page.locator('body[data-ready="true"]').waitFor({ timeout: WAIT_MS });
      await load.failure(page);
      await expectNoAllClear(page, load.path);
      // Every other load still works.
      if (load.path !== '/gates')
        await page.locator('#gates-state[data-state="ok"]').waitFor({ state: 'attached', timeout: WAIT_MS });
      if (load.path !== '/alarms')
        await page.locator('#alarms-state[data-state="ok"]').waitFor({ state: 'attached', timeout: WAIT_MS });
      if (load.path !== '/events')
        await page.locator('#feed-state[data-state="ok"]').waitFor({ state: 'attached', timeout: WAIT_MS });
      await page.unroute(apiPath(load.path));
      // Click what is still failed, one at a time: `.all()` would fix positions (`nth(i)`), and once the
      // first retry heals its section the next one moves up, so `nth(1)` matched nothing and waited out
      // the test's timeout; a section may also heal on its own refresh, its button gone mid-click.
      const failedRetry = page.locator('.load-state[data-state="failed"] .retry');
      while ((await failedRetry.count()) > 0)
        await failedRetry
          .first()
          .click({ timeout: 5_000 })
          .catch(() => {});
      await page.locator('#live-state[data-state="open"]').waitFor({ timeout: 30_000 });
      await page.locator('.gate[data-state="online"]').nth(1).waitFor({ timeout: WAIT_MS });
      await page.locator('#alarms .alarm').first().waitFor({ timeout: WAIT_MS });
      expect(await page.locator('.load-state[data-state="failed"]').count()).toBe(0);
      expect(await cspViolations(page)).toEqual([]);
      await context.close();
    }, 60_000);
  }

  it('dashboard: every load failing is said where its figures would be, never shown as empty', async () => {
    const context = await newContext(DESKTOP);
    const page = await context.newPage();
    await signIn(page, 'manager', '/dashboard');
    await page.locator('#stats[data-state="ok"]').waitFor({ timeout: WAIT_MS });
    await page.locator('#resident-rows tr[data-person-id]').first().waitFor({ timeout: WAIT_MS });

    // The first loads: statistics (each of its three), residents, audit log, compounds.
    for (const path of ['/stats/summary', '/stats/hourly', '/stats/gates']) {
      await page.route(apiPath(path), failWith500);
      await page.reload();
      await page.locator('#stats[data-state="failed"]').waitFor({ timeout: WAIT_MS });
      expect(await page.textContent('#stats-status'), path).toContain('HTTP 500');
      expect(await page.textContent('#kpi-passages'), path).toBe('–');
      // No "no passages" chart, no empty per-gate table standing for zero.
      expect(await page.locator('#hourly-chart svg').count(), path).toBe(0);
      expect(await page.locator('#gate-stats tr').count(), path).toBe(0);
      await page.unroute(apiPath(path));
    }
    await page.route(apiPath('/web/residents'), failWith500);
    await page.route(apiPath('/audit'), failWith500);
    await page.reload();
    await page.locator('#residents-error', { hasText: 'Residents failed to load' }).waitFor({ timeout: WAIT_MS });
    await page.locator('#audit-error', { hasText: 'Audit log failed to load' }).waitFor({ timeout: WAIT_MS });
    expect(await page.textContent('#resident-rows')).not.toContain('No residents match');
    expect(await page.textContent('#audit-rows')).not.toContain('No entries');
    // Finding a person answers with the failure, not "nobody found".
    await page.fill('#find-q', '张*明');
    await page.click('#find-form button[type=submit]');
    await page.locator('#find-error', { hasText: 'HTTP 500' }).waitFor({ timeout: WAIT_MS });
    expect(await page.textContent('#find-rows')).not.toContain('Nobody found');
    await page.unroute(apiPath('/web/residents'));
    await page.unroute(apiPath('/audit'));

    await page.route(apiPath('/compounds'), failWith500);
    await page.reload();
    await page.locator('#stats-status', { hasText: 'Compounds failed to load' }).waitFor({ timeout: WAIT_MS });
    expect(await page.getAttribute('#stats', 'data-state')).toBe('failed');
    await page.unroute(apiPath('/compounds'));
    await page.reload();
    await page.locator('#stats[data-state="ok"]').waitFor({ timeout: WAIT_MS });

    // On demand: a person's passes, a trace, a reveal.
    await page.route(/\/api\/v1\/(web\/passes|trace\/|residents\/p-li\?)/, failWith500);
    await page.fill('#pass-person', 'p-zhang');
    await page.click('#pass-list-button');
    await page.locator('#pass-error', { hasText: 'Passes failed to load' }).waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#person-passes-box').isVisible()).toBe(false);
    await page.fill('#trace-person-id', 'p-zhang');
    await page.fill('#trace-reason', '流调 failing-route check');
    await page.click('#trace-submit');
    await page.locator('#trace-error', { hasText: 'HTTP 500' }).waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#trace-result').isVisible()).toBe(false);
    await page.fill('#resident-search', 'p-li');
    const row = page.locator('#resident-rows tr[data-person-id="p-li"]');
    await row.waitFor({ timeout: WAIT_MS });
    await row.locator('button.reveal-resident').click();
    await page.fill('#reveal-reason', '联系家属 call the family');
    await page.click('#reveal-submit');
    await page.locator('#reveal-error', { hasText: 'HTTP 500' }).waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#reveal-result').isVisible()).toBe(false);
    await page.click('#reveal-close');
    expect(await cspViolations(page)).toEqual([]);
    await context.close();
  }, 90_000);

  it('a refusal is never green: denied rows and their result on the console and in wall mode', async () => {
    const context = await newContext(DESKTOP);
    const page = await context.newPage();
    await signIn(page, 'guard', '/console');
    await page.locator('#live-state[data-state="open"]').waitFor({ timeout: WAIT_MS });
    // A refusal of a person whose health code is green: the row says refused, in red, all the same.
    const event = await publishEntry('sunny-north', { personId: 'p-li', result: 'denied', reason: 'anti-passback' });
    const row = page.locator(`#feed tr[data-gate="sunny-north"][data-seq="${event.seq}"]`);
    await row.waitFor({ timeout: WAIT_MS });
    const greenish = (rgb: string) => {
      const [r, g, b] = (rgb.match(/\d+/g) ?? []).map(Number) as [number, number, number];
      return g > r + 40 && g > b + 20;
    };
    for (const wall of [false, true]) {
      if (wall) await page.click('#wall-toggle');
      const colours = await row.evaluate((tr) => {
        const style = (n: unknown) =>
          getComputedStyle(n) as unknown as { color: string; backgroundColor: string; boxShadow: string };
        const node = tr as unknown as { querySelectorAll(s: string): Iterable<unknown> };
        return [...node.querySelectorAll('td, td .result')]
          .filter((n) => !(n as BrowserNode).classList || ![...(n as BrowserNode).classList].includes('health'))
          .map((n) => [style(n).color, style(n).backgroundColor]);
      });
      expect(colours.length).toBeGreaterThan(8);
      for (const [colour, background] of colours) {
        expect(greenish(colour!), `text ${colour} (wall ${wall})`).toBe(false);
        expect(greenish(background!), `background ${background} (wall ${wall})`).toBe(false);
      }
      expect(await row.locator('.result.denied').count()).toBe(1);
    }
    await page.click('#wall-toggle');
    await context.close();
  });
});

describe('phone widths: every dialog and every section in use', () => {
  /** An open dialog lies inside the screen and does not scroll sideways inside itself. */
  async function expectDialogFits(page: Page, selector: string, width: number): Promise<void> {
    const dialog = page.locator(`${selector}[open]`);
    await dialog.waitFor({ timeout: WAIT_MS });
    const box = await dialog.boundingBox();
    expect(box, selector).not.toBeNull();
    expect(box!.x, selector).toBeGreaterThanOrEqual(0);
    expect(box!.x + box!.width, selector).toBeLessThanOrEqual(width);
    const inner = await dialog.evaluate((n) => {
      const node = n as unknown as { scrollWidth: number; clientWidth: number };
      return { scrollWidth: node.scrollWidth, clientWidth: node.clientWidth };
    });
    expect(inner.scrollWidth, `${selector} scrolls sideways inside`).toBeLessThanOrEqual(inner.clientWidth);
    await expectNoSidewaysScroll(page, selector);
  }

  for (const viewport of [PHONE, SMALL_PHONE]) {
    it(`at ${viewport.width} px: the console's dialogs, the dashboard's dialogs, trace, passes and audit`, async () => {
      const guard = await (await newContext(viewport)).newPage();
      await signIn(guard, 'guard', '/console');
      await guard.locator('.gate button.open-gate').first().click();
      await expectDialogFits(guard, '#open-dialog', viewport.width);
      await guard.click('#open-cancel');
      await publishAlarm('sunny-north', 'tamper', `phone width check at ${viewport.width} px`);
      await guard.locator('#alarms .alarm button.ack').first().click({ timeout: WAIT_MS });
      await expectDialogFits(guard, '#ack-dialog', viewport.width);
      await guard.click('#ack-cancel');
      expect(await cspViolations(guard)).toEqual([]);

      const page = await (await newContext(viewport)).newPage();
      await signIn(page, 'manager', '/dashboard');
      await page.locator('#stats[data-state="ok"]').waitFor({ timeout: WAIT_MS });
      const row = page.locator('#resident-rows tr[data-person-id="p-0005"]');
      await row.waitFor({ timeout: WAIT_MS });
      // Every section reached from the top links, one by one.
      for (const link of await page.locator('.toolbar .links a[href^="#"]').all()) {
        await link.click();
        await expectNoSidewaysScroll(page, `after ${await link.getAttribute('href')}`);
      }
      await page.click('#resident-add');
      await expectDialogFits(page, '#resident-dialog', viewport.width);
      await page.click('#resident-cancel');
      await row.locator('button.edit-resident').click();
      await expectDialogFits(page, '#resident-dialog', viewport.width);
      await page.click('#resident-cancel');
      await row.locator('button.reveal-resident').click();
      await expectDialogFits(page, '#reveal-dialog', viewport.width);
      await page.click('#reveal-close');
      await row.locator('button.toggle-resident').click();
      await expectDialogFits(page, '#confirm-dialog', viewport.width);
      await page.locator('#confirm-dialog button[value="cancel"]').click();
      await page.selectOption('#mode-select', 'controlled');
      await page.fill('#mode-reason', '手机宽度检查 phone width check');
      await page.click('#mode-form button[type=submit]');
      await expectDialogFits(page, '#mode-dialog', viewport.width);
      await page.click('#mode-cancel');
      await page.fill('#mode-reason', '');

      // Tools in use: find, a trace, a pass card, a person's passes, the audit log.
      await page.fill('#find-q', 'h-0101');
      await page.click('#find-form button[type=submit]');
      await page.locator('#find-rows tr[data-person-id]').first().waitFor({ timeout: WAIT_MS });
      await page.locator('#find-rows tr[data-person-id="p-zhang"] button.trace-person').click();
      await page.fill('#trace-reason', '手机宽度检查 phone width check');
      await page.click('#trace-submit');
      await page.locator('#trace-result:not([hidden])').waitFor({ timeout: WAIT_MS });
      await page.fill('#pass-person', 'p-0005');
      await page.click('#pass-form button[type=submit]');
      await page.locator('#pass-card:not([hidden])').waitFor({ timeout: WAIT_MS });
      await page.click('#pass-list-button');
      await page.locator('#person-passes tr[data-pass-id]').first().waitFor({ timeout: WAIT_MS });
      await page.click('#audit-form button[type=submit]');
      await page.locator('#audit-rows tr[data-action]').first().waitFor({ timeout: WAIT_MS });
      await page.selectOption('#period', 'custom');
      await page.locator('#custom-from-box').waitFor();
      await page.locator('#stats[data-state="ok"]').waitFor({ timeout: WAIT_MS });
      await expectNoSidewaysScroll(page, 'dashboard with every tool in use');
      await page.selectOption('#period', 'today');
      expect(await cspViolations(page)).toEqual([]);
    }, 90_000);
  }
});

// ---- the manager dashboard ------------------------------------------------------------------------

describe('manager dashboard', () => {
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    context = await newContext(DESKTOP);
    page = await context.newPage();
    await signIn(page, 'manager', '/dashboard');
    await page.locator('#stats[data-state="ok"]').waitFor({ timeout: WAIT_MS });
  });

  it('shows a statistics failure instead of numbers, never the old numbers under a new period', async () => {
    expect(Number(await page.textContent('#kpi-passages'))).toBeGreaterThanOrEqual(4);
    expect(await page.textContent('#zone-label')).toContain('Asia/Shanghai UTC+8');
    await page.route('**/api/v1/stats/summary?**', (route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: '{"error":{"code":"unavailable","message":"busy"}}',
      }),
    );
    await page.selectOption('#period', '7d');
    await page.locator('#stats[data-state="failed"]').waitFor({ timeout: WAIT_MS });
    expect(await page.textContent('#kpi-passages')).toBe('–');
    expect(await page.textContent('#stats-status')).toContain('HTTP 503');
    expect(await page.textContent('#stats-window')).toBe('');
    await page.unroute('**/api/v1/stats/summary?**');
    await page.click('#stats-status .retry');
    await page.locator('#stats[data-state="ok"]').waitFor({ timeout: WAIT_MS });
    expect(Number(await page.textContent('#kpi-passages'))).toBeGreaterThanOrEqual(4);
  });

  it('refreshes statistics on its own; a failed refresh of the same window is marked stale', async () => {
    const wall = await context.newPage();
    await signIn(wall, 'manager', '/dashboard');
    await wall.goto(`${base}/dashboard?refresh=2`);
    await wall.locator('#stats[data-state="ok"]').waitFor({ timeout: WAIT_MS });
    const before = Number(await wall.textContent('#kpi-passages'));
    const event = await publishEntry('sunny-north', { personId: 'p-0002', result: 'granted', reason: 'ok' });
    await storedEvent('sunny-north', event.seq);
    await expect
      .poll(async () => Number(await wall.textContent('#kpi-passages')), { timeout: WAIT_MS })
      .toBe(before + 1);
    await wall.route('**/api/v1/stats/**', (route) => route.abort('connectionreset'));
    await wall.locator('#stats[data-state="stale"]').waitFor({ timeout: WAIT_MS });
    expect(Number(await wall.textContent('#kpi-passages'))).toBe(before + 1);
    expect(await wall.textContent('#stats-status')).toContain('figures are from');
    await wall.unroute('**/api/v1/stats/**');
    await wall.locator('#stats[data-state="ok"]').waitFor({ timeout: WAIT_MS });
    await wall.close();
  });

  it('shows per-gate statistics for a custom range and exports them as CSV', async () => {
    await page.selectOption('#period', 'custom');
    await page.locator('#custom-from-box').waitFor();
    await page.locator('#stats[data-state="ok"]').waitFor({ timeout: WAIT_MS });
    const today = new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);
    expect(await page.inputValue('#stats-to')).toBe(today);
    expect(await page.textContent('#stats-window')).toContain('Asia/Shanghai');
    const north = page.locator('#gate-stats tr[data-gate-id="sunny-north"]');
    await north.waitFor({ timeout: WAIT_MS });
    expect(Number(await north.locator('td').nth(1).textContent())).toBeGreaterThanOrEqual(3);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-stats')]);
    expect(download.suggestedFilename()).toMatch(/^gate-stats-sunny-garden-.*\.csv$/);
    const csv = await readFile((await download.path())!, 'utf8');
    expect(csv.split(/\r\n/)[0]).toBe('\uFEFFfrom,to,gate_id,gate_name,in,out,granted,denied,uptime');
    expect(csv).toContain('sunny-north');
    expect(csv).toContain('sunny-south');
    const [hourly] = await Promise.all([page.waitForEvent('download'), page.click('#export-hourly')]);
    expect(hourly.suggestedFilename()).toMatch(/^hourly-sunny-garden-.*\.csv$/);
    const hours = (await readFile((await hourly.path())!, 'utf8')).split(/\r\n/);
    expect(hours[0]).toBe('\uFEFFhour,in,out,granted,denied');
    // Hours are labelled in the compound's zone.
    expect(hours[1]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:00(:00)?\+08:00,/);
    await page.selectOption('#period', 'today');
    await page.locator('#stats[data-state="ok"]').waitFor({ timeout: WAIT_MS });
  });

  it('finds a person by masked name, household or phone tail with household members flagged, and traces them', async () => {
    await page.fill('#find-q', '张*明');
    await page.click('#find-form button[type=submit]');
    await page.locator('#find-rows tr[data-person-id="p-zhang"]').waitFor({ timeout: WAIT_MS });
    const order = await page
      .locator('#find-rows tr[data-person-id]')
      .evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-person-id'), r.getAttribute('data-matched-by')]));
    expect(order).toEqual([
      ['p-zhang', 'masked-name'],
      ['p-zhang-son', 'masked-name'],
      ['p-zhang-wife', 'household-member'],
    ]);
    // Never a full name on the page.
    expect(await page.textContent('#find-rows')).not.toContain('张三明');
    await page.fill('#find-q', '5678');
    await page.click('#find-form button[type=submit]');
    await page
      .locator('#find-rows tr[data-person-id="p-li"][data-matched-by="phone-tail"]')
      .waitFor({ timeout: WAIT_MS });
    await page.fill('#find-q', 'h-0101');
    await page.click('#find-form button[type=submit]');
    await expect.poll(() => page.locator('#find-rows tr[data-matched-by="household"]').count()).toBe(3);
    await page.locator('#find-rows tr[data-person-id="p-zhang"] button.trace-person').click();
    expect(await page.inputValue('#trace-person-id')).toBe('p-zhang');
    await page.fill('#trace-reason', '流调 2026-007 contact tracing');
    await page.click('#trace-submit');
    await page.locator('#trace-result:not([hidden])').waitFor({ timeout: WAIT_MS });
    const wife = page.locator('#trace-contacts tr[data-person-id="p-zhang-wife"]');
    await wife.waitFor({ timeout: WAIT_MS });
    expect(await wife.getAttribute('class')).toContain('household-member');
    expect(await wife.textContent()).toContain('Same household');
    expect(await page.textContent('#trace-person')).toContain('张*明');
    expect(await page.textContent('#trace-result')).not.toContain('张三明');
  });

  it('pages residents server-side and has a Trace button on each row', async () => {
    await page.locator('#residents-page', { hasText: '1–50 / 130' }).waitFor({ timeout: WAIT_MS });
    await page.click('#residents-next');
    await page.locator('#residents-page', { hasText: '51–100 / 130' }).waitFor({ timeout: WAIT_MS });
    await page.click('#residents-next');
    await page.locator('#residents-page', { hasText: '101–130 / 130' }).waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#residents-next').isDisabled()).toBe(true);
    await page.fill('#resident-search', 'p-li');
    await page.locator('#residents-page', { hasText: '1–1 / 1' }).waitFor({ timeout: WAIT_MS });
    await page.locator('#resident-rows tr[data-person-id="p-li"] button.trace-resident').click();
    expect(await page.inputValue('#trace-person-id')).toBe('p-li');
    await page.fill('#resident-search', '');
    await page.locator('#residents-page', { hasText: '1–50 / 130' }).waitFor({ timeout: WAIT_MS });
  });

  it('reveals a full identity only with a reason, audited, and clears it when the dialog closes', async () => {
    await page.fill('#resident-search', 'p-li');
    const row = page.locator('#resident-rows tr[data-person-id="p-li"]');
    await row.waitFor({ timeout: WAIT_MS });
    expect(await page.textContent('#residents')).not.toContain('李四');
    await row.locator('button.reveal-resident').click();
    await page.locator('#reveal-dialog[open]').waitFor();
    await page.click('#reveal-submit');
    expect(await page.locator('#reveal-result').isVisible()).toBe(false);
    await page.fill('#reveal-reason', '联系家属 call the family');
    await page.click('#reveal-submit');
    await page.locator('#reveal-result:not([hidden])').waitFor({ timeout: WAIT_MS });
    expect(await page.textContent('#reveal-name')).toBe('李四');
    expect(await page.textContent('#reveal-phone')).toBe('13900005678');
    const audit = await testCloud.cloud.core.store.listAudit({ action: 'identity.reveal', limit: 5 });
    expect(audit.entries[0]).toMatchObject({
      actor: 'manager',
      target: 'p-li',
      detail: { reason: '联系家属 call the family' },
    });
    await page.click('#reveal-close');
    expect(await page.evaluate(() => document.querySelector('body')?.textContent ?? '')).not.toContain('李四');
    await page.fill('#resident-search', '');
    await page.locator('#residents-page', { hasText: '1–50 / 130' }).waitFor({ timeout: WAIT_MS });
  });

  it('adds, edits, sets health, deactivates and deletes a resident', async () => {
    await page.click('#resident-add');
    await page.fill('#rf-name', '钱七');
    await page.fill('#rf-household', 'h-0909');
    await page.fill('#rf-phone', '13700009999');
    await page.click('#resident-save');
    await page.locator('#resident-dialog:not([open])').waitFor({ state: 'attached', timeout: WAIT_MS });
    await page.fill('#resident-search', '9999');
    const row = page.locator('#resident-rows tr[data-person-id]', { hasText: 'h-09' });
    await row.waitFor({ timeout: WAIT_MS });
    await page.locator('#residents-page', { hasText: '1–1 / 1' }).waitFor({ timeout: WAIT_MS });
    const personId = (await row.getAttribute('data-person-id'))!;
    expect(await row.textContent()).toContain('钱*');
    expect(await row.textContent()).not.toContain('钱七');

    await row.locator('button.edit-resident').click();
    expect(await page.inputValue('#rf-household')).toBe('h-0909');
    await page.fill('#rf-household', 'h-0910');
    await page.click('#resident-save');
    await expect.poll(() => row.textContent(), { timeout: WAIT_MS }).toContain('h-0910');
    expect((await testCloud.cloud.core.store.getResident(personId))?.name).toBe('钱七');

    await row.locator('select.health-select').selectOption('red');
    await row.locator('.health.red').waitFor({ timeout: WAIT_MS });
    expect((await testCloud.cloud.core.store.getResident(personId))?.health).toBe('red');

    await row.locator('button.toggle-resident').click();
    await page.click('#confirm-ok');
    await page
      .locator(`#resident-rows tr[data-person-id="${personId}"][data-active="false"]`)
      .waitFor({ timeout: WAIT_MS });
    expect((await testCloud.cloud.core.store.getResident(personId))?.active).toBe(false);

    await page.locator(`#resident-rows tr[data-person-id="${personId}"] button.delete-resident`).click();
    await page.click('#confirm-ok');
    await page.locator('#residents-page', { hasText: '0 / 0' }).waitFor({ timeout: WAIT_MS });
    expect(await testCloud.cloud.core.store.getResident(personId)).toBeUndefined();
    await page.fill('#resident-search', '');
  });

  it('offers the import template and column help, and explains import errors in Chinese and English', async () => {
    await page.locator('details.import-box summary').click();
    const [template] = await Promise.all([page.waitForEvent('download'), page.click('#template-link')]);
    expect(template.suggestedFilename()).toBe('residents-template.csv');
    expect((await readFile((await template.path())!, 'utf8')).split(/\r?\n/)[0]).toContain('name,idNumber,householdId');
    expect(await page.textContent('.column-help')).toContain('householdId');
    expect(await page.textContent('.column-help .compound-example')).toBe(COMPOUND);

    await page.setInputFiles('#resident-csv', {
      name: 'bad.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(`name,compoundId,idNumber,colour\n张三,${COMPOUND},110105194912310021,red\n`),
    });
    await page.click('#resident-import');
    await page.locator('#import-errors').waitFor({ timeout: WAIT_MS });
    const report = await page.textContent('#import-report');
    expect(report).toContain('未导入任何数据');
    expect(report).toContain('未知列「colour」');
    expect(report).toContain('unknown column');

    await page.setInputFiles('#resident-csv', {
      name: 'bad-id.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(`name,compoundId,idNumber\n张三,${COMPOUND},110105194912310021\n`),
    });
    await page.click('#resident-import');
    await page.locator('#import-report', { hasText: '身份证号无效（校验位错误）' }).waitFor({ timeout: WAIT_MS });
    expect(await page.textContent('#import-report')).toContain('not a valid ID number (check-character)');
  });

  it('lists the passes of a person and revokes one', async () => {
    await page.fill('#pass-person', 'p-zhang');
    await page.click('#pass-form button[type=submit]');
    const qr = page.locator('#pass-card:not([hidden]) img#pass-qr[src^="data:image/svg+xml"]');
    await qr.waitFor({ timeout: WAIT_MS });
    await expect
      .poll(() => qr.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth))
      .toBeGreaterThan(0);
    await page.selectOption('#pass-kind', 'visitor');
    await page.click('#pass-form button[type=submit]');
    await page.click('#pass-list-button');
    await expect.poll(() => page.locator('#person-passes tr[data-pass-id]').count(), { timeout: WAIT_MS }).toBe(2);
    const first = page.locator('#person-passes tr[data-pass-id]').first();
    const passId = (await first.getAttribute('data-pass-id'))!;
    await first.locator('button.revoke-pass').click();
    await page.click('#confirm-ok');
    await page
      .locator(`#person-passes tr[data-pass-id="${passId}"][data-state="revoked"]`)
      .waitFor({ timeout: WAIT_MS });
    expect((await testCloud.cloud.core.store.getPass(passId))?.revokedAt).not.toBeNull();
    await shot(page, 'dashboard-tools.png');
  });

  it('shows the audit log: who traced, opened and acknowledged, with their reasons', async () => {
    await page.click('#audit-form button[type=submit]');
    // Rows from an earlier load of the section (the phone-width traces) may still be on screen
    // until this answer replaces them: wait for this test's own rows, not for any trace row.
    await expect
      .poll(() => page.textContent('#audit-rows'), { timeout: WAIT_MS })
      .toContain('流调 2026-007 contact tracing');
    expect(await page.textContent('#audit-rows')).toContain('pass.revoke');
    await page.selectOption('#audit-action', 'alarm.ack');
    await page.click('#audit-form button[type=submit]');
    // The filtered answer replaces the whole list (the unfiltered one had alarm.ack rows too).
    await expect
      .poll(() => page.locator('#audit-rows tr:not([data-action="alarm.ack"])').count(), { timeout: WAIT_MS })
      .toBe(0);
    await page.locator('#audit-rows tr[data-action="alarm.ack"]').first().waitFor({ timeout: WAIT_MS });
    expect(await page.textContent('#audit-rows')).toContain('checked, false alarm');
    expect(await cspViolations(page)).toEqual([]);
  });

  it('says when the session has ended and returns the user where they were with what they typed', async () => {
    await page.goto(`${base}/dashboard#mode`);
    await page.locator('body[data-ready="true"]').waitFor({ timeout: WAIT_MS });
    await page.fill('#mode-reason', '台风预警 typhoon warning');
    await page.fill('#trace-reason', '流调 2026-008');
    await page.selectOption('#audit-action', 'mode.change');
    // The server ends the session (idle timeout, sign-out elsewhere): the next call answers 401.
    await page.route('**/api/v1/**', (route) =>
      route.fulfill({
        status: 401,
        contentType: 'application/json',
        body: '{"error":{"code":"unauthorized","message":"session ended"}}',
      }),
    );
    await Promise.all([page.waitForURL(`${base}/?expired=1`), page.click('#audit-form button[type=submit]')]);
    await page.unroute('**/api/v1/**');
    expect(await page.locator('#expired-note').isVisible()).toBe(true);
    expect(await page.textContent('#expired-note')).toContain('Your session has ended');
    expect(await page.locator('#kept-note').isVisible()).toBe(true);
    expect(await page.inputValue('#username')).toBe('manager');
    await page.fill('#password', TEST_PASSWORD);
    await Promise.all([page.waitForURL(`${base}/dashboard#mode`), page.click('#sign-in-form button[type=submit]')]);
    await page.locator('body[data-ready="true"]').waitFor({ timeout: WAIT_MS });
    expect(await page.inputValue('#mode-reason')).toBe('台风预警 typhoon warning');
    expect(await page.inputValue('#trace-reason')).toBe('流调 2026-008');
    expect(await page.inputValue('#audit-action')).toBe('mode.change');
    expect(await page.locator('#restored-note').isVisible()).toBe(true);
    expect(await cspViolations(page)).toEqual([]);
  });

  it('counts the idle timeout down on the page, stays on a touch, and signs out when it runs out', {
    timeout: 60_000,
  }, async () => {
    const idle = await context.newPage();
    await signIn(idle, 'guard', '/console');
    // A short idle timeout in this tab's session (the server's is 30 min). Its warning shows for the
    // last quarter (3 s): long enough for the key press below to land on a busy machine.
    await idle.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('anxin.session') ?? '{}');
      sessionStorage.setItem('anxin.session', JSON.stringify({ ...s, idleTimeoutMs: 12_000 }));
    });
    await idle.reload();
    await idle.locator('body[data-ready="true"]').waitFor({ timeout: WAIT_MS });
    await idle.locator('#idle-warning').waitFor({ timeout: 20_000 });
    expect(await idle.textContent('#idle-warning')).toContain('Signing out in');
    await idle.keyboard.press('Shift');
    // The touch kept the session: still on the console, the warning gone.
    expect(idle.url()).toBe(`${base}/console`);
    expect(await idle.locator('#idle-warning').count()).toBe(0);
    await idle.waitForURL(`${base}/?expired=1`, { timeout: 30_000 });
    expect(await idle.textContent('#expired-note')).toContain('without use');
    await idle.close();
  });

  it('sends a user whose token has expired in the tab to the sign-in page that says so', async () => {
    const other = await context.newPage();
    await other.goto(`${base}/`);
    await other.evaluate(() => {
      sessionStorage.setItem(
        'anxin.session',
        JSON.stringify({ token: 'x', role: 'guard', username: 'guard', expiresAt: Date.now() - 1000 }),
      );
    });
    await other.goto(`${base}/console`);
    await other.waitForURL(`${base}/?expired=1`);
    expect(await other.locator('#expired-note').isVisible()).toBe(true);
    await other.close();
  });
});

// ---- privacy across every page and every answer they read ---------------------------------------

describe('no full name or ID number reaches a page without an audited reveal', () => {
  it('in the console, the dashboard and every API answer they read; only the reveal answer holds them', async () => {
    const fullName = '欧阳明华';
    const idNumber = generateIdNumber(() => 0.37);
    await testCloud.cloud.core.registry.importResidents(
      [
        {
          personId: 'p-ouyang',
          name: fullName,
          idNumber,
          householdId: 'h-7777',
          phone: '13600007777',
          compoundId: COMPOUND,
          kind: 'resident' as const,
          cards: [],
          elderly: false,
          validFrom: null,
          validTo: null,
          row: 2,
        },
      ],
      ADMIN,
    );
    const answers: { url: string; body: string }[] = [];
    const record = (page: Page) =>
      page.on('response', async (response) => {
        const type = response.headers()['content-type'] ?? '';
        if (!response.url().includes('/api/v1/') || type.includes('event-stream')) return;
        answers.push({ url: response.url(), body: await response.text().catch(() => '') });
      });
    const leaks = (text: string) => text.includes(fullName) || text.includes(idNumber);

    const guard = await (await newContext(DESKTOP)).newPage();
    record(guard);
    await signIn(guard, 'guard', '/console');
    await guard.locator('#live-state[data-state="open"]').waitFor({ timeout: WAIT_MS });
    const event = await publishEntry('sunny-north', { personId: 'p-ouyang', result: 'granted', reason: 'ok' });
    const row = guard.locator(`#feed tr[data-gate="sunny-north"][data-seq="${event.seq}"]`);
    await row.waitFor({ timeout: WAIT_MS });
    expect(await row.locator('td.masked-name').textContent()).toBe('欧阳**');
    await storedEvent('sunny-north', event.seq);
    await guard.reload();
    await guard.locator(`#feed tr[data-gate="sunny-north"][data-seq="${event.seq}"]`).waitFor({ timeout: WAIT_MS });
    expect(leaks((await guard.textContent('body')) ?? '')).toBe(false);

    const manager = await (await newContext(DESKTOP)).newPage();
    record(manager);
    await signIn(manager, 'manager', '/dashboard');
    await manager.fill('#resident-search', 'h-7777');
    const resident = manager.locator('#resident-rows tr[data-person-id="p-ouyang"]');
    await resident.waitFor({ timeout: WAIT_MS });
    await manager.fill('#find-q', '7777');
    await manager.click('#find-form button[type=submit]');
    await manager.locator('#find-rows tr[data-person-id="p-ouyang"]').waitFor({ timeout: WAIT_MS });
    await manager.locator('#find-rows tr[data-person-id="p-ouyang"] button.trace-person').click();
    await manager.fill('#trace-reason', '流调 privacy check');
    await manager.click('#trace-submit');
    await manager.locator('#trace-result:not([hidden])').waitFor({ timeout: WAIT_MS });
    await manager.fill('#pass-person', 'p-ouyang');
    await manager.click('#pass-form button[type=submit]');
    await manager.locator('#pass-card:not([hidden])').waitFor({ timeout: WAIT_MS });
    await resident.locator('button.edit-resident').click();
    await manager.locator('#resident-dialog[open]').waitFor();
    expect(await manager.inputValue('#rf-name')).toBe('');
    expect(await manager.inputValue('#rf-id')).toBe('');
    await manager.click('#resident-cancel');
    await manager.click('#audit-form button[type=submit]');
    await manager.locator('#audit-rows tr[data-action]').first().waitFor({ timeout: WAIT_MS });
    expect(leaks((await manager.textContent('body')) ?? '')).toBe(false);
    expect(answers.length).toBeGreaterThan(10);
    expect(answers.filter((a) => leaks(a.body)).map((a) => a.url)).toEqual([]);

    // The reveal, with a reason: its answer alone holds the identity, and it is audited.
    await resident.locator('button.reveal-resident').click();
    await manager.fill('#reveal-reason', '核对身份 verify identity');
    await manager.click('#reveal-submit');
    await manager.locator('#reveal-result:not([hidden])').waitFor({ timeout: WAIT_MS });
    expect(await manager.textContent('#reveal-id')).toBe(idNumber);
    await expect.poll(() => answers.filter((a) => leaks(a.body)).length, { timeout: WAIT_MS }).toBe(1);
    expect(answers.find((a) => leaks(a.body))!.url).toMatch(/\/api\/v1\/residents\/p-ouyang\?/);
    const audit = await testCloud.cloud.core.store.listAudit({ action: 'identity.reveal', limit: 1 });
    expect(audit.entries[0]).toMatchObject({ actor: 'manager', target: 'p-ouyang' });
    await manager.click('#reveal-close');
    expect(leaks((await manager.textContent('body')) ?? '')).toBe(false);
  }, 60_000);
});
