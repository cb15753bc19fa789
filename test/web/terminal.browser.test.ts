/**
 * The gate terminal's pages in headless Chromium, over the real terminal app on
 * 127.0.0.1 (routes, SSE, CSP, cookies): every reason code's colour, icon and words; the minimum
 * hold and the return to idle, under Chromium's fake clock; the portrait kiosk and landscape
 * layouts; the guard panel behind its sign-in; a DNS-rebinding page refused by its Host.
 *
 * The backend is a small stand-in that emits the scans an edge agent would (the agent's own side
 * — decision colours, the turnstile fault — is tested over a real agent in the last test here and
 * in test/edge-agent/).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HEALTH_TEXT, REASON_TEXT, TONE_COLOUR, TONE_ICON } from '../../edge-agent/reason-text.ts';
import { GuardSessions } from '../../edge-agent/terminal/guard-session.ts';
import { createTerminalApp } from '../../edge-agent/terminal/terminal-app.ts';
import type {
  ManualOpenRequest,
  TerminalBackend,
  TerminalScan,
  TerminalState,
  TerminalUpdate,
} from '../../edge-agent/terminal/terminal-state.ts';
import { type Direction, type HealthColour, REASONS, type Reason } from '../../shared/enums.ts';
import { silentLogger } from '../../shared/log.ts';
import { launchBrowser, type TestBrowser } from '../../testkit/browser.ts';
import { TEST_GUARD, TEST_GUARD_PIN } from '../../testkit/terminal-guard.ts';

const RESULTS_DIR = join(process.cwd(), 'test-results', 'web');
const WAIT_MS = 10_000;
const HOLD_MS = 3_000;
const CLEAR_MS = 8_000;
const T0 = Date.UTC(2026, 0, 5, 2, 0, 0);

/** What an edge agent would say: scans pushed by the test, manual opens recorded. */
class StandInBackend implements TerminalBackend {
  readonly listeners = new Set<(update: TerminalUpdate) => void>();
  readonly opens: ManualOpenRequest[] = [];
  scans: TerminalScan[] = [];
  devices: TerminalState['devices'] = { idreader: 'ok', qr: 'ok', turnstile: 'ok' };
  private key = 0;

  state(): TerminalState {
    return {
      gateId: 'north-in',
      compoundId: 'sunny-garden',
      mode: 'normal',
      rev: 7,
      online: true,
      stale: false,
      fire: false,
      journalDepth: 0,
      journalFull: false,
      devices: this.devices,
      health: 'ok',
      problems: [],
      eventLoopP99Ms: 1,
      lastScans: [...this.scans],
      alarms: [],
    };
  }

  subscribe(listener: (update: TerminalUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  manualOpen(request: ManualOpenRequest): { seq: number | null } {
    this.opens.push(request);
    return { seq: this.opens.length };
  }

  scan(reason: Reason, over: Partial<TerminalScan> = {}): TerminalScan {
    const text = REASON_TEXT[reason];
    const granted = text.tone === 'grant';
    const scan: TerminalScan = {
      key: ++this.key,
      seq: this.key,
      ts: over.ts ?? T0,
      direction: 'in',
      method: 'qr',
      result: granted ? 'granted' : 'denied',
      reason,
      health: 'green',
      ...text,
      colour: TONE_COLOUR[text.tone],
      icon: TONE_ICON[text.tone],
      maskedName: '张*明',
      passed: null,
      waiting: false,
      ...over,
    };
    this.scans.unshift(scan);
    for (const listener of this.listeners) listener({ type: 'scan', scan });
    return scan;
  }
}

let backend: StandInBackend;
let server: ServerType;
let base: string;
let port: number;
let chrome: TestBrowser;
let browser: BrowserContext;

function startApp(lanes: Direction[] = ['in']): Promise<void> {
  backend = new StandInBackend();
  const sessions = new GuardSessions({ guards: [TEST_GUARD], idleMs: 600_000, maxMs: 3_600_000, logger: silentLogger });
  const app = createTerminalApp({
    backend,
    sessions,
    screen: { lanes, holdMs: HOLD_MS, clearMs: CLEAR_MS },
    listenHost: '127.0.0.1',
    now: () => T0,
    health: () => ({ status: 'ok' }),
    metrics: () => '',
  });
  return new Promise((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      port = info.port;
      base = `http://127.0.0.1:${port}`;
      resolve();
    });
  });
}

async function stopApp(): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    if ('closeAllConnections' in server) server.closeAllConnections();
  });
}

/** The result screen with Chromium's clock installed and paused: timers run only when told. */
async function openScreen(viewport = { width: 1280, height: 800 }): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewportSize(viewport);
  // Paused before the page loads: on a loaded machine the page may take longer than any offset.
  await page.clock.install({ time: T0 });
  await page.clock.pauseAt(T0 + 1_000);
  await page.goto(`${base}/`);
  // The page script marks the body once the stream's snapshot arrived: from then on it gets every result.
  await page.locator('body[data-stream="open"]').waitFor({ state: 'attached', timeout: WAIT_MS });
  return page;
}

