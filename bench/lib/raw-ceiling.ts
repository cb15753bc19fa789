/**
 * The raw transport ceiling of bench/ingest.ts: the same prepared messages through the same broker
 * to `mosquitto_sub > /dev/null` (QoS 1, signed in with a cloud account), with the same window per
 * gate, done when mosquitto_sub has counted every message — and where the CPU went meanwhile.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { filters } from '../../shared/topics.ts';
import type { BenchContext } from './cli.ts';
import { type CpuSplit, withCpuSplit } from './cpu-split.ts';
import type { GateSwarm, PreparedMessage } from './gate-swarm.ts';
import type { RunningProcess } from './processes.ts';
import { sleep } from './samples.ts';

const PHASE_TIMEOUT_MS = 240_000;
export const RAW_SUB_ID = 'raw-sub';

export async function rawCeiling(
  ctx: Pick<BenchContext<unknown>, 'onCleanup'>,
  broker: RunningProcess,
  swarm: GateSwarm,
  messages: PreparedMessage[][],
  subscriberToken: string,
  window: number,
): Promise<{ seconds: number; events: number; split: CpuSplit }> {
  const total = messages.flat().length;
  const sub = spawn(
    'mosquitto_sub',
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(broker.port),
      '-i',
      RAW_SUB_ID,
      '-u',
      RAW_SUB_ID,
      '-P',
      subscriberToken,
      '-V',
      'mqttv311',
      '-q',
      '1',
      '-C',
      String(total),
      '-t',
      filters.allGates('events'),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  ctx.onCleanup(() => {
    if (sub.exitCode === null) sub.kill('SIGKILL');
  });
  const exited = once(sub, 'exit');
  await sleep(1_000); // mosquitto_sub has no "subscribed" signal
  const started = process.hrtime.bigint();
  const { result: run, split } = await withCpuSplit({ broker: broker.pid, mosquitto_sub: sub.pid }, async () => {
    const sent = await swarm.send(messages, { window, until: 'puback', timeoutMs: PHASE_TIMEOUT_MS });
    const timeout = setTimeout(() => sub.kill('SIGKILL'), PHASE_TIMEOUT_MS);
    await exited;
    clearTimeout(timeout);
    return sent;
  });
  if (sub.exitCode !== 0)
    throw new Error(`mosquitto_sub ended with ${sub.exitCode ?? sub.signalCode} before ${total} messages`);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, events: run.events, split };
}
