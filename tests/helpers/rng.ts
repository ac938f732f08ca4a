/**
 * Seeded pseudo-random inputs for tests.
 *
 * One seed per test process: `MOEKIT_TEST_SEED` when set, else a fresh one.
 * Each caller draws from its own named stream derived from that seed, so
 * adding a test does not change the numbers another test sees. Importing
 * this module registers a hook that prints the seed whenever a test of the
 * importing file fails; rerun with `MOEKIT_TEST_SEED=<seed>` to reproduce.
 * @module
 */
import { randomInt } from 'node:crypto';

import { beforeEach } from 'vitest';

function parseSeed(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RangeError(`MOEKIT_TEST_SEED must be an integer in [0, 2^32), got '${text}'`);
  }
  return n;
}

/** The seed of this test process. */
export const TEST_SEED: number = parseSeed(process.env.MOEKIT_TEST_SEED) ?? randomInt(0, 0xffffffff);

/** `seed N (rerun with MOEKIT_TEST_SEED=N)`, for failure messages. */
export function seedNote(): string {
  return `seed ${TEST_SEED} (rerun with MOEKIT_TEST_SEED=${TEST_SEED})`;
}

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => console.error(`random inputs used ${seedNote()}`));
});

// FNV-1a: turns a stream name into 32 bits of seed material.
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

// SplitMix32 step: spreads a seed over the generator state.
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) >>> 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

const scratch = new DataView(new ArrayBuffer(4));

/**
 * A xoshiro128** generator. Not for cryptography; fast, small and good
 * enough to spread test inputs over every bit pattern.
 */
export class Rng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  #spareNormal: number | undefined;

  /** A generator for `seed`; `stream` names an independent sequence. */
  constructor(seed: number, stream = '') {
    const init = { s: (seed ^ hashName(stream)) >>> 0 };
    this.#s0 = splitmix32(init);
    this.#s1 = splitmix32(init);
    this.#s2 = splitmix32(init);
    this.#s3 = splitmix32(init);
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.#s1 << 9) >>> 0;
    this.#s2 = (this.#s2 ^ this.#s0) >>> 0;
    this.#s3 = (this.#s3 ^ this.#s1) >>> 0;
    this.#s1 = (this.#s1 ^ this.#s2) >>> 0;
    this.#s0 = (this.#s0 ^ this.#s3) >>> 0;
    this.#s2 = (this.#s2 ^ t) >>> 0;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** A uniform double in [lo, hi) with 53 random bits. */
  uniform(lo = 0, hi = 1): number {
    const u = (this.uint32() >>> 5) * 67108864 + (this.uint32() >>> 6); // 27 + 26 bits
    return lo + (hi - lo) * (u / 9007199254740992);
  }

  /** A uniform integer in [lo, hi] (both inclusive; |hi - lo| < 2^32). */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo || hi - lo >= 0x100000000) {
      throw new RangeError(`Rng.int: need integers lo <= hi with hi - lo < 2^32, got ${lo}, ${hi}`);
    }
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }

  /** A standard normal sample (Box-Muller). */
  randn(): number {
    if (this.#spareNormal !== undefined) {
      const z = this.#spareNormal;
      this.#spareNormal = undefined;
      return z;
    }
    const u = 1 - this.uniform(); // (0, 1]: log(u) is finite
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * this.uniform();
    this.#spareNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /**
   * A float whose 32-bit pattern is uniformly random: every float is
   * possible, NaNs (any payload), infinities, subnormals and -0 included.
   */
  float32Bits(): number {
    scratch.setUint32(0, this.uint32(), true);
    return scratch.getFloat32(0, true);
  }

  /** `n` standard normal samples times `scale`, rounded to f32. */
  randnArray(n: number, scale = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.randn() * scale;
    return out;
  }

  /** `n` uniform samples in [lo, hi), rounded to f32. */
  uniformArray(n: number, lo = 0, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniform(lo, hi);
    return out;
  }

  /** `n` floats with uniformly random bit patterns (see {@link Rng.float32Bits}). */
  float32BitsArray(n: number): Float32Array {
    const out = new Float32Array(n);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = this.uint32();
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * A generator for the named stream of this process's seed.
 * @example
 * ```ts
 * const r = rng('gemm bf16 128x256');
 * const a = r.randnArray(128 * 256);
 * ```
 */
export function rng(stream: string): Rng {
  return new Rng(TEST_SEED, stream);
}
