/**
 * Comparing computed arrays against references (docs/architecture.md, "Testing").
 * @module
 */
import { expect } from 'vitest';

import { seedNote } from './rng.js';

/** Anything indexable by element: typed arrays, plain arrays. */
export type Numbers = ArrayLike<number>;

/** Where and how far apart two arrays are most different. */
export interface CloseReport {
  /** ‖out − ref‖ / ‖ref‖ over the finite elements (‖out − ref‖ when ref is all zero). */
  readonly error: number;
  /** Flat index of the largest |out − ref| (-1 when there is none). */
  readonly worst: number;
}

function indexText(flat: number, shape: readonly number[] | undefined): string {
  if (!shape || shape.length === 0) return `[${flat}]`;
  const idx: number[] = [];
  let rest = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    idx.unshift(n === 0 ? 0 : rest % n);
    rest = n === 0 ? 0 : Math.floor(rest / n);
  }
  return `[${idx.join(', ')}] (flat ${flat})`;
}

function kind(x: number): string {
  return Number.isNaN(x) ? 'NaN' : x === Infinity ? '+inf' : x === -Infinity ? '-inf' : 'finite';
}

/**
 * The relative L2 error of `out` against `ref`, in float64, and the index of
 * the worst element. Non-finite elements are left out of the sums; use
 * {@link expectClose} to also require them to match.
 */
export function relativeError(out: Numbers, ref: Numbers): CloseReport {
  let diff2 = 0;
  let ref2 = 0;
  let worst = -1;
  let worstAbs = -1;
  const n = Math.min(out.length, ref.length);
  for (let i = 0; i < n; i++) {
    const o = out[i]!;
    const r = ref[i]!;
    if (!Number.isFinite(o) || !Number.isFinite(r)) continue;
    const d = o - r;
    diff2 += d * d;
    ref2 += r * r;
    if (Math.abs(d) > worstAbs) {
      worstAbs = Math.abs(d);
      worst = i;
    }
  }
  const error = ref2 === 0 ? Math.sqrt(diff2) : Math.sqrt(diff2) / Math.sqrt(ref2);
  return { error, worst };
}

/**
 * Asserts that `out` matches `ref` to a relative L2 error below `tol`
 * (‖out − ref‖ / ‖ref‖ in float64, docs/architecture.md, "Testing"; an all-zero `ref`
 * asks for ‖out‖ < tol), with NaN and ±inf at exactly the same indices.
 * A failure names `label`, the seed, the error, the worst index (as a
 * multi-index when `shape` is given) and both values there.
 * @returns the report, for logging.
 * @example
 * ```ts
 * expectClose('gemm bf16 M=129', await c.toArray(), reference, 1e-2, { shape: [129, 256] });
 * ```
 */
export function expectClose(label: string, out: Numbers, ref: Numbers, tol: number, options?: { shape?: readonly number[] }): CloseReport {
  const shape = options?.shape;
  const where = `${label} (${seedNote()})`;
  if (out.length !== ref.length) {
    expect.fail(`${where}: output has ${out.length} elements, reference ${ref.length}`);
  }
  for (let i = 0; i < ref.length; i++) {
    const o = out[i]!;
    const r = ref[i]!;
    if ((Number.isFinite(o) && Number.isFinite(r)) || Object.is(o, r) || (Number.isNaN(o) && Number.isNaN(r))) continue;
    expect.fail(`${where}: ${kind(o)} output where the reference is ${kind(r)} at ${indexText(i, shape)}: out=${o}, ref=${r}`);
  }
  const report = relativeError(out, ref);
  if (!(report.error < tol)) {
    const at = report.worst < 0 ? 'no finite elements' : `worst at ${indexText(report.worst, shape)}: out=${out[report.worst]}, ref=${ref[report.worst]}`;
    expect.fail(`${where}: relative L2 error ${report.error.toExponential(3)} is not below ${tol} over ${ref.length} elements; ${at}`);
  }
  return report;
}

/**
 * DeepGEMM's similarity metric `1 − 2·Σxy / Σ(x² + y²)`, in float64: 0 for
 * identical arrays (and for two all-zero arrays), up to 2 for x = −y. NaN
 * anywhere gives NaN, so a check `diff < tol` fails.
 */
export function fp8GemmDiff(x: Numbers, y: Numbers): number {
  if (x.length !== y.length) throw new RangeError(`fp8GemmDiff: arrays of ${x.length} and ${y.length} elements`);
  let xy = 0;
  let squares = 0;
  for (let i = 0; i < x.length; i++) {
    const a = x[i]!;
    const b = y[i]!;
    xy += a * b;
    squares += a * a + b * b;
  }
  if (squares === 0) return 0;
  return 1 - (2 * xy) / squares;
}
