/**
 * Devices: the CPU backend and CUDA GPUs.
 * @module
 */
import { type HostTypedArray, type NativeDeviceInfo, binding, callNative, settleNative } from './binding.js';
import { provideDeviceLookup } from './device_lookup.js';
import { DTYPE_LIMITS, type DType, isFloatDType } from './dtype.js';
import { UnsupportedError } from './errors.js';
import { Tensor, type TensorData } from './tensor.js';
import { checkDType, checkOptions, checkShape, rangeError, typeError } from './validate.js';

/**
 * How to name a device: `'auto'` (first GPU, else the CPU), `'cpu'`, `'cuda'`
 * (the first usable GPU) or `'cuda:N'` (CUDA ordinal N).
 */
export type DeviceSpec = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;

/** What a device is. GPU fields are present for CUDA devices only. */
export interface DeviceInfo {
  /** `'cpu'` or `'cuda:N'`. */
  readonly id: string;
  readonly kind: 'cpu' | 'cuda';
  /** 0 for the CPU; the CUDA device ordinal for GPUs. */
  readonly ordinal: number;
  /** CPU model or GPU product name. */
  readonly name: string;
  /** Bytes of host RAM (CPU) or device memory (GPU). */
  readonly totalMemory: number;
  /** CPU: threads the CPU backend uses (`MOEKIT_CPU_THREADS` overrides). */
  readonly threads?: number;
  /** GPU: [major, minor], e.g. [9, 0] for H100. */
  readonly computeCapability?: readonly [number, number];
  /** GPU: streaming multiprocessors. */
  readonly smCount?: number;
  /** GPU: L2 cache bytes. */
  readonly l2Bytes?: number;
  /** GPU: shared memory a block may opt in to. */
  readonly sharedMemoryPerBlockOptin?: number;
  /** GPU: shared memory per SM. */
  readonly sharedMemoryPerSm?: number;
  readonly clockKhz?: number;
  readonly memoryClockKhz?: number;
  readonly memoryBusWidth?: number;
  /** GPU: CUDA driver version, e.g. 13000 for 13.0. */
  readonly driverVersion?: number;
  /** GPU: CUDA runtime version moekit was built with. */
  readonly runtimeVersion?: number;
  /**
   * Set when a fatal fault (an illegal address, a kernel trap) made the
   * device unusable: why. Every op on it fails until the process restarts.
   */
  readonly lost?: string;
}

/** Memory held by a device's tensors. */
export interface MemoryInfo {
  /** Bytes of live buffers. */
  readonly bytes: number;
  /** Live buffers (reshaped views share one). */
  readonly buffers: number;
  /** Live, undisposed tensors. */
  readonly tensors: number;
  /** GPU: bytes the memory pool holds (cached for reuse). */
  readonly reserved?: number;
  /** GPU: free device memory, as the driver reports it. */
  readonly deviceFree?: number;
  /** GPU: total device memory. */
  readonly deviceTotal?: number;
  /**
   * CPU: bytes of freed host blocks kept for reuse (large blocks, pageable
   * and pinned, at most 1 GiB each or 1/16 of `limit`); not counted in
   * `bytes`. {@link Device.releaseCache} frees them.
   */
  readonly cached?: number;
  /**
   * CPU: the most host memory moekit may use: the smallest of physical
   * memory, the cgroup's limit and `MOEKIT_HOST_MEMORY_LIMIT`. Allocations
   * beyond it, or beyond what the system has available, throw
   * {@link OutOfMemoryError} instead of meeting the OOM killer.
   */
  readonly limit?: number;
}

/** Options of {@link Device.tensor}. */
export interface TensorOptions<D extends DType> {
  /** Dimensions; default `[data.length]`. */
  shape?: readonly number[];
  /** Element type; default from the data: i32 for Int32Array, u8 for Uint8Array, else f32. */
  dtype?: D;
}

/** Options of {@link Device.zeros} and {@link Device.empty}. */
export interface AllocOptions {
  /** Host tensors only: page-locked memory for fast GPU copies (needs a CUDA device). */
  pinned?: boolean;
}

