/**
 * Queue hold: keeps the device busy while the JS thread enqueues a timed
 * repeat, so the start marker is not recorded on an idle queue that then
 * waits for the JS thread (and the queue thread's wake-up) before the timed
 * work arrives. Without it, a 5 µs kernel could time at 20 µs.
 *
 * The busy work is a run of small memsets (`device.zeros(unitBytes)`
 * disposed at once) ahead of the start marker. Each unit keeps the device
 * busy for `unitMs` and costs the JS thread `unitHostMs` to enqueue; the
 * hold needs enough units that the device is still busy when the JS thread
 * has enqueued the end marker.
 * @module
 */
import type { Device } from '../../lib/index.js';
import { timeOnQueue } from './markers.js';
import { summarize } from './stats.js';

/** Bytes one unit writes: long enough on the device to outlast its own enqueueing. */
const UNIT_BYTES = { cuda: 32 * 1024 * 1024, cpu: 256 * 1024 } as const;

/** Most units per repeat; bounds the memory in flight (the pool reuses the blocks as the queue frees them). */
export const MAX_HOLD_UNITS = 64;

/** The hold covers this multiple of the host time it must hide. */
const SAFETY = 1.5;

const CALIBRATION_ROUNDS = 5;

/** A calibrated hold for one device. */
export interface QueueHold {
  readonly unitBytes: number;
  /** Device milliseconds one unit keeps the queue busy. */
  readonly unitMs: number;
  /** JS-thread milliseconds to enqueue one unit. */
  readonly unitHostMs: number;
  /** Units that keep the device busy while the JS thread spends `hostMs` enqueueing (0 when units cannot outrun their own enqueueing). */
  unitsFor(hostMs: number): number;
  /** Enqueues `units` units; returns the device milliseconds they cover. */
  engage(units: number): number;
}

/**
 * A hold for `device`, its units timed on the device and on the JS thread.
 * @example
 * ```ts
 * const hold = await createQueueHold(dev);
 * hold.engage(hold.unitsFor(lastEnqueueMs)); // then the markers and the timed work
 * ```
 */
export async function createQueueHold(device: Device): Promise<QueueHold> {
  const unitBytes = UNIT_BYTES[device.kind];
  const unit = (): void => device.zeros([unitBytes], 'u8').dispose();
  const deviceMs: number[] = [];
  const hostMs: number[] = [];
  for (let i = 0; i < CALIBRATION_ROUNDS; i++) {
    unit(); // keeps the queue busy while the timed unit is enqueued
    deviceMs.push(
      await timeOnQueue(device, () => {
        const t0 = performance.now();
        unit();
        hostMs.push(performance.now() - t0);
      }),
    );
  }
  const unitMs = summarize(deviceMs).median;
  const unitHostMs = summarize(hostMs).median;
  const gain = unitMs - unitHostMs;
  return {
    unitBytes,
    unitMs,
    unitHostMs,
    unitsFor(ms: number): number {
      if (!(gain > 0) || !(ms > 0)) return 0;
      return Math.min(MAX_HOLD_UNITS, Math.ceil((SAFETY * ms) / gain));
    },
    engage(units: number): number {
      for (let i = 0; i < units; i++) unit();
      return units * unitMs;
    },
  };
}
