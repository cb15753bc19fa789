import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateIdNumber } from '../../../shared/id-number.ts';
import { errorBodySchema } from '../../../shared/schemas/http.ts';
import { entryEvent, resident } from '../fixtures.ts';
import { createHarness, type Harness } from './app-harness.ts';

let seed = 7;
const rand = () => {
  seed = (seed * 16807) % 2147483647;
  return seed / 2147483647;
};

type CsvErrorBody = { error: { rows: { row: number; column: string | null; message: string }[] } };

const HEADER = 'name,idNumber,householdId,kind,phone,elderly,compoundId';

describe('POST /residents/import', () => {
  let h: Harness;
  let manager: string;
  beforeEach(async () => {
    h = await createHarness();
    manager = await h.token('manager');
  });
  afterEach(async () => {
    await h.close();
  });

  const upload = (csv: string, token = manager, contentType = 'text/csv; charset=utf-8') =>
    h.request('POST', '/api/v1/residents/import', { token, raw: csv, contentType });

  it('imports every row of a clean file and updates known ID numbers on a re-import', async () => {
    const a = generateIdNumber(rand);
    const b = generateIdNumber(rand);
    const csv = `\ufeff${HEADER}\r\n张三明,${a},h-1,resident,13800138000,false,c-1\r\n"欧阳娜娜",${b},h-1,,,yes,c-1\r\n`;
    const res = await upload(csv);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ imported: 2, created: 2, updated: 0 });
    const list = (await (await h.request('GET', '/api/v1/residents?compound=c-1', { token: manager })).json()) as {
      residents: { maskedName: string; elderly: boolean }[];
    };
    expect(list.residents.map((r) => r.maskedName).sort()).toEqual(['张*明', '欧阳**'].sort());
    expect(h.published.at(-1)?.payload).toMatchObject({ fromRev: 0, toRev: 2 });
    const again = await upload(`${HEADER}\n张三明,${a},h-2,resident,,false,c-1\n`);
    expect(await again.json()).toEqual({ imported: 1, created: 0, updated: 1 });
  });

  it('reports row-level errors (row, column, message) and imports nothing', async () => {
    const good = generateIdNumber(rand);
    const csv = [
      HEADER,
      `王五,${good},h-1,resident,,false,c-1`,
      `,${generateIdNumber(rand)},h-1,resident,,false,c-1`,
      `赵六,110101199001011230,h-1,resident,,false,c-1`,
      `孙七,${good},h-1,resident,,false,c-1`,
      `周八,,h-1,alien,,maybe,c-1`,
      `吴九,,h-1,resident,,false,c-9`,
    ].join('\n');
    const res = await upload(csv);
    expect(res.status).toBe(400);
    const raw = (await res.json()) as { error: { rows: { row: number; column: string | null }[] } };
    const body = errorBodySchema.parse(raw);
    expect(body.error.code).toBe('invalid-csv');
    const rows = raw.error.rows;
    expect(rows.map((r) => `${r.row}:${r.column}`)).toEqual([
      '3:name',
      '4:idNumber',
      '5:idNumber',
      '6:kind',
      '6:elderly',
    ]);
    expect(body.error.issues?.[0]).toEqual({ path: '3.name', message: expect.any(String) });
    expect((await h.core.store.listResidents({ limit: 10 })).residents).toEqual([]);
    // Rows valid on their own but naming an unknown compound fail in the second pass — still nothing imported.
    const compound = await upload(`${HEADER}\n吴九,,h-1,resident,,false,c-9\n王五,,h-1,resident,,false,c-1\n`);
    expect(compound.status).toBe(400);
    expect(((await compound.json()) as CsvErrorBody).error.rows).toEqual([
      { row: 2, column: 'compoundId', message: expect.any(String) },
    ]);
    expect((await h.core.store.listResidents({ limit: 10 })).residents).toEqual([]);
    expect(h.published).toEqual([]);
  });

  it('refuses a bad header, a non-CSV body and a compound-bound manager importing elsewhere', async () => {
    const header = await upload('name,shoeSize\n张三,42\n');
    expect(header.status).toBe(400);
    expect(((await header.json()) as CsvErrorBody).error.rows).toEqual(
      expect.arrayContaining([
        { row: 1, column: 'shoeSize', message: expect.any(String) },
        { row: 1, column: 'compoundId', message: expect.any(String) },
      ]),
    );
    expect((await upload(`${HEADER}\n`, manager, 'application/json')).status).toBe(415);
    const scoped = await upload(`${HEADER}\n张三,,h-1,resident,,false,c-2\n`, await h.token('manager', 'c-1'));
    expect(scoped.status).toBe(400);
  });

  it("refuses a compound-bound manager's row naming another compound's resident: no takeover, nothing changed", async () => {
    const created = await upload(
      `personId,${HEADER}\np-victim,李四,${generateIdNumber(rand)},h-1,resident,,false,c-1\n`,
    );
    expect(await created.json()).toMatchObject({ created: 1 });
    const before = await h.core.store.getResident('p-victim');
    const published = h.published.length;

    const other = await h.token('manager', 'c-2');
    const res = await upload(`personId,name,compoundId\np-victim,王五,c-2\n`, other);
    expect(res.status).toBe(400);
    expect(((await res.json()) as CsvErrorBody).error.rows).toEqual([
      { row: 2, column: 'personId', message: 'no such resident (or not yours)' },
    ]);
    // Not even into c-1 itself: the row is refused the same way.
    expect((await upload(`personId,name,compoundId\np-victim,王五,c-1\n`, other)).status).toBe(400);
    expect(await h.core.store.getResident('p-victim')).toEqual(before);
    expect(h.published.length).toBe(published);
    // Its own manager still updates it.
    const own = await upload(`personId,name,compoundId\np-victim,李四四,c-1\n`, await h.token('manager', 'c-1'));
    expect(await own.json()).toMatchObject({ updated: 1 });
  });
});

