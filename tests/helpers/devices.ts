/**
 * The devices a test runs on, and why GPU tests are skipped.
 *
 * GPU blocks are written
 * ```ts
 * const gpu = cudaDevice();
 * describe.skipIf(!gpu)(`cuda${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => { ... });
 * ```
 * so a run without a GPU reports each skipped block with the reason.
 * @module
 */
import { type Device, cudaStatus, device, devices } from '../../lib/index.js';

/** Every device present: the CPU first, then each usable CUDA GPU. */
export function testDevices(): Device[] {
  return devices().map((info) => device(info.id as 'cpu' | `cuda:${number}`));
}

/** The first usable GPU, or undefined when there is none. */
export function cudaDevice(): Device | undefined {
  return testDevices().find((d) => d.kind === 'cuda');
}

/** Why no GPU is usable, as the addon reports it ('' when one is). */
export function cudaSkipReason(): string {
  const status = cudaStatus();
  return status.available ? '' : status.reason;
}
