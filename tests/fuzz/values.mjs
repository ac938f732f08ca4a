/**
 * Values for fuzz calls: seeded data and the odd objects the fuzz test
 * passes to moekit (typed arrays that lie about their length, arrays backed
 * by a SharedArrayBuffer or read through getters).
 *
 * Plain JavaScript, because the batches run in a plain Node process that
 * imports the built package (`dist/lib/index.js`); every call the fuzz test
 * prints as a reproduction uses only these names, `m` (the package), `cpu`
 * (`m.device('cpu')`), `dev` (the device under test) and `v` (the tensors
 * and quantized pairs earlier calls made).
 * @module
 */

import { Worker } from 'node:worker_threads';

// mulberry32: a tiny seeded generator, so a call's data is `rand(n, seed)`
// rather than a literal of n numbers.
function generator(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` uniform floats in [lo, hi) from `seed`, as a Float32Array. */
export function rand(n, seed, lo = -1, hi = 1) {
  const next = generator(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
  return out;
}

/** `n` floats with random bit patterns (NaNs, infinities, subnormals, -0), as a Float32Array. */
export function randBits(n, seed) {
  const next = generator(seed);
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = Math.floor(next() * 4294967296);
  return out;
}

/** `n` uniform doubles in [lo, hi) from `seed`, as a Float64Array. */
export function rand64(n, seed, lo = -1, hi = 1) {
  const next = generator(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
  return out;
}

/**
 * `n` integers in [lo, hi] as a `Ctor` array (any typed array class, or
 * `Array`); the first element is `lo` and the last `hi`, so the extremes are
 * always there.
 */
export function ints(Ctor, n, seed, lo, hi) {
  const next = generator(seed);
  const out = new Ctor(n);
  for (let i = 0; i < n; i++) out[i] = lo + Math.floor(next() * (hi - lo + 1));
  if (n > 0) out[0] = lo;
  if (n > 1) out[n - 1] = hi;
  return out;
}

/** `array` with an own `length` property that says `length`. */
export function hideLength(array, length) {
  Object.defineProperty(array, 'length', { value: length });
  return array;
}

/** A `Ctor` array of `values` whose class overrides the `length` getter to say `length`. */
export function sneaky(Ctor, values, length) {
  const Sneaky = class extends Ctor {
    get length() {
      return length;
    }
  };
  const out = new Sneaky(values.length);
  out.set(values);
  return out;
}

/** A copy of `values` as a `Ctor` array over a SharedArrayBuffer. */
export function shared(Ctor, values) {
  const out = new Ctor(new SharedArrayBuffer(values.length * Ctor.BYTES_PER_ELEMENT));
  out.set(values);
  return out;
}

/** A copy of `values` as a `Ctor` view that starts `offset` elements into a larger buffer. */
export function offsetView(Ctor, values, offset) {
  const buffer = new Ctor(values.length + offset + 3);
  buffer.fill(Ctor === BigInt64Array || Ctor === BigUint64Array ? 0n : 7);
  const out = buffer.subarray(offset, offset + values.length);
  out.set(values);
  return out;
}

/** A copy of `values` whose element `index` reads as its value the first time and as `later` afterwards. */
export function flipping(values, index, later) {
  const out = [...values];
  let reads = 0;
  Object.defineProperty(out, index, { get: () => (reads++ === 0 ? values[index] : later), enumerable: true });
  return out;
}

/** A copy of `values` whose element `index` throws when read (the caller's error must come through). */
export function throwing(values, index) {
  const out = [...values];
  Object.defineProperty(out, index, {
    get: () => {
      throw new Error('fuzz: a getter of the caller threw');
    },
    enumerable: true,
  });
  return out;
}

/** An array of length `n` with no elements. */
export function holes(n) {
  return new Array(n);
}

/**
 * True when `actual` holds the same numbers as `expected` (NaN equal to
 * NaN, -0 not equal to 0), else a description of the first difference.
 */
export function same(actual, expected) {
  if (actual.length !== expected.length) return `${actual.length} elements, expected ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    const x = actual[i];
    const y = expected[i];
    if (!Object.is(x, y) && !(Number.isNaN(x) && Number.isNaN(y))) return `element ${i} is ${Object.is(x, -0) ? '-0' : x}, expected ${Object.is(y, -0) ? '-0' : y}`;
  }
  return true;
}

const ENTRY = new URL('../../dist/lib/index.js', import.meta.url).href;

/**
 * Runs `body` (a script over `m`, the built package, and `cpu`) in a
 * Worker and ends the Worker `afterMs` milliseconds after `body` returned,
 * with its work still queued; resolves to the Worker's exit code.
 */
export async function inWorker(body, afterMs) {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     import(${JSON.stringify(ENTRY)}).then((m) => {
       const cpu = m.device('cpu');
       ${body}
       parentPort.postMessage('queued');
     });`,
    { eval: true },
  );
  const failed = new Promise((_, reject) => worker.once('error', reject));
  await Promise.race([new Promise((resolve) => worker.once('message', resolve).once('exit', resolve)), failed]);
  await new Promise((resolve) => setTimeout(resolve, afterMs));
  return Promise.race([worker.terminate(), failed]);
}