describe('GET /events and /live', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  const ingest = async (gateId: string, ...events: unknown[]) => {
    await h.core.router.route(`anxin/v1/gates/${gateId}/events`, Buffer.from(JSON.stringify({ events })));
    await h.core.ingest.flush();
  };

  it('filters by gate, person, result and time, pages with a cursor, scopes guards', async () => {
    // Ingest admits only passages of the gate's own residents (cloud/ingest/event-admission.ts).
    await h.core.store.upsertResidents([resident('p-1', 'c-1'), resident('p-2', 'c-2')]);
    await ingest('g-1', ...[1, 2, 3].map((n) => entryEvent('g-1', n, { idHash: 'a'.repeat(64) })));
    await ingest(
      'g-2',
      entryEvent('g-2', 1, { personId: 'p-2', result: 'denied', reason: 'health-red', passed: null }),
    );
    const manager = await h.token('manager');
    const all = (await (await h.request('GET', '/api/v1/events?limit=2', { token: manager })).json()) as {
      events: { gateId: string; seq: number; idHash?: string }[];
      nextCursor: string;
    };
    expect(all.events).toHaveLength(2);
    expect(all.events[0]?.idHash).toBe('a'.repeat(64));
    const rest = (await (
      await h.request('GET', `/api/v1/events?limit=2&cursor=${all.nextCursor}`, { token: manager })
    ).json()) as { events: unknown[]; nextCursor: string | null };
    expect(rest.events).toHaveLength(2);
    expect(rest.nextCursor).toBeNull();
    const denied = (await (await h.request('GET', '/api/v1/events?result=denied', { token: manager })).json()) as {
      events: { gateId: string }[];
    };
    expect(denied.events.map((e) => e.gateId)).toEqual(['g-2']);
    const from = entryEvent('g-1', 2).ts;
    const window = (await (
      await h.request('GET', `/api/v1/events?gate=g-1&from=${from}&to=${new Date(from + 1000).toISOString()}`, {
        token: manager,
      })
    ).json()) as { events: { seq: number }[] };
    expect(window.events.map((e) => e.seq)).toEqual([2]);
    const guard = (await (
      await h.request('GET', '/api/v1/events', { token: await h.token('guard', 'c-1') })
    ).json()) as {
      events: { gateId: string; idHash?: string }[];
    };
    expect(guard.events.every((e) => e.gateId === 'g-1' && e.idHash === undefined)).toBe(true);
    expect(
      (await h.request('GET', '/api/v1/events?compound=c-2', { token: await h.token('guard', 'c-1') })).status,
    ).toBe(403);
    expect((await h.request('GET', '/api/v1/events?from=yesterday', { token: manager })).status).toBe(400);
    expect((await h.request('GET', '/api/v1/events?cursor=bm9wZQ', { token: manager })).status).toBe(400);
  });

  it('streams entries with the masked name (never the idHash), alarms and statuses of the guard compound', async () => {
    await h.core.store.upsertResidents([
      {
        personId: 'p-1',
        compoundId: 'c-1',
        householdId: null,
        kind: 'resident',
        name: '张三明',
        maskedName: '张*明',
        idSealed: null,
        idHash: 'b'.repeat(64),
        maskedIdNumber: null,
        phone: null,
        cards: [],
        elderly: false,
        validFrom: null,
        validTo: null,
        active: true,
        health: 'green',
        healthTs: null,
        createdAt: 1,
        updatedAt: 1,
      },
    ]);
    const res = await h.request('GET', '/api/v1/live', { token: await h.token('guard', 'c-1') });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}`);
        text += decoder.decode(value);
      }
    };
    await readUntil(': connected');
    await h.core.store.upsertResidents([resident('p-2', 'c-2')]);
    await ingest('g-2', entryEvent('g-2', 1, { personId: 'p-2' }));
    await ingest('g-1', entryEvent('g-1', 1, { personId: 'p-1', idHash: 'b'.repeat(64) }));
    await readUntil('event: entry');
    await h.core.router.route(
      'anxin/v1/gates/g-1/alarms',
      Buffer.from(JSON.stringify({ kind: 'forced', ts: 5, detail: 'door forced' })),
    );
    await readUntil('event: alarm');
    await h.core.router.route(
      'anxin/v1/gates/g-1/status',
      Buffer.from(
        JSON.stringify({
          online: true,
          mode: 'normal',
          rev: 0,
          journalDepth: 7,
          devices: { idreader: 'ok', qr: 'ok', turnstile: 'ok' },
          version: '0.1.0',
          ts: 6,
        }),
      ),
    );
    await readUntil('event: status');
    await reader.cancel();
    expect(text).toContain('"maskedName":"张*明"');
    expect(text).not.toContain('b'.repeat(64));
    expect(text).not.toContain('"gateId":"g-2"');
    const metrics = await (await h.request('GET', '/metrics')).text();
    expect(metrics).toContain('anxin_gate_journal_depth{gate="g-1"} 7');
  });
});
