/**
 * Timing markers: points recorded in a device's queue (a CUDA event on a
 * GPU, a monotonic clock reading on the CPU device), so timings measure the
 * device's work and not the JS thread's.
 * @module
 */
import { type NativeMarker, binding, callNative, settleNative } from '../../lib/binding.js';
import type { Device } from '../../lib/index.js';

/** Records a marker after everything queued on `device` so far. */
export function marker(device: Device): NativeMarker {
  return callNative(() => binding().marker(device.id));
}

/**
 * Milliseconds between two markers of one device, once both are recorded.
 * @throws KernelError when work queued before them failed.
 */
export function elapsedMs(start: NativeMarker, end: NativeMarker): Promise<number> {
  return settleNative(binding().elapsed(start, end), new Error());
}

/**
 * Device milliseconds `enqueue` takes: markers around it, then their
 * difference. For calibration; cases are timed by timing.ts.
 */
export async function timeOnQueue(device: Device, enqueue: () => void): Promise<number> {
  const start = marker(device);
  enqueue();
  const end = marker(device);
  return elapsedMs(start, end);
}
