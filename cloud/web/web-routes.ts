/**
 * The cloud's web pages as an extension of the cloud (cloud/http/extension.ts): `/` sign-in,
 * `/console` guard console, `/dashboard` manager dashboard and their assets under `/assets/`, plus
 * the API routes the pages need that the core API lacks:
 *
 * - `GET /api/v1/alarms`, `POST /api/v1/alarms/:id/ack` — alarms stay until acknowledged
 *   (cloud/alarms/alarm-routes.ts);
 * - `POST|GET /api/v1/trace/search` — find a person by name or (POST only) ID number: masked answers
 *   (manager, audit-logged; person-search-routes.ts);
 * - `GET /api/v1/web/compound|residents|passes` — the compound's time zone for the console, a
 *   page of residents searched without full names, a person's passes (web-support-routes.ts).
 *
 * The one-minute ticket for EventSource's `?token=` (`POST /api/v1/auth/live-ticket`) belongs to
 * `/live` and is part of the core API (cloud/http/routes/live-ticket.ts).
 *
 * Every asset is a file of this folder served by the cloud itself: the pages work without any
 * outside network (no CDN, no web fonts, no build step). Assets carry an ETag and `no-cache`: the
 * browser revalidates each one and gets a bodiless 304 while it is unchanged.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Hono } from 'hono';
import type { AlarmAckStore } from '../alarms/alarm-ack-store.ts';
import { alarmRoutes } from '../alarms/alarm-routes.ts';
import { openAlarmAckStore } from '../alarms/open-alarm-ack-store.ts';
import type { AppEnv } from '../http/app-env.ts';
import { API_BASE, type CloudExtensionFactory } from '../http/extension.ts';
import { consolePage } from './console-page.ts';
import { dashboardPage } from './dashboard-page.ts';
import { openResidentDirectory } from './open-resident-directory.ts';
import { personSearchRoutes } from './person-search-routes.ts';
import { signInPage } from './sign-in-page.ts';
import { webSupportRoutes } from './web-support-routes.ts';

export interface WebRoutesOptions {
  /** The deployment's pepper (`parseKeysFile(…).pepper`): an ID number is searched through its pseudonym. */
  pepper: Buffer;
  /** Default: the alarm acknowledgement store on the store's database (open-alarm-ack-store.ts), opened when mounted. */
  alarms?: AlarmAckStore;
}

const CONTENT_TYPES: Record<string, string> = {
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
  csv: 'text/csv; charset=utf-8',
};

/** The only files `/assets/` serves: a fixed list, so no request path ever reaches the file system. */
export const WEB_ASSETS = [
  'style.css',
  'favicon.svg',
  'session.js',
  'labels.js',
  'format.js',
  'hourly-chart.js',
  'live-stream.js',
  'sign-in.js',
  'console.js',
  'console-common.js',
  'console-gates.js',
  'console-alarms.js',
  'console-alerts.js',
  'console-feed.js',
  'console-link.js',
  'dashboard.js',
  'dashboard-common.js',
  'dashboard-stats.js',
  'dashboard-mode.js',
  'dashboard-residents.js',
  'dashboard-reveal.js',
  'dashboard-import.js',
  'dashboard-passes.js',
  'dashboard-pass-medium.js',
  'dashboard-trace.js',
  'dashboard-audit.js',
  'supplies.js',
  'import-errors.js',
  'residents-template.csv',
] as const;

const ASSET_DIR = new URL('./assets/', import.meta.url);

interface Asset {
  bytes: Buffer;
  /** A strong validator: the first 128 bits of the file's SHA-256. */
  etag: string;
}

const etagOf = (bytes: Buffer) => `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}"`;

/** `If-None-Match` (a list of tags, weak ones included, or `*`) names this asset's tag. */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/** The pages and assets alone, as a hono app (mounted at `/`). */
function webPages(): Hono<AppEnv> {
  const cache = new Map<string, Promise<Asset>>();
  const asset = (name: string) => {
    let body = cache.get(name);
    if (!body) {
      body = readFile(new URL(name, ASSET_DIR)).then((bytes) => ({ bytes, etag: etagOf(bytes) }));
      cache.set(name, body);
    }
    return body;
  };
  const noStore = { 'cache-control': 'no-cache' };
  return new Hono<AppEnv>()
    .get('/', async (c) => c.html(await signInPage(), 200, noStore))
    .get('/console', async (c) => c.html(await consolePage(), 200, noStore))
    .get('/dashboard', async (c) => c.html(await dashboardPage(), 200, noStore))
    .get('/assets/:name', async (c) => {
      const name = c.req.param('name');
      if (!(WEB_ASSETS as readonly string[]).includes(name)) return c.notFound();
      const type = CONTENT_TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
      const { bytes, etag } = await asset(name);
      // `no-cache`: the browser keeps the file but asks each time; unchanged, the answer is a bodiless 304.
      const headers: Record<string, string> = { 'content-type': type, 'cache-control': 'no-cache', etag };
      if (name.endsWith('.csv')) headers['content-disposition'] = `attachment; filename="${name}"`;
      if (etagMatches(c.req.header('if-none-match'), etag)) return c.body(null, 304, headers);
      return c.body(new Uint8Array(bytes), 200, headers);
    });
}

/** Open with `createCloud({ extensions: [webExtension({ pepper })] })` (cloud/full-cloud.ts does). */
export function webExtension(options: WebRoutesOptions): CloudExtensionFactory {
  return (deps) => {
    const alarms = options.alarms ?? openAlarmAckStore(deps.store.engine);
    const directory = openResidentDirectory(deps.store.engine);
    const mount = (app: Hono<AppEnv>) => {
      app.route(`${API_BASE}/alarms`, alarmRoutes({ ...deps, alarms }));
      app.route(
        `${API_BASE}/trace/search`,
        personSearchRoutes({
          ...deps,
          pepper: options.pepper,
          byName: (compoundId, needle, limit) => directory.byName(compoundId, needle, limit),
        }),
      );
      app.route(`${API_BASE}/web`, webSupportRoutes({ ...deps, directory }));
      app.route('/', webPages());
    };
    return { name: 'web pages', mount };
  };
}
