/**
 * Comparisons a case's `check` makes against the CPU reference.
 * @module
 */
import type { CheckOutcome } from './types.js';

/**
 * Passes when `actual` holds exactly the bytes of `expected`; on failure
 * says where they first differ and how many differ.
 * @param label - what is compared, e.g. `'h2d copy of 16 MiB'`.
 */
export function compareBytes(label: string, actual: Uint8Array, expected: Uint8Array): CheckOutcome {
  if (actual.length !== expected.length) {
    return { passed: false, detail: `${label}: ${actual.length} bytes, expected ${expected.length}` };
  }
  let first = -1;
  let mismatches = 0;
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      if (first < 0) first = i;
      mismatches++;
    }
  }
  if (first < 0) return { passed: true, detail: `${label}: all ${actual.length} bytes equal` };
  return {
    passed: false,
    detail: `${label}: ${mismatches} of ${actual.length} bytes differ; first at byte ${first}: got ${actual[first]}, expected ${expected[first]}`,
  };
}

/**
 * Passes when ‖actual − expected‖ / ‖expected‖ < tol (float64, docs/architecture.md,
 * "Testing") and no element is NaN or infinite where the reference is finite.
 */
export function compareClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): CheckOutcome {
  if (actual.length !== expected.length) {
    return { passed: false, detail: `${label}: ${actual.length} elements, expected ${expected.length}` };
  }
  let num = 0;
  let den = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!Number.isFinite(a) && Number.isFinite(e)) return { passed: false, detail: `${label}: element ${i} is ${a}, expected ${e}` };
    num += (a - e) ** 2;
    den += e ** 2;
  }
  const error = den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
  const text = `${label}: relative error ${error.toExponential(2)} (bound ${tol})`;
  return { passed: error < tol, detail: text };
}
