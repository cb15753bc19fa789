/**
 * `/me/pass`: the resident's live pass on their phone (docs/passes.md, "Device passes"). Chinese
 * first with English, one column that works at 360×640, a large-text switch, and no framework: the
 * page script, its stylesheet and the QR encoder (the `qrcode` package the gates' tests measure,
 * vendored by bin/vendor-qr-encoder.mjs) come from this server. The session is the resident
 * side's (`anxin.me.session` in sessionStorage); without one the page sends the resident to `/me`.
 * `/me` shows the way here in its `#pass-panel` (device-pass-panel.js, registered by
 * `registerMePanel`).
 */
import { readFile } from 'node:fs/promises';
import { Hono } from 'hono';
import { html } from 'hono/html';
import type { AppEnv } from '../http/app-env.ts';
import { ME_PAGE_SCRIPTS } from '../me/me-pages.ts';

const PANEL_SCRIPT = '/me/pass/assets/device-pass-panel.js';

/** Puts the pass panel's script on `/me` (the resident side's extension point for it). */
export function registerMePanel(): void {
  if (!ME_PAGE_SCRIPTS.includes(PANEL_SCRIPT)) ME_PAGE_SCRIPTS.push(PANEL_SCRIPT);
}

/** Beside the other pages' assets (cloud/web/assets, copied to dist/ by the build). */
const ASSET_DIR = new URL('../web/assets/', import.meta.url);
const ASSETS: Record<string, { file: string; type: string }> = {
  'device-pass.js': { file: 'device-pass.js', type: 'text/javascript; charset=utf-8' },
  'device-pass.css': { file: 'device-pass.css', type: 'text/css; charset=utf-8' },
  'device-pass-panel.js': { file: 'device-pass-panel.js', type: 'text/javascript; charset=utf-8' },
  'qr-encoder.js': { file: 'vendor/qr-encoder.js', type: 'text/javascript; charset=utf-8' },
};

export function passPage() {
  return html`<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>我的通行码 My pass</title>
<link rel="stylesheet" href="/me/pass/assets/device-pass.css">
<script type="module" src="/me/pass/assets/device-pass.js"></script>
</head>
<body>
<main>
  <h1>我的通行码 <small>My pass</small></h1>
  <label class="muted"><input type="checkbox" id="pass-large"> 大字 <small>Large text</small></label>
  <section id="pass-live" class="card" hidden>
    <div class="qr"><canvas id="pass-qr" role="img" aria-label="通行码 QR pass"></canvas></div>
    <p id="pass-countdown" aria-live="off"></p>
    <p class="muted">请将此码对准闸机扫码口。截图无效，码每 10 秒更新。<small>Hold this code to the gate's scanner. Screenshots do not work: the code changes every 10 s.</small></p>
    <p id="pass-expires" class="muted"></p>
    <button id="pass-remove-button" type="button">从本机移除 <small>Remove from this phone</small></button>
  </section>
  <section id="pass-enrol" class="card" hidden>
    <p>在本机启用动态通行码后，这部手机就是您的通行证。<small>Turn this phone into your pass: the code it shows works only on this phone.</small></p>
    <button id="pass-enrol-button" class="primary" type="button">在本机启用 <small>Use this phone</small></button>
  </section>
  <section id="pass-other-phone" class="card" hidden>
    <p>您的通行码绑定在另一部手机上。<small>Your pass is on another phone.</small></p>
    <button id="pass-move-button" class="primary" type="button">改用这部手机（原手机失效） <small>Move it to this phone (the other one stops working)</small></button>
  </section>
  <section id="pass-printed" class="card" hidden>
    <p>您使用纸质通行证。如需手机通行码，请联系物业。<small>You have a printed pass. For a phone pass, ask the property office.</small></p>
  </section>
  <section id="pass-signed-out" class="card" hidden>
    <p>请先登录。<small>Please sign in first.</small></p>
    <p><a href="/me">前往登录 <small>Sign in</small></a></p>
  </section>
  <p id="pass-message" role="alert"></p>
</main>
</body>
</html>`;
}

export function passPageRoutes(): Hono<AppEnv> {
  const cache = new Map<string, Promise<Buffer>>();
  const noCache = { 'cache-control': 'no-cache' };
  return new Hono<AppEnv>()
    .get('/', (c) => c.html(passPage(), 200, noCache))
    .get('/assets/:name', async (c) => {
      const name = c.req.param('name');
      const asset = ASSETS[name];
      if (!asset) return c.notFound();
      let body = cache.get(name);
      if (!body) {
        body = readFile(new URL(asset.file, ASSET_DIR));
        cache.set(name, body);
      }
      return c.body(new Uint8Array(await body), 200, { 'content-type': asset.type, ...noCache });
    });
}
