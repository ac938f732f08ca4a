/**
 * How tensors reach Device objects without importing device.ts.
 *
 * device.ts makes tensors (`Device.tensor`, `zeros`, `empty`), so it imports
 * tensor.ts. A Tensor needs devices too: the Device of the handle it wraps
 * (`Tensor.device`) and the one a spec names (`Tensor.to('cuda')`). Were
 * tensor.ts to import device.ts back, the two would form an import cycle,
 * in which whichever module is loaded second runs against the other's
 * not-yet-defined exports. Instead device.ts hands its lookup to this
 * module as it loads, and tensor.ts asks here. Every Tensor comes from a
 * Device or from ops on tensors that did, so the lookup is in place before
 * a Tensor can ask for it.
 *
 * Internal to moekit (index.ts exports nothing from here).
 * @module
 */
import type { Device } from './device.js';

/**
 * What device.ts provides.
 * @internal
 */
export interface DeviceLookup {
  /** The Device object for an id the binding reported. */
  byId(id: string): Device;
  /** A Device from a Device or a spec, for ops taking either; errors name `op`. */
  resolve(op: string, target: unknown): Device;
}

let provided: DeviceLookup | undefined;

/**
 * Installs the lookup; device.ts calls it once, when it loads.
 * @internal
 */
export function provideDeviceLookup(lookup: DeviceLookup): void {
  provided = lookup;
}

/**
 * The lookup device.ts installed.
 * @throws Error when device.ts was never loaded (only a test importing
 *   lib/tensor.js alone can get here).
 * @internal
 */
export function deviceLookup(): DeviceLookup {
  if (provided === undefined) throw new Error('moekit: lib/device.js was not loaded, so tensors cannot find their devices; import moekit (lib/index.js)');
  return provided;
}
