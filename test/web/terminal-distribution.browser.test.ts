/**
 * A gate terminal becoming a supply distribution point, in Debian's Chromium over a real edge agent
 * (SQLite replica, claim journal, terminal app on 127.0.0.1; cut off from any cloud, so it decides
 * from its replica; docs/supplies.md): the guard signs in with id and PIN at `/guard` and switches
 * the role in lockdown with a reason — audited at the gate, in the status for the cloud — the public
 * screen then says it is a distribution point with the running round and asks for a swipe to
 * collect; an ID card shows the household's allocation item by item in green, a second member of
 * the household is refused in red (never green) without the items, and the turnstile never opens;
 * a guard's claim at the panel for a member without a card is green once, then refused (409) and
 * red with its words on the panel and the screen; switching back restores the passage screen. A gate in normal mode refuses the switch (409, audited)
 * and its panel says why; a guard's claim there is refused `not-a-distribution-point` (409), in red
 * on the panel. No CSP violation. Fails (never skips) without Chromium.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { RoundRecord } from '../../shared/schemas/supply.ts';
import { launchBrowser, type TestBrowser } from '../../testkit/browser.ts';
import { COMPOUND, GATE, HOUR, ID_NUMBERS, idHashOf, NOW, person } from '../edge-agent/fixtures.ts';
import { type OfflineGate, startOfflineGate } from '../edge-agent/offline-gate.ts';
import { guardCookie, TEST_GUARD, TEST_GUARD_PIN } from '../../testkit/terminal-guard.ts';

const RESULTS_DIR = join(process.cwd(), 'test-results', 'web');
const WAIT_MS = 15_000;

const ROUND: RoundRecord = {
  roundId: 'r-1',
  compoundId: COMPOUND,
  name: '第一轮 蔬菜包',
  items: [
    { name: '大米', unit: 'kg', perHousehold: 5 },
    { name: '食用油', unit: 'L', perHousehold: 1 },
  ],
  form: 'pickup',
  window: { from: NOW - HOUR, to: NOW + 6 * HOUR },
  eligibility: 'all',
  status: 'open',
};

function changes(mode: 'lockdown' | 'normal'): Change[] {
  return [
    { op: 'person.upsert', person: person('alice', { idHash: idHashOf(ID_NUMBERS.alice), householdId: 'h1' }) },
    {
      op: 'person.upsert',
      person: person('bob', { idHash: idHashOf(ID_NUMBERS.bob), householdId: 'h1', maskedName: '李*' }),
    },
    // A member without a card or pass: only a guard can claim for her household.
    { op: 'person.upsert', person: person('dan', { householdId: 'h2', maskedName: '王*' }) },
    { op: 'mode', mode, ts: NOW - HOUR, reason: 'test' },
    { op: 'gate.settings', gateId: GATE, settings: { role: 'entry', roleSetAt: NOW - 2 * HOUR } },
    { op: 'supply.round', round: ROUND },
  ];
}

const TERMINAL = {
  http: { enabled: true, port: 0, host: '127.0.0.1' },
  terminal: { guards: [TEST_GUARD] },
};

let workDir: string;
let browser: TestBrowser;
let gate: OfflineGate;
let calm: OfflineGate;
const violations: string[] = [];

async function newPage(viewport = { width: 1280, height: 800 }): Promise<Page> {
  const context = await browser.newContext({ viewport, locale: 'zh-CN' });
  const page = await context.newPage();
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) => console.error('CSP ' + e.violatedDirective + ' ' + e.blockedURI));`,
  });
  page.on('console', (m) => {
    if (m.text().startsWith('CSP ')) violations.push(`${page.url()}: ${m.text()}`);
  });
  return page;
}

async function signInGuard(page: Page, base: string): Promise<void> {
  await page.goto(`${base}/guard`);
  await page.fill('#sign-in input[name=guardId]', TEST_GUARD.id);
  await page.fill('#sign-in input[name=pin]', TEST_GUARD_PIN);
  await page.click('#sign-in button[type=submit]');
  await page.waitForSelector('#panel-view:not([hidden])');
}

const lane = '.lane[data-lane="in"]';
// Strings run in the page: the tests are type-checked without the DOM library.
const background = (page: Page) =>
  page.evaluate(`getComputedStyle(document.querySelector('${lane}')).backgroundColor`) as Promise<string>;
const logRows = "document.querySelectorAll('#role-log tr').length === 1";

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'anxin-terminal-distribution-'));
  await mkdir(RESULTS_DIR, { recursive: true });
  gate = await startOfflineGate({ dir: join(workDir, 'point'), changes: changes('lockdown'), config: TERMINAL });
  calm = await startOfflineGate({ dir: join(workDir, 'calm'), changes: changes('normal'), config: TERMINAL });
  browser = await launchBrowser();
}, 60_000);

afterEach(() => browser?.expectNoPageFaults());

afterAll(async () => {
  await browser?.close();
  await gate?.agent.stop();
  await calm?.agent.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 30_000);

describe('gate terminal: the distribution role', () => {
  it('a guard switches the role in lockdown; the screen becomes a distribution point; green only for a hand-out', async () => {
    const base = gate.agent.terminalUrl!;
    const screen = await newPage({ width: 800, height: 1280 });
    await screen.goto(`${base}/`);
    await screen.waitForSelector('body[data-stream="open"][data-role="entry"]');
    expect(await screen.isVisible('#distribution')).toBe(false);
    expect(await screen.textContent(`${lane} .zh`)).toBe('请刷码或刷身份证');

    const panel = await newPage();
    await signInGuard(panel, base);
    await panel.waitForSelector('#role-form[data-switchable="true"][data-role="entry"]');
    expect(await panel.textContent('#role')).toContain('平台设定 set by the cloud');
    await panel.selectOption('#role-form select[name=role]', 'distribution');
    await panel.fill('#role-form input[name=reason]', '北门改为发放点 rice arrived');
    await panel.click('#role-form button[type=submit]');
    await panel.waitForSelector('#role-form[data-role="distribution"]');
    expect(await panel.textContent('#role')).toContain(`门卫切换 switched here · ${TEST_GUARD.name}`);
    await panel.waitForFunction(logRows);
    expect(await panel.textContent('#role-log')).toContain('北门改为发放点 rice arrived');

    // The gate's own settings and the status the cloud gets.
    expect(gate.agent.gateSettings).toMatchObject({ role: 'distribution', roleSwitch: { by: TEST_GUARD.name } });
    expect(gate.agent.status()).toMatchObject({
      role: 'distribution',
      roleSwitch: { role: 'distribution', by: TEST_GUARD.name, reason: '北门改为发放点 rice arrived' },
    });

    // The public screen says what it is now, with the round running.
    await screen.waitForSelector('body[data-role="distribution"] #distribution.on[data-round="running"]');
    expect(await screen.textContent('#distribution')).toContain('物资发放点 · Supply distribution point');
    expect(await screen.textContent('#distribution')).toContain('第一轮 蔬菜包');
    expect(await screen.textContent(`${lane} .zh`)).toBe('请刷身份证或通行码领取物资');

    // A swipe: the allocation, item by item, in green.
    gate.idreader.present({ idNumber: ID_NUMBERS.alice });
    await screen.waitForSelector(`${lane}[data-verdict="hand-out"]`, { timeout: WAIT_MS });
    expect(await screen.getAttribute(lane, 'data-tone')).toBe('grant');
    expect(await background(screen)).toBe('rgb(27, 127, 55)');
    const items = await screen.locator(`${lane} .items li`).allTextContents();
    expect(items).toEqual(['大米 5 kg', '食用油 1 L']);
    await screen.screenshot({ path: join(RESULTS_DIR, 'terminal-distribution.png') });

    // The household's second member: refused, red, no items — never green.
    gate.idreader.present({ idNumber: ID_NUMBERS.bob });
    await screen.waitForSelector(`${lane}[data-verdict="refused"]`, { timeout: WAIT_MS });
    expect(await screen.getAttribute(lane, 'data-tone')).toBe('refuse');
    expect(await background(screen)).not.toBe('rgb(27, 127, 55)');
    expect(await screen.textContent(`${lane} .zh`)).toContain('本户本轮已领取');
    expect(await screen.$$(`${lane} .items li`)).toHaveLength(0);
    // Its code is the refusal's own (it was `pass-used-up`), and the guard panel's row says the same words.
    expect(await screen.getAttribute(lane, 'data-reason')).toBe('already-claimed');
    await panel.waitForFunction(
      `document.querySelector('#scans tr')?.textContent.includes('不发放：本户本轮已领取 · this point')`,
      undefined,
      { timeout: WAIT_MS },
    );
    await screen.screenshot({ path: join(RESULTS_DIR, 'terminal-distribution-refused.png') });
    expect(gate.turnstile.unlocks).toEqual([]);

    // A guard's claim at the panel for a member without a card: green with the items once, then
    // refused — red on the panel and on the screen, with the reason's words — and 409 for a client.
    await panel.fill('#household-form input[name=household]', 'h2');
    await panel.click('#household-form button[type=submit]');
    await panel.waitForSelector('#claim-form:not([hidden])');
    expect(await panel.textContent('#household')).toContain('第一轮 蔬菜包');
    expect(await panel.locator('#claim-form select[name=personId] option').allTextContents()).toEqual(['王*']);
    const claimAtPanel = async (outcome: string) => {
      await panel.fill('#claim-form input[name=reason]', 'elderly, no card');
      await panel.click('#claim-form button[type=submit]');
      await panel.waitForSelector(`#claim-result[data-outcome="${outcome}"]`, { timeout: WAIT_MS });
      return {
        text: (await panel.textContent('#claim-result')) ?? '',
        background: (await panel.evaluate(
          `getComputedStyle(document.getElementById('claim-result')).backgroundColor`,
        )) as string,
      };
    };
    const handedOut = await claimAtPanel('hand-out');
    expect(handedOut.text).toContain('大米 5 kg');
    expect(handedOut.background).toBe('rgb(27, 127, 55)');
    await screen.waitForSelector(`${lane}[data-verdict="hand-out"]`, { timeout: WAIT_MS });
    expect(await background(screen)).toBe('rgb(27, 127, 55)');
    // The gate unreachable for the next claim: the last green does not stand for it — the panel says so, in red.
    await panel.route('**/api/supply/claim', (route) => route.abort('connectionrefused'));
    const unreachable = await claimAtPanel('error');
    expect(unreachable.text).toContain('The gate does not answer');
    expect(unreachable.background).not.toBe('rgb(27, 127, 55)');
    await panel.unroute('**/api/supply/claim');
    // Waited for from before the claim: the screen's row clears after its hold, whatever the panel takes.
    const refusedOnScreen = screen.waitForSelector(`${lane}[data-verdict="refused"]`, { timeout: WAIT_MS });
    const refusedAtPanel = await claimAtPanel('refused');
    expect(refusedAtPanel.text).toContain('本户本轮已领取 · Already claimed by this household');
    expect(refusedAtPanel.background).toBe('rgb(198, 40, 40)');
    await refusedOnScreen;
    expect(await screen.getAttribute(lane, 'data-tone')).toBe('refuse');
    expect(await screen.getAttribute(lane, 'data-reason')).toBe('already-claimed');
    expect(await background(screen)).not.toBe('rgb(27, 127, 55)');
    expect(await screen.textContent(`${lane} .zh`)).toContain('本户本轮已领取');
    expect(await screen.textContent(`${lane} .en`)).toContain('Already claimed by this household');
    await panel.screenshot({ path: join(RESULTS_DIR, 'terminal-guard-claim-refused.png'), fullPage: true });
    const again = await fetch(`${base}/api/supply/claim`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: base, cookie: await guardCookie(base) },
      body: JSON.stringify({ personId: 'dan', reason: 'elderly, no card' }),
    });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({
      error: { code: 'already-claimed' },
      verdict: 'refused',
      refusal: 'already-claimed',
      zh: '本户本轮已领取',
    });
    expect(await screen.$$(`${lane} .items li`)).toHaveLength(0);

    // Back to passage: the cloud's role again, the banner gone.
    await panel.selectOption('#role-form select[name=role]', 'entry');
    await panel.fill('#role-form input[name=reason]', 'distribution over');
    await panel.click('#role-form button[type=submit]');
    await screen.waitForSelector('body[data-role="entry"]');
    expect(await screen.isVisible('#distribution')).toBe(false);
    expect(gate.agent.gateSettings).toMatchObject({ role: 'entry', roleSwitch: null, source: 'cloud' });
    expect(gate.agent.status().roleSwitch).toBeUndefined();
    await screen.context().close();
    await panel.context().close();
  }, 90_000);

  it('a switch to the role already in force says so, not "switched", and changes nothing', async () => {
    const base = gate.agent.terminalUrl!;
    const logBefore = gate.agent.roles.recent(100).length;
    const panel = await newPage();
    await signInGuard(panel, base);
    await panel.waitForSelector('#role-form[data-switchable="true"][data-role="entry"]');
    // The guard picks the role the gate is already in (another guard got there first).
    await panel.selectOption('#role-form select[name=role]', 'entry');
    await panel.fill('#role-form input[name=reason]', 'already passage?');
    await panel.click('#role-form button[type=submit]');
    await panel.waitForSelector('#role-result[data-outcome="unchanged"]');
    const text = (await panel.textContent('#role-result')) ?? '';
    expect(text).toContain('already in role entry, nothing changed');
    expect(text).toContain('已是 通行 Passage');
    expect(text).not.toMatch(/switched|已切换/);
    expect(gate.agent.gateSettings).toMatchObject({ role: 'entry', roleSwitch: null });
    expect(gate.agent.roles.recent(100)).toHaveLength(logBefore);
    // A real switch still says switched.
    await panel.selectOption('#role-form select[name=role]', 'distribution');
    await panel.fill('#role-form input[name=reason]', 'rice again');
    await panel.click('#role-form button[type=submit]');
    await panel.waitForSelector('#role-result[data-outcome="switched"]');
    expect(await panel.textContent('#role-result')).toContain('switched to distribution');
    // And back, for the tests that follow.
    await panel.selectOption('#role-form select[name=role]', 'entry');
    await panel.fill('#role-form input[name=reason]', 'done');
    await panel.click('#role-form button[type=submit]');
    await panel.waitForSelector('#role-form[data-role="entry"]');
    await panel.context().close();
  }, 60_000);

  it('outside the crisis modes the switch is refused, audited at the gate, and the panel says why', async () => {
    const base = calm.agent.terminalUrl!;
    const unsigned = await fetch(`${base}/api/guard/role`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: base },
      body: JSON.stringify({ role: 'distribution', reason: 'x' }),
    });
    expect(unsigned.status).toBe(401);
    const cookie = await guardCookie(base);
    const refused = await fetch(`${base}/api/guard/role`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: base, cookie },
      body: JSON.stringify({ role: 'distribution', reason: 'try' }),
    });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ error: { code: 'not-crisis' }, role: 'entry' });
    const noReason = await fetch(`${base}/api/guard/role`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: base, cookie },
      body: JSON.stringify({ role: 'distribution', reason: ' ' }),
    });
    expect(noReason.status).toBe(400);
    expect(calm.agent.gateSettings.role).toBe('entry');
    // Not a distribution point: a guard's claim is refused as such, and nothing is shown or recorded.
    const claim = await fetch(`${base}/api/supply/claim`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: base, cookie },
      body: JSON.stringify({ personId: 'alice', reason: 'no card' }),
    });
    expect(claim.status).toBe(409);
    expect(await claim.json()).toMatchObject({
      error: { code: 'not-a-distribution-point' },
      verdict: 'refused',
      refusal: 'not-a-distribution-point',
      role: 'entry',
    });
    expect(calm.agent.state().lastScans).toEqual([]);
    expect(calm.agent.roles.recent()).toEqual([
      expect.objectContaining({ outcome: 'refused', mode: 'normal', guard: TEST_GUARD.name, reason: 'try' }),
    ]);

    const panel = await newPage({ width: 390, height: 844 });
    await signInGuard(panel, base);
    await panel.waitForSelector('#role-form[data-switchable="false"]');
    expect(await panel.isDisabled('#role-form button[type=submit]')).toBe(true);
    expect(await panel.textContent('#role-rule')).toContain('only in controlled or lockdown mode');
    await panel.waitForFunction(logRows);
    expect(await panel.textContent('#role-log')).toContain('拒绝 refused');
    // The panel's claim at a gate that is no distribution point: red, and it says so.
    await panel.fill('#household-form input[name=household]', 'h1');
    await panel.click('#household-form button[type=submit]');
    await panel.waitForSelector('#claim-form:not([hidden])');
    await panel.fill('#claim-form input[name=reason]', 'no card');
    await panel.click('#claim-form button[type=submit]');
    await panel.waitForSelector('#claim-result[data-outcome="refused"]');
    expect(await panel.textContent('#claim-result')).toContain(
      '本闸口现在不是物资发放点 · This gate is not a distribution point now',
    );
    expect(calm.agent.state().lastScans).toEqual([]);
    await panel.context().close();
    expect(violations).toEqual([]);
  }, 60_000);
});
