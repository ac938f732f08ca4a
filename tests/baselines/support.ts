/**
 * References for the baseline tests: the DeepSeek-V3 FP8 quantization
 * (docs/architecture.md, "Numeric conventions") done on the host down to raw codes and scales, and
 * float64 GEMM oracles over a sample of output rows. Random inputs, the
 * comparison and the seed report come from tests/helpers.
 * @module
 */
import { type Device, type Tensor, fp8 } from '../../lib/index.js';


export const BLOCK = 128;
const E4M3_MAX = 448;
const AMAX_FLOOR = 1e-4;

/** FP8 codes with f32 dequantization scales (x ≈ decode(code) · scale), as quantize() gives. */
export interface HostQuantized {
  readonly codes: Uint8Array;  // [rows, k] e4m3
  readonly scales: Float32Array;
  readonly scaleShape: number[];
  readonly rows: number;
  readonly k: number;
  readonly block: '1x128' | '128x128' | 'tensor';
}

/** The first scale of row `r`: rows of 1x128 scales, or of 128x128 block rows. */
function scaleRowBase(block: HostQuantized['block'], r: number, kBlocks: number): number {
  if (block === 'tensor') return 0;
  return (block === '1x128' ? r : Math.floor(r / BLOCK)) * kBlocks;
}

/** DESIGN section 4: per block amax = max(|x|, 1e-4), scale = amax / 448, code = e4m3(x / scale). */
export function quantizeHost(x: Float32Array, rows: number, k: number, block: HostQuantized['block']): HostQuantized {
  const kb = Math.ceil(k / BLOCK);
  const scaleShape = block === 'tensor' ? [1] : block === '1x128' ? [rows, kb] : [Math.ceil(rows / BLOCK), kb];
  const amax = new Float64Array(scaleShape.reduce((a, b) => a * b, 1)).fill(AMAX_FLOOR);
  const perBlock = block !== 'tensor';
  for (let r = 0; r < rows; r++) {
    const base = scaleRowBase(block, r, kb);
    for (let c = 0; c < k; c++) {
      const s = perBlock ? base + Math.floor(c / BLOCK) : 0;
      amax[s] = Math.max(amax[s]!, Math.abs(x[r * k + c]!));
    }
  }
  const scales = new Float32Array(amax.length);
  for (let i = 0; i < amax.length; i++) scales[i] = amax[i]! / E4M3_MAX;
  const scaled = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const base = scaleRowBase(block, r, kb);
    for (let c = 0; c < k; c++) scaled[r * k + c] = x[r * k + c]! / scales[perBlock ? base + Math.floor(c / BLOCK) : 0]!;
  }
  return { codes: fp8.encode(scaled, 'e4m3'), scales, scaleShape, rows, k, block };
}

/**
 * Float64 rows `rowIds` of the product the quantized operands stand for:
 * C[r, j] = Σ_kb (Σ_{t in kb} a[r, t]·b[j, t]) · scaleA(r, kb) · scaleB(j, kb),
 * with a and b the decoded codes (DESIGN section 4).
 */
export function fp8GemmReference(qa: HostQuantized, qb: HostQuantized, rowIds: readonly number[]): Float64Array {
  const k = qa.k;
  const n = qb.rows;
  const kb = Math.ceil(k / BLOCK);
  const a = fp8.decode(qa.codes, 'e4m3');
  const b = fp8.decode(qb.codes, 'e4m3');
  const out = new Float64Array(rowIds.length * n);
  rowIds.forEach((r, i) => {
    const aBase = scaleRowBase(qa.block, r, kb);
    for (let j = 0; j < n; j++) {
      const bBase = scaleRowBase(qb.block, j, kb);
      let total = 0;
      for (let blk = 0; blk < kb; blk++) {
        let sum = 0;
        const end = Math.min(k, (blk + 1) * BLOCK);
        for (let t = blk * BLOCK; t < end; t++) sum += a[r * k + t]! * b[j * k + t]!;
        const sa = qa.scales[qa.block === 'tensor' ? 0 : aBase + blk]!;
        const sb = qb.scales[qb.block === 'tensor' ? 0 : bBase + blk]!;
        total += sum * sa * sb;
      }
      out[i * n + j] = total;
    }
  });
  return out;
}

/** Uploads codes (raw e4m3 bytes) and scales (raw f32) to `dev`. */
export function upload(dev: Device, q: HostQuantized): { values: Tensor<'e4m3'>; scales: Tensor<'f32'> } {
  return {
    values: dev.tensor<'e4m3'>(q.codes, { shape: [q.rows, q.k], dtype: 'e4m3' }),
    scales: dev.tensor<'f32'>(q.scales, { shape: q.scaleShape, dtype: 'f32' }),
  };
}

export { expectAllFinite, gemmReference, pickRows, roundToBf16, sampleRows } from '../helpers/gemm_oracle.js';
