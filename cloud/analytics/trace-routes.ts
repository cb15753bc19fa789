/**
 * `GET /api/v1/trace/*` (docs/contract.md, "HTTP"; docs/tracing.md): a person's timeline, their
 * contacts and a gate's exposure list. Manager only; every trace needs a `reason` and is written
 * to the audit log with who ran it. `?format=csv` returns a spreadsheet export.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { idSchema } from '../../shared/ids.ts';
import { contactsQuerySchema, traceWindowQuerySchema } from '../../shared/schemas/http.ts';
import type { AnalyticsStore } from './analytics-store.ts';
import { attachmentDisposition, type CsvCell, toCsv } from './csv.ts';
import { formatLocalIso, localDayOf } from './time-zone.ts';
import {
  type ContactsReport,
  type GateExposure,
  type PersonTimeline,
  type TraceRegistry,
  traceContacts,
  traceGate,
  tracePerson,
} from './tracing.ts';
import type { AuditStore } from '../store/store.ts';
import { notFound } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import { type Auth, canSee } from '../http/auth-middleware.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import { validate } from '../http/validation.ts';

/** The longest window one trace may cover; a 14-day trace is the design target (docs/tracing.md). */
export const MAX_TRACE_WINDOW_MS = 62 * 86_400_000;

const formatSchema = z.enum(['json', 'csv']).default('json');

function boundedWindow<T extends z.ZodType<{ from: number; to: number }>>(schema: T) {
  return schema
    .refine((q) => q.to > q.from, { path: ['to'], message: 'must be after from' })
    .refine((q) => q.to - q.from <= MAX_TRACE_WINDOW_MS, {
      path: ['to'],
      message: `a trace covers at most ${MAX_TRACE_WINDOW_MS / 86_400_000} days`,
    });
}

const windowQuery = boundedWindow(traceWindowQuerySchema.extend({ format: formatSchema }));
const contactsQuery = boundedWindow(contactsQuerySchema);
const personParam = z.object({ personId: idSchema });
const gateParam = z.object({ gateId: idSchema });

export interface TraceRouteDeps {
  auth: Auth;
  limits: RateLimiter;
  analytics: AnalyticsStore;
  store: TraceRegistry & Pick<AuditStore, 'recordAudit'>;
  now: () => number;
}

const CSV_HEADERS = { 'content-type': 'text/csv; charset=utf-8' } as const;

function csvResponse(fileName: string, header: readonly string[], rows: CsvCell[][]): Response {
  return new Response(toCsv(header, rows), {
    status: 200,
    headers: { ...CSV_HEADERS, 'content-disposition': attachmentDisposition(fileName) },
  });
}

export function timelineCsv(t: PersonTimeline): CsvCell[][] {
  return t.passages.map((p) => [
    formatLocalIso(p.ts, t.timeZone),
    p.gateId,
    p.gateName,
    p.direction,
    p.method,
    p.result,
    p.reason,
    p.passed,
    p.health,
    p.crossing,
  ]);
}

export function contactsCsv(r: ContactsReport): CsvCell[][] {
  const local = (ts: number) => formatLocalIso(ts, r.timeZone);
  const rows: CsvCell[][] = r.contacts.map((c) => {
    const shared = c.sharedPassages;
    return [
      1,
      c.rank,
      c.personId,
      c.maskedName,
      c.household,
      '',
      shared.length,
      c.closestGapMs === null ? null : c.closestGapMs / 1000,
      shared.length > 0 ? local(shared[0]!.ts) : null,
      shared.length > 0 ? local(shared[shared.length - 1]!.ts) : null,
      [...new Set(shared.map((s) => s.gateId))].join(' '),
    ];
  });
  for (const c of r.secondDegree?.contacts ?? []) {
    rows.push([
      2,
      c.rank,
      c.personId,
      c.maskedName,
      false,
      c.via.join(' '),
      c.sharedPassageCount,
      c.closestGapMs === null ? null : c.closestGapMs / 1000,
      null,
      null,
      '',
    ]);
  }
  return rows;
}

export function exposureCsv(g: GateExposure): CsvCell[][] {
  return g.persons.map((p) => [
    p.personId,
    p.maskedName,
    p.crossings,
    p.in,
    p.out,
    formatLocalIso(p.firstTs, g.timeZone),
    formatLocalIso(p.lastTs, g.timeZone),
  ]);
}

