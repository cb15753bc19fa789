/**
 * The gate's heap on a small board (docs/edge-agent.md "Memory").
 *
 * V8 doubles the young generation's semi-spaces from 1 MB up to 16 MB whenever a scavenge sees
 * many survivors — while the modules load and again while a snapshot's parts are parsed — and the
 * 2 × 16 MB it then holds stay resident for the life of the process: a third of an idle gate's
 * RSS. The gate's allocations are small and short-lived (one passage, one sync message), so its
 * semi-spaces stay at their initial size. `--semi-space-growth-factor` is read at every growth,
 * so it can be set here at run time (unlike `--max-semi-space-size`, read once when the heap is
 * configured), before the command's modules load. A flag the operator gave wins.
 *
 * V8 resets the growth factor to 2 whenever it configures a new isolate's heap — a worker thread
 * (the WAL checkpointer's) undoes it, and the next busy scavenge doubles the semi-spaces at once
 * to their maximum — so whoever starts a worker, when `youngGenerationKeptSmall()`, waits until
 * the worker runs (its heap is configured by then) and calls `reassertYoungGenerationSetting`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const OPERATOR_FLAGS = /--(max-semi-space-size|min-semi-space-size|semi-space-growth-factor)\b/;

const SETTING = '--semi-space-growth-factor=1';
let applied = false;

/** Returns whether it applied the setting (false when the operator chose their own). */
export function keepYoungGenerationSmall(): boolean {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((flag) => OPERATOR_FLAGS.test(flag));
  if (given) return false;
  setFlagsFromString(SETTING);
  applied = true;
  return true;
}

export const youngGenerationKeptSmall = (): boolean => applied;

/** Sets it again after a new isolate (a worker thread) reset it; nothing if it was never applied. */
export function reassertYoungGenerationSetting(): void {
  if (applied) setFlagsFromString(SETTING);
}

/** Delay of the collection after bulk work: the caller's stack (the parsed message) has unwound by then. */
const COLLECT_DELAY_MS = 100;
let collect: (() => void) | undefined;
let pending: NodeJS.Timeout | undefined;

/**
 * After rare bulk work (a snapshot swapped in): two full collections, soon. A snapshot's parsed
 * parts are garbage by then, but most of them sit in the large-object space, which only a full
 * collection frees, and the gate, idle again, may not run one for a long time: ≈ 15 MB held for
 * nothing after 100 k persons. One collection frees the dead objects but leaves the old-space
 * pages they shared with a few survivors committed (found sparse only by that collection's
 * marking); the second one evacuates those pages and gives them back: 30 MB of old space holding
 * 16 MB of objects after 100 k persons with one (docs/edge-agent.md, "Memory"). Only where
 * `keepYoungGenerationSmall` applied (the gate process), never in a process that embeds agents
 * beside other work. `gc` comes from `--expose-gc` set at run time, which V8 honours for contexts
 * created afterwards.
 */
export function collectAfterBulkWork(): void {
  if (!applied || pending) return;
  pending = setTimeout(() => {
    pending = undefined;
    if (!collect) {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as () => void;
    }
    collect();
    collect();
  }, COLLECT_DELAY_MS);
  pending.unref();
}