/**
 * Whether `data`'s bytes are the storage of `dtype` as they are (copied
 * without conversion): Float32Array for f32, Int32Array for i32, Uint8Array
 * for u8 and the FP8 codes of e4m3/e5m2, Uint16Array for the bit patterns of
 * f16/bf16. Anything else is converted element by element.
 */
function isRawData(data: TensorData, dtype: DType): boolean {
  return (
    (data instanceof Float32Array && dtype === 'f32') ||
    (data instanceof Int32Array && dtype === 'i32') ||
    (data instanceof Uint8Array && (dtype === 'u8' || dtype === 'e4m3' || dtype === 'e5m2')) ||
    (data instanceof Uint16Array && (dtype === 'f16' || dtype === 'bf16'))
  );
}

function defaultDType(data: TensorData): DType {
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Uint8Array) return 'u8';
  return 'f32';
}

function toHostArray(data: TensorData): HostTypedArray {
  if (Array.isArray(data)) {
    const out = new Float64Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v: unknown = data[i];
      if (typeof v !== 'number') throw typeError('tensor', `data[${i}]`, 'a number', v);
      out[i] = v;
    }
    return out;
  }
  if (ArrayBuffer.isView(data) && !(data instanceof DataView) && !(data instanceof BigInt64Array) && !(data instanceof BigUint64Array)) {
    return data as HostTypedArray;
  }
  throw typeError('tensor', 'data', 'an array of numbers or a numeric typed array', data);
}

/** Integer dtypes take integers in range only; floats take any number. */
function checkIntegerData(data: HostTypedArray, dtype: DType): void {
  if (isFloatDType(dtype)) return;
  const { min, max } = DTYPE_LIMITS[dtype];
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw rangeError('tensor', `data[${i}]`, `an integer in [${min}, ${max}] for dtype '${dtype}'`, String(v));
    }
  }
}

function readPinned(op: string, options: unknown): boolean {
  const opts = checkOptions(op, options, ['pinned']);
  const pinned = opts.pinned ?? false;
  if (typeof pinned !== 'boolean') throw typeError(op, 'options.pinned', 'a boolean', pinned);
  return pinned;
}

/**
 * A compute device: the CPU backend or one CUDA GPU. Work on a device runs
 * in order on its own queue; methods that read results return Promises.
 * Get one with {@link device}.
 */
export class Device {
  /** `'cpu'` or `'cuda:N'`. */
  readonly id: string;
  readonly kind: 'cpu' | 'cuda';
  /** CPU model or GPU product name. */
  readonly name: string;
  /** Everything known about the device. */
  readonly info: DeviceInfo;

  // Set only by the constructor: what tells a Device from a look-alike.
  readonly #made = true;

  /** Whether `value` is a Device from {@link device} (not an `Object.create` copy). */
  static isDevice(value: unknown): value is Device {
    return typeof value === 'object' && value !== null && #made in value;
  }

