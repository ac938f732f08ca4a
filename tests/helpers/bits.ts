/**
 * Bit-level views of floats, and exact comparison of codes with a readable
 * failure message.
 * @module
 */
import { expect } from 'vitest';

import { seedNote } from './rng.js';

const view = new DataView(new ArrayBuffer(8));

/** The IEEE binary32 bit pattern of `x` rounded to f32. */
export function f32Bits(x: number): number {
  view.setFloat32(0, x, true);
  return view.getUint32(0, true);
}

/** The f32 value of a 32-bit pattern. */
export function f32FromBits(bits: number): number {
  view.setUint32(0, bits >>> 0, true);
  return view.getFloat32(0, true);
}

/** The next f32 above `x` (toward +inf); `x` must be an f32 value, not NaN or +inf. */
export function nextUpF32(x: number): number {
  if (x === 0) return f32FromBits(1);
  const b = f32Bits(x);
  return f32FromBits(x > 0 ? b + 1 : b - 1);
}

/** The next f32 below `x` (toward -inf); `x` must be an f32 value, not NaN or -inf. */
export function nextDownF32(x: number): number {
  return -nextUpF32(-x);
}

/**
 * f32 inputs at every rounding decision of a number format: each point of
 * `grid` (its non-negative representable values in increasing order, from 0
 * to one step past the largest finite value), each midpoint between
 * neighbours, and one f32 ulp either side of all of these, with both signs.
 */
export function roundingPoints(grid: readonly number[]): Float32Array {
  const out: number[] = [];
  for (let i = 0; i < grid.length; i++) {
    const points = [grid[i]!];
    if (i + 1 < grid.length) points.push((grid[i]! + grid[i + 1]!) / 2);
    for (const p of points) {
      const f = Math.fround(p);
      for (const x of [f, nextUpF32(f), f === 0 ? f32FromBits(1) : nextDownF32(f)]) out.push(x, -x);
    }
  }
  return Float32Array.from(out);
}

/** `0x` and the hex digits of `code`, zero-padded to `digits`. */
export function hex(code: number, digits = 2): string {
  return `0x${(code >>> 0).toString(16).toUpperCase().padStart(digits, '0')}`;
}

function inputText(inputs: ArrayLike<number>, i: number): string {
  if (inputs instanceof Float32Array) {
    const bits = new Uint32Array(inputs.buffer, inputs.byteOffset, inputs.length)[i]!;
    return `${inputs[i]} (f32 ${hex(bits, 8)})`;
  }
  return String(inputs[i]);
}

/**
 * Asserts that two arrays of integer codes (bit patterns, FP8 codes,
 * integers) are equal element by element. A failure names `label`, the
 * seed, how many differ and the first few: index, input, got and expected.
 * @param inputs - what was converted, shown beside each mismatch.
 */
export function expectCodes(label: string, got: ArrayLike<number>, want: ArrayLike<number>, inputs?: ArrayLike<number>): void {
  if (got.length !== want.length) expect.fail(`${label}: got ${got.length} codes, expected ${want.length} (${seedNote()})`);
  const shown: string[] = [];
  let mismatches = 0;
  const digits = Math.max(2, ...Array.from({ length: Math.min(want.length, 64) }, (_, i) => (want[i]! >>> 0).toString(16).length));
  for (let i = 0; i < want.length; i++) {
    if (got[i] === want[i]) continue;
    if (++mismatches <= 8) {
      shown.push(`  [${i}]${inputs ? ` input ${inputText(inputs, i)}` : ''}: got ${hex(got[i]!, digits)}, expected ${hex(want[i]!, digits)}`);
    }
  }
  if (mismatches > 0) {
    expect.fail(`${label}: ${mismatches} of ${want.length} codes differ (${seedNote()}):\n${shown.join('\n')}`);
  }
}
