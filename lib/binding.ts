/**
 * Loads the native addon and types it. Nothing else in lib/ touches the
 * addon untyped: every native function and object has its type here, and
 * calls into it go through {@link callNative} and {@link settleNative},
 * which turn native failures into moekit's error classes.
 * @internal
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Fp8Mode, GroupedGemmMode } from './baselines.js';
import type { DType, Fp8Format } from './dtype.js';
import { BindingLoadError, fromNativeError } from './errors.js';

/** A tensor handle owned by the addon. */
export interface NativeTensor {
  readonly dtype: DType;
  readonly shape: number[];
  readonly device: string;
  readonly disposed: boolean;
  dispose(): void;
}

/** A point in a device queue (opaque). */
export interface NativeMarker {
  readonly __nativeMarker: never;
}

/** A device as `devices()` reports it (lib/device.ts freezes it into a DeviceInfo). */
export interface NativeDeviceInfo {
  id: string;
  kind: 'cpu' | 'cuda';
  ordinal: number;
  name: string;
  totalMemory: number;
  threads?: number;
  computeCapability?: [number, number];
  smCount?: number;
  l2Bytes?: number;
  sharedMemoryPerBlockOptin?: number;
  sharedMemoryPerSm?: number;
  clockKhz?: number;
  memoryClockKhz?: number;
  memoryBusWidth?: number;
  driverVersion?: number;
  runtimeVersion?: number;
  lost?: string;
}

/** What `cudaStatus()` reports. */
export interface NativeCudaStatus {
  built: boolean;
  available: boolean;
  reason: string;
  skipped: string[];
  runtimeVersion: number;
  driverVersion: number;
}

/** What `memory(device)` reports. */
export interface NativeMemory {
  bytes: number;
  buffers: number;
  tensors: number;
  reserved?: number;
  deviceFree?: number;
  deviceTotal?: number;
  cached?: number;
  limit?: number;
}

/** A device queue's counters (test hook). */
export interface NativeQueueStats {
  pending: number;
  skipped: number;
  pendingReadBytes: number;
}

/** What the `emulationSelfTest` test hook returns: cudaGetErrorName and cudaGetErrorString of the run. */
export interface NativeEmulationSelfTest {
  error: string;
  message: string;
}

/** What `buildInfo()` reports. */
export interface NativeBuildInfo {
  cuda: boolean;
  cudaArchitectures: string;
  cudaCompilerVersion: string;
  emulated: string;
  napiVersion: number;
}

/** One cuBLAS baseline's availability (lib/baselines.ts). */
export interface NativeBaselineFeature {
  available: boolean;
  reason: string;
}

/** What `baselineStatus(device)` reports (lib/baselines.ts). */
export interface NativeBaselineStatus {
  available: boolean;
  library: string;
  version: number;
  versionText: string;
  reason: string;
  device: string | null;
  gemm: NativeBaselineFeature;
  fp8Tensor: NativeBaselineFeature;
  fp8Block: NativeBaselineFeature;
  cublas: NativeCublasStatus;
  groupedGemm: NativeBaselineFeature;
  fp8GroupedGemm: NativeBaselineFeature;
  mla: NativeBaselineFeature;
}

/** libcublas as `baselineStatus` reports it (lib/baselines.ts). */
export interface NativeCublasStatus {
  available: boolean;
  library: string;
  version: number;
  versionText: string;
  reason: string;
  groupedGemmEx: boolean;
  stridedBatchedEx: boolean;
}

/** The typed arrays `fromData` takes as tensor data. */
export type HostTypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

