/**
 * The web pages in a real browser against a real system on 127.0.0.1: the aedes broker, the
 * cloud (with statistics, tracing and the web pages) and one gate — an edge agent whose ID-card
 * reader, QR scanner and OSDP turnstile are device simulators on in-process virtual serial ports.
 * Debian's Chromium is driven by playwright-core; the suite fails (never skips) without it.
 *
 * Screenshots of the console, the dashboard and the gate terminal are written to
 * `test-results/web/` (copies are committed in docs/screenshots/).
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fullCloudExtensions } from '../../cloud/full-cloud.ts';
import type { Actor } from '../../cloud/registry/actor.ts';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { IdCardReaderSimulator } from '../../firmware-bridge/idreader/simulator.ts';
import { OsdpTurnstileSimulator } from '../../firmware-bridge/osdp/simulator.ts';
import { QrScannerSimulator } from '../../firmware-bridge/qr/simulator.ts';
import { createVirtualSerialPair, VirtualBinding } from '../../firmware-bridge/testing/virtual-binding.ts';
import type { HealthColour } from '../../shared/enums.ts';
import { generateIdNumber } from '../../shared/id-number.ts';
import { createKeysFile, parseKeysFile, publicOnly } from '../../shared/keys.ts';
import type { EntryEvent } from '../../shared/schemas/mqtt.ts';
import { signToken } from '../../shared/token.ts';
import { launchBrowser, requireChromium, type TestBrowser } from '../../testkit/browser.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, TEST_PASSWORD, type TestCloud } from '../../testkit/cloud.ts';
import { TEST_GUARD, TEST_GUARD_PIN } from '../../testkit/terminal-guard.ts';

const RESULTS_DIR = join(process.cwd(), 'test-results', 'web');
const COMPOUND = 'sunny-garden';
const GATE = 'sunny-north';
const ADMIN: Actor = { username: 'seed', role: 'admin' };
/** Generous bound for anything that crosses the system; the measured times are logged, not asserted. */
const WAIT_MS = 10_000;

interface Person {
  personId: string;
  name: string;
  masked: string;
  idNumber: string;
  health: HealthColour;
}

function seededRandom(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
}

const rand = seededRandom(20260105);
const person = (personId: string, name: string, masked: string, health: HealthColour): Person => ({
  personId,
  name,
  masked,
  health,
  idNumber: generateIdNumber(rand, { birthDate: '1980-03-14' }),
});
const GREEN = person('p-green', '张三明', '张*明', 'green');
const GREEN_TERMINAL = person('p-green-2', '刘七星', '刘*星', 'green');
const RED = person('p-red', '李四红', '李*红', 'red');
const UNKNOWN_BEFORE = person('p-unknown-1', '王五', '王*', 'unknown');
const UNKNOWN_AFTER = person('p-unknown-2', '赵六', '赵*', 'unknown');
const PEOPLE = [GREEN, GREEN_TERMINAL, RED, UNKNOWN_BEFORE, UNKNOWN_AFTER];

let workDir: string;
let broker: TestBroker;
let testCloud: TestCloud;
let base: string;
let agent: EdgeAgent;
let idSim: IdCardReaderSimulator;
let qrSim: QrScannerSimulator;
let turnstileSim: OsdpTurnstileSimulator;
let chrome: TestBrowser;
let browser: BrowserContext;

/** Lays the person's ID card on the gate's reader; resolves with the gate's journaled decision. */
/** Find-card commands the reader simulator had answered when the last card was lifted. */
let findsAtLift: number | undefined;
const finds = () => idSim.counters['2001'] ?? 0;

