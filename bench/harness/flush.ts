/**
 * L2 flush for CUDA: before each timed repeat the harness rewrites a buffer
 * larger than the GPU's L2 cache, so a kernel's inputs are not still cached
 * from the previous repeat (a real model step reads them from HBM). Without
 * it, shapes whose inputs fit in L2 (50 MB on an H100) look faster than
 * they are.
 *
 * The rewrite is `device.zeros(bytes)` disposed at once: a memset on the
 * device queue into a block the stream-ordered pool hands back each time.
 * The CPU device has no flush (its caches are handled by input rotation,
 * rotation.ts).
 * @module
 */
import type { Device } from '../../lib/index.js';
import { timeOnQueue } from './markers.js';
import { summarize } from './stats.js';

/** The flush writes at least this much, whatever the L2 size reported. */
const MIN_FLUSH_BYTES = 64 * 1024 * 1024;

/** Calibration rounds; the median is kept. */
const CALIBRATION_ROUNDS = 5;

/** A calibrated L2 flush of one GPU. */
export interface L2Flush {
  /** Bytes rewritten per flush: twice the L2, at least 64 MiB. */
  readonly bytes: number;
  /** Device milliseconds one flush takes (median of a few). */
  readonly ms: number;
  /** Enqueues one flush. */
  flush(): void;
}

/** Bytes an L2 flush of `device` rewrites. */
export function l2FlushBytes(device: Device): number {
  return Math.max(2 * (device.info.l2Bytes ?? 0), MIN_FLUSH_BYTES);
}

/**
 * The L2 flush of a CUDA device, timed once; `undefined` for the CPU device.
 * @example
 * ```ts
 * const l2 = await createL2Flush(dev);
 * l2?.flush(); // then the markers and the timed work
 * ```
 */
export async function createL2Flush(device: Device): Promise<L2Flush | undefined> {
  if (device.kind !== 'cuda') return undefined;
  const bytes = l2FlushBytes(device);
  const flush = (): void => device.zeros([bytes], 'u8').dispose();
  flush(); // the pool's first allocation of this size is not representative
  const times: number[] = [];
  for (let i = 0; i < CALIBRATION_ROUNDS; i++) times.push(await timeOnQueue(device, flush));
  return { bytes, ms: summarize(times).median, flush };
}