/** `GET /person/:personId`: where one person passed, audited with its reason. */
function personTrace(app: Hono<AppEnv>, deps: TraceRouteDeps, managers: MiddlewareHandler<AppEnv>): void {
  const services = { analytics: deps.analytics, registry: deps.store };
  app.get('/person/:personId', managers, validate('param', personParam), validate('query', windowQuery), async (c) => {
    const { personId } = c.req.valid('param');
    const q = c.req.valid('query');
    const actor = c.var.actor;
    deps.limits.take(c, q.format === 'csv' ? 'export' : 'trace');
    const timeline = await tracePerson(services, personId, q.from, q.to);
    if (timeline.person.compoundId !== null && !canSee(actor, timeline.person.compoundId)) {
      throw notFound('person', personId);
    }
    await deps.store.recordAudit({
      at: deps.now(),
      actor: actor.username,
      role: actor.role,
      action: 'trace.person',
      compoundId: timeline.person.compoundId,
      target: personId,
      detail: { reason: q.reason, from: q.from, to: q.to, format: q.format, passages: timeline.passages.length },
    });
    if (q.format === 'csv') {
      return csvResponse(
        `trace-${personId}-${localDayOf(q.from, timeline.timeZone)}.csv`,
        ['time', 'gate_id', 'gate_name', 'direction', 'method', 'result', 'reason', 'passed', 'health', 'crossing'],
        timelineCsv(timeline),
      );
    }
    return c.json(timeline);
  });
}

/** `GET /contacts/:personId`: who passed with the person (one or two degrees), audited. */
function contactTrace(app: Hono<AppEnv>, deps: TraceRouteDeps, managers: MiddlewareHandler<AppEnv>): void {
  const services = { analytics: deps.analytics, registry: deps.store };
  app.get(
    '/contacts/:personId',
    managers,
    validate('param', personParam),
    validate('query', contactsQuery),
    async (c) => {
      const { personId } = c.req.valid('param');
      const q = c.req.valid('query');
      const actor = c.var.actor;
      deps.limits.take(c, q.format === 'csv' ? 'export' : 'trace');
      const report = await traceContacts(services, personId, {
        from: q.from,
        to: q.to,
        windowMin: q.windowMin,
        depth: q.depth === 2 ? 2 : 1,
        includeDenied: q.includeDenied === 'true',
      });
      if (report.person.compoundId !== null && !canSee(actor, report.person.compoundId)) {
        throw notFound('person', personId);
      }
      await deps.store.recordAudit({
        at: deps.now(),
        actor: actor.username,
        role: actor.role,
        action: 'trace.contacts',
        compoundId: report.person.compoundId,
        target: personId,
        detail: {
          reason: q.reason,
          from: q.from,
          to: q.to,
          windowMin: q.windowMin,
          depth: q.depth,
          includeDenied: q.includeDenied === 'true',
          format: q.format,
          contacts: report.contacts.length,
          secondDegree: report.secondDegree?.contacts.length ?? 0,
        },
      });
      if (q.format === 'csv') {
        return csvResponse(
          `contacts-${personId}-${localDayOf(q.from, report.timeZone)}.csv`,
          [
            'degree',
            'rank',
            'person_id',
            'masked_name',
            'household',
            'via',
            'shared_passages',
            'closest_gap_s',
            'first_shared',
            'last_shared',
            'gates',
          ],
          contactsCsv(report),
        );
      }
      return c.json(report);
    },
  );
}

/** `GET /gate/:gateId`: who passed a gate in the window, audited. */
function gateTrace(app: Hono<AppEnv>, deps: TraceRouteDeps, managers: MiddlewareHandler<AppEnv>): void {
  const services = { analytics: deps.analytics, registry: deps.store };
  app.get('/gate/:gateId', managers, validate('param', gateParam), validate('query', windowQuery), async (c) => {
    const { gateId } = c.req.valid('param');
    const q = c.req.valid('query');
    const actor = c.var.actor;
    deps.limits.take(c, q.format === 'csv' ? 'export' : 'trace');
    const gate = await deps.store.getGate(gateId);
    if (!gate || !canSee(actor, gate.compoundId)) throw notFound('gate', gateId);
    const exposure = await traceGate(services, gateId, q.from, q.to);
    await deps.store.recordAudit({
      at: deps.now(),
      actor: actor.username,
      role: actor.role,
      action: 'trace.gate',
      compoundId: gate.compoundId,
      target: gateId,
      detail: { reason: q.reason, from: q.from, to: q.to, format: q.format, persons: exposure.persons.length },
    });
    if (q.format === 'csv') {
      return csvResponse(
        `exposure-${gateId}-${localDayOf(q.from, exposure.timeZone)}.csv`,
        ['person_id', 'masked_name', 'crossings', 'in', 'out', 'first', 'last'],
        exposureCsv(exposure),
      );
    }
    return c.json(exposure);
  });
}

export function traceRoutes(deps: TraceRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const managers = deps.auth.requireRole(['manager']);
  personTrace(app, deps, managers);
  contactTrace(app, deps, managers);
  gateTrace(app, deps, managers);
  return app;
}
