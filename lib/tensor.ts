/**
 * Tensors: typed, row-major, contiguous arrays on a device.
 * @module
 */
import { type NativeTensor, binding, callNative, settleNative } from './binding.js';
// Type-only: device.ts imports this module, so devices are reached through
// device_lookup.ts (which explains why).
import type { Device, DeviceSpec } from './device.js';
import { deviceLookup } from './device_lookup.js';
import { type ArrayFor, type DType, dtypeSize } from './dtype.js';
import { DisposedError } from './errors.js';
import { checkDType, checkInteger, checkOptions, checkShape, numel, rangeError, shapeText, typeError } from './validate.js';

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
    this.device = deviceLookup().byId(handle.device);
    undisposed.register(this, `Tensor(${this.dtype} ${shapeText(this.shape)} on ${this.device.id})`, this);
  }

  /** @internal Wraps a handle returned by the binding. */
  static fromNative<D extends DType>(handle: NativeTensor): Tensor<D> {
    return new Tensor<D>(handle);
  }

  /**
   * Whether `value` is a tensor made by moekit. A Proxy of one, or an object
   * made with `Object.create(Tensor.prototype)`, is not: neither holds data.
   */
  static isTensor(value: unknown): value is Tensor {
    return typeof value === 'object' && value !== null && #handle in value;
  }

  /**
   * Checks that `value` is a tensor made by moekit, for methods called on
   * something else (`Tensor.prototype.toArray.call(proxy)`).
   */
  static #own(value: unknown, op: string): Tensor {
    checkTensor(op, 'this', value);
    return value;
  }

  /** The handle of `self`, a method's receiver, checked like an op's argument. */
  static #handleOf(self: unknown, op: string): NativeTensor {
    checkTensor(op, 'tensor', self);
    return self.handle(op, 'tensor');
  }

  /**
   * The native handle, for ops; throws {@link DisposedError} naming `op` and
   * `arg` when this tensor was disposed, and a TypeError when `this` is not
   * a tensor made by moekit.
   * @internal
   */
  handle(op: string, arg: string): NativeTensor {
    checkTensor(op, arg, this);
    if (this.#disposed) throw new DisposedError(`${op}: ${arg} was disposed; a tensor cannot be used after dispose()`);
    return this.#handle;
  }

  /** Whether {@link Tensor.dispose} was called. */
  get disposed(): boolean {
    return Tensor.#own(this, 'disposed').#disposed;
  }

  /**
   * Copies the elements to the host once all queued work producing them is
   * done. Float dtypes (bf16, f16, FP8 too) decode exactly to f32.
   * @param range - elements `[start, end)` of the flattened tensor (default
   *   all): a result may be at most 4 GiB (Node.js 20's largest
   *   ArrayBuffer), so read larger tensors in parts.
   * @throws RangeError for a bad range or a result over 4 GiB.
   * @throws (rejects with) the error of the queued work that failed to
   *   produce this tensor or one it was computed from ({@link KernelError},
   *   {@link OutOfMemoryError}), or of other work on the device that failed
   *   since the last read or synchronize.
   */
  toArray(range?: ReadRange): Promise<ArrayFor<D>> {
    const handle = Tensor.#handleOf(this, 'toArray');
    const [start, end] = readRange('toArray', range, this.size, this.dtype === 'i32' || this.dtype === 'u8' ? dtypeSize(this.dtype) : 4);
    const callSite = new Error();
    const dtype = this.dtype;
    return settleNative(callNative(() => binding().read(handle, true, start, end)), callSite).then((buffer) => {
      if (dtype === 'i32') return new Int32Array(buffer) as ArrayFor<D>;
      if (dtype === 'u8') return new Uint8Array(buffer) as ArrayFor<D>;
      return new Float32Array(buffer) as ArrayFor<D>;
    });
  }

  /**
   * The raw storage bytes (e.g. bf16 bit patterns, FP8 codes).
   * @param range - elements `[start, end)` of the flattened tensor (default all).
   */
  bytes(range?: ReadRange): Promise<Uint8Array> {
    const handle = Tensor.#handleOf(this, 'bytes');
    const [start, end] = readRange('bytes', range, this.size, dtypeSize(this.dtype));
    const callSite = new Error();
    return settleNative(callNative(() => binding().read(handle, false, start, end)), callSite).then((buffer) => new Uint8Array(buffer));
  }

  /**
   * A copy on `target` (always a new tensor, even on the same device).
   * @param options.pinned - for a host target: page-locked memory, which makes
   *   later copies to a GPU faster (needs a CUDA device).
   */
  to(target: Device | DeviceSpec, options?: { pinned?: boolean }): Tensor<D> {
    const handle = Tensor.#handleOf(this, 'to');
    const opts = checkOptions('to', options, ['pinned']);
    const pinned = opts.pinned ?? false;
    if (typeof pinned !== 'boolean') throw typeError('to', 'options.pinned', 'a boolean', pinned);
    const dev = deviceLookup().resolve('to', target);
    return Tensor.fromNative<D>(callNative(() => binding().copyTo(handle, dev.id, pinned)));
  }

  /** A copy on the same device. */
  clone(): Tensor<D> {
    const handle = Tensor.#handleOf(this, 'clone');
    return Tensor.fromNative<D>(callNative(() => binding().copyTo(handle, this.device.id, false)));
  }

  /**
   * A converted copy: round to nearest even between float types (FP8
   * saturating to ±max, as `__NV_SATFINITE`), float to integer truncating
   * toward zero and saturating (NaN gives 0).
   */
  cast<E extends DType>(dtype: E): Tensor<E> {
    const handle = Tensor.#handleOf(this, 'cast');
    checkDType('cast', 'dtype', dtype);
    return Tensor.fromNative<E>(callNative(() => binding().cast(handle, dtype)));
  }

  /**
   * A view with another shape and the same elements (shares storage; each
   * view is disposed on its own and the memory goes with the last). One
   * dimension may be -1 and is then inferred.
   */
  reshape(shape: readonly number[]): Tensor<D> {
    const handle = Tensor.#handleOf(this, 'reshape');
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
    const self = Tensor.#own(this, 'dispose');
    if (self.#disposed) return;
    self.#disposed = true;
    undisposed.unregister(self);
    self.#handle.dispose();
  }

  [Symbol.dispose](): void {
    Tensor.prototype.dispose.call(this);
  }

  toString(): string {
    if (!Tensor.isTensor(this)) return 'Tensor(not made by moekit)';
    return `Tensor(${this.dtype} ${shapeText(this.shape)} on ${this.device.id}${this.#disposed ? ', disposed' : ''})`;
  }

  [inspectCustom](): string {
    return this.toString();
  }
}

/**
 * `value` as a Tensor made by moekit, else a TypeError naming `op` and `arg`.
 * @internal
 */
export function checkTensor(op: string, arg: string, value: unknown): asserts value is Tensor {
  if (Tensor.isTensor(value)) return;
  const lookalike = value instanceof Tensor ? 'an object that only looks like a Tensor (a Proxy or an Object.create copy)' : undefined;
  throw typeError(op, arg, 'a Tensor', value, lookalike);
}

/** Which elements of a tensor to read: `[start, end)` of the flattened tensor. */
export interface ReadRange {
  /** First element (default 0). */
  start?: number;
  /** One past the last element (default: the tensor's size). */
  end?: number;
}

/** The largest result a read returns: Node.js 20's largest ArrayBuffer. */
const MAX_READ_BYTES = 2 ** 32;

function readRange(op: string, range: unknown, size: number, bytesPerElement: number): [number, number] {
  const opts = checkOptions(op, range, ['start', 'end'], 'range');
  const start = opts.start === undefined ? 0 : checkInteger(op, 'range.start', opts.start, 0, size);
  const end = opts.end === undefined ? size : checkInteger(op, 'range.end', opts.end, start, size);
  const bytes = (end - start) * bytesPerElement;
  if (bytes > MAX_READ_BYTES) {
    throw rangeError(op, 'the result', 'at most 2^32 bytes (the largest ArrayBuffer Node.js 20 makes)',
      `${bytes} bytes for ${end - start} elements; read it in parts with ${op}({ start, end })`);
  }
  return [start, end];
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