/** The addon's exports. */
export interface NativeBinding {
  /** The addon's interface version; lib/ refuses an addon with another. */
  readonly moekitAbi: number;
  buildInfo(): NativeBuildInfo;
  devices(): NativeDeviceInfo[];
  cudaStatus(): NativeCudaStatus;
  fromData(device: string, dtype: DType, shape: number[], data: HostTypedArray, raw: boolean): NativeTensor;
  empty(device: string, dtype: DType, shape: number[], pinned: boolean): NativeTensor;
  zeros(device: string, dtype: DType, shape: number[], pinned: boolean): NativeTensor;
  read(tensor: NativeTensor, decode: boolean, start: number, end: number): Promise<ArrayBuffer>;
  copyTo(tensor: NativeTensor, device: string, pinned: boolean): NativeTensor;
  cast(tensor: NativeTensor, dtype: DType): NativeTensor;
  reshape(tensor: NativeTensor, shape: number[]): NativeTensor;
  synchronize(device: string): Promise<void>;
  memory(device: string): NativeMemory;
  releaseCache(device: string): number;
  setPoison(device: string, on: boolean): void;
  /** Test hook: a tensor whose producing work fails (with `fatal`, as a fault that loses the device). */
  injectFailure(device: string, shape: number[], fatal?: boolean): NativeTensor;
  /** Test hook: sets every byte of `tensor` in place (or fails to), after reading `input` when given. */
  writeInPlace(tensor: NativeTensor, byte: number, fail: boolean, input?: NativeTensor): void;
  /** Test hook: the device's queue waits until the returned function is called (60 s at most). */
  holdQueue(device: string): () => void;
  /** Test hook: the device queue's counters. */
  queueStats(device: string): NativeQueueStats;
  /**
   * Test hook of the emulation build only (absent elsewhere): runs the kernel
   * with a planted bug named `name` (cuda/emulation/selftest/faults.cu) on the
   * emulated device 0 and returns what its stream's synchronisation reported.
   * A fault loses the device for the rest of the process.
   */
  emulationSelfTest?(name: string): NativeEmulationSelfTest;
  marker(device: string): NativeMarker;
  elapsed(start: NativeMarker, end: NativeMarker): Promise<number>;
  fp8Encode(values: Float32Array | Float64Array, format: Fp8Format, saturate: boolean): Uint8Array;
  fp8Decode(codes: Uint8Array, format: Fp8Format): Float32Array;
  quantize(x: NativeTensor, format: Fp8Format, block: NativeQuantBlock, ue8m0: boolean, impl: string): [NativeTensor, NativeTensor];
  dequantize(values: NativeTensor, scales: NativeTensor, block: NativeQuantBlock, dtype: DType): NativeTensor;
  checkQuantized(values: NativeTensor, scales: NativeTensor, block: NativeQuantBlock): void;
  gemm(a: NativeTensor, b: NativeTensor, outDtype: DType, impl: string): NativeTensor;
  fp8Gemm(aValues: NativeTensor, aScales: NativeTensor, bValues: NativeTensor, bScales: NativeTensor, outDtype: DType, impl: string): NativeTensor;
  /** moe.route: [ids i32 [T, K], weights f32 [T, K], counts i32 [E]]. */
  moeRoute(
    logits: NativeTensor, topK: number, scoring: 'sigmoid' | 'softmax', bias: NativeTensor | null, groups: number, topGroups: number,
    normalize: boolean, scale: number, impl: string,
  ): [NativeTensor, NativeTensor, NativeTensor];
  /** moe.updateBias: the new bias, f32 [E]. */
  moeUpdateBias(bias: NativeTensor, counts: NativeTensor, rate: number, impl: string): NativeTensor;
  /** moe.permute: [rowIds i32 [P], offsets i32 [E + 1], counts i32 [E], inverse i32 [T, K]]. */
  moePermute(ids: NativeTensor, numExperts: number, align: number, impl: string): [NativeTensor, NativeTensor, NativeTensor, NativeTensor];
  moeGroupedGemm(
    x: NativeTensor,
    xScales: NativeTensor | null,
    w: NativeTensor,
    wScales: NativeTensor | null,
    layout: 'contiguous' | 'masked',
    offsets: NativeTensor | null,
    counts: NativeTensor | null,
    rowScale: NativeTensor | null,
    outDtype: DType,
    impl: string,
    swiglu: boolean,
  ): NativeTensor;
  /** moe.gather: [out [P, H] of x's dtype], or with quantize ('e4m3' | 'e5m2', '' for none) [values [P, H], scales f32 [P, ceil(H / 128)]]. */
  moeGather(x: NativeTensor, rowIds: NativeTensor, topK: number, quantize: Fp8Format | '', ue8m0: boolean, impl: string): NativeTensor[];
  /** moe.swiglu: [out [P, I] of outDtype], or with quantize [values [P, I], scales f32 [P, ceil(I / 128)]]. */
  moeSwiglu(h: NativeTensor, outDtype: DType, quantize: Fp8Format | '', ue8m0: boolean, impl: string): NativeTensor[];
  /** moe.combine: out [T, H] of outDtype. */
  moeCombine(y: NativeTensor, inverse: NativeTensor, weights: NativeTensor | null, shared: NativeTensor | null, outDtype: DType, impl: string): NativeTensor;
  /** mla.absorbQuery: q_nope' [T, H, 512] bf16. */
  mlaAbsorbQuery(qNope: NativeTensor, wkvB: NativeTensor, impl: string): NativeTensor;
  /** mla.projectOutput: [T, H, 128] bf16. */
  mlaProjectOutput(o: NativeTensor, wkvB: NativeTensor, impl: string): NativeTensor;
  /** mla.prefill: [out [T, H, 128] bf16, lse [H, T] f32]. */
  mlaPrefill(
    q: NativeTensor,
    latent: NativeTensor,
    kRope: NativeTensor,
    wkvB: NativeTensor,
    cuSeqLens: NativeTensor,
    softmaxScale: number,
    causal: boolean,
    impl: string,
  ): NativeTensor[];
  /** mla.append: writes rows into the cache storage (bf16 [blocks, pageSize, 576] or u8 [blocks, pageSize, 656]) in place. */
  mlaAppend(
    cache: NativeTensor, latent: NativeTensor, kRope: NativeTensor, blockTable: NativeTensor, positions: NativeTensor, lengths: NativeTensor,
    impl: string,
  ): void;
  /** mla.decode: [out bf16 [B, Sq, H, 512], lse f32 [B, H, Sq]]. */
  mlaDecode(
    q: NativeTensor, cache: NativeTensor, blockTable: NativeTensor, seqLens: NativeTensor, softmaxScale: number, causal: boolean, impl: string,
  ): [NativeTensor, NativeTensor];
  kernelVersions(): Record<string, NativeKernelVersion[]>;
  baselineStatus(device: string | null): NativeBaselineStatus;
  baselineGemm(a: NativeTensor, b: NativeTensor, outDtype: DType): NativeTensor;
  baselineFp8Prepare(
    aValues: NativeTensor, aScales: NativeTensor, bValues: NativeTensor, bScales: NativeTensor, mode: Fp8Mode,
  ): NativeTensor[];
  baselineFp8Gemm(
    aValues: NativeTensor, aScales: NativeTensor, bValues: NativeTensor, bScales: NativeTensor, mode: Fp8Mode,
    outDtype: DType,
  ): NativeTensor;
  baselineGroupedGemm(x: NativeTensor, w: NativeTensor, offsets: number[], counts: number[] | null, mode: GroupedGemmMode): NativeTensor;
  baselineFp8GroupedPrepare(
    xValues: NativeTensor, xScales: NativeTensor, wValues: NativeTensor, wScales: NativeTensor, offsets: number[], counts: number[] | null,
  ): NativeTensor[];
  baselineFp8GroupedGemm(
    xValues: NativeTensor, xScales: NativeTensor, wValues: NativeTensor, wScales: NativeTensor, offsets: number[], counts: number[] | null,
    mode: GroupedGemmMode,
  ): NativeTensor;
  /** baselines.mlaDecode: [out bf16 [B, Sq, H, 512], lse f32 [B, H, Sq], workspace bytes]. */
  baselineMlaDecode(
    q: NativeTensor, cache: NativeTensor, blockTable: NativeTensor, seqLens: number[], softmaxScale: number, causal: boolean,
  ): [NativeTensor, NativeTensor, number];
  /** baselines.mlaPrefill: [out bf16 [T, H, 128], lse f32 [H, T], workspace bytes]. */
  baselineMlaPrefill(
    q: NativeTensor, latent: NativeTensor, kRope: NativeTensor, wkvB: NativeTensor, seqLens: number[], softmaxScale: number, causal: boolean,
  ): [NativeTensor, NativeTensor, number];
  /** The decode baseline's gather: bf16 [B, max(seqLens), 576]. */
  baselineMlaGather(cache: NativeTensor, blockTable: NativeTensor, seqLens: number[]): NativeTensor;
  /** The MLA baselines' masked softmax: [probs bf16 [N, rows, C], lse f32 [N, heads, queries]]. */
  baselineMlaSoftmax(
    scores: NativeTensor, lengths: number[], heads: number, queries: number, headMajor: boolean, softmaxScale: number, causal: boolean,
  ): [NativeTensor, NativeTensor];
  /** The prefill baseline's key assembly: K bf16 [T, H, 192]. */
  baselineMlaAssemble(kv: NativeTensor, kRope: NativeTensor): NativeTensor;
}

