/**
 * The raw transport ceiling of bench/ingest.ts: the same prepared messages through the same broker
 * to a subscriber that does nothing (QoS 1, signed in with a cloud account), with the same window
 * per gate, done when it has counted every message — and where the CPU went meanwhile. Two
 * subscribers: `mosquitto_sub > /dev/null` (C, the transport's own ceiling), and `cloud-link` —
 * the cloud's MQTT link alone (bench/lib/cloud-link-floor.ts), the floor of every cloud built on it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { filters } from '../../shared/topics.ts';
import type { BenchContext } from './cli.ts';
import { type CpuSplit, withCpuSplit } from './cpu-split.ts';
import type { GateSwarm, PreparedMessage } from './gate-swarm.ts';
import type { RunningProcess } from './processes.ts';
import { sleep } from './samples.ts';

const PHASE_TIMEOUT_MS = 240_000;
export const RAW_SUB_ID = 'raw-sub';
export type RawSubscriber = 'mosquitto_sub' | 'cloud-link';
const LINK_FLOOR_SCRIPT = fileURLToPath(new URL('./cloud-link-floor.ts', import.meta.url));

/** The subscriber process, taking `total` messages of every gate's `events` (QoS 1) as the cloud's account. */
function spawnSubscriber(kind: RawSubscriber, port: number, token: string, total: number): ChildProcess {
  if (kind === 'cloud-link') {
    const args = ['--import', 'tsx', LINK_FLOOR_SCRIPT, `mqtt://127.0.0.1:${port}`, RAW_SUB_ID, token, String(total)];
    return spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  }
  const stdio: ['ignore', 'ignore', 'inherit'] = ['ignore', 'ignore', 'inherit'];
  const args = ['-h', '127.0.0.1', '-p', String(port), '-i', RAW_SUB_ID, '-u', RAW_SUB_ID, '-P', token];
  return spawn(
    'mosquitto_sub',
    [...args, '-V', 'mqttv311', '-q', '1', '-C', String(total), '-t', filters.allGates('events')],
    { stdio },
  );
}

/** Resolves once the child prints `subscribed`; rejects if it ends or stays silent for `timeoutMs`. */
async function subscribedLine(child: ChildProcess, timeoutMs: number): Promise<void> {
  const stdout = child.stdout!;
  stdout.setEncoding('utf8');
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the cloud link did not subscribe in time')), timeoutMs);
    const onData = (text: string) => {
      seen += text;
      if (!seen.includes('subscribed\n')) return;
      clearTimeout(timer);
      stdout.off('data', onData);
      stdout.resume();
      resolve();
    };
    stdout.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the cloud link ended with ${code} before it subscribed`));
    });
  });
}

export async function rawCeiling(
  ctx: Pick<BenchContext<unknown>, 'onCleanup'>,
  broker: RunningProcess,
  swarm: GateSwarm,
  messages: PreparedMessage[][],
  subscriberToken: string,
  window: number,
  subscriber: RawSubscriber = 'mosquitto_sub',
): Promise<{ seconds: number; events: number; split: CpuSplit }> {
  const total = messages.flat().length;
  const sub = spawnSubscriber(subscriber, broker.port, subscriberToken, total);
  ctx.onCleanup(() => {
    if (sub.exitCode === null) sub.kill('SIGKILL');
  });
  const exited = once(sub, 'exit');
  // The link says when it is subscribed; mosquitto_sub has no such signal (a C client, subscribed within 1 s).
  if (sub.stdout) await subscribedLine(sub, PHASE_TIMEOUT_MS);
  else await sleep(1_000);
  const started = process.hrtime.bigint();
  const { result: run, split } = await withCpuSplit({ broker: broker.pid, [subscriber]: sub.pid! }, async () => {
    const sent = await swarm.send(messages, { window, until: 'puback', timeoutMs: PHASE_TIMEOUT_MS });
    const timeout = setTimeout(() => sub.kill('SIGKILL'), PHASE_TIMEOUT_MS);
    await exited;
    clearTimeout(timeout);
    return sent;
  });
  if (sub.exitCode !== 0)
    throw new Error(`${subscriber} ended with ${sub.exitCode ?? sub.signalCode} before ${total} messages`);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, events: run.events, split };
}
