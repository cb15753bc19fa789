/**
 * The page suites' Chromium kit (testkit/browser.ts) notices what they rely on it to notice: a page
 * that throws, a rejected promise nobody handles, and a same-origin module or script that fails to
 * load; a clean page and another origin's missing script are not faults.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../../testkit/browser.ts';

const PAGES: Record<string, { type: string; body: string }> = {
  '/clean': { type: 'text/html', body: '<p id="ok">ok</p><script type="module" src="/ok.js"></script>' },
  '/ok.js': { type: 'text/javascript', body: 'document.body.dataset.ran = "yes";' },
  '/throws': { type: 'text/html', body: '<script type="module" src="/throw.js"></script>' },
  '/throw.js': { type: 'text/javascript', body: 'throw new Error("boom from the page");' },
  '/rejects': { type: 'text/html', body: '<script type="module" src="/reject.js"></script>' },
  '/reject.js': { type: 'text/javascript', body: 'Promise.reject(new Error("nobody handled me"));' },
  '/missing-module': { type: 'text/html', body: '<script type="module" src="/gone.js"></script>' },
  '/foreign': {
    type: 'text/html',
    body: '<script src="http://localhost:1/other-origin.js"></script><p id="ok">ok</p>',
  },
};

let server: Server;
let base: string;
let chrome: TestBrowser;

beforeAll(async () => {
  server = createServer((req, res) => {
    const page = PAGES[req.url ?? ''];
    if (!page) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': page.type }).end(page.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  chrome = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await chrome?.close();
  await new Promise((resolve) => server?.close(resolve));
});

/** Opens a page and waits until its scripts have run or failed. */
async function visit(path: string): Promise<void> {
  const page = await chrome.newPage();
  await page.goto(`${base}${path}`, { waitUntil: 'load' });
  // A task after load: module errors and unhandled rejections are reported by then.
  await page.evaluate('new Promise((resolve) => setTimeout(resolve, 0))');
  await page.context().close();
}

describe('testkit/browser', () => {
  it('a clean page records nothing', async () => {
    await visit('/clean');
    expect(chrome.takeFaults()).toEqual([]);
    expect(() => chrome.expectNoPageFaults()).not.toThrow();
  });

  it('an uncaught error is a fault, and expectNoPageFaults fails naming it', async () => {
    await visit('/throws');
    expect(() => chrome.expectNoPageFaults()).toThrow(/pageerror on .*\/throws: .*boom from the page/s);
    expect(chrome.takeFaults()).toEqual([]);
  });

  it('an unhandled rejection is a fault', async () => {
    await visit('/rejects');
    const faults = chrome.takeFaults();
    expect(faults.map((f) => f.kind)).toEqual(['pageerror']);
    expect(faults[0]!.message).toContain('nobody handled me');
  });

  it('a same-origin module that does not load is a fault', async () => {
    await visit('/missing-module');
    const faults = chrome.takeFaults();
    expect(faults).toEqual([
      { kind: 'script-load', page: `${base}/missing-module`, message: `${base}/gone.js: HTTP 404` },
    ]);
  });

  it('another origin failing is not the page under test', async () => {
    await visit('/foreign');
    expect(chrome.takeFaults()).toEqual([]);
  });

  it('watches every page of a context, not only the first', async () => {
    const context = await chrome.newContext();
    const first = await context.newPage();
    await first.goto(`${base}/clean`);
    const second = await context.newPage();
    await second.goto(`${base}/throws`);
    await second.evaluate('new Promise((resolve) => setTimeout(resolve, 0))');
    await context.close();
    expect(chrome.takeFaults().map((f) => f.kind)).toEqual(['pageerror']);
  });
});
