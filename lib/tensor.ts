/**
 * Tensors: typed, row-major, contiguous arrays on a device.
 * @module
 */
import { binding, type NativeTensor } from './binding.js';
import type { Device, DeviceSpec } from './device.js';
import { getDevice, resolveDevice } from './device.js';
import { type ArrayFor, type DType, dtypeSize } from './dtype.js';
import { DisposedError, fromNativeError } from './errors.js';
import { checkDType, checkOptions, checkShape, numel, rangeError, shapeText, typeError } from './validate.js';

// util.inspect's hook, by its registered name (no node:util import, so the
// published types need nothing beyond the standard library).
const inspectCustom: unique symbol = Symbol.for('nodejs.util.inspect.custom') as never;

// The safety net for tensors that were never disposed. The native handle
// frees its buffer in its own finalizer when it is collected, together with
// the Tensor that alone holds it; this registry notices such tensors, so
// MOEKIT_WARN_UNDISPOSED=1 can name them. It holds only a description:
// holding the handle itself would keep the native wrapper from ever being
// finalized. dispose()/using is the plan.
const undisposed = new FinalizationRegistry<string>((what) => {
  if (process.env.MOEKIT_WARN_UNDISPOSED === '1') {
    process.emitWarning(`${what} was garbage-collected without dispose(); its memory was freed late`, { code: 'MOEKIT_UNDISPOSED' });
  }
});

/**
 * Calls into the binding, mapping native failures to moekit's error classes.
 * @internal
 */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNativeError(e);
  }
}

/**
 * Awaits a native promise; a failure is reported with the stack of the call
 * that started it.
 * @internal
 */
export async function settleNative<T>(promise: Promise<T>, callSite: Error): Promise<T> {
  try {
    return await promise;
  } catch (e) {
    throw fromNativeError(e, callSite);
  }
}

/**
 * A row-major, contiguous, immutable array of `dtype` elements on a device.
 *
 * Ops never modify their inputs; they return new tensors. Free a tensor's
 * memory with {@link Tensor.dispose} or a `using` declaration; a tensor that
 * is garbage-collected undisposed is freed eventually, but GPU memory should
 * not wait for the garbage collector.
 *
 * @example
 * ```ts
 * const dev = device('auto');
 * using x = dev.tensor([1, 2, 3, 4], { shape: [2, 2], dtype: 'bf16' });
 * console.log(await x.toArray()); // Float32Array [1, 2, 3, 4]
 * ```
 */
export class Tensor<D extends DType = DType> {
  /** Element type. */
  readonly dtype: D;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Number of elements. */
  readonly size: number;
  /** Bytes of storage (size × bytes per element). */
  readonly byteLength: number;
  /** The device that holds the data. */
  readonly device: Device;
  #handle: NativeTensor;
  #disposed = false;

  private constructor(handle: NativeTensor) {
    this.#handle = handle;
    this.dtype = handle.dtype as D;
    this.shape = Object.freeze([...handle.shape]);
    this.size = numel(this.shape);
    this.byteLength = this.size * dtypeSize(this.dtype);
    this.device = getDevice(handle.device);
    undisposed.register(this, `Tensor(${this.dtype} ${shapeText(this.shape)} on ${this.device.id})`, this);
  }

  /** @internal Wraps a handle returned by the binding. */
  static fromNative<D extends DType>(handle: NativeTensor): Tensor<D> {
    return new Tensor<D>(handle);
  }