/** The native names of the quantization blocks: [1, 128], [128, 128] and 'tensor'. */
export type NativeQuantBlock = 'row128' | 'tile128' | 'tensor';

/** One CUDA version of an op, as `kernelVersions()` reports it (`verifiedOn`, `emulatedOn` comma-separated). */
export interface NativeKernelVersion {
  name: string;
  idea: string;
  minSm: number;
  maxSm: number;
  verifiedOn: string;
  emulatedOn: string;
  absent: string;
}

/** The package root (where package.json is), from lib/ or dist/lib/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'moekit') return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new BindingLoadError('moekit: cannot find the package root (package.json of moekit)');
    dir = up;
  }
}

/** The addon interface this lib/ speaks (native/addon.cc exports the same number). */
const MOEKIT_ABI = 1;

let cached: NativeBinding | undefined;

const FIXES = [
  'Fixes:',
  '  - build it from source in the package folder: npm run build:native (needs cmake >= 3.24 and a C++17 compiler; nvcc for CUDA)',
  '  - reinstall to rerun the install step: npm ci (or npm rebuild moekit)',
  '  - point MOEKIT_BINDING_PATH at a moekit.node you built',
  `  - platform: ${process.platform}-${process.arch}, Node ${process.version}; prebuilt binaries exist for linux-x64 (glibc) only`,
];

