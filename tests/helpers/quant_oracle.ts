/**
 * The DeepSeek-V3 block quantization and the block-scaled FP8 GEMM written
 * out in float64 from docs/architecture.md, "Numeric conventions", independent of the library:
 *   amax = max(max |x|, 1e-4) per block; scale = f32(amax / fmt_max), rounded
 *   up to a power of two for ue8m0; inv = f32(1 / scale);
 *   code = fp8(f32(x · inv)), round to nearest even, saturating;
 *   dequantized = f32(decode(code) · scale);
 *   C[m, n] = Σ_kb (Σ_{k in kb} A·B) · sa[m, kb] · sb[n / 128, kb].
 * f32 results of one +, ×, / of f32 operands are computed as Math.fround of
 * the float64 result, which is exact for those operations.
 * @module
 */
import { decodeNarrow, encodeNarrow } from './dtype_oracle.js';

export const QBLOCK = 128;
const AMAX_FLOOR = Math.fround(1e-4);
const FORMAT_MAX = { e4m3: 448, e5m2: 57344 } as const;

export type Fp8 = 'e4m3' | 'e5m2';
/** The (format, ue8m0) pairs the ops that quantize their output (moe.gather, moe.swiglu) are checked with: each format, and ue8m0 scales once. */
export const QUANT_OPTIONS: readonly (readonly [Fp8, boolean])[] = [['e4m3', false], ['e5m2', false], ['e4m3', true]];
export type OracleBlock = '1x128' | '128x128' | 'tensor';

export interface OracleQuantized {
  readonly codes: Uint8Array;
  readonly scales: Float32Array;
  readonly scaleShape: number[];
}

const view = new DataView(new ArrayBuffer(4));

/** The smallest power of two >= s (s > 0, a finite f32). */
export function powerOfTwoAtLeast(s: number): number {
  view.setFloat32(0, s, true);
  const bits = view.getUint32(0, true);
  if ((bits & 0x7f800000) === 0) {
    let p = 2 ** -149;
    while (p < s) p *= 2;
    return p;
  }
  if ((bits & 0x007fffff) === 0) return s;
  view.setUint32(0, ((bits & 0xff800000) + 0x00800000) >>> 0, true);
  return view.getFloat32(0, true);
}

/** The block scale of a block whose largest |x| is `amax`. */
export function blockScale(amax: number, format: Fp8, ue8m0: boolean): number {
  const s = Math.fround(Math.max(amax, AMAX_FLOOR) / FORMAT_MAX[format]);
  return ue8m0 ? powerOfTwoAtLeast(s) : s;
}

/** [batch, rows, cols] of a shape for a block kind, and the scales' shape. */
export function blockLayout(shape: readonly number[], block: OracleBlock): { batch: number; rows: number; cols: number; scaleShape: number[] } {
  const numel = shape.reduce((a, b) => a * b, 1);
  if (block === 'tensor') return { batch: 1, rows: 1, cols: numel, scaleShape: [1] };
  const cols = shape[shape.length - 1]!;
  if (block === '1x128') {
    const lead = shape.slice(0, -1);
    return { batch: 1, rows: lead.reduce((a, b) => a * b, 1), cols, scaleShape: [...lead, Math.ceil(cols / QBLOCK)] };
  }
  const rows = shape[shape.length - 2]!;
  const batchDims = shape.slice(0, -2);
  return {
    batch: batchDims.reduce((a, b) => a * b, 1),
    rows,
    cols,
    scaleShape: [...batchDims, Math.ceil(rows / QBLOCK), Math.ceil(cols / QBLOCK)],
  };
}

/** The index into the scales of element (b, r, c). */
export function scaleIndex(block: OracleBlock, rows: number, cols: number, b: number, r: number, c: number): number {
  const kb = Math.ceil(cols / QBLOCK);
  if (block === 'tensor') return 0;
  if (block === '1x128') return (b * rows + r) * kb + Math.floor(c / QBLOCK);
  return (b * Math.ceil(rows / QBLOCK) + Math.floor(r / QBLOCK)) * kb + Math.floor(c / QBLOCK);
}

/** Quantizes f32 values `x` of `shape` (already rounded to the input dtype). */
export function quantizeOracle(x: ArrayLike<number>, shape: readonly number[], block: OracleBlock, format: Fp8 = 'e4m3', ue8m0 = false): OracleQuantized {
  const { batch, rows, cols, scaleShape } = blockLayout(shape, block);
  const nScales = scaleShape.reduce((a, b) => a * b, 1);
  const amax = new Float64Array(nScales);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const s = scaleIndex(block, rows, cols, b, r, c);
        amax[s] = Math.max(amax[s]!, Math.abs(x[(b * rows + r) * cols + c]!));
      }
    }
  }
  const scales = new Float32Array(nScales);
  for (let i = 0; i < nScales; i++) scales[i] = blockScale(amax[i]!, format, ue8m0);
  const codes = new Uint8Array(batch * rows * cols);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const inv = Math.fround(1 / scales[scaleIndex(block, rows, cols, b, r, c)]!);
        const i = (b * rows + r) * cols + c;
        codes[i] = encodeNarrow(format, Math.fround(x[i]! * inv), true);
      }
    }
  }
  return { codes, scales, scaleShape };
}

/** f32(decode(code) · scale) for every element. */
export function dequantizeOracle(q: OracleQuantized, shape: readonly number[], block: OracleBlock, format: Fp8): Float64Array {
  const { batch, rows, cols } = blockLayout(shape, block);
  const out = new Float64Array(batch * rows * cols);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = (b * rows + r) * cols + c;
        out[i] = Math.fround(decodeNarrow(format, q.codes[i]!) * q.scales[scaleIndex(block, rows, cols, b, r, c)]!);
      }
    }
  }
  return out;
}

/** One operand of the FP8 GEMM oracle: codes [rows, k] with 1x128 or 128x128 scales. */
export interface OracleOperand {
  readonly codes: Uint8Array;
  readonly scales: ArrayLike<number>;
  readonly format: Fp8;
  readonly block: '1x128' | '128x128';
}

/** Float64 rows `rowIds` of C[m, n] = Σ_kb (A_kb · B_kbᵀ) · sa[m, kb] · sb[n / 128, kb]. */
export function fp8GemmOracle(a: OracleOperand, b: OracleOperand, m: number, n: number, k: number, rowIds: readonly number[]): Float64Array {
  const kb = Math.ceil(k / QBLOCK);
  const tableOf = (format: Fp8) => Float64Array.from({ length: 256 }, (_, c) => decodeNarrow(format, c));
  const aTable = tableOf(a.format);
  const bTable = tableOf(b.format);
  const scaleOf = (op: OracleOperand, rows: number, row: number, blk: number) =>
    op.scales[scaleIndex(op.block, rows, k, 0, row, blk * QBLOCK)]!;
  const out = new Float64Array(rowIds.length * n);
  const aRow = new Float64Array(k);
  rowIds.forEach((row, i) => {
    for (let t = 0; t < k; t++) aRow[t] = aTable[a.codes[row * k + t]!]!;
    for (let j = 0; j < n; j++) {
      let total = 0;
      for (let blk = 0; blk < kb; blk++) {
        let sum = 0;
        const end = Math.min(k, (blk + 1) * QBLOCK);
        for (let t = blk * QBLOCK; t < end; t++) sum += aRow[t]! * bTable[b.codes[j * k + t]!]!;
        total += sum * scaleOf(a, m, row, blk) * scaleOf(b, n, j, blk);
      }
      out[i * n + j] = total;
    }
  });
  return out;
}