  /** The id of `self`, a method's receiver, checked to be a Device. */
  static #idOf(self: unknown, op: string): string {
    if (!Device.isDevice(self)) throw typeError(op, 'this', 'a Device (from device())', self);
    return self.id;
  }

  private constructor(info: DeviceInfo) {
    this.id = info.id;
    this.kind = info.kind;
    this.name = info.name;
    this.info = info;
  }

  /** @internal */
  static fromInfo(info: DeviceInfo): Device {
    return new Device(info);
  }

  /**
   * A tensor holding `data` (copied; the array may change afterwards).
   * Numbers are converted to `dtype` with round-to-nearest-even (FP8
   * saturating); integer dtypes need integers in range. A Float32Array for
   * f32, Int32Array for i32, Uint8Array for u8/e4m3/e5m2 and Uint16Array for
   * f16/bf16 bit patterns are taken as raw storage.
   * @throws TypeError / RangeError for bad data, shape or dtype.
   * @example
   * ```ts
   * const w = dev.tensor(new Float32Array(4096 * 7168), { shape: [4096, 7168], dtype: 'bf16' });
   * ```
   */
  tensor(data: Int32Array, options?: { shape?: readonly number[] }): Tensor<'i32'>;
  tensor(data: Uint8Array, options?: { shape?: readonly number[] }): Tensor<'u8'>;
  tensor<D extends DType = 'f32'>(data: TensorData, options?: TensorOptions<D>): Tensor<D>;
  tensor(data: TensorData, options?: TensorOptions<DType>): Tensor {
    const id = Device.#idOf(this, 'tensor');
    const opts = checkOptions('tensor', options, ['shape', 'dtype']);
    const host = toHostArray(data);
    const dtype = opts.dtype === undefined ? defaultDType(data) : checkDType('tensor', 'options.dtype', opts.dtype);
    const shape = opts.shape === undefined ? [host.length] : checkShape('tensor', 'options.shape', opts.shape);
    const raw = isRawData(data, dtype);
    if (!raw) checkIntegerData(host, dtype);
    return Tensor.fromNative(callNative(() => binding().fromData(id, dtype, shape, host, raw)));
  }

  /** A tensor of zeros. */
  zeros<D extends DType = 'f32'>(shape: readonly number[], dtype?: D, options?: AllocOptions): Tensor<D> {
    const id = Device.#idOf(this, 'zeros');
    const s = checkShape('zeros', 'shape', shape);
    const d = dtype === undefined ? 'f32' : checkDType('zeros', 'dtype', dtype);
    const pinned = readPinned('zeros', options);
    return Tensor.fromNative<D>(callNative(() => binding().zeros(id, d, s, pinned)));
  }

  /** A tensor whose contents are unspecified until written. */
  empty<D extends DType = 'f32'>(shape: readonly number[], dtype?: D, options?: AllocOptions): Tensor<D> {
    const id = Device.#idOf(this, 'empty');
    const s = checkShape('empty', 'shape', shape);
    const d = dtype === undefined ? 'f32' : checkDType('empty', 'dtype', dtype);
    const pinned = readPinned('empty', options);
    return Tensor.fromNative<D>(callNative(() => binding().empty(id, d, s, pinned)));
  }

  /**
   * Resolves when all work queued on this device so far has finished.
   * @throws {@link KernelError} when some of it failed.
   */
  synchronize(): Promise<void> {
    const callSite = new Error();
    try {
      const id = Device.#idOf(this, 'synchronize');
      return settleNative(callNative(() => binding().synchronize(id)), callSite);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Bytes and tensors alive on this device (and the GPU memory pool). */
  memory(): MemoryInfo {
    const id = Device.#idOf(this, 'memory');
    return callNative(() => binding().memory(id));
  }

  /**
   * Returns memory kept for reuse to the system: the host block cache (CPU)
   * or the unused part of the memory pool (GPU).
   * @returns the bytes released.
   */
  releaseCache(): number {
    const id = Device.#idOf(this, 'releaseCache');
    return callNative(() => binding().releaseCache(id));
  }

  toString(): string {
    if (!Device.isDevice(this)) return 'Device(not made by moekit)';
    return `Device(${this.id}: ${this.name})`;
  }
}

const cache = new Map<string, Device>();

function publicInfo(n: NativeDeviceInfo): DeviceInfo {
  return Object.freeze({ ...n, ...(n.computeCapability ? { computeCapability: Object.freeze([...n.computeCapability]) as [number, number] } : {}) });
}

/** The devices moekit can use: the CPU first, then each usable CUDA GPU. */
export function devices(): DeviceInfo[] {
  return callNative(() => binding().devices()).map(publicInfo);
}

/** Whether CUDA is built into the addon and usable here, and why not. */
export interface CudaStatus {
  /** The addon carries CUDA kernels. */
  readonly built: boolean;
  /** At least one usable GPU was found. */
  readonly available: boolean;
  /** Why no GPU is usable ('' when one is). */
  readonly reason: string;
  /** GPUs present but not usable (e.g. too old), with the reason. */
  readonly skipped: readonly string[];
  /** CUDA runtime version moekit was built with (e.g. 13000). */
  readonly runtimeVersion: number;
  /** Installed driver's CUDA version (0 when no driver). */
  readonly driverVersion: number;
}

/** Whether CUDA is usable, and why not. */
export function cudaStatus(): CudaStatus {
  return callNative(() => binding().cudaStatus());
}

/** @internal The Device object for an id the binding reported. */
export function getDevice(id: string): Device {
  let d = cache.get(id);
  if (!d) {
    const info = devices().find((i) => i.id === id);
    if (!info) throw new UnsupportedError(`device: no device '${id}'`);
    d = Device.fromInfo(info);
    cache.set(id, d);
  }
  return d;
}

const SPEC_TEXT = "'auto', 'cpu', 'cuda' or 'cuda:N'";

/**
 * The device id a spec names, given the devices there are. `fromEnv` marks
 * a spec read from `MOEKIT_DEVICE`. Throws a TypeError for a malformed spec.
 * @internal
 */
export function resolveDeviceId(
  op: string,
  spec: string,
  list: readonly { id: string; kind: string }[],
  env: string | undefined,
  fromEnv = false,
): string {
  const arg = fromEnv ? 'MOEKIT_DEVICE' : 'spec';
  if (spec === 'auto') {
    if (!fromEnv && env !== undefined && env !== '' && env !== 'auto') return resolveDeviceId(op, env, list, env, true);
    return list.find((d) => d.kind === 'cuda')?.id ?? 'cpu';
  }
  if (spec === 'cpu') return 'cpu';
  // The first usable GPU: cuda:0 may have been skipped (too old, no pools).
  if (spec === 'cuda') return list.find((d) => d.kind === 'cuda')?.id ?? 'cuda';
  if (/^cuda:\d+$/.test(spec)) return spec;
  throw typeError(op, arg, SPEC_TEXT, spec);
}

function deviceFor(op: string, spec: string): Device {
  const list = devices();
  const id = resolveDeviceId(op, spec, list, process.env.MOEKIT_DEVICE);
  if (!list.some((d) => d.id === id)) {
    const status = cudaStatus();
    const gpus = list.filter((d) => d.kind === 'cuda').map((d) => d.id);
    const why = status.available ? `the GPUs are ${gpus.join(', ')}` : status.reason;
    throw new UnsupportedError(`${op}: no device '${id}' (${why}); use device('cpu') or device('auto')`);
  }
  return getDevice(id);
}

/**
 * A device by name. `'auto'` (the default) picks the first GPU, else the
 * CPU; the environment variable `MOEKIT_DEVICE` (e.g. `cpu`, `cuda:1`)
 * overrides what `'auto'` picks. `'cuda'` is the first usable GPU.
 * @throws {@link UnsupportedError} when the named device does not exist
 *   (the message says why CUDA is unavailable).
 * @example
 * ```ts
 * const dev = device();          // GPU when there is one
 * const cpu = device('cpu');
 * ```
 */
export function device(spec: DeviceSpec = 'auto'): Device {
  if (typeof spec !== 'string') throw typeError('device', 'spec', SPEC_TEXT, spec);
  return deviceFor('device', spec);
}

/** @internal A Device from a Device or a spec, for ops taking either; errors name `op`. */
export function resolveDevice(op: string, target: unknown): Device {
  if (Device.isDevice(target)) return target;
  if (typeof target === 'string') {
    const known = target === 'auto' || target === 'cpu' || target === 'cuda' || /^cuda:\d+$/.test(target);
    if (!known) throw typeError(op, 'device', `a Device or ${SPEC_TEXT}`, target);
    return deviceFor(op, target);
  }
  throw typeError(op, 'device', `a Device or ${SPEC_TEXT}`, target);
}

// Tensors find their devices through device_lookup.ts rather than by
// importing this module, which imports theirs (see device_lookup.ts).
provideDeviceLookup({ byId: getDevice, resolve: resolveDevice });