function loadError(what: string, cause?: unknown): BindingLoadError {
  return new BindingLoadError([`moekit: ${what}`, ...FIXES].join('\n'), cause);
}

/**
 * The addon: `MOEKIT_BINDING_PATH` when set (a `.node` file), else a local
 * build (build/Release) or a prebuilt binary (prebuilds/<platform>-<arch>/).
 * @throws {@link BindingLoadError} when it cannot be loaded or is not a
 *   moekit addon of this version.
 */
export function binding(): NativeBinding {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const explicit = process.env.MOEKIT_BINDING_PATH;
  let loaded: unknown;
  if (explicit !== undefined && explicit !== '' && !explicit.endsWith('.node')) {
    // Anything else (a .js file, moekit's own entry point) would be run as a module.
    throw loadError(`MOEKIT_BINDING_PATH must name a .node file (the addon moekit.node), got '${explicit}'.`);
  }
  try {
    if (explicit) {
      loaded = require(explicit);
    } else {
      const load = require('node-gyp-build') as (dir: string) => unknown;
      loaded = load(packageRoot());
    }
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw loadError(`the native addon could not be loaded (${reason}).`, e);
  }
  const abi = typeof loaded === 'object' && loaded !== null ? (loaded as { moekitAbi?: unknown }).moekitAbi : undefined;
  if (abi !== MOEKIT_ABI) {
    const where = explicit ? `MOEKIT_BINDING_PATH (${explicit})` : 'the addon found';
    const what = abi === undefined ? 'is not a moekit addon' : `is a moekit addon of interface ${String(abi)}, not ${MOEKIT_ABI} (built from another version)`;
    throw loadError(`${where} ${what}.`);
  }
  cached = loaded as NativeBinding;
  return cached;
}

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
