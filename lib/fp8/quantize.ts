/**
 * Fine-grained FP8 block quantization (the DeepSeek-V3 recipe).
 *
 * For each block: `amax = max(max|x|, 1e-4)`, `scale = amax / 448` (e4m3; 57344
 * for e5m2; with `scaleFormat: 'ue8m0'` rounded up to a power of two),
 * `q = fp8(x · (1 / scale))` (the reciprocal rounded to f32 once per block), so
 * `x ≈ q · scale`. Blocks:
 *
 * - `[1, 128]`: along the last dimension (activations); scales f32
 *   `[...x.shape.slice(0, -1), ceil(K / 128)]`.
 * - `[128, 128]`: over the last two dimensions (weights, per matrix of a
 *   batch); scales f32 `[...batch, ceil(N / 128), ceil(K / 128)]`.
 * - `'tensor'`: one scale; scales f32 `[1]`.
 *
 * Ragged edge blocks count only their real elements (as if zero-padded).
 * @module
 */
import { type NativeQuantBlock, binding, callNative } from '../binding.js';
import { FP8_FORMATS, type Fp8Format } from '../dtype.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkOneOf, checkOptions, orList, parseImpl, shapeText, typeError } from '../validate.js';

/**
 * The quantization blocks (the `block` option of {@link quantize} and
 * {@link asQuantized}): 1x128 (activations), 128x128 (weights) or one scale
 * per tensor.
 */
export const QUANT_BLOCKS = [[1, 128], [128, 128], 'tensor'] as const;

/** A quantization block: 1x128 (activations), 128x128 (weights) or one scale per tensor. */
export type QuantBlock = (typeof QUANT_BLOCKS)[number];

/**
 * How scales are stored (the `scaleFormat` option): any f32, or powers of
 * two (what an unsigned 8-bit exponent holds).
 */
export const SCALE_FORMATS = ['f32', 'ue8m0'] as const;

/** How scales are stored: any f32, or powers of two (what an unsigned 8-bit exponent holds). */
export type ScaleFormat = (typeof SCALE_FORMATS)[number];

/** The output dtypes of {@link dequantize} (its `dtype` option). */
export const DEQUANTIZE_DTYPES = ['f32', 'bf16', 'f16'] as const;

/** An output dtype of {@link dequantize}. */
export type DequantizeDType = (typeof DEQUANTIZE_DTYPES)[number];

/** @internal Native names of the blocks. */
export function blockName(block: QuantBlock): NativeQuantBlock {
  if (block === 'tensor') return 'tensor';
  return block[0] === 1 ? 'row128' : 'tile128';
}

/** @internal */
export function blockText(block: QuantBlock): string {
  return block === 'tensor' ? "'tensor'" : shapeText(block);
}

/** "[1, 128], [128, 128] or 'tensor'". */
const BLOCKS_TEXT = orList(QUANT_BLOCKS.map(blockText));

/** `value` as one of {@link QUANT_BLOCKS} (a frozen copy of the array given). */
function parseBlock(op: string, arg: string, value: unknown): QuantBlock {
  for (const block of QUANT_BLOCKS) {
    if (block === 'tensor') {
      if (value === 'tensor') return 'tensor';
    } else if (Array.isArray(value) && value.length === 2 && value[0] === block[0] && value[1] === block[1]) {
      return Object.freeze([block[0], block[1]] as const);
    }
  }
  throw typeError(op, arg, BLOCKS_TEXT, value);
}

/**
 * FP8 values with their block scales: what {@link quantize} returns and
 * {@link fp8Gemm} consumes. Dispose it (or both tensors) when done.
 */
export class Quantized<F extends Fp8Format = Fp8Format> {
  /** FP8 codes, same shape as the quantized tensor. */
  readonly values: Tensor<F>;
  /** f32 scales, one per block (see the module docs for the shapes). */
  readonly scales: Tensor<'f32'>;
  /** The block the scales cover. */
  readonly block: QuantBlock;
  /** The FP8 format of the values. */
  readonly format: F;
  /** Whether the scales are powers of two. */
  readonly scaleFormat: ScaleFormat;

  // Set only by the constructor: what tells a Quantized from a look-alike.
  readonly #checked = true;

  /**
   * @internal Use {@link quantize} or {@link asQuantized}. Checks its
   * arguments all the same, so a hand-made one fails here, by name.
   */
  constructor(values: Tensor<F>, scales: Tensor<'f32'>, block: QuantBlock, scaleFormat: ScaleFormat) {
    const op = 'Quantized';
    checkTensor(op, 'values', values);
    checkTensor(op, 'scales', scales);
    if (!(FP8_FORMATS as readonly string[]).includes(values.dtype)) {
      throw typeError(op, 'values.dtype', orList(FP8_FORMATS.map((f) => `'${f}'`)), values.dtype);
    }
    this.values = values;
    this.scales = scales;
    this.block = parseBlock(op, 'block', block);
    this.format = values.dtype;
    this.scaleFormat = checkOneOf(op, 'scaleFormat', scaleFormat, SCALE_FORMATS);
  }

