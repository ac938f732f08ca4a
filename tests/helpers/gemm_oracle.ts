/**
 * Float64 references for matrix products and the row sampling that keeps
 * them fast on big shapes: an oracle over a few output rows checks a
 * product computed in full.
 * @module
 */
import { expect } from 'vitest';

import { decodeNarrow, encodeNarrow } from './dtype_oracle.js';
import { rng, seedNote } from './rng.js';

/** Float64 C[rows, n] = A[rows of `rowIds`, k] · B[n, k]ᵀ. */
export function gemmReference(a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, rowIds: readonly number[]): Float64Array {
  const out = new Float64Array(rowIds.length * n);
  rowIds.forEach((row, i) => {
    const aOff = row * k;
    for (let j = 0; j < n; j++) {
      const bOff = j * k;
      let s = 0;
      for (let t = 0; t < k; t++) s += a[aOff + t]! * b[bOff + t]!;
      out[i * n + j] = s;
    }
  });
  return out;
}

/** Rows an output check looks at: all when few, else the first, the last and some in between. */
export function sampleRows(stream: string, m: number, count = 8): number[] {
  if (m <= count) return Array.from({ length: m }, (_, i) => i);
  const r = rng(stream);
  const rows = new Set([0, m - 1]);
  while (rows.size < count) rows.add(r.int(0, m - 1));
  return [...rows].sort((x, y) => x - y);
}

/** The rows `rowIds` of a row-major [*, n] array. */
export function pickRows(values: ArrayLike<number>, n: number, rowIds: readonly number[]): Float64Array {
  const out = new Float64Array(rowIds.length * n);
  rowIds.forEach((row, i) => {
    for (let j = 0; j < n; j++) out[i * n + j] = values[row * n + j]!;
  });
  return out;
}

/** Every element finite (outputs are NaN-poisoned before a run, so unwritten ones show). */
export function expectAllFinite(label: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) expect.fail(`${label} (${seedNote()}): element ${i} is ${values[i]}`);
  }
}

/** `x` rounded to the nearest bf16 (ties to even), as a bf16 output stores it. */
export function roundToBf16(x: number): number {
  return decodeNarrow('bf16', encodeNarrow('bf16', x, false));
}

/** `x` rounded to the nearest f16 (ties to even, overflow to ±inf). */
export function roundToF16(x: number): number {
  return decodeNarrow('f16', encodeNarrow('f16', x, false));
}

/**
 * Rounds finite f32 values to bf16 in place (ties to even) by bit
 * arithmetic: for large inputs, where a per-element call would be slow.
 */
export function roundToBf16InPlace(values: Float32Array): Float32Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    bits[i] = ((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000) >>> 0;
  }
  return values;
}

/** Each value rounded as an output of `dtype` stores it. */
export function roundTo(dtype: 'f32' | 'bf16' | 'f16', values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    out[i] = dtype === 'f32' ? Math.fround(v) : dtype === 'bf16' ? roundToBf16(v) : roundToF16(v);
  }
  return out;
}
