/**
 * How close a matrix product must be to its reference: the one rule every
 * gemm / fp8Gemm test takes its tolerance from (docs/architecture.md, "Testing" gives the
 * ceilings; this derives what the reference can actually guarantee, which is
 * often far below them).
 *
 * Notation: `exact` is the product of the operands as stored (bf16, f16 or
 * FP8 values with their scales: exactly representable, so the float64 oracle
 * is exact to ~K·2^-53); `acc` is what an implementation accumulated before
 * rounding to the output dtype; `out = round(acc)`; `ref` is what the test
 * compares with, unrounded: the float64 oracle, or the f32 output of another
 * implementation (the CPU twin).
 *
 * 1. Output rounding. Rounding to nearest moves a value by its distance to
 *    the dtype's grid, d(x), and d is 1-Lipschitz, so per element
 *      |out − ref| ≤ d(acc) + |acc − ref| ≤ d(ref) + 2·|acc − ref|,
 *    and over the array ‖out − ref‖ ≤ ‖d(ref)‖ + 2·‖acc − ref‖. ‖d(ref)‖ is
 *    measured on the reference itself ({@link outputRounding}): about
 *    1.6e-3 relative for bf16 (unit roundoff 2^-8), 2e-4 for f16 (2^-11),
 *    and ~3e-8 for f32 against a float64 oracle (0 against an f32 twin).
 * 2. Accumulation, ‖acc − exact‖ / ‖exact‖, per implementation
 *    ({@link accumulationBound}); between `acc` and `ref` stand the
 *    accumulation of the implementation under test and, against a twin, the
 *    twin's own accumulation and f32 storage.
 *
 * So the tolerance is ‖d(ref)‖/‖ref‖ + 2·Σ bounds. With f32 output and f32
 * accumulation it is 3e-5 at K = 1000 and 1.3e-4 at K = 16384, while an
 * output that went through bf16 on the way is off by ~1.5e-3, and an FP8
 * scale taken from the wrong row by ~1e-3.
 * @module
 */
import { roundTo } from './gemm_oracle.js';
import { relativeError } from './close.js';

/** The output dtypes of gemm and fp8Gemm. */
export type ProductDType = 'f32' | 'bf16' | 'f16';

/** Unit roundoff (half an ulp at 1, relative): f32 2^-24, bf16 2^-8, f16 2^-11. */
export const UNIT_ROUNDOFF: Readonly<Record<ProductDType, number>> = Object.freeze({ f32: 2 ** -24, bf16: 2 ** -8, f16: 2 ** -11 });

/**
 * How an implementation sums the K products into its f32 accumulator.
 * - `'f32'`: f32 additions (or wider), rounding to nearest: the CPU twins
 *   and the SIMT kernels (v1). The API promises at least this.
 * - `'tensor-core'`: bf16/f16 (or FP8 decoded to bf16) `mma` with f32
 *   accumulators, whose adders align to the largest addend and truncate
 *   (sm_80+; Fasi et al., "Numerical behavior of NVIDIA tensor cores", 2021).
 * - `'fp8-tensor-core'`: FP8 `mma`/`wgmma`, which keep about 14 bits of the
 *   running sum (DeepSeek-V3 report, section 3.3.2) until the sum is promoted
 *   into f32 registers every 128 K.
 */
export type Accumulator = 'f32' | 'tensor-core' | 'fp8-tensor-core';

/**
 * A bound on ‖acc − exact‖ / ‖exact‖ for K products summed by `accumulator`,
 * including the f32 rounding of the result when it is stored as f32.
 *
 * - `'f32'`: the products of exactly representable operands are exact in f32
 *   (bf16·bf16, f16·f16, FP8·FP8) or rounded once (f32·f32: u each). Each of
 *   the K additions rounds by at most u = 2^-24 of the running sum, and for
 *   operands of random sign these errors are independent and zero-mean: the
 *   sum's error is a random walk of RMS ≈ u·sqrt(K/6) relative. The worst
 *   case (K·u times Σ|a·b| / |Σ a·b|) never happens to random data and would
 *   not tell f32 from bf16 at K = 7168. Bound: 8·sqrt(K)·u + 4u, twenty times
 *   the RMS. (The CPU twins accumulate in float64, well inside this.)
 * - `'tensor-core'`: as `'f32'`, plus truncation instead of rounding in each
 *   k8 step of the MMA, which biases the running sum toward zero by up to an
 *   ulp per step: K/8 steps of up to 2u each, about a quarter of it net for a
 *   random walk: + K·u/4 (1.1e-4 at K = 7168).
 * - `'fp8-tensor-core'`: a 14-bit accumulator loses up to 2^-13 of the block's
 *   running sum in each of the four k32 steps of a 128-wide block, 2^-11 of
 *   the block; promotion into f32 every 128 K keeps this from growing with K.
 *   This is why docs/architecture.md, "Testing" allows FP8 GEMM 1e-3 (= 2·2^-11, see
 *   {@link productTolerance}).
 */
export function accumulationBound(accumulator: Accumulator, k: number): number {
  const u = UNIT_ROUNDOFF.f32;
  const f32 = 8 * Math.sqrt(Math.max(k, 1)) * u + 4 * u;
  switch (accumulator) {
    case 'f32':
      return f32;
    case 'tensor-core':
      return f32 + (k * u) / 4;
    case 'fp8-tensor-core':
      return f32 + 2 ** -11;
  }
}

/**
 * ‖d(ref)‖ / ‖ref‖: how far rounding `ref` to `out` moves it, relative L2 —
 * the part of the error no implementation can avoid.
 */
export function outputRounding(out: ProductDType, ref: ArrayLike<number>): number {
  return relativeError(roundTo(out, ref), ref).error;
}

/**
 * The tolerance for `expectClose(label, out, ref, tol)` where `out` is a
 * product of K-long sums stored as `outDtype` and `ref` is unrounded: the
 * float64 oracle (`accumulators` = [the implementation's]) or the f32 output
 * of another implementation ([the implementation's, the twin's]).
 * See the module comment for the derivation.
 * @example
 * ```ts
 * const tol = productTolerance('bf16', ref, 7168, ['f32']);   // CPU twin vs float64 oracle
 * const tol = productTolerance('f32', twin, 4096, ['tensor-core', 'f32']); // gemm v2 vs the twin's f32 output
 * ```
 */
export function productTolerance(outDtype: ProductDType, ref: ArrayLike<number>, k: number, accumulators: readonly Accumulator[]): number {
  if (accumulators.length === 0) throw new RangeError('productTolerance: name at least one accumulation between the output and the exact product');
  const accumulation = accumulators.reduce((sum, a) => sum + accumulationBound(a, k), 0);
  return outputRounding(outDtype, ref) + 2 * accumulation;
}