  /**
   * Whether `value` was made by {@link quantize}, {@link asQuantized} or
   * this class's constructor (not a plain object or an `Object.create` copy).
   */
  static isQuantized(value: unknown): value is Quantized {
    return typeof value === 'object' && value !== null && #checked in value;
  }

  /** `value`, a method's receiver, checked to be a Quantized. */
  static #own(value: unknown, op: string): Quantized {
    if (!Quantized.isQuantized(value)) throw typeError(op, 'this', 'a Quantized (from quantize() or asQuantized())', value);
    return value;
  }

  /** Shape of the quantized tensor. */
  get shape(): readonly number[] {
    return Quantized.#own(this, 'Quantized.shape').values.shape;
  }

  /** The device holding values and scales. */
  get device() {
    return Quantized.#own(this, 'Quantized.device').values.device;
  }

  /** Disposes the values and the scales. */
  dispose(): void {
    const self = Quantized.#own(this, 'Quantized.dispose');
    self.values.dispose();
    self.scales.dispose();
  }

  [Symbol.dispose](): void {
    Quantized.prototype.dispose.call(this);
  }

  toString(): string {
    if (!Quantized.isQuantized(this)) return 'Quantized(not made by moekit)';
    return `Quantized(${this.format} ${shapeText(this.shape)}, block ${blockText(this.block)}, ${this.scaleFormat} scales, on ${this.device.id})`;
  }
}

/** Options of {@link quantize}. */
export interface QuantizeOptions {
  /** The block each scale covers. */
  block: QuantBlock;
  /** FP8 format of the values (default `'e4m3'`). */
  format?: Fp8Format;
  /** `'f32'` (default) or `'ue8m0'` (scales rounded up to powers of two). */
  scaleFormat?: ScaleFormat;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

/**
 * Quantizes an f32/bf16/f16 tensor to FP8 with one scale per block.
 * @throws TypeError for a non-float input or bad options; RangeError when the
 *   rank is too small for the block.
 * @example
 * ```ts
 * using xq = quantize(x, { block: [1, 128] });      // activations [M, K]
 * using wq = quantize(w, { block: [128, 128] });    // weights [N, K]
 * ```
 */
export function quantize(x: Tensor, options: QuantizeOptions): Quantized {
  checkTensor('quantize', 'x', x);
  if (options === undefined) throw typeError('quantize', 'options', `an object with block (${BLOCKS_TEXT})`, options);
  const opts = checkOptions('quantize', options, ['block', 'format', 'scaleFormat', 'impl']);
  const block = parseBlock('quantize', 'options.block', opts.block);
  const format = checkOneOf('quantize', 'options.format', opts.format ?? 'e4m3', FP8_FORMATS);
  const scaleFormat = checkOneOf('quantize', 'options.scaleFormat', opts.scaleFormat ?? 'f32', SCALE_FORMATS);
  const impl = parseImpl('quantize', opts.impl);
  const handle = x.handle('quantize', 'x');
  const [values, scales] = callNative(() => binding().quantize(handle, format, blockName(block), scaleFormat === 'ue8m0', impl));
  return new Quantized(Tensor.fromNative<Fp8Format>(values), Tensor.fromNative<'f32'>(scales), block, scaleFormat);
}

/**
 * Wraps existing FP8 values and scales (e.g. a checkpoint's weights and
 * `weight_scale_inv`) as a {@link Quantized}, checking that the shapes match
 * the block. The tensors are not copied; disposing the result disposes them.
 */
export function asQuantized<F extends Fp8Format>(
  values: Tensor<F>,
  scales: Tensor<'f32'>,
  options: { block: QuantBlock; scaleFormat?: ScaleFormat },
): Quantized<F> {
  const op = 'asQuantized';
  checkTensor(op, 'values', values);
  checkTensor(op, 'scales', scales);
  const opts = checkOptions(op, options, ['block', 'scaleFormat']);
  const block = parseBlock(op, 'options.block', opts.block);
  const scaleFormat = checkOneOf(op, 'options.scaleFormat', opts.scaleFormat ?? 'f32', SCALE_FORMATS);
  // dequantize's native check validates dtypes and the scales' shape without running.
  callNative(() => binding().checkQuantized(values.handle(op, 'values'), scales.handle(op, 'scales'), blockName(block)));
  return new Quantized(values, scales, block, scaleFormat);
}

/** Options of {@link dequantize}. */
export interface DequantizeOptions {
  /** Output dtype (default `'f32'`). */
  dtype?: DequantizeDType;
}

/** `q.values · scale` per block, rounded to `dtype`. */
export function dequantize(q: Quantized, options?: DequantizeOptions): Tensor {
  if (!Quantized.isQuantized(q)) throw typeError('dequantize', 'q', 'a Quantized (from quantize() or asQuantized())', q);
  const opts = checkOptions('dequantize', options, ['dtype']);
  const dtype = checkOneOf('dequantize', 'options.dtype', opts.dtype ?? 'f32', DEQUANTIZE_DTYPES);
  const values = q.values.handle('dequantize', 'q.values');
  const scales = q.scales.handle('dequantize', 'q.scales');
  return Tensor.fromNative(callNative(() => binding().dequantize(values, scales, blockName(q.block), dtype)));
}
