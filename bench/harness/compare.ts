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