const lane = (page: Page, name: Direction = 'in') => page.locator(`.lane[data-lane="${name}"]`);

beforeAll(async () => {
  await mkdir(RESULTS_DIR, { recursive: true });
  // A DNS-rebinding attacker's name, resolved to the gate's address.
  chrome = await launchBrowser({ extraArgs: ['--host-resolver-rules=MAP attacker.example 127.0.0.1'] });
  browser = await chrome.newContext({ locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
}, 60_000);

afterEach(() => chrome.expectNoPageFaults());

afterAll(async () => {
  await chrome?.close();
});

describe('the public result screen', () => {
  beforeEach(async () => {
    await startApp();
    return stopApp;
  });

  it('shows every reason code in the colour of the decision, with its icon, words and next step', async () => {
    const page = await openScreen();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    for (const reason of REASONS) {
      // Whatever the health code — a red-code person granted by the guard, a green one refused.
      const health: HealthColour = REASON_TEXT[reason].tone === 'grant' ? 'red' : 'green';
      backend.scan(reason, { health });
      const shown = lane(page);
      await page.locator(`.lane[data-lane="in"][data-reason="${reason}"]`).waitFor({ timeout: WAIT_MS });
      const text = REASON_TEXT[reason];
      const expected = TONE_COLOUR[text.tone];
      expect(await shown.getAttribute('class'), reason).toBe(`lane ${expected}`);
      expect(await shown.locator('.icon').textContent(), reason).toBe(TONE_ICON[text.tone]);
      expect(await shown.locator('.zh').textContent(), reason).toBe(text.zh);
      expect(await shown.locator('.en').textContent(), reason).toBe(text.en);
      expect(await shown.locator('.next-zh').textContent(), reason).toBe(text.nextZh);
      expect(await shown.locator('.next-en').textContent(), reason).toBe(text.nextEn);
      expect(await shown.locator('.health-text').textContent(), reason).toContain(HEALTH_TEXT[health].zh);
      // The colour a person sees: green only for a grant.
      const background = await shown.evaluate(
        (el) =>
          (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el)
            .backgroundColor,
      );
      const green = background === 'rgb(27, 127, 55)';
      expect(green, `${reason}: ${background}`).toBe(text.tone === 'grant');
      await page.clock.runFor(HOLD_MS);
    }
    expect(errors).toEqual([]);
  });

  it('holds each result at least 3 s, queues the next ones, and returns to idle after 8 s', async () => {
    const page = await openScreen();
    const shownReason = () => lane(page).getAttribute('data-reason');
    backend.scan('health-red');
    await page.locator('.lane[data-reason="health-red"]').waitFor({ timeout: WAIT_MS });
    // Two more people right behind: neither replaces the first before its time.
    backend.scan('ok');
    backend.scan('pass-expired');
    await page.locator('.lane[data-lane="in"][data-queued="2"]').waitFor({ timeout: WAIT_MS });
    await page.clock.runFor(HOLD_MS - 100);
    expect(await shownReason()).toBe('health-red');
    await page.clock.runFor(200);
    expect(await shownReason()).toBe('ok');
    await page.clock.runFor(HOLD_MS - 200);
    expect(await shownReason()).toBe('ok');
    await page.clock.runFor(200);
    expect(await shownReason()).toBe('pass-expired');
    // The last one stays until 8 s after it was shown, then the idle screen.
    await page.clock.runFor(CLEAR_MS - 200);
    expect(await shownReason()).toBe('pass-expired');
    await page.clock.runFor(300);
    expect(await lane(page).getAttribute('data-state')).toBe('idle');
    expect(await lane(page).locator('.zh').textContent()).toBe('请刷码或刷身份证');
    expect(await lane(page).locator('.en').textContent()).toBe('Scan your pass or ID card');
    expect(await lane(page).locator('.name').textContent()).toBe('');
  });

  it('updates a held result in place (waiting → passed) without restarting its time', async () => {
    const page = await openScreen();
    const scan = backend.scan('ok', { waiting: true });
    await page.locator('.lane[data-reason="ok"]').waitFor({ timeout: WAIT_MS });
    expect(await lane(page).locator('.when').textContent()).toContain('请通过');
    await page.clock.runFor(2_000);
    backend.scan('ok', { key: scan.key, waiting: false, passed: true });
    await page.locator('.lane .when:has-text("已通过")').waitFor({ timeout: WAIT_MS });
    await page.clock.runFor(CLEAR_MS - 2_000 + 100);
    expect(await lane(page).getAttribute('data-state')).toBe('idle');
  });

  it('fills a portrait kiosk (800×1280) and a landscape screen', async () => {
    const portrait = await openScreen({ width: 800, height: 1280 });
    backend.scan('health-red');
    await portrait.locator('.lane[data-reason="health-red"]').waitFor({ timeout: WAIT_MS });
    const box = (await lane(portrait).boundingBox())!;
    expect(box.width).toBeGreaterThanOrEqual(790);
    expect(box.height).toBeGreaterThan(1280 * 0.8);
    const icon = (await lane(portrait).locator('.icon').boundingBox())!;
    expect(icon.height).toBeGreaterThan(150);
    await portrait.screenshot({ path: join(RESULTS_DIR, 'terminal-portrait.png'), animations: 'disabled' });

    const landscape = await openScreen({ width: 1280, height: 800 });
    await landscape.locator('.lane[data-reason="health-red"]').waitFor({ timeout: WAIT_MS });
    const wide = (await lane(landscape).boundingBox())!;
    expect(wide.width).toBeGreaterThan(1270);
    expect(wide.height).toBeGreaterThan(800 * 0.8);
    await landscape.screenshot({ path: join(RESULTS_DIR, 'terminal-landscape.png'), animations: 'disabled' });
  });
});

describe('two lanes', () => {
  beforeEach(async () => {
    await startApp(['in', 'out']);
    return stopApp;
  });

  it('queues per lane: a result going out does not wait for one coming in', async () => {
    const page = await openScreen({ width: 800, height: 1280 });
    backend.scan('health-red', { direction: 'in' });
    backend.scan('ok', { direction: 'out' });
    await page.locator('.lane[data-lane="in"][data-reason="health-red"]').waitFor({ timeout: WAIT_MS });
    await page.locator('.lane[data-lane="out"][data-reason="ok"]').waitFor({ timeout: WAIT_MS });
    const inBox = (await lane(page, 'in').boundingBox())!;
    const outBox = (await lane(page, 'out').boundingBox())!;
    // Portrait: stacked, each the full width.
    expect(outBox.y).toBeGreaterThanOrEqual(inBox.y + inBox.height - 1);
    expect(inBox.width).toBeGreaterThanOrEqual(790);
    await page.screenshot({ path: join(RESULTS_DIR, 'terminal-two-lanes.png'), animations: 'disabled' });
  });
});

describe('the guard panel and the Host check', () => {
  beforeEach(async () => {
    await startApp();
    return stopApp;
  });

  it('needs a guard sign-in, takes the name from it, and sends the reason', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/guard`);
    await page.locator('#sign-in-view:not([hidden])').waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#panel-view').isHidden()).toBe(true);
    // The panel's data is not reachable without a session, from the page's own origin either.
    const status = await page.evaluate(async () => (await fetch('/api/state')).status);
    expect(status).toBe(401);
    const open = await page.evaluate(
      async () =>
        (
          await fetch('/api/open', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ direction: 'in', reason: 'no session' }),
          })
        ).status,
    );
    expect(open).toBe(401);
    expect(backend.opens).toEqual([]);

    await page.fill('#sign-in input[name=guardId]', TEST_GUARD.id);
    await page.fill('#sign-in input[name=pin]', '999999');
    await page.click('#sign-in button[type=submit]');
    await page.locator('#sign-in-result:has-text("错误")').waitFor({ timeout: WAIT_MS });

    await page.fill('#sign-in input[name=pin]', TEST_GUARD_PIN);
    await page.click('#sign-in button[type=submit]');
    await page.locator('#panel-view:not([hidden])').waitFor({ timeout: WAIT_MS });
    expect(await page.textContent('#who')).toContain(TEST_GUARD.name);
    backend.scan('health-red');
    await page.locator('#scans tr').first().waitFor({ timeout: WAIT_MS });
    expect(await page.textContent('#scans')).toContain('红码');

    await page.selectOption('#open select[name=direction]', 'out');
    await page.fill('#open input[name=reason]', '救护车 ambulance');
    await page.click('#open button[type=submit]');
    await page.locator('#open-result:has-text("已放行")').waitFor({ timeout: WAIT_MS });
    expect(backend.opens).toEqual([{ direction: 'out', reason: '救护车 ambulance', guard: TEST_GUARD.name }]);
    // The public screen page carries none of this.
    const screen = await browser.newPage();
    await screen.goto(`${base}/`);
    expect(await screen.locator('#open, #scans, #alarms, input').count()).toBe(0);

    await page.click('#sign-out');
    await page.locator('#sign-in-view:not([hidden])').waitFor({ timeout: WAIT_MS });
    expect(await page.evaluate(async () => (await fetch('/api/state')).status)).toBe(401);
  });

  it('refuses a page reached through a foreign host name (DNS rebinding), and its POSTs', async () => {
    const page = await browser.newPage();
    const response = await page.goto(`http://attacker.example:${port}/guard`);
    expect(response?.status()).toBe(421);
    const posted = await page.evaluate(
      async () =>
        (
          await fetch('/api/open', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ direction: 'in', reason: 'rebinding' }),
          })
        ).status,
    );
    expect(posted).toBe(421);
    expect(backend.opens).toEqual([]);
  });
});