async function swipe(p: Person): Promise<EntryEvent> {
  // The driver reports one card per presentation: it must have seen the reader empty since the
  // last card (a few find cycles) before the same card laid again counts as a new swipe.
  if (findsAtLift !== undefined) {
    const lifted = findsAtLift;
    await vi.waitFor(() => expect(finds()).toBeGreaterThanOrEqual(lifted + 3), { timeout: WAIT_MS, interval: 20 });
  }
  const decided = new Promise<EntryEvent>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no decision for ${p.personId}`)), WAIT_MS);
    agent.on('decision', function onDecision(event) {
      if (event?.personId !== p.personId) return;
      clearTimeout(timer);
      agent.off('decision', onDecision);
      resolve(event);
    });
  });
  const born = p.idNumber.slice(6, 14);
  idSim.presentCard({
    name: p.name,
    sex: Number(p.idNumber[16]) % 2 === 1 ? 'male' : 'female',
    nationCode: '01',
    birthDate: `${born.slice(0, 4)}-${born.slice(4, 6)}-${born.slice(6, 8)}`,
    address: '上海市徐汇区阳光花园',
    idNumber: p.idNumber,
    authority: '上海市公安局徐汇分局',
    validFrom: '2016-05-01',
    validTo: '2036-05-01',
  });
  try {
    return await decided;
  } finally {
    idSim.removeCard();
    findsAtLift = finds();
  }
}

async function signIn(page: Page, username: string, landing: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.fill('#username', username);
  await page.fill('#password', TEST_PASSWORD);
  await Promise.all([page.waitForURL(`${base}${landing}`), page.click('#sign-in-form button[type=submit]')]);
}

beforeAll(async () => {
  requireChromium(); // before the system is stood up: a missing browser fails at once
  workDir = await mkdtemp(join(tmpdir(), 'anxin-web-'));
  await mkdir(RESULTS_DIR, { recursive: true });
  const keysFile = createKeysFile();
  const keys = parseKeysFile(keysFile);

  broker = await startTestBroker({ ring: keys.ring });
  testCloud = await startTestCloud({ keysFile, mqttUrl: broker.url, ...fullCloudExtensions({ keysFile }) });
  base = testCloud.baseUrl;

  const { registry, store } = testCloud.cloud.core;
  await registry.createCompound({ id: COMPOUND, name: '阳光花园 Sunny Garden', timeZone: 'Asia/Shanghai' }, ADMIN);
  await registry.registerGate({ id: GATE, compoundId: COMPOUND, name: '北门 North gate', antiPassback: false }, ADMIN);
  await registry.registerGate(
    { id: 'sunny-south', compoundId: COMPOUND, name: '南门 South gate', antiPassback: false },
    ADMIN,
  );
  await testCloud.addUser('guard', 'guard', COMPOUND);
  for (const [i, p] of PEOPLE.entries()) {
    await registry.createResident(
      {
        personId: p.personId,
        compoundId: COMPOUND,
        householdId: `h-${i + 1}`,
        kind: 'resident',
        name: p.name,
        idNumber: p.idNumber,
        cards: [],
        elderly: false,
        validFrom: null,
        validTo: null,
      },
      ADMIN,
    );
  }
  await registry.updateHealth(
    PEOPLE.filter((p) => p.health !== 'unknown').map((p) => ({
      personId: p.personId,
      colour: p.health,
      ts: Date.now(),
    })),
    ADMIN,
  );

  const idPorts = createVirtualSerialPair(`web-${process.pid}-idreader`);
  const qrPorts = createVirtualSerialPair(`web-${process.pid}-qr`);
  const turnstilePorts = createVirtualSerialPair(`web-${process.pid}-turnstile`);
  idSim = new IdCardReaderSimulator({ path: idPorts.b, baudRate: 115200, binding: VirtualBinding });
  qrSim = new QrScannerSimulator({ path: qrPorts.b, baudRate: 9600, suffix: 'cr', binding: VirtualBinding });
  turnstileSim = new OsdpTurnstileSimulator({
    path: turnstilePorts.b,
    baudRate: 115200,
    binding: VirtualBinding,
    passDelayMs: 100,
  });
  await Promise.all([idSim.start(), qrSim.start(), turnstileSim.start()]);
  const gateToken = signToken(
    // A year, as `anxin gate add` issues: a token near its end puts a token-expiring alarm on the console.
    { sub: GATE, role: 'gate', compound: COMPOUND, exp: Date.now() + 365 * 86_400_000 },
    keys.signing!,
  );
  agent = createEdgeAgent(
    parseEdgeConfig({
      gateId: GATE,
      compoundId: COMPOUND,
      mqtt: { url: broker.url, token: gateToken, reconnectMs: 200 },
      keys: publicOnly(keysFile),
      dataDir: join(workDir, 'gate'),
      http: { port: 0, host: '127.0.0.1' },
      terminal: { guards: [TEST_GUARD] },
      binding: 'virtual',
      devices: {
        idreader: { path: idPorts.a, baudRate: 115200, direction: 'in', pollIntervalMs: 300 },
        qr: { path: qrPorts.a, baudRate: 9600, direction: 'in' },
        turnstile: { path: turnstilePorts.a, baudRate: 115200 },
      },
      journal: { synchronous: 'normal' },
    }),
    { binding: VirtualBinding },
  );
  await agent.start();
  // The gate decides from its replica: wait until it holds everything the cloud seeded.
  const rev = (await store.getCompound(COMPOUND))!.rev;
  await vi.waitFor(
    () => {
      const state = agent.state();
      expect(state.rev).toBeGreaterThanOrEqual(rev);
      expect(state.online).toBe(true);
    },
    { timeout: WAIT_MS, interval: 50 },
  );

  chrome = await launchBrowser();
  browser = await chrome.newContext({
    acceptDownloads: true,
    viewport: { width: 1440, height: 900 },
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
  });
}, 60_000);

afterEach(() => chrome.expectNoPageFaults());

afterAll(async () => {
  await chrome?.close();
  await agent?.stop();
  await Promise.allSettled([idSim?.stop(), qrSim?.stop(), turnstileSim?.stop()]);
  await testCloud?.stop();
  await broker?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 30_000);

describe('web pages against a running system', () => {
  let consolePage: Page;
  let dashboardPage: Page;

  it('signs a guard in and shows a passage made at the gate on the console within the wait', async () => {
    consolePage = await browser.newPage();
    await signIn(consolePage, 'guard', '/console');
    await consolePage.locator(`.gate[data-gate-id="${GATE}"][data-online="true"]`).waitFor({ timeout: WAIT_MS });
    await consolePage.locator('#live-state[data-state="open"]').waitFor({ timeout: WAIT_MS });
    expect(await consolePage.locator('.gate').count()).toBe(2);

    const started = performance.now();
    const event = await swipe(GREEN);
    expect(event).toMatchObject({ result: 'granted', reason: 'ok', method: 'idcard' });
    const row = consolePage.locator('#feed tr', { hasText: GREEN.masked }).first();
    await row.waitFor({ timeout: WAIT_MS });
    const elapsed = performance.now() - started;
    console.log(`[web] ID-card swipe → row on the guard console: ${elapsed.toFixed(0)} ms`);
    await expect.poll(() => row.textContent()).toContain('身份证');
    expect(await row.getAttribute('class')).toContain('granted');
    expect(await row.locator('.health').getAttribute('class')).toContain('green');
  });

  it('reconnects its live stream by itself and shows the passages made while it was down', async () => {
    const rows = consolePage.locator('#feed tr', { hasText: GREEN.masked });
    const before = await rows.count();
    // The stream is cut (the cloud ends it) and every reconnect fails until the route is lifted.
    await consolePage.route('**/api/v1/live**', (route) => route.abort());
    testCloud.cloud.core.live.shutdown();
    await consolePage.locator('#live-state:not([data-state="open"])').waitFor({ timeout: WAIT_MS });
    const event = await swipe(GREEN);
    await vi.waitFor(
      async () => {
        const { events } = await testCloud.cloud.core.store.queryEvents({ gateId: GATE, limit: 10 });
        expect(events.some((e) => e.seq === event.seq)).toBe(true);
      },
      { timeout: WAIT_MS, interval: 50 },
    );
    expect(await rows.count()).toBe(before);
    await consolePage.unroute('**/api/v1/live**');
    await consolePage.locator('#live-state[data-state="open"]').waitFor({ timeout: 30_000 });
    await expect.poll(() => rows.count(), { timeout: WAIT_MS }).toBe(before + 1);
    expect(await rows.first().getAttribute('data-seq')).toBe(String(event.seq));
  }, 60_000);

  it('keeps an alarm until a guard acknowledges it, persisted across a reload', async () => {
    turnstileSim.forcePassage('in');
    const alarm = consolePage.locator('#alarms .alarm').first();
    await alarm.waitFor({ timeout: WAIT_MS });
    expect(await alarm.textContent()).toContain('强行通过');
    // A forced passage: the console screenshot shows the alarm waiting.
    await swipe(UNKNOWN_BEFORE).then((e) => expect(e).toMatchObject({ result: 'granted', health: 'unknown' }));
    await consolePage.locator('#feed tr', { hasText: UNKNOWN_BEFORE.masked }).first().waitFor({ timeout: WAIT_MS });
    await consolePage.screenshot({ path: join(RESULTS_DIR, 'console.png'), fullPage: true, animations: 'disabled' });

    const alarmId = Number(await alarm.getAttribute('data-alarm-id'));
    await alarm.locator('button.ack').click();
    await consolePage.fill('#ack-note', '已查看 checked');
    await consolePage.click('#ack-submit');
    await consolePage.locator(`[data-alarm-id="${alarmId}"]`).waitFor({ state: 'detached', timeout: WAIT_MS });
    await consolePage.reload();
    await consolePage.locator('#live-state[data-state="open"]').waitFor({ timeout: WAIT_MS });
    expect(await consolePage.locator(`[data-alarm-id="${alarmId}"]`).count()).toBe(0);
    const { engine } = testCloud.cloud.core.store;
    if (engine.kind !== 'sqlite') throw new Error('this suite runs on SQLite');
    const stored = await engine.db.prepare('SELECT acked_by FROM alarm_acks WHERE alarm_id = ?').get(alarmId);
    expect(stored).toEqual({ acked_by: 'guard' });
  });

  it('opens a gate remotely only with a reason', async () => {
    await consolePage.locator(`.gate[data-gate-id="${GATE}"] button.open-gate`).click();
    await consolePage.fill('#open-reason', '送药上门 medicine delivery');
    await consolePage.click('#open-submit');
    await consolePage
      .locator(`.gate[data-gate-id="${GATE}"]`, { hasText: 'Open command sent' })
      .waitFor({ timeout: WAIT_MS });
    const audit = await testCloud.cloud.core.store.listAudit({ action: 'gate.open', limit: 5 });
    expect(audit.entries[0]).toMatchObject({ actor: 'guard', target: GATE });
  });

  it('shows the manager statistics and switches the compound to lockdown, which changes the gate decision', async () => {
    dashboardPage = await browser.newPage();
    await signIn(dashboardPage, 'manager', '/dashboard');
    await dashboardPage.locator('body[data-ready="true"]').waitFor({ timeout: WAIT_MS });
    await expect.poll(async () => Number(await dashboardPage.textContent('#kpi-passages'))).toBeGreaterThanOrEqual(2);
    expect(await dashboardPage.locator('#hourly-chart svg rect.bar-in').count()).toBeGreaterThan(0);
    expect(await dashboardPage.textContent('#method-split')).toContain('身份证');

    await dashboardPage.selectOption('#mode-select', 'lockdown');
    await dashboardPage.fill('#mode-reason', '发现密接 close contact found');
    await dashboardPage.click('#mode-form button[type=submit]');
    await dashboardPage.locator('#mode-dialog[open]').waitFor();
    await dashboardPage.click('#mode-confirm');
    await dashboardPage.locator('#mode-current[data-mode="lockdown"]').waitFor({ timeout: WAIT_MS });

    await vi.waitFor(() => expect(agent.state().mode).toBe('lockdown'), { timeout: WAIT_MS, interval: 50 });
    const event = await swipe(UNKNOWN_AFTER);
    expect(event).toMatchObject({ result: 'denied', reason: 'health-unknown', mode: 'lockdown' });
    const row = consolePage.locator('#feed tr', { hasText: UNKNOWN_AFTER.masked }).first();
    await row.waitFor({ timeout: WAIT_MS });
    expect(await row.textContent()).toContain('无健康码信息');
  });

  it('traces a person found by masked name and downloads the contacts as CSV', async () => {
    await dashboardPage.fill('#find-q', GREEN.masked);
    await dashboardPage.click('#find-form button[type=submit]');
    const match = dashboardPage.locator(`#find-rows tr[data-person-id="${GREEN.personId}"]`);
    await match.waitFor({ timeout: WAIT_MS });
    await match.locator('button.trace-person').click();
    await dashboardPage.fill('#trace-reason', '流调 2026-001 contact tracing');
    await dashboardPage.click('#trace-submit');
    await dashboardPage.locator('#trace-result:not([hidden])').waitFor({ timeout: WAIT_MS });
    expect(await dashboardPage.locator('#trace-timeline tr').count()).toBeGreaterThanOrEqual(1);
    await dashboardPage
      .locator(`#trace-contacts tr[data-person-id="${UNKNOWN_BEFORE.personId}"]`)
      .waitFor({ timeout: WAIT_MS });

    // Issue a QR pass for the traced person and show it (the SVG from /passes/:id/qr.svg).
    await dashboardPage.fill('#pass-person', GREEN.personId);
    await dashboardPage.click('#pass-form button[type=submit]');
    const qr = dashboardPage.locator('#pass-card:not([hidden]) img#pass-qr[src^="data:image/svg+xml"]');
    await qr.waitFor({ timeout: WAIT_MS });
    await expect
      .poll(() => qr.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth))
      .toBeGreaterThan(0);
    await dashboardPage.screenshot({
      path: join(RESULTS_DIR, 'dashboard.png'),
      fullPage: true,
      animations: 'disabled',
    });

    const [download] = await Promise.all([
      dashboardPage.waitForEvent('download', { timeout: WAIT_MS }),
      dashboardPage.click('#export-contacts'),
    ]);
    expect(download.suggestedFilename()).toMatch(/^contacts-p-green-.*\.csv$/);
    const csv = await readFile((await download.path())!, 'utf8');
    expect(csv.split(/\r?\n/)[0]).toContain('person_id');
    expect(csv).toContain(UNKNOWN_BEFORE.personId);

    const audit = await testCloud.cloud.core.store.listAudit({ action: 'trace.contacts', limit: 5 });
    expect(audit.entries[0]).toMatchObject({
      actor: 'manager',
      target: GREEN.personId,
      detail: { reason: '流调 2026-001 contact tracing' },
    });
  });

  it('shows green on the gate terminal for a green resident and red for a red one', async () => {
    const terminal = await browser.newPage();
    await terminal.goto(agent.terminalUrl!);
    const lane = terminal.locator('.lane[data-lane="in"]');
    await swipe(GREEN_TERMINAL);
    await terminal.locator('.lane[data-lane="in"].green').waitFor({ timeout: WAIT_MS });
    expect(await lane.locator('.name').textContent()).toContain(GREEN_TERMINAL.masked);
    const red = await swipe(RED);
    expect(red).toMatchObject({ result: 'denied', reason: 'health-red' });
    // Shown once the green result has been held for its minimum time.
    await terminal.locator('.lane[data-lane="in"].red').waitFor({ timeout: WAIT_MS });
    expect(await lane.textContent()).toContain('红码');
    expect(await lane.locator('.next-zh').textContent()).toContain('居委会');
    await terminal.screenshot({ path: join(RESULTS_DIR, 'terminal.png'), animations: 'disabled' });
    await terminal.close();

    // The guard panel (signed in with the gate's guard PIN): its clock line (docs/security.md
    // "Clock") gives the source, and the skew once an ack came.
    const panel = await browser.newPage();
    await panel.goto(`${agent.terminalUrl!}/guard`);
    await panel.fill('#sign-in input[name=guardId]', TEST_GUARD.id);
    await panel.fill('#sign-in input[name=pin]', TEST_GUARD_PIN);
    await panel.click('#sign-in button[type=submit]');
    await panel.locator('#panel-view:not([hidden])').waitFor({ timeout: WAIT_MS });
    await panel.locator('#clock:not(:has-text("…"))').waitFor({ timeout: WAIT_MS });
    expect(await panel.textContent('#clock')).toMatch(/本机时钟 own clock|偏差 skew/);
    await panel.close();
  });

  // Last: it takes the broker away from everything above.
  it('shows the offline banner on the gate terminal when the gate loses its broker, and still decides', async () => {
    const terminal = await browser.newPage();
    await terminal.goto(agent.terminalUrl!);
    await terminal.locator('#offline:not(.on)').waitFor({ state: 'attached', timeout: WAIT_MS });
    await broker.stop();
    await terminal.locator('#offline.on').waitFor({ timeout: WAIT_MS });
    expect(await terminal.locator('#offline').isVisible()).toBe(true);
    expect(await terminal.textContent('#offline')).toContain('Offline');
    // The gate still decides on its own while offline (docs/architecture.md rule 1).
    const red = await swipe(RED);
    expect(red).toMatchObject({ result: 'denied', reason: 'health-red' });
    await terminal.close();
  });
});
