/**
 * The HTML shell shared by the cloud's pages: bilingual title, the project's stylesheet and one
 * page script (an ES module under `/assets/`). Pages are static: they hold no data and need no
 * authentication to fetch; every fact is loaded by the script through the bearer-authenticated API.
 */
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

export interface PageOptions {
  /** `<title>` and header, Chinese first. */
  titleZh: string;
  titleEn: string;
  /** File name under /assets/ of the page's module script. */
  script: string;
  /**
   * Every file under /assets/ that the script imports, directly or not: preloaded, so the browser
   * fetches them at once rather than one import level after another.
   */
  modules?: readonly string[];
  /** `data-page` of `<body>`, for the stylesheet. */
  page: string;
  /** Whether the header shows the signed-in user and a sign-out button. */
  signedIn: boolean;
  body: HtmlEscapedString | Promise<HtmlEscapedString>;
}

export function renderPage(o: PageOptions) {
  return html`<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.titleZh} · ${o.titleEn} — 安心门禁 Anxin Gate</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/style.css">
<script type="module" src="/assets/${o.script}"></script>
${(o.modules ?? []).map((m) => html`<link rel="modulepreload" href="/assets/${m}">\n`)}</head>
<body data-page="${o.page}">
<header class="topbar">
  <div class="brand"><span class="logo" aria-hidden="true"></span><span>安心门禁 <small>Anxin Gate</small></span></div>
  <h1>${o.titleZh} <small>${o.titleEn}</small></h1>
  ${
    o.signedIn
      ? raw(`<div class="session"><span id="live-state" class="live-state" data-state="idle"></span>
  <span id="who" class="who"></span><button type="button" id="sign-out" class="link">退出 <small>Sign out</small></button></div>`)
      : ''
  }
</header>
${o.body}
</body>
</html>`;
}
