/**
 * Seeded random inputs, so every run (and a failure report) can be
 * reproduced from its seed.
 * @module
 */

/**
 * A seeded generator of uniform 32-bit unsigned integers (mulberry32:
 * small, fast, and plenty for test data; not for cryptography).
 */
export function uint32Generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * `n` random bytes from `seed`. The stream does not depend on `n`: the
 * first k bytes are the same for every n ≥ k.
 */
export function randomBytes(seed: number, n: number): Uint8Array {
  const next = uint32Generator(seed);
  const out = new Uint8Array(n);
  // Bytes of each word least significant first, whatever the host's byte order.
  const whole = n - (n % 4);
  for (let i = 0; i < whole; i += 4) {
    const w = next();
    out[i] = w;
    out[i + 1] = w >>> 8;
    out[i + 2] = w >>> 16;
    out[i + 3] = w >>> 24;
  }
  if (whole < n) {
    const w = next();
    for (let i = whole; i < n; i++) out[i] = w >>> (8 * (i - whole));
  }
  return out;
}

/**
 * A seed for one part of a run (a suite, a case) from the run's seed and
 * the part's name (FNV-1a), so adding a case does not reseed the others.
 */
export function deriveSeed(seed: number, label: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
