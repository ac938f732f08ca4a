/**
 * cuBLAS baselines: the GEMMs moekit's kernels are measured and
 * cross-checked against, run through NVIDIA's cuBLASLt on the same operands.
 * They exist for benchmarks (`bench/`) and tests, not as a second
 * implementation to compute with.
 *
 * moekit does not link cuBLAS: it opens `libcublasLt` when first asked,
 * trying `MOEKIT_CUBLASLT_PATH` when set, else `libcublasLt.so.13`,
 * `libcublasLt.so.12` and `libcublasLt.so` on the loader's search path
 * (`LD_LIBRARY_PATH`), then `$CUDA_HOME/lib64` and `/usr/local/cuda/lib64`.
 * PyTorch's CUDA wheels carry it, e.g.
 * `MOEKIT_CUBLASLT_PATH=$(python -c "import nvidia.cublas, os; print(os.path.join(nvidia.cublas.__path__[0], 'lib', 'libcublasLt.so.12'))")`.
 * {@link status} says what was found and what can run.
 *
 * The MoE grouped GEMM baselines ({@link groupedGemm}, {@link fp8GroupedGemm})
 * take the routing as host numbers ({@link Segments}), as a user's
 * per-expert loop does after reading the counts back. Mode 'grouped' calls
 * `cublasGemmGroupedBatchedEx` from `libcublas` (cuBLAS 12.5+), opened like
 * cuBLASLt: `MOEKIT_CUBLAS_PATH` when set, else `libcublas.so.13`, `.so.12`
 * and `.so` beside the loaded cuBLASLt, then on the loader's search path,
 * `$CUDA_HOME/lib64` and `/usr/local/cuda/lib64`.
 *
 * The unfused MLA baselines ({@link mlaDecode}, {@link mlaPrefill}) are
 * what a user builds from cuBLAS: strided batched GEMMs
 * (`cublasGemmStridedBatchedEx`, from `libcublas`) for the scores and the
 * output, moekit's own masked softmax between them, and for prefill one
 * cuBLASLt GEMM that decompresses K and V. They materialize what moekit's
 * fused kernels never write, and say how much ({@link MlaBaselineResult.workspaceBytes}).
 *
 * Work is queued on the device like any op; a failure inside cuBLASLt (no
 * algorithm for a shape, say) rejects the next read of the device. The first
 * baseline run on a device allocates cuBLASLt's 32 MiB workspace there, kept
 * until the process exits (it counts in `device.memory()`).
 * @module
 */
import { type NativeTensor, binding, callNative } from './binding.js';
import { type Device, type DeviceSpec, resolveDevice } from './device.js';
import { DisposedError } from './errors.js';
import { Tensor, checkTensor } from './tensor.js';
import { checkBoolean, checkInteger, checkNumber, checkOneOf, checkOptions, rangeError, typeError } from './validate.js';

/** Output dtypes of the baselines. */
export const OUT_DTYPES = ['bf16', 'f16', 'f32'] as const;

/** An output dtype of the baselines. */
export type BaselineOutDType = (typeof OUT_DTYPES)[number];

/**
 * How FP8 operands are scaled: `'tensor'`, one f32 scale per operand
 * (cuBLASLt's scalar scaling); `'block'`, DeepSeek-V3's 1x128 activation and
 * 128x128 weight scales (cuBLASLt's VEC128/BLK128x128, cuBLAS 12.9+ on
 * compute capability 9.0).
 */
export const FP8_MODES = ['tensor', 'block'] as const;

/** A scaling mode of {@link fp8Gemm}. */
export type Fp8Mode = (typeof FP8_MODES)[number];

/** Whether one baseline can run, and why not. */
export interface BaselineFeature {
  readonly available: boolean;
  /** Why not ('' when available), with what would fix it. */
  readonly reason: string;
}

/** libcublas, which {@link groupedGemm}'s mode 'grouped' needs. */
export interface CublasStatus {
  /** libcublas was loaded (its basic entry points found). */
  readonly available: boolean;
  /** The library file loaded ('' when none). */
  readonly library: string;
  /** major·10000 + minor·100 + patch from `cublasGetProperty`, e.g. 120901 (0 when none). */
  readonly version: number;
  /** The version as text ('' when none). */
  readonly versionText: string;
  /** Why libcublas is unavailable, with the fix ('' when available). */
  readonly reason: string;
  /** The library has `cublasGemmGroupedBatchedEx` (cuBLAS 12.5+). */
  readonly groupedGemmEx: boolean;
  /** The library has `cublasGemmStridedBatchedEx` (every cuBLAS 12); the MLA baselines need it. */
  readonly stridedBatchedEx: boolean;
}

/** What {@link status} reports. */
export interface BaselineStatus {
  /** cuBLASLt was loaded (every entry point found). */
  readonly available: boolean;
  /** The library file loaded ('' when none). */
  readonly library: string;
  /** `cublasLtGetVersion()`: major·10000 + minor·100 + patch, e.g. 120901 (0 when none). */
  readonly version: number;
  /** The version as text, e.g. '12.9.1' ('' when none). */
  readonly versionText: string;
  /** Why cuBLASLt is unavailable: each place looked and what failed, and the fix ('' when available). */
  readonly reason: string;
  /** The CUDA device the features below were judged for (null when none). */
  readonly device: string | null;
  /** {@link gemm}: bf16/f16 inputs. */
  readonly gemm: BaselineFeature;
  /** {@link fp8Gemm} with mode 'tensor': compute capability 8.9+. */
  readonly fp8Tensor: BaselineFeature;
  /** {@link fp8Gemm} with mode 'block': cuBLAS 12.9+ and compute capability 9.0; also {@link fp8GroupedGemm} (mode 'loop'). */
  readonly fp8Block: BaselineFeature;
  /** libcublas: found or not, its version and whether it has the grouped GEMM. */
  readonly cublas: CublasStatus;
  /** {@link groupedGemm} with mode 'grouped': `cublasGemmGroupedBatchedEx` (cuBLAS 12.5+) and a CUDA device. Mode 'loop' is {@link BaselineStatus.gemm}. */
  readonly groupedGemm: BaselineFeature;
  /** {@link fp8GroupedGemm} with mode 'grouped': never available (cuBLAS has no grouped block-scaled FP8 GEMM); the reason says so. */
  readonly fp8GroupedGemm: BaselineFeature;
  /** {@link mlaDecode} and {@link mlaPrefill}: cuBLASLt, libcublas with `cublasGemmStridedBatchedEx`, and a CUDA device. */
  readonly mla: BaselineFeature;
}