  /**
   * The native handle, for ops; throws {@link DisposedError} naming `op` and
   * `arg` when this tensor was disposed.
   * @internal
   */
  handle(op: string, arg: string): NativeTensor {
    if (this.#disposed) throw new DisposedError(`${op}: ${arg} was disposed; a tensor cannot be used after dispose()`);
    return this.#handle;
  }

  /** Whether {@link Tensor.dispose} was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Copies the elements to the host once all queued work producing them is
   * done. Float dtypes (bf16, f16, FP8 too) decode exactly to f32.
   * @throws (rejects with) the error of the queued work that failed to
   *   produce this tensor or one it was computed from ({@link KernelError},
   *   {@link OutOfMemoryError}), or of other work on the device that failed
   *   since the last read or synchronize.
   */
  toArray(): Promise<ArrayFor<D>> {
    const handle = this.handle('toArray', 'tensor');
    const callSite = new Error();
    const dtype = this.dtype;
    return settleNative(callNative(() => binding().read(handle, true)), callSite).then((buffer) => {
      if (dtype === 'i32') return new Int32Array(buffer) as ArrayFor<D>;
      if (dtype === 'u8') return new Uint8Array(buffer) as ArrayFor<D>;
      return new Float32Array(buffer) as ArrayFor<D>;
    });
  }

  /** The raw storage bytes (e.g. bf16 bit patterns, FP8 codes). */
  bytes(): Promise<Uint8Array> {
    const handle = this.handle('bytes', 'tensor');
    const callSite = new Error();
    return settleNative(callNative(() => binding().read(handle, false)), callSite).then((buffer) => new Uint8Array(buffer));
  }

  /**
   * A copy on `target` (always a new tensor, even on the same device).
   * @param options.pinned - for a host target: page-locked memory, which makes
   *   later copies to a GPU faster (needs a CUDA device).
   */
  to(target: Device | DeviceSpec, options?: { pinned?: boolean }): Tensor<D> {
    const handle = this.handle('to', 'tensor');
    const opts = checkOptions('to', options);
    const pinned = opts.pinned ?? false;
    if (typeof pinned !== 'boolean') throw typeError('to', 'options.pinned', 'a boolean', pinned);
    const dev = resolveDevice('to', target);
    return Tensor.fromNative<D>(callNative(() => binding().copyTo(handle, dev.id, pinned)));
  }

  /** A copy on the same device. */
  clone(): Tensor<D> {
    const handle = this.handle('clone', 'tensor');
    return Tensor.fromNative<D>(callNative(() => binding().copyTo(handle, this.device.id, false)));
  }

  /**
   * A converted copy: round to nearest even between float types (FP8
   * saturating to ±max, as `__NV_SATFINITE`), float to integer truncating
   * toward zero and saturating (NaN gives 0).
   */
  cast<E extends DType>(dtype: E): Tensor<E> {
    const handle = this.handle('cast', 'tensor');
    checkDType('cast', 'dtype', dtype);
    return Tensor.fromNative<E>(callNative(() => binding().cast(handle, dtype)));
  }

  /**
   * A view with another shape and the same elements (shares storage; each
   * view is disposed on its own and the memory goes with the last). One
   * dimension may be -1 and is then inferred.
   */
  reshape(shape: readonly number[]): Tensor<D> {
    const handle = this.handle('reshape', 'tensor');
    if (!Array.isArray(shape)) throw typeError('reshape', 'shape', 'an array of non-negative integers', shape);
    const inferred = shape.indexOf(-1);
    if (inferred >= 0 && shape.lastIndexOf(-1) !== inferred) throw rangeError('reshape', 'shape', 'a shape with at most one -1', shapeText(shape));
    // Every other entry must be a dimension before anything is inferred.
    checkShape('reshape', 'shape', shape.map((d, i) => (i === inferred ? 0 : d)));
    let resolved = shape;
    if (inferred >= 0) {
      const rest = numel(shape.filter((_, i) => i !== inferred));
      if (rest === 0 || this.size % rest !== 0) {
        throw rangeError('reshape', 'shape', `compatible with ${this.size} elements`, shapeText(shape));
      }
      resolved = shape.map((d, i) => (i === inferred ? this.size / rest : d));
    }
    const checked = checkShape('reshape', 'shape', resolved);
    return Tensor.fromNative<D>(callNative(() => binding().reshape(handle, checked)));
  }

  /**
   * Frees the tensor's memory once queued work using it is done. Calling it
   * twice is harmless; any other use afterwards throws {@link DisposedError}.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    undisposed.unregister(this);
    this.#handle.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor(${this.dtype} ${shapeText(this.shape)} on ${this.device.id}${this.#disposed ? ', disposed' : ''})`;
  }

  [inspectCustom](): string {
    return this.toString();
  }
}

/** Anything {@link Device.tensor} accepts as data. */
export type TensorData =
  | readonly number[]
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint8ClampedArray
  | Uint16Array
  | Uint32Array;
