/**
 * Times a case: warm-up repeats, then timed repeats, each bracketed by
 * markers in the device queue (CUDA events on a GPU, a monotonic clock on
 * the CPU device) around exactly one `run`. Every sample is kept.
 *
 * One repeat enqueues, in order: the queue hold (hold.ts), the L2 flush
 * (flush.ts, CUDA), the start marker, the case's `run`, the end marker; and
 * then waits for the elapsed time, so repeats do not overlap and each
 * repeat's outputs are freed before the next allocates (host allocators
 * then reuse memory instead of faulting in fresh pages every repeat).
 * @module
 */
import type { Device } from '../../lib/index.js';
import type { L2Flush } from './flush.js';
import type { QueueHold } from './hold.js';
import { elapsedMs, marker } from './markers.js';
import type { BenchCase, RunOutput } from './types.js';

/** How much to time. */
export interface TimingOptions {
  /** Untimed repeats first (caches, pools, clocks settle; the hold learns the enqueue cost). */
  readonly warmup: number;
  /** At least this many timed repeats. */
  readonly repeats: number;
  /** Keep repeating until the samples add up to this many milliseconds (up to {@link MAX_SAMPLES}). */
  readonly minTimeMs: number;
}

/** The helpers a device's timing uses. */
export interface TimingAids {
  readonly hold: QueueHold;
  /** CUDA only. */
  readonly flush?: L2Flush;
}

/** What timing a case produced. */
export interface Timing {
  /** Device milliseconds of each timed repeat, in order. */
  readonly samplesMs: number[];
  /** JS-thread milliseconds to enqueue each timed repeat (flush, markers and `run`). */
  readonly enqueueMs: number[];
  /**
   * Repeats whose enqueueing outlasted the busy work queued ahead of them
   * by more than {@link HOST_GAP_SHARE} of the sample, so the device may
   * have waited that long for the JS thread inside the markers.
   */
  readonly hostBoundSamples: number;
}

/** A repeat counts as host-bound when the device may have waited for the host for more than this share of its time. */
export const HOST_GAP_SHARE = 0.02;

/** Most timed repeats `minTimeMs` can ask for. */
export const MAX_SAMPLES = 1000;

/** Enqueue cost assumed before the first repeat has measured one. */
const INITIAL_ENQUEUE_MS = 0.05;

function disposeOutput(out: RunOutput): void {
  if (!out) return;
  if (Array.isArray(out)) {
    for (const d of out as readonly Disposable[]) d[Symbol.dispose]();
  } else {
    (out as Disposable)[Symbol.dispose]();
  }
}

interface Repeat {
  readonly ms: number;
  readonly enqueueMs: number;
  readonly hostBound: boolean;
}

/**
 * Warms `c` up and times it on `device`.
 * @param onRepeat - called after each repeat (warm-up included) with how many are done.
 * @throws whatever `run` throws, and KernelError when queued work fails.
 */
export async function timeCase<S>(
  device: Device,
  c: BenchCase<S>,
  state: S,
  options: TimingOptions,
  aids: TimingAids,
  onRepeat?: (done: number) => void,
): Promise<Timing> {
  const flush = c.flushL2 === false ? undefined : aids.flush;
  let expectedEnqueueMs = INITIAL_ENQUEUE_MS;
  let done = 0;

  const repeatOnce = async (index: number): Promise<Repeat> => {
    const units = aids.hold.unitsFor(expectedEnqueueMs);
    const t0 = performance.now();
    const heldMs = aids.hold.engage(units);
    const tHeld = performance.now();
    flush?.flush();
    const start = marker(device);
    const out = c.run(state, index);
    const end = marker(device);
    const t1 = performance.now();
    disposeOutput(out);
    const ms = await elapsedMs(start, end);
    const enqueueMs = t1 - tHeld;
    // Learn the enqueue cost, slow to forget a slow repeat.
    expectedEnqueueMs = Math.max(enqueueMs, 0.8 * expectedEnqueueMs);
    onRepeat?.(++done);
    // The device can only have waited for what the JS thread spent beyond the busy work ahead of the markers.
    const possibleWaitMs = t1 - t0 - heldMs - (flush?.ms ?? 0);
    return { ms, enqueueMs, hostBound: possibleWaitMs > HOST_GAP_SHARE * ms };
  };

  for (let i = 0; i < options.warmup; i++) await repeatOnce(i);

  const samplesMs: number[] = [];
  const enqueueMs: number[] = [];
  let hostBoundSamples = 0;
  let total = 0;
  while (samplesMs.length < options.repeats || (total < options.minTimeMs && samplesMs.length < MAX_SAMPLES)) {
    const r = await repeatOnce(options.warmup + samplesMs.length);
    samplesMs.push(r.ms);
    enqueueMs.push(r.enqueueMs);
    if (r.hostBound) hostBoundSamples++;
    total += r.ms;
  }
  return { samplesMs, enqueueMs, hostBoundSamples };
}