/**
 * Whether cuBLASLt was found, its version, and which baselines can run on
 * `device` (default: the first CUDA device). Loads cuBLASLt on first call;
 * when it was not found, each call looks again, so setting
 * `MOEKIT_CUBLASLT_PATH` takes effect without a restart.
 * @param device - the device to judge the features for.
 * @throws {@link UnsupportedError} when `device` names a device that does not exist.
 * @example
 * ```ts
 * const s = baselines.status();
 * if (!s.fp8Block.available) console.log(s.fp8Block.reason);
 * ```
 */
export function status(device?: Device | DeviceSpec): BaselineStatus {
  const id = device === undefined ? null : resolveDevice('baselines.status', device).id;
  return callNative(() => binding().baselineStatus(id));
}

/** Options of {@link gemm}. */
export interface GemmOptions {
  /** Output dtype: the inputs' dtype (default) or 'f32'. */
  outDtype?: BaselineOutDType;
}

function tensorArg(op: string, arg: string, value: unknown): Tensor {
  checkTensor(op, arg, value);
  return value;
}

/**
 * cuBLASLt's C[M,N] = A·Bᵀ (row-major A [M,K], B [N,K], as moekit's
 * `gemm`), bf16 or f16 inputs, f32 accumulation.
 * @param a - [M, K], bf16 or f16, on a CUDA device.
 * @param b - [N, K], the dtype and device of `a`.
 * @throws TypeError / RangeError for bad dtypes, ranks, mismatched K or devices.
 * @throws {@link UnsupportedError} when cuBLASLt or a CUDA device is missing
 *   (the message says how to install or point to it).
 * @example
 * ```ts
 * using c = baselines.gemm(x, w, { outDtype: 'f32' });
 * ```
 */
export function gemm(a: Tensor, b: Tensor, options?: GemmOptions): Tensor {
  const op = 'baselines.gemm';
  const ta = tensorArg(op, 'a', a);
  const tb = tensorArg(op, 'b', b);
  const opts = checkOptions(op, options, ['outDtype']);
  const outDtype = opts.outDtype === undefined ? ta.dtype : checkOneOf(op, 'options.outDtype', opts.outDtype, OUT_DTYPES);
  const ha = ta.handle(op, 'a');
  const hb = tb.handle(op, 'b');
  return Tensor.fromNative(callNative(() => binding().baselineGemm(ha, hb, outDtype)));
}

/** FP8 values with their dequantization scales (x ≈ value · scale), as moekit's `quantize` returns them. */
export interface QuantizedOperand {
  /** e4m3 codes, [rows, K]. */
  readonly values: Tensor;
  /** f32: [1] ('tensor'), [rows, ceil(K/128)] (1x128 blocks) or [ceil(rows/128), ceil(K/128)] (128x128 blocks). */
  readonly scales: Tensor;
}

/** Options of {@link prepareFp8Gemm}. */
export interface PrepareFp8GemmOptions {
  /** How the operands are scaled. */
  mode: Fp8Mode;
}

/** Options of {@link fp8Gemm}. */
export interface Fp8GemmOptions extends PrepareFp8GemmOptions {
  /** Output dtype, default 'bf16'. */
  outDtype?: BaselineOutDType;
}

/** Options of {@link PreparedFp8Gemm.run}. */
export interface RunOptions {
  /** Output dtype, default 'bf16'. */
  outDtype?: BaselineOutDType;
}

function quantizedArg(op: string, arg: string, value: unknown): { values: NativeTensor; scales: NativeTensor } {
  const expected = 'an object with values and scales tensors (as quantize() returns)';
  if (value === null || typeof value !== 'object') throw typeError(op, arg, expected, value);
  const { values, scales } = value as { values?: unknown; scales?: unknown };
  checkTensor(op, `${arg}.values`, values);
  checkTensor(op, `${arg}.scales`, scales);
  return { values: values.handle(op, `${arg}.values`), scales: scales.handle(op, `${arg}.scales`) };
}

function outDtypeOption(op: string, value: unknown): BaselineOutDType {
  return value === undefined ? 'bf16' : checkOneOf(op, 'options.outDtype', value, OUT_DTYPES);
}

/**
 * FP8 operands made ready for cuBLASLt (see {@link prepareFp8Gemm}): block
 * scales re-laid out as cuBLASLt reads them, so that {@link run} times the
 * matmul alone. Holds its own references to the operands; dispose it when done.
 */
export class PreparedFp8Gemm {
  /** The scaling mode. */
  readonly mode: Fp8Mode;
  /** Rows of A (and of the output). */
  readonly m: number;
  /** Rows of B (columns of the output). */
  readonly n: number;
  /** The shared inner dimension. */
  readonly k: number;
  /** The device the operands live on. */
  readonly device: Device;
  readonly #tensors: readonly [Tensor, Tensor, Tensor, Tensor];
  #disposed = false;

  private constructor(mode: Fp8Mode, handles: NativeTensor[]) {
    const [aValues, aScales, bValues, bScales] = handles.map((h) => Tensor.fromNative(h));
    if (!aValues || !aScales || !bValues || !bScales) throw new TypeError('baselines.prepareFp8Gemm: the binding returned too few tensors');
    this.#tensors = [aValues, aScales, bValues, bScales];
    this.mode = mode;
    this.m = aValues.shape[0]!;
    this.k = aValues.shape[1]!;
    this.n = bValues.shape[0]!;
    this.device = aValues.device;
  }

