/**
 * Headless Chromium for the page suites (docs/web.md, "Tests"): one way to launch it, and a watch on
 * every page it opens. A page that throws (`pageerror`: an uncaught exception or an unhandled
 * rejection) or whose same-origin script or module fails to load is recorded as a fault, so a suite
 * fails on a script error even on a path where no expected element goes missing.
 *
 *   const chrome = await launchBrowser();
 *   afterEach(() => chrome.expectNoPageFaults());
 *   const context = await chrome.newContext({ viewport: { width: 360, height: 640 } });
 *
 * A test that expects a fault takes it with `takeFaults()` and asserts on it.
 */
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium, type Page } from 'playwright-core';

/** Debian's Chromium, driven by playwright-core (no bundled browser download). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Headless as root: no sandbox, no GPU, nothing fetched or synced in the background. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Something a page did wrong: threw, or could not load one of its own scripts. */
export interface PageFault {
  kind: 'pageerror' | 'script-load';
  /** The page's address when it happened. */
  page: string;
  message: string;
}

export interface TestBrowser {
  readonly browser: Browser;
  /** A fresh context (its own cookies and storage) whose every page is watched. */
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
  /** A watched page in a context of its own; `page.context().close()` closes both. */
  newPage(options?: BrowserContextOptions): Promise<Page>;
  /** Starts watching a page opened some other way. */
  watch(page: Page): void;
  /** The faults recorded since the last take, and forgets them. */
  takeFaults(): PageFault[];
  /** Throws, listing them, if any page faulted since the last take (for `afterEach`). */
  expectNoPageFaults(): void;
  close(): Promise<void>;
}

/** Throws, naming the package to install, when Chromium is not where the suites expect it. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: install it with "apt-get install -y chromium" (.ci/run does)`);
  }
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

function describeFaults(faults: readonly PageFault[]): string {
  return faults.map((f) => `  ${f.kind} on ${f.page}: ${f.message}`).join('\n');
}

/**
 * Launches headless Chromium with a fresh user-data-dir (playwright makes one per launch and removes
 * it on close). `extraArgs` adds switches a suite needs beyond CHROMIUM_ARGS.
 */
export async function launchBrowser(options: { extraArgs?: readonly string[] } = {}): Promise<TestBrowser> {
  requireChromium();
  const args = [...CHROMIUM_ARGS, ...(options.extraArgs ?? [])];
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args, headless: true });
  let faults: PageFault[] = [];
  const watched = new WeakSet<Page>();

  const watch = (page: Page): void => {
    if (watched.has(page)) return;
    watched.add(page);
    page.on('pageerror', (err) => {
      faults.push({ kind: 'pageerror', page: page.url(), message: err.stack ?? err.message });
    });
    page.on('requestfailed', (request) => {
      if (request.resourceType() !== 'script' || !sameOrigin(request.url(), page.url())) return;
      const why = request.failure()?.errorText ?? 'failed';
      // A navigation away cancels what the old page was still loading; that is not the page's fault.
      if (why === 'net::ERR_ABORTED') return;
      faults.push({ kind: 'script-load', page: page.url(), message: `${request.url()}: ${why}` });
    });
    page.on('response', (response) => {
      const request = response.request();
      if (request.resourceType() !== 'script' || response.status() < 400) return;
      if (!sameOrigin(request.url(), page.url())) return;
      faults.push({ kind: 'script-load', page: page.url(), message: `${request.url()}: HTTP ${response.status()}` });
    });
  };

  const newContext = async (options?: BrowserContextOptions): Promise<BrowserContext> => {
    const context = await browser.newContext(options);
    context.on('page', watch);
    return context;
  };

  return {
    browser,
    newContext,
    async newPage(options) {
      const context = await newContext(options);
      return context.newPage();
    },
    watch,
    takeFaults() {
      const taken = faults;
      faults = [];
      return taken;
    },
    expectNoPageFaults() {
      const taken = faults;
      faults = [];
      if (taken.length > 0) throw new Error(`a page faulted:\n${describeFaults(taken)}`);
    },
    async close() {
      await browser.close();
    },
  };
}
