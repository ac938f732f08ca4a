/**
 * Inputs shared by the cases of one shape. Cases of a shape are adjacent in
 * a suite (every version and baseline of M×N×K), so the first setup makes
 * the inputs, the others reuse them, and the last teardown frees them:
 * generating a hundred million random weights per case would dominate the
 * run.
 * @module
 */
import { type Device, type Quantized, type Tensor, device as getDevice, quantize } from '../../lib/index.js';
import { uint32Generator } from '../harness/random.js';

/** `n` uniform floats in [-scale, scale), from a seeded stream (fast: one draw each). */
export function uniformFloats(seed: number, n: number, scale = 1): Float32Array {
  const next = uint32Generator(seed);
  const out = new Float32Array(n);
  const step = (2 * scale) / 4294967296;
  for (let i = 0; i < n; i++) out[i] = next() * step - scale;
  return out;
}

/** The operands of one GEMM shape on one device. */
export interface GemmInputs {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** bf16 activations [m, k] and weights [n, k]. */
  readonly x: Tensor<'bf16'>;
  readonly w: Tensor<'bf16'>;
  /** x quantized 1x128, w 128x128 (e4m3). */
  readonly xq: Quantized;
  readonly wq: Quantized;
  /** Host copies (f32 values of the bf16 tensors) for checks. */
  readonly hostX: Float32Array;
  readonly hostW: Float32Array;
}

interface Entry {
  inputs: GemmInputs;
  users: number;
}

/** Reference-counted inputs per (device, shape). */
export class SharedGemmInputs {
  readonly #entries = new Map<string, Entry>();

  constructor(private readonly seed: number) {}

  /** The inputs of a shape; call {@link release} once per acquire. */
  async acquire(dev: Device, m: number, n: number, k: number): Promise<GemmInputs> {
    const key = `${dev.id} ${m}x${n}x${k}`;
    let entry = this.#entries.get(key);
    if (!entry) {
      const hostX = uniformFloats(this.seed ^ (m * 31 + k), m * k);
      const hostW = uniformFloats(this.seed ^ (n * 17 + k), n * k, 0.05);
      const x = dev.tensor(hostX, { shape: [m, k], dtype: 'bf16' });
      const w = dev.tensor(hostW, { shape: [n, k], dtype: 'bf16' });
      const xq = quantize(x, { block: [1, 128] });
      const wq = quantize(w, { block: [128, 128] });
      await dev.synchronize();
      // The checks compare with values as stored (bf16).
      const cpu = getDevice('cpu');
      using xc = x.to(cpu);
      using wc = w.to(cpu);
      entry = { inputs: { m, n, k, x, w, xq, wq, hostX: await xc.toArray(), hostW: await wc.toArray() }, users: 0 };
      this.#entries.set(key, entry);
    }
    entry.users++;
    return entry.inputs;
  }

  release(inputs: GemmInputs): void {
    for (const [key, entry] of this.#entries) {
      if (entry.inputs !== inputs) continue;
      if (--entry.users === 0) {
        for (const t of [entry.inputs.x, entry.inputs.w, entry.inputs.xq, entry.inputs.wq]) t.dispose();
        this.#entries.delete(key);
      }
      return;
    }
  }
}

/** Rows a check recomputes on the CPU: the first, the last and a few between. */
export function checkRows(m: number, count = 8): number[] {
  if (m <= count) return Array.from({ length: m }, (_, i) => i);
  const rows = new Set([0, m - 1]);
  for (let i = 1; rows.size < count; i++) rows.add(Math.floor((i * m) / count));
  return [...rows].sort((a, b) => a - b);
}
