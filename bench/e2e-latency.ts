/**
 * End-to-end latency: a passage journaled on a gate → visible on the cloud's `/live` stream, at a
 * steady 1,000 passages/s spread over G in-process edge agents (manual opens: journaled, final at
 * once, published live), through `anxin broker` and `anxin cloud` as separate processes. The SSE
 * reader runs in this process, so journal time and arrival share one clock.
 *
 *   node --import tsx bench/e2e-latency.ts [--quick] [--rate 1000] [--seconds 20] [--gates 20]
 */
import type { EdgeAgent } from '../edge-agent/edge-agent.ts';
import { intFlag, runBench } from './lib/cli.ts';
import { startDeployment } from './lib/deployment.ts';
import { latencyFigures } from './lib/report.ts';
import { Samples, sleep, waitFor } from './lib/samples.ts';

const USAGE = `bench e2e-latency [--quick] [--rate N] [--seconds N] [--gates N] [--json FILE]
  journal → /live latency at a steady rate (default 1000/s for 20 s over 20 gates).`;

const TARGET_P99_MS = 100;
const TICK_MS = 10;

/** Every `entry` event of the /live stream, with the time its chunk arrived, until `signal` aborts. */
async function readLiveEntries(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
  onEntry: (entry: { gateId: string; seq: number }, arrived: bigint) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      const arrived = process.hrtime.bigint();
      buffer += decoder.decode(chunk, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        if (!block.includes('event: entry')) continue;
        const data = block.split('\n').find((l) => l.startsWith('data:'));
        if (data) onEntry(JSON.parse(data.slice(5)) as { gateId: string; seq: number }, arrived);
      }
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}

await runBench(
  'e2e-latency',
  USAGE,
  { rate: { type: 'string' }, seconds: { type: 'string' }, gates: { type: 'string' } },
  async (ctx) => {
    const { report, quick, values } = ctx;
    const rate = intFlag(values, 'rate', quick ? 200 : 1_000);
    const seconds = intFlag(values, 'seconds', quick ? 3 : 20);
    const gateCount = intFlag(values, 'gates', quick ? 5 : 20);
    const gates = Array.from({ length: gateCount }, (_, i) => ({ gateId: `g-0-${i}`, compoundId: 'c-0' }));
    const deployment = await startDeployment(ctx, { gates, residents: [] });
    const agents: EdgeAgent[] = [];
    for (const g of gates) agents.push(await deployment.startAgent(g.gateId, g.compoundId));
    await waitFor('every gate online', () => agents.every((a) => a.state().online), 30_000, 50);

    const journaledAt = new Map<string, bigint>();
    const samples = new Samples();
    const abort = new AbortController();
    ctx.onCleanup(() => abort.abort());
    const response = await fetch(`${deployment.cloud.url}/api/v1/live`, {
      headers: { authorization: `Bearer ${deployment.token('bench', 'manager', 'c-0')}` },
      signal: abort.signal,
    });
    if (!response.ok || !response.body) throw new Error(`/live answered ${response.status}`);
    let seen = 0;
    const reading = readLiveEntries(response.body, abort.signal, (entry, arrived) => {
      const at = journaledAt.get(`${entry.gateId}:${entry.seq}`);
      if (at === undefined) return;
      samples.addNs(arrived - at);
      seen += 1;
    });

    // Warm-up second, not measured.
    agents[0]!.manualOpen({ direction: 'in', reason: 'warm-up', guard: 'bench' });
    await sleep(1_000);

    const total = rate * seconds;
    let sent = 0;
    let next = 0;
    const started = process.hrtime.bigint();
    while (sent < total) {
      const due = Math.min(total, Math.floor((Number(process.hrtime.bigint() - started) / 1e9) * rate));
      while (sent < due) {
        const agent = agents[next]!;
        next = (next + 1) % agents.length;
        const { seq } = agent.manualOpen({ direction: sent % 2 === 0 ? 'in' : 'out', reason: 'bench', guard: 'bench' });
        if (seq !== null) journaledAt.set(`${agent.config.gateId}:${seq}`, process.hrtime.bigint());
        sent += 1;
      }
      await sleep(TICK_MS);
    }
    const offeredS = Number(process.hrtime.bigint() - started) / 1e9;
    await waitFor('every passage on /live', () => seen >= sent, 60_000, 20).catch(() => undefined);
    abort.abort();
    await reading;

    const d = samples.distribution();
    report.add(...latencyFigures(`journal → /live at ${rate}/s`, d, { p99: TARGET_P99_MS }));
    report.add(
      { name: 'offered rate', value: sent / offeredS, unit: 'passages/s', note: `${gateCount} gates, ${seconds} s` },
      { name: 'passages not seen on /live', value: sent - seen, unit: 'passages', target: 0, goal: 'max' },
    );
    report.note(
      'the gates publish each passage live as soon as it is journaled; the cloud writes a batch once the messages pause for 5 ms, at most 30 ms after its first passage (DEFAULT_QUIET_MS, DEFAULT_FLUSH_INTERVAL_MS)',
    );
    for (const agent of agents) await agent.stop();
  },
);