  /** @internal */
  static fromNative(mode: Fp8Mode, handles: NativeTensor[]): PreparedFp8Gemm {
    return new PreparedFp8Gemm(mode, handles);
  }

  /**
   * The scales as cuBLASLt reads them: in mode 'block', A's as
   * [ceil(K/128), M] and B's as [ceil(N/128), ceil(K/128) rounded up to 4]
   * (zero padded); in mode 'tensor', the scales as given.
   */
  get scales(): { readonly a: Tensor; readonly b: Tensor } {
    PreparedFp8Gemm.#own(this, 'scales').#check('scales');
    return { a: this.#tensors[1], b: this.#tensors[3] };
  }

  /** Whether {@link PreparedFp8Gemm.dispose} was called. */
  get disposed(): boolean {
    return PreparedFp8Gemm.#own(this, 'disposed').#disposed;
  }

  /** `value`, a method's receiver, checked to be one made by {@link prepareFp8Gemm}. */
  static #own(value: unknown, method: string): PreparedFp8Gemm {
    if (typeof value !== 'object' || value === null || !(#tensors in value)) {
      throw typeError(`PreparedFp8Gemm.${method}`, 'this', 'a PreparedFp8Gemm (from baselines.prepareFp8Gemm())', value);
    }
    return value;
  }

  /**
   * Queues cuBLASLt's C[M,N] = Σ_kb (A_kb·B_kbᵀ)·scaleA·scaleB with f32
   * accumulation (fast accumulation off).
   * @throws {@link UnsupportedError} when cuBLASLt, a CUDA device, FP8
   *   (compute capability 8.9+) or block scaling (cuBLAS 12.9+, compute
   *   capability 9.0) is missing.
   */
  run(options?: RunOptions): Tensor {
    const op = 'baselines.fp8Gemm';
    PreparedFp8Gemm.#own(this, 'run').#check('run');
    const opts = checkOptions('PreparedFp8Gemm.run', options, ['outDtype']);
    const outDtype = outDtypeOption(op, opts.outDtype);
    const [aValues, aScales, bValues, bScales] = this.#tensors;
    const aV = aValues.handle(op, 'a.values');
    const aS = aScales.handle(op, 'a.scales');
    const bV = bValues.handle(op, 'b.values');
    const bS = bScales.handle(op, 'b.scales');
    return Tensor.fromNative(callNative(() => binding().baselineFp8Gemm(aV, aS, bV, bS, this.mode, outDtype)));
  }

  /** Releases the operand references and the re-laid scales. Idempotent. */
  dispose(): void {
    const self = PreparedFp8Gemm.#own(this, 'dispose');
    if (self.#disposed) return;
    self.#disposed = true;
    for (const t of self.#tensors) t.dispose();
  }

  [Symbol.dispose](): void {
    PreparedFp8Gemm.prototype.dispose.call(this);
  }

  #check(method: string): void {
    if (this.#disposed) throw new DisposedError(`PreparedFp8Gemm.${method}: it was disposed`);
  }
}

/**
 * The first half of {@link fp8Gemm}: checks the operands and re-lays the
 * block scales out for cuBLASLt (a small copy, queued on the device). Call it
 * once and time {@link PreparedFp8Gemm.run}. Works on any device (only `run`
 * needs cuBLASLt on a CUDA device).
 * @param a - activations: values e4m3 [M, K]; scales f32 [1] or [M, ceil(K/128)].
 * @param b - weights: values e4m3 [N, K]; scales f32 [1] or [ceil(N/128), ceil(K/128)].
 * @throws TypeError / RangeError for bad dtypes, shapes or mode.
 * @throws {@link UnsupportedError} when M, N or K is not a multiple of 16
 *   (cuBLASLt's FP8 needs 16-byte aligned rows).
 * @example
 * ```ts
 * using prepared = baselines.prepareFp8Gemm(qx, qw, { mode: 'block' });
 * using c = prepared.run({ outDtype: 'bf16' });
 * ```
 */
export function prepareFp8Gemm(a: QuantizedOperand, b: QuantizedOperand, options: PrepareFp8GemmOptions): PreparedFp8Gemm {
  return prepare('baselines.prepareFp8Gemm', a, b, options);
}

/** prepareFp8Gemm, with errors naming `op` (fp8Gemm prepares too). */
function prepare(op: string, a: QuantizedOperand, b: QuantizedOperand, options: unknown): PreparedFp8Gemm {
  const qa = quantizedArg(op, 'a', a);
  const qb = quantizedArg(op, 'b', b);
  const opts = checkOptions(op, options, ['mode']);
  const mode = checkOneOf(op, 'options.mode', opts.mode, FP8_MODES);
  const handles = callNative(() => binding().baselineFp8Prepare(qa.values, qa.scales, qb.values, qb.scales, mode));
  return PreparedFp8Gemm.fromNative(mode, handles);
}

/**
 * cuBLASLt's FP8 GEMM on moekit's quantized operands: C[M,N] =
 * Σ_kb (A_kb·B_kbᵀ)·scaleA[m,kb]·scaleB[n/128,kb] (mode 'block', DESIGN §4)
 * or A·Bᵀ·scaleA·scaleB (mode 'tensor'), f32 accumulation, fast
 * accumulation off. Equals {@link prepareFp8Gemm} then
 * {@link PreparedFp8Gemm.run}; benchmarks prepare once instead, to leave the
 * scale re-layout out of the timing.
 * @throws TypeError / RangeError for bad arguments; {@link UnsupportedError}
 *   as {@link prepareFp8Gemm} and {@link PreparedFp8Gemm.run}.
 * @example
 * ```ts
 * using c = baselines.fp8Gemm(quantize(x, { block: [1, 128] }), quantize(w, { block: [128, 128] }), { mode: 'block' });
 * ```
 */
export function fp8Gemm(a: QuantizedOperand, b: QuantizedOperand, options: Fp8GemmOptions): Tensor {
  const op = 'baselines.fp8Gemm';
  const opts = checkOptions(op, options, ['mode', 'outDtype']);
  const outDtype = outDtypeOption(op, opts.outDtype);
  using prepared = prepare(op, a, b, { mode: opts.mode });
  return prepared.run({ outDtype });
}

// ---- MoE grouped GEMM ------------------------------------------------------------

/**
 * How a grouped GEMM baseline runs the experts: `'loop'`, one cuBLASLt
 * matmul per non-empty expert on pointer offsets into x, w and the output
 * (what a user writes after reading the counts back); `'grouped'`, one
 * `cublasGemmGroupedBatchedEx` call (cuBLAS 12.5+) over every non-empty
 * expert, experts with equal row counts sharing a group.
 */
export const GROUPED_GEMM_MODES = ['loop', 'grouped'] as const;

/** A mode of {@link groupedGemm} and {@link fp8GroupedGemm}. */
export type GroupedGemmMode = (typeof GROUPED_GEMM_MODES)[number];

/**
 * The routing of a grouped GEMM, on the host: the contiguous expert layout
 * of `moe.permute` read back (`await perm.offsets.toArray()`, likewise
 * counts). With E experts (the first dimension of w) and P rows of x:
 * - `offsets`: E + 1 integers, `offsets[0] = 0`, never decreasing,
 *   `offsets[E] <= P`; expert e owns rows `offsets[e] .. offsets[e+1] - 1`.
 * - `counts` (optional): E integers, `0 <= counts[e] <= offsets[e+1] - offsets[e]`;
 *   expert e computes only the first `counts[e]` rows of its segment, the
 *   rest are padding. Without counts every row of a segment is computed.
 *
 * Output rows that no expert computes (segment padding, and every row from
 * `offsets[E]` on) are written as zeros.
 */
export interface Segments {
  readonly offsets: ArrayLike<number>;
  readonly counts?: ArrayLike<number>;
}

/** Options of {@link groupedGemm}. */
export interface GroupedGemmOptions {
  /** How the experts run, default 'loop'. */
  mode?: GroupedGemmMode;
}

/** Options of {@link fp8GroupedGemm} and {@link PreparedFp8GroupedGemm.run}. */
export interface Fp8GroupedGemmOptions {
  /** Only 'loop' (the default) runs; 'grouped' throws UnsupportedError, as {@link BaselineStatus.fp8GroupedGemm} says. */
  mode?: GroupedGemmMode;
}

/** `segments` as plain arrays for the binding (the addon checks the values). */
function segmentsArg(op: string, segments: unknown): { offsets: number[]; counts: number[] | null } {
  const expected = 'an object { offsets, counts? } of integer arrays';
  if (segments === null || typeof segments !== 'object' || Array.isArray(segments)) throw typeError(op, 'segments', expected, segments);
  const s = checkOptions(op, segments, ['offsets', 'counts'], 'segments');
  const list = (key: 'offsets' | 'counts', value: unknown): number[] => {
    const ok =
      Array.isArray(value) ||
      (ArrayBuffer.isView(value) && !(value instanceof DataView) && !(value instanceof BigInt64Array) && !(value instanceof BigUint64Array));
    if (!ok) throw typeError(op, `segments.${key}`, 'an array of integers', value);
    return Array.from(value as ArrayLike<number>);
  };
  return { offsets: list('offsets', s.offsets), counts: s.counts === undefined ? null : list('counts', s.counts) };
}

/**
 * cuBLAS's MoE grouped GEMM on moekit's operands, as `moe.groupedGemm`
 * computes it: rows of `x` are in expert order, and the output rows of
 * expert e are `x_e · w[e]ᵀ` (bf16 inputs and output, f32 accumulation);
 * rows no expert computes are zero (see {@link Segments}). The work is
 * queued on the device like any op, with no host synchronization.
 * @param x - bf16 [P, K], on a CUDA device.
 * @param w - bf16 [E, N, K] (each expert's weights stored [out, in]), on x's device.
 * @param segments - the routing, on the host; see {@link Segments}.
 * @param options - `{ mode? }`: 'loop' (default) or 'grouped'; see {@link GROUPED_GEMM_MODES}.
 * @returns bf16 [P, N].
 * @throws TypeError / RangeError for bad dtypes, shapes, devices, segments or options.
 * @throws {@link UnsupportedError} when cuBLASLt ('loop'), cuBLAS 12.5+
 *   ('grouped') or a CUDA device is missing; see {@link status}.
 * @example
 * ```ts
 * const offsets = Array.from(await perm.offsets.toArray());
 * const counts = Array.from(await perm.counts.toArray());
 * using y = baselines.groupedGemm(xPermuted, w, { offsets, counts }, { mode: 'grouped' });
 * ```
 */
export function groupedGemm(x: Tensor, w: Tensor, segments: Segments, options?: GroupedGemmOptions): Tensor {
  const op = 'baselines.groupedGemm';
  const tx = tensorArg(op, 'x', x);
  const tw = tensorArg(op, 'w', w);
  const s = segmentsArg(op, segments);
  const opts = checkOptions(op, options, ['mode']);
  const mode = opts.mode === undefined ? 'loop' : checkOneOf(op, 'options.mode', opts.mode, GROUPED_GEMM_MODES);
  const hx = tx.handle(op, 'x');
  const hw = tw.handle(op, 'w');
  return Tensor.fromNative(callNative(() => binding().baselineGroupedGemm(hx, hw, s.offsets, s.counts, mode)));
}

/**
 * FP8 operands and a routing made ready for {@link fp8GroupedGemm}'s
 * per-expert cuBLASLt matmuls (see {@link prepareFp8GroupedGemm}): the
 * scales re-laid out for cuBLASLt one expert at a time, so that
 * {@link PreparedFp8GroupedGemm.run} times the matmuls alone. Holds its own
 * references to the operands; dispose it when done.
 */
export class PreparedFp8GroupedGemm {
  /** Rows of x (and of the output). */
  readonly p: number;
  /** Experts. */
  readonly e: number;
  /** Rows of each expert's weights (columns of the output). */
  readonly n: number;
  /** The shared inner dimension. */
  readonly k: number;
  /** The device the operands live on. */
  readonly device: Device;
  readonly #tensors: readonly [Tensor, Tensor, Tensor, Tensor];
  readonly #offsets: number[];
  readonly #counts: number[] | null;
  #disposed = false;

  private constructor(handles: NativeTensor[], offsets: number[], counts: number[] | null) {
    const [xValues, xScales, wValues, wScales] = handles.map((h) => Tensor.fromNative(h));
    if (!xValues || !xScales || !wValues || !wScales) throw new TypeError('baselines.prepareFp8GroupedGemm: the binding returned too few tensors');
    this.#tensors = [xValues, xScales, wValues, wScales];
    this.#offsets = offsets;
    this.#counts = counts;
    this.p = xValues.shape[0]!;
    this.k = xValues.shape[1]!;
    this.e = wValues.shape[0]!;
    this.n = wValues.shape[1]!;
    this.device = xValues.device;
  }

  /** @internal */
  static fromNative(handles: NativeTensor[], offsets: number[], counts: number[] | null): PreparedFp8GroupedGemm {
    return new PreparedFp8GroupedGemm(handles, offsets, counts);
  }

  /**
   * The scales as cuBLASLt reads them: x's as one f32 array holding, for
   * each expert e in turn, its [ceil(K/128), rows_e] scales (rows_e =
   * counts[e], or the segment size), each expert's start rounded up to 4
   * floats (zeros in between); w's as [E, ceil(N/128), ceil(K/128) rounded
   * up to 4] (zero padded).
   */
  get scales(): { readonly x: Tensor; readonly w: Tensor } {
    PreparedFp8GroupedGemm.#own(this, 'scales').#check('scales');
    return { x: this.#tensors[1], w: this.#tensors[3] };
  }

  /** Whether {@link PreparedFp8GroupedGemm.dispose} was called. */
  get disposed(): boolean {
    return PreparedFp8GroupedGemm.#own(this, 'disposed').#disposed;
  }

  static #own(value: unknown, method: string): PreparedFp8GroupedGemm {
    if (typeof value !== 'object' || value === null || !(#tensors in value)) {
      throw typeError(`PreparedFp8GroupedGemm.${method}`, 'this', 'a PreparedFp8GroupedGemm (from baselines.prepareFp8GroupedGemm())', value);
    }
    return value;
  }

  /**
   * Queues one cuBLASLt block-scaled FP8 matmul per non-empty expert
   * (1x128 activation and 128x128 weight scales, f32 accumulation, fast
   * accumulation off), bf16 output [P, N], padding rows zero.
   * @throws {@link UnsupportedError} when cuBLASLt 12.9+, a CUDA device of
   *   compute capability 9.0, or mode 'loop' is missing.
   */
  run(options?: Fp8GroupedGemmOptions): Tensor {
    const op = 'baselines.fp8GroupedGemm';
    PreparedFp8GroupedGemm.#own(this, 'run').#check('run');
    const opts = checkOptions('PreparedFp8GroupedGemm.run', options, ['mode']);
    const mode = opts.mode === undefined ? 'loop' : checkOneOf(op, 'options.mode', opts.mode, GROUPED_GEMM_MODES);
    const [xValues, xScales, wValues, wScales] = this.#tensors;
    const xV = xValues.handle(op, 'x.values');
    const xS = xScales.handle(op, 'x.scales');
    const wV = wValues.handle(op, 'w.values');
    const wS = wScales.handle(op, 'w.scales');
    return Tensor.fromNative(callNative(() => binding().baselineFp8GroupedGemm(xV, xS, wV, wS, this.#offsets, this.#counts, mode)));
  }

  /** Releases the operand references and the re-laid scales. Idempotent. */
  dispose(): void {
    const self = PreparedFp8GroupedGemm.#own(this, 'dispose');
    if (self.#disposed) return;
    self.#disposed = true;
    for (const t of self.#tensors) t.dispose();
  }

  [Symbol.dispose](): void {
    PreparedFp8GroupedGemm.prototype.dispose.call(this);
  }

  #check(method: string): void {
    if (this.#disposed) throw new DisposedError(`PreparedFp8GroupedGemm.${method}: it was disposed`);
  }
}

/**
 * The first half of {@link fp8GroupedGemm}: checks the operands and the
 * segments and re-lays the scales out for cuBLASLt, one expert at a time (a
 * small copy, queued on the device; cuBLASLt reads an expert's 1x128 scales
 * packed, which a slice of the whole re-laid array would not be). Call it
 * once per routing and time {@link PreparedFp8GroupedGemm.run}. Works on
 * any device (only `run` needs cuBLASLt on a CUDA device).
 * @param x - activations: values e4m3 [P, K], scales f32 [P, ceil(K/128)] (`quantize(x, { block: [1, 128] })`).
 * @param w - weights: values e4m3 [E, N, K], scales f32 [E, ceil(N/128), ceil(K/128)] (128x128 blocks per expert).
 * @param segments - the routing; see {@link Segments}.
 * @throws TypeError / RangeError for bad dtypes, shapes or segments.
 * @throws {@link UnsupportedError} when N or K is not a multiple of 16
 *   (cuBLASLt's FP8 needs 16-byte aligned rows).
 * @example
 * ```ts
 * using prepared = baselines.prepareFp8GroupedGemm(qx, qw, { offsets, counts });
 * using y = prepared.run();
 * ```
 */
export function prepareFp8GroupedGemm(x: QuantizedOperand, w: QuantizedOperand, segments: Segments): PreparedFp8GroupedGemm {
  return prepareGrouped('baselines.prepareFp8GroupedGemm', x, w, segments);
}

function prepareGrouped(op: string, x: QuantizedOperand, w: QuantizedOperand, segments: unknown): PreparedFp8GroupedGemm {
  const qx = quantizedArg(op, 'x', x);
  const qw = quantizedArg(op, 'w', w);
  const s = segmentsArg(op, segments);
  const handles = callNative(() => binding().baselineFp8GroupedPrepare(qx.values, qx.scales, qw.values, qw.scales, s.offsets, s.counts));
  return PreparedFp8GroupedGemm.fromNative(handles, s.offsets, s.counts);
}

/**
 * cuBLASLt's block-scaled FP8 on the MoE grouped GEMM: for each non-empty
 * expert e, its rows of the output are Σ_kb (x_kb·w[e]_kbᵀ)·scaleX·scaleW
 * (DeepSeek-V3's 1x128 activation and per-expert 128x128 weight scales;
 * cuBLAS 12.9+, compute capability 9.0), bf16; rows no expert computes are
 * zero. One matmul per expert (mode 'loop'): cuBLAS has no grouped GEMM with
 * these scales. Equals {@link prepareFp8GroupedGemm} then
 * {@link PreparedFp8GroupedGemm.run}; benchmarks prepare once instead.
 * @throws TypeError / RangeError for bad arguments; {@link UnsupportedError}
 *   as {@link prepareFp8GroupedGemm} and {@link PreparedFp8GroupedGemm.run}.
 * @example
 * ```ts
 * using y = baselines.fp8GroupedGemm(quantize(x, { block: [1, 128] }), qw, { offsets, counts });
 * ```
 */
export function fp8GroupedGemm(x: QuantizedOperand, w: QuantizedOperand, segments: Segments, options?: Fp8GroupedGemmOptions): Tensor {
  const op = 'baselines.fp8GroupedGemm';
  const opts = checkOptions(op, options, ['mode']);
  const mode = opts.mode === undefined ? 'loop' : checkOneOf(op, 'options.mode', opts.mode, GROUPED_GEMM_MODES);
  using prepared = prepareGrouped(op, x, w, segments);
  return prepared.run({ mode });
}

// ---- MLA attention, unfused --------------------------------------------------------

/** Arguments of {@link mlaDecode}. */
export interface MlaDecodeArgs {
  /** bf16 `[B, Sq, H, 576]`: absorbed queries, per head `[q_nope·W_UK (512) | q_rope (64)]`. */
  q: Tensor;
  /** bf16 `[blocks, pageSize, 576]`: the paged latent cache, rows `[latent (512) | kRope (64)]`; V is a row's first 512 columns. */
  cache: Tensor;
  /** i32 `[B, maxPages]`: the cache blocks of each sequence, in order. Entries outside `[0, blocks)` give NaN keys, never a read out of bounds. */
  blockTable: Tensor;
  /** The keys of each sequence, on the host (B integers, each at most `maxPages · pageSize`), as a user reads them back to size the GEMMs. */
  seqLens: ArrayLike<number>;
  /** The softmax scale, always given. */
  softmaxScale: number;
  /** Causal, bottom-right aligned: query s of Sq sees keys `j ≤ s + seqLen - Sq` (default `false`; Sq = 1 makes it moot). */
  causal?: boolean;
}

/** Arguments of {@link mlaPrefill}. */
export interface MlaPrefillArgs {
  /** bf16 `[T, H, 192]`: per head `[q_nope (128) | q_rope (64)]`. */
  q: Tensor;
  /** bf16 `[T, 512]`: each token's latent. */
  latent: Tensor;
  /** bf16 `[T, 64]`: each token's RoPE key, shared by the heads. */
  kRope: Tensor;
  /** bf16 `[H·256, 512]`: `wkv_b`, per head 128 rows of W_UK, then 128 of W_UV. */
  wkvB: Tensor;
  /** The packed sequences' lengths, on the host, summing to T (`mla.prefill`'s `cuSeqLens` as differences). */
  seqLens: ArrayLike<number>;
  /** The softmax scale, always given. */
  softmaxScale: number;
  /** Causal within each sequence, top-left aligned: query i sees keys 0..i (default `true`, as `mla.prefill`). */
  causal?: boolean;
}

/** What {@link mlaDecode} and {@link mlaPrefill} return. */
export interface MlaBaselineResult {
  /** bf16: decode `[B, Sq, H, 512]`, prefill `[T, H, 128]`. */
  readonly out: Tensor<'bf16'>;
  /** f32 natural-log LSE: decode `[B, H, Sq]`, prefill `[H, T]`; `+inf` for a query with no key (its output is 0). */
  readonly lse: Tensor<'f32'>;
  /** Device bytes of the intermediates the call allocated beyond its outputs, freed when its work is done (see {@link mlaDecodeWorkspaceBytes}, {@link mlaPrefillWorkspaceBytes}). */
  readonly workspaceBytes: number;
  [Symbol.dispose](): void;
}

/** `value` as a plain array of numbers (the addon checks the values). */
function lengthsArg(op: string, arg: string, value: unknown): number[] {
  const ok =
    Array.isArray(value) ||
    (ArrayBuffer.isView(value) && !(value instanceof DataView) && !(value instanceof BigInt64Array) && !(value instanceof BigUint64Array));
  if (!ok) throw typeError(op, arg, 'an array of integers', value);
  return Array.from(value as ArrayLike<number>);
}

function scaleArg(op: string, value: unknown): number {
  const scale = checkNumber(op, 'softmaxScale', value);
  if (!Number.isFinite(scale)) throw rangeError(op, 'softmaxScale', 'a finite number', String(scale));
  return scale;
}

function argsObject(op: string, args: unknown): void {
  if (args === undefined || args === null || typeof args !== 'object') throw typeError(op, 'args', 'an object', args);
}

function mlaResult(r: [NativeTensor, NativeTensor, number]): MlaBaselineResult {
  const out = Tensor.fromNative<'bf16'>(r[0]);
  const lse = Tensor.fromNative<'f32'>(r[1]);
  return {
    out,
    lse,
    workspaceBytes: r[2],
    [Symbol.dispose]() {
      out.dispose();
      lse.dispose();
    },
  };
}

/**
 * The unfused decode baseline over a paged cache (the absorbed MLA form,
 * FlashMLA's arguments): gathers each sequence's pages into one
 * `[B, maxSk, 576]` buffer (rows past a sequence's length zero; maxSk =
 * max(seqLens)), scores `[B, Sq·H, maxSk]` f32 = q·Kᵀ with one
 * `cublasGemmStridedBatchedEx` over the batch (bf16 in, f32 accumulation;
 * heads and queries are the rows: MQA), moekit's masked softmax (lengths,
 * causal, scale; bf16 probabilities, natural-log LSE), then out = P·V with a
 * second strided batched GEMM. Shorter sequences are padded to maxSk and
 * masked. Queued on the device with no host synchronization.
 * @throws TypeError / RangeError for bad dtypes, shapes, devices, seqLens or options.
 * @throws {@link UnsupportedError} when cuBLASLt, libcublas or a CUDA device
 *   is missing ({@link BaselineStatus.mla}), or a size exceeds cuBLAS's int.
 * @example
 * ```ts
 * using r = baselines.mlaDecode({ q, cache, blockTable, seqLens: [700, 1024], softmaxScale: 0.1352 });
 * ```
 */
export function mlaDecode(args: MlaDecodeArgs): MlaBaselineResult {
  const op = 'baselines.mlaDecode';
  argsObject(op, args);
  const a = checkOptions(op, args, ['q', 'cache', 'blockTable', 'seqLens', 'softmaxScale', 'causal'], 'args');
  const q = tensorArg(op, 'q', a.q);
  const cache = tensorArg(op, 'cache', a.cache);
  const table = tensorArg(op, 'blockTable', a.blockTable);
  const seqLens = lengthsArg(op, 'seqLens', a.seqLens);
  const scale = scaleArg(op, a.softmaxScale);
  const causal = a.causal === undefined ? false : checkBoolean(op, 'causal', a.causal);
  const [hq, hc, ht] = [q.handle(op, 'q'), cache.handle(op, 'cache'), table.handle(op, 'blockTable')];
  return mlaResult(callNative(() => binding().baselineMlaDecode(hq, hc, ht, seqLens, scale, causal)));
}

/**
 * The unfused prefill baseline (the naive MLA form, `mla.prefill`'s
 * arguments with host lengths): decompresses K_nope and V for every token
 * with one cuBLASLt GEMM (`latent · wkvBᵀ` -> `[T, H·256]` bf16), assembles
 * per-head keys `[T, H, 192]` = `[k_nope | kRope]`, then per sequence of S
 * tokens: scores `[H, S, S]` f32 with a strided batched GEMM over the heads,
 * moekit's masked softmax, and out = P·V with another (V read in place).
 * It materializes K, V and the S×S scores of every head: its memory is what
 * moekit's fused prefill is compared against ({@link mlaPrefillWorkspaceBytes}).
 * @throws TypeError / RangeError for bad dtypes, shapes, devices, seqLens or options.
 * @throws {@link UnsupportedError} as {@link mlaDecode}.
 * @example
 * ```ts
 * using r = baselines.mlaPrefill({ q, latent, kRope, wkvB, seqLens: [512, 1536], softmaxScale: 0.1352 });
 * ```
 */
export function mlaPrefill(args: MlaPrefillArgs): MlaBaselineResult {
  const op = 'baselines.mlaPrefill';
  argsObject(op, args);
  const a = checkOptions(op, args, ['q', 'latent', 'kRope', 'wkvB', 'seqLens', 'softmaxScale', 'causal'], 'args');
  const q = tensorArg(op, 'q', a.q);
  const latent = tensorArg(op, 'latent', a.latent);
  const kRope = tensorArg(op, 'kRope', a.kRope);
  const wkvB = tensorArg(op, 'wkvB', a.wkvB);
  const seqLens = lengthsArg(op, 'seqLens', a.seqLens);
  const scale = scaleArg(op, a.softmaxScale);
  const causal = a.causal === undefined ? true : checkBoolean(op, 'causal', a.causal);
  const [hq, hl, hr, hw] = [q.handle(op, 'q'), latent.handle(op, 'latent'), kRope.handle(op, 'kRope'), wkvB.handle(op, 'wkvB')];
  return mlaResult(callNative(() => binding().baselineMlaPrefill(hq, hl, hr, hw, seqLens, scale, causal)));
}

function lengthsOf(op: string, value: unknown): number[] {
  const lens = lengthsArg(op, 'seqLens', value);
  lens.forEach((n, i) => checkInteger(op, `seqLens[${i}]`, n, 0, Number.MAX_SAFE_INTEGER));
  return lens;
}

/**
 * Device bytes {@link mlaDecode} allocates beyond its outputs: the gathered
 * cache `B·maxSk·576` bf16, the scores `B·Sq·H·maxSk` f32 and the
 * probabilities as many bf16 (maxSk = max(seqLens); 0 when B, Sq or H is 0).
 * cuBLAS's own 32 MiB workspace per device is not counted (it is kept for
 * the process, like cuBLASLt's).
 */
export function mlaDecodeWorkspaceBytes(shape: { batch: number; seqQ: number; heads: number; seqLens: ArrayLike<number> }): number {
  const op = 'baselines.mlaDecodeWorkspaceBytes';
  argsObject(op, shape);
  const s = checkOptions(op, shape, ['batch', 'seqQ', 'heads', 'seqLens'], 'shape');
  const batch = checkInteger(op, 'batch', s.batch, 0, Number.MAX_SAFE_INTEGER);
  const rows = checkInteger(op, 'seqQ', s.seqQ, 0, Number.MAX_SAFE_INTEGER) * checkInteger(op, 'heads', s.heads, 0, Number.MAX_SAFE_INTEGER);
  const maxSk = Math.max(0, ...lengthsOf(op, s.seqLens));
  if (batch === 0 || rows === 0) return 0;
  return batch * maxSk * 576 * 2 + batch * rows * maxSk * (4 + 2);
}

/**
 * Device bytes {@link mlaPrefill} allocates beyond its outputs: the
 * decompressed K and V `T·H·256` bf16, the assembled keys `T·H·192` bf16,
 * and one sequence's scores `H·S·S` f32 and probabilities as many bf16 at
 * the longest S (reused by every sequence); T = sum(seqLens). cuBLAS's and
 * cuBLASLt's own 32 MiB workspaces per device are not counted.
 */
export function mlaPrefillWorkspaceBytes(shape: { heads: number; seqLens: ArrayLike<number> }): number {
  const op = 'baselines.mlaPrefillWorkspaceBytes';
  argsObject(op, shape);
  const s = checkOptions(op, shape, ['heads', 'seqLens'], 'shape');
  const heads = checkInteger(op, 'heads', s.heads, 0, Number.MAX_SAFE_INTEGER);
  const lens = lengthsOf(op, s.seqLens);
  const tokens = lens.reduce((x, y) => x + y, 0);
  const maxS = Math.max(0, ...lens);
  if (tokens === 0 || heads === 0) return 0;
  return tokens * heads * (256 + 192) * 2 + heads * maxS * maxS * (4 + 2);
}

/** Options of {@link mlaSoftmax}. */
export interface MlaSoftmaxOptions {
  /** Keys of each entry (N integers, each at most C). */
  lengths: ArrayLike<number>;
  /** Heads H and queries Sq of an entry: its rows are H·Sq. */
  heads: number;
  queries: number;
  /** Rows ordered `[H, Sq]` (prefill's per-sequence scores) instead of `[Sq, H]` (decode's), default false. */
  headMajor?: boolean;
  /** Applied to the scores before the softmax. */
  softmaxScale: number;
  /** Bottom-right causal: query s sees keys `j < s + 1 + length - queries` (default false). */
  causal?: boolean;
}

/**
 * The MLA baselines' masked softmax on its own, on any device (the CPU
 * twin, or the kernel the baselines run on a GPU): for scores f32
 * `[N, H·Sq, C]`, bf16 probabilities of the same shape (0 outside each
 * row's allowed keys) and the natural-log LSE f32 `[N, H, Sq]` (`+inf` for
 * a row with no key). A step of {@link mlaDecode} and {@link mlaPrefill},
 * exposed so that it can be checked without cuBLAS.
 */
export function mlaSoftmax(scores: Tensor, options: MlaSoftmaxOptions): { probs: Tensor<'bf16'>; lse: Tensor<'f32'> } {
  const op = 'baselines.mlaSoftmax';
  const t = tensorArg(op, 'scores', scores);
  argsObject(op, options);
  const o = checkOptions(op, options, ['lengths', 'heads', 'queries', 'headMajor', 'softmaxScale', 'causal']);
  const lengths = lengthsArg(op, 'options.lengths', o.lengths);
  const heads = checkInteger(op, 'options.heads', o.heads, 0, 2 ** 31 - 1);
  const queries = checkInteger(op, 'options.queries', o.queries, 0, 2 ** 31 - 1);
  const headMajor = o.headMajor === undefined ? false : checkBoolean(op, 'options.headMajor', o.headMajor);
  const scale = scaleArg(op, o.softmaxScale);
  const causal = o.causal === undefined ? false : checkBoolean(op, 'options.causal', o.causal);
  const h = t.handle(op, 'scores');
  const [probs, lse] = callNative(() => binding().baselineMlaSoftmax(h, lengths, heads, queries, headMajor, scale, causal));
  return { probs: Tensor.fromNative<'bf16'>(probs), lse: Tensor.fromNative<'f32'>(lse) };
}

/**
 * {@link mlaDecode}'s gather on its own, on any device: each sequence's
 * cache pages (bf16 `[blocks, pageSize, 576]`, through the i32 block table
 * `[B, maxPages]`) copied into one bf16 `[B, max(seqLens), 576]` buffer,
 * rows past a sequence's length zero.
 */
export function mlaGather(cache: Tensor, blockTable: Tensor, seqLens: ArrayLike<number>): Tensor<'bf16'> {
  const op = 'baselines.mlaGather';
  const c = tensorArg(op, 'cache', cache);
  const t = tensorArg(op, 'blockTable', blockTable);
  const lens = lengthsArg(op, 'seqLens', seqLens);
  const [hc, ht] = [c.handle(op, 'cache'), t.handle(op, 'blockTable')];
  return Tensor.fromNative<'bf16'>(callNative(() => binding().baselineMlaGather(hc, ht, lens)));
}

/**
 * {@link mlaPrefill}'s key assembly on its own, on any device: from the
 * decompressed kv bf16 `[T, H·256]` (per head 128 columns of k_nope, then
 * 128 of v) and kRope bf16 `[T, 64]`, the keys bf16 `[T, H, 192]` =
 * `[k_nope | kRope]`.
 */
export function mlaAssembleKeys(kv: Tensor, kRope: Tensor): Tensor<'bf16'> {
  const op = 'baselines.mlaAssembleKeys';
  const a = tensorArg(op, 'kv', kv);
  const b = tensorArg(op, 'kRope', kRope);
  const [ha, hb] = [a.handle(op, 'kv'), b.handle(op, 'kRope')];
  return Tensor.fromNative<'bf16'>(callNative(() => binding().baselineMlaAssemble(ha, hb)));
}
