// mla.prefill: the CPU twin against a float64 oracle of DeepSeek-V3's naive
// attention (tests/helpers/mla_prefill_oracle.ts: decompress with wkv_b,
// multi-head attention with k = [k_nope | k_rope], float64 softmax) over
// ragged packed sequences (a zero-length sequence, length 1, tile edges),
// causal and not, H in {1, 3, 16}; the absorbed form (absorbQuery,
// attention over the latent, projectOutput) against the same naive output;
// every CUDA version against the CPU twin where a GPU is present (or
// emulated), with NaN-poisoned outputs; bad input, and bad cuSeqLens on
// both backends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, type Tensor, device, kernelVersions, mla } from '../../lib/index.js';
import { expectClose } from '../helpers/close.js';
import { cudaDevice, cudaSkipReason, tooLargeToEmulate } from '../helpers/devices.js';
import { MLA, absorbedAttention, naiveAttention } from '../helpers/mla_prefill_oracle.js';
import { rng } from '../helpers/rng.js';
import { runPerContract, smOf } from '../helpers/versions.js';

/** DeepSeek-V3's softmax scale: 192^-0.5 · mscale², mscale = 0.1·ln(40) + 1. */
const DEEPSEEK_SCALE = 192 ** -0.5 * (0.1 * Math.log(40) + 1) ** 2;

interface Case {
  lens: number[];
  heads: number;
  causal: boolean;
}

function label(c: Case): string {
  return `lens [${c.lens.join(', ')}] H ${c.heads} ${c.causal ? 'causal' : 'full'}`;
}

function cuOf(lens: readonly number[]): Int32Array {
  const cu = new Int32Array(lens.length + 1);
  lens.forEach((l, i) => (cu[i + 1] = cu[i]! + l));
  return cu;
}

const tokensOf = (c: Case): number => c.lens.reduce((a, b) => a + b, 0);

/** Tensor-core multiply-adds of v1 (prefill_v1.cu's cost model): per visited (64-query tile, 32-key tile, head), decompression + attention. */
function prefillWork(c: Case): number {
  let pairs = 0;
  for (const len of c.lens) {
    for (let q0 = 0; q0 < len; q0 += 64) pairs += Math.ceil((c.causal ? Math.min(q0 + 64, len) : len) / 32);
  }
  return pairs * c.heads * (32 * 512 * 256 + 64 * 32 * 320);
}

interface Inputs {
  q: Tensor;
  latent: Tensor;
  kRope: Tensor;
  wkvB: Tensor;
  cuSeqLens: Tensor;
  dispose(): void;
}

/** Seeded inputs with the scales of DeepSeek-V3's activations: unit latent and queries, wkv_b giving unit keys. */
function inputsOn(dev: Device, c: Case, what = ''): Inputs {
  const r = rng(`mla.prefill ${what}${label(c)}`);
  const T = tokensOf(c);
  const H = c.heads;
  const q = dev.tensor(r.randnArray(T * H * MLA.qk), { shape: [T, H, MLA.qk], dtype: 'bf16' });
  const latent = dev.tensor(r.randnArray(T * MLA.latent), { shape: [T, MLA.latent], dtype: 'bf16' });
  const kRope = dev.tensor(r.randnArray(T * MLA.rope), { shape: [T, MLA.rope], dtype: 'bf16' });
  const wkvB = dev.tensor(r.randnArray(H * MLA.wkvRows * MLA.latent, 1 / Math.sqrt(MLA.latent)), { shape: [H * MLA.wkvRows, MLA.latent], dtype: 'bf16' });
  const cuSeqLens = dev.tensor(cuOf(c.lens), { shape: [c.lens.length + 1], dtype: 'i32' });
  const inputs = { q, latent, kRope, wkvB, cuSeqLens } as Inputs;
  // Not enumerable: the inputs are spread into mla.prefill's arguments.
  Object.defineProperty(inputs, 'dispose', { value: () => [q, latent, kRope, wkvB, cuSeqLens].forEach((t) => t.dispose()) });
  return inputs;
}

async function runOn(dev: Device, c: Case, impl = 'auto'): Promise<{ out: Float32Array; lse: Float32Array }> {
  const s = inputsOn(dev, c);
  try {
    using r = mla.prefill({ ...s, softmaxScale: DEEPSEEK_SCALE, causal: c.causal, impl: impl as 'auto' });
    const T = tokensOf(c);
    expect(r.out.shape).toEqual([T, c.heads, MLA.v]);
    expect(r.out.dtype).toBe('bf16');
    expect(r.lse.shape).toEqual([c.heads, T]);
    expect(r.lse.dtype).toBe('f32');
    const [out, lse] = await Promise.all([r.out.toArray(), r.lse.toArray()]);
    return { out: out as Float32Array, lse: lse as Float32Array };
  } finally {
    s.dispose();
  }
}

const CPU_CASES: Case[] = [];
for (const heads of [1, 3, 16]) {
  for (const causal of [true, false]) {
    CPU_CASES.push({ lens: [5, 0, 1, 70], heads, causal });
    CPU_CASES.push({ lens: [1], heads, causal });
  }
}
CPU_CASES.push({ lens: [33, 65, 0, 2, 64], heads: 3, causal: true });
CPU_CASES.push({ lens: [0], heads: 2, causal: true });
CPU_CASES.push({ lens: [], heads: 2, causal: false });

// Tolerances. out: bf16 output (2^-9 per element) plus the twin's bf16 K and
// V (the oracle keeps them exact): 1e-2 relative. lse: rounding k_nope to
// bf16 moves a score by scale * sum_d q_d * dk_d, about 0.135 * sqrt(128) *
// 2^-9 = 3e-3 (one sigma, unit q and k), and the lse by at most the largest
// such move: compared in absolute terms, 1.5e-2 (5 sigma).
const OUT_TOL = 1e-2;
// CUDA against the twin: both round k_nope to bf16, but from differently
// ordered sums (f32 on the tensor cores, double on the CPU), so now and then
// an element rounds to its neighbour (2^-8 apart) and moves a score by ~1e-3;
// measured 2e-5 relative over 640 lse values. FlashMLA's lse tolerance,
// 8/65536 relative.
const LSE_VS_TWIN_TOL = 8 / 65536;
const LSE_VS_ORACLE_ABS = 1.5e-2;

/** lse against the oracle: NaN and infinities at the same places, else within `abs`. */
function expectLseNear(what: string, got: ArrayLike<number>, want: ArrayLike<number>, abs: number): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (!Number.isFinite(w) || !Number.isFinite(g)) {
      if (!Object.is(g, w) && !(Number.isNaN(g) && Number.isNaN(w))) expect.fail(`${what}: element ${i} is ${g}, expected ${w}`);
      continue;
    }
    worst = Math.max(worst, Math.abs(g - w));
    if (!(Math.abs(g - w) <= abs)) expect.fail(`${what}: element ${i} is ${g}, expected ${w} within ${abs}`);
  }
}

describe('mla.prefill on the CPU matches the float64 naive-attention oracle', () => {
  const cpu = device('cpu');
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CPU_CASES.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const s = inputsOn(cpu, c);
    try {
      const [q, latent, kRope, wkvB] = await Promise.all([s.q.toArray(), s.latent.toArray(), s.kRope.toArray(), s.wkvB.toArray()]);
      const want = naiveAttention({ q, latent, kRope, wkvB, cuSeqLens: cuOf(c.lens), heads: c.heads, softmaxScale: DEEPSEEK_SCALE, causal: c.causal });
      using r = mla.prefill({ ...s, softmaxScale: DEEPSEEK_SCALE, causal: c.causal });
      const T = tokensOf(c);
      expectClose(`out ${label(c)}`, await r.out.toArray(), want.out, OUT_TOL, { shape: [T, c.heads, MLA.v] });
      expectLseNear(`lse ${label(c)}`, await r.lse.toArray(), want.lse, LSE_VS_ORACLE_ABS);
    } finally {
      s.dispose();
    }
  });

  it('causal defaults to true', async () => {
    const c: Case = { lens: [4, 1], heads: 2, causal: true };
    const s = inputsOn(cpu, c);
    try {
      using a = mla.prefill({ ...s, softmaxScale: 0.5 });
      using b = mla.prefill({ ...s, softmaxScale: 0.5, causal: true });
      using full = mla.prefill({ ...s, softmaxScale: 0.5, causal: false });
      expect(Array.from(await a.out.toArray())).toEqual(Array.from(await b.out.toArray()));
      expect(Array.from(await a.out.toArray())).not.toEqual(Array.from(await full.out.toArray()));
    } finally {
      s.dispose();
    }
  });

  it('the absorbed form gives the same attention: projectOutput(softmax over the latent with absorbQuery(q)) = naive out', async () => {
    const c: Case = { lens: [3, 0, 17, 1], heads: 3, causal: true };
    const s = inputsOn(cpu, c, 'absorbed ');
    const T = tokensOf(c);
    const H = c.heads;
    try {
      const [q, latent, kRope, wkvB] = await Promise.all([s.q.toArray(), s.latent.toArray(), s.kRope.toArray(), s.wkvB.toArray()]);
      const qNope = new Float32Array(T * H * MLA.nope);
      const qRope = new Float32Array(T * H * MLA.rope);
      for (let i = 0; i < T * H; i++) {
        qNope.set(q.subarray(i * MLA.qk, i * MLA.qk + MLA.nope), i * MLA.nope);
        qRope.set(q.subarray(i * MLA.qk + MLA.nope, (i + 1) * MLA.qk), i * MLA.rope);
      }
      using qn = cpu.tensor(qNope, { shape: [T, H, MLA.nope], dtype: 'bf16' });
      using qLatent = mla.absorbQuery(qn, s.wkvB);
      const absorbed = absorbedAttention(await qLatent.toArray(), qRope, latent, kRope, cuOf(c.lens), H, DEEPSEEK_SCALE, c.causal);
      using oLatent = cpu.tensor(Float32Array.from(absorbed.out), { shape: [T, H, MLA.latent], dtype: 'bf16' });
      using out = mla.projectOutput(oLatent, s.wkvB);
      const naive = naiveAttention({ q, latent, kRope, wkvB, cuSeqLens: cuOf(c.lens), heads: H, softmaxScale: DEEPSEEK_SCALE, causal: c.causal });
      using r = mla.prefill({ ...s, softmaxScale: DEEPSEEK_SCALE, causal: c.causal });
      // Two bf16 roundings on the absorbed path (q_nope', o over the latent) plus the output's.
      expectClose('absorbed vs naive out', await out.toArray(), naive.out, 2e-2, { shape: [T, H, MLA.v] });
      expectLseNear('absorbed vs naive lse', absorbed.lse, naive.lse, LSE_VS_ORACLE_ABS);
      expectClose('absorbed vs mla.prefill out', await out.toArray(), await r.out.toArray(), 2e-2);
    } finally {
      s.dispose();
    }
  });

  it('bad cuSeqLens fail the call when it runs, naming cuSeqLens: negative lengths, not from 0 to T', async () => {
    const c: Case = { lens: [3, 4], heads: 1, causal: true };
    const s = inputsOn(cpu, c);
    try {
      for (const bad of [[0, -2, 7], [0, 9, 7], [1, 3, 7], [0, 3, 6], [0, 3, 8]]) {
        using cu = cpu.tensor(Int32Array.from(bad), { shape: [3], dtype: 'i32' });
        using r = mla.prefill({ ...s, cuSeqLens: cu, softmaxScale: 1 });
        await expect(r.out.toArray()).rejects.toThrow(/mla\.prefill: cuSeqLens must be non-decreasing from 0 to T = 7/);
      }
      using cu4 = cpu.tensor(Int32Array.of(0, 5, 3, 7), { shape: [4], dtype: 'i32' });
      using r4 = mla.prefill({ ...s, cuSeqLens: cu4, softmaxScale: 1 });
      await expect(r4.lse.toArray()).rejects.toThrow(/cuSeqLens must be non-decreasing from 0 to T = 7 \(entry 2 is not\), got \[0, 5, 3, 7\]/);
      await cpu.synchronize().catch(() => undefined);
      using ok = mla.prefill({ ...s, softmaxScale: 1 });
      expect((await ok.out.toArray()).every(Number.isFinite)).toBe(true);
    } finally {
      s.dispose();
    }
  });
});

describe('mla.prefill rejects bad input with the argument named', () => {
  const cpu = device('cpu');
  it('dtypes, shapes, head sizes, cuSeqLens, the scale and options', () => {
    const T = 5;
    const H = 2;
    using q = cpu.zeros([T, H, 192], 'bf16');
    using latent = cpu.zeros([T, 512], 'bf16');
    using kRope = cpu.zeros([T, 64], 'bf16');
    using wkvB = cpu.zeros([H * 256, 512], 'bf16');
    using cuSeqLens = cpu.tensor(Int32Array.of(0, 2, 5), { shape: [3], dtype: 'i32' });
    const ok = { q, latent, kRope, wkvB, cuSeqLens, softmaxScale: 0.1 };
    using q128 = cpu.zeros([T, H, 128], 'bf16');
    using q576 = cpu.zeros([T, H, 576], 'bf16');
    using qF = cpu.zeros([T, H, 192], 'f32');
    using w3 = cpu.zeros([3 * 256, 512], 'bf16');
    using wT = cpu.zeros([H * 256, 256], 'bf16');
    using lat6 = cpu.zeros([6, 512], 'bf16');
    using latF = cpu.zeros([T, 512], 'f16');
    using rope128 = cpu.zeros([T, 128], 'bf16');
    using cuF = cpu.zeros([3], 'f32');
    using cu2d = cpu.zeros([1, 3], 'i32');
    using cu0 = cpu.zeros([0], 'i32');
    expect(() => mla.prefill({ ...ok, q: q128 })).toThrow('mla.prefill: q.shape must be [T, H, 192] (q_nope 128 | q_rope 64 per head), got [5, 2, 128]');
    expect(() => mla.prefill({ ...ok, q: q576 })).toThrow('mla.prefill: q.shape must be [T, H, 192]');
    expect(() => mla.prefill({ ...ok, q: qF })).toThrow("mla.prefill: q.dtype must be 'bf16', got 'f32'");
    expect(() => mla.prefill({ ...ok, wkvB: w3 })).toThrow('mla.prefill: wkvB.shape must be [512, 512] ([H * 256, 512] for H = 2 heads of q), got [768, 512]');
    expect(() => mla.prefill({ ...ok, wkvB: wT })).toThrow('mla.prefill: wkvB.shape must be [512, 512]');
    expect(() => mla.prefill({ ...ok, latent: lat6 })).toThrow('mla.prefill: latent.shape must be [5, 512] ([T, 512] for T = 5 tokens of q), got [6, 512]');
    expect(() => mla.prefill({ ...ok, latent: latF })).toThrow("mla.prefill: latent.dtype must be 'bf16', got 'f16'");
    expect(() => mla.prefill({ ...ok, kRope: rope128 })).toThrow('mla.prefill: kRope.shape must be [5, 64]');
    expect(() => mla.prefill({ ...ok, cuSeqLens: cuF })).toThrow("mla.prefill: cuSeqLens.dtype must be 'i32', got 'f32'");
    expect(() => mla.prefill({ ...ok, cuSeqLens: cu2d })).toThrow('mla.prefill: cuSeqLens.shape must be of rank 1, got [1, 3]');
    expect(() => mla.prefill({ ...ok, cuSeqLens: cu0 })).toThrow('mla.prefill: cuSeqLens.shape must be [B + 1] with 0 <= B < 2^31, got [0]');
    expect(() => mla.prefill({ ...ok, softmaxScale: NaN })).toThrow('mla.prefill: softmaxScale must be a finite number, got NaN');
    expect(() => mla.prefill({ ...ok, softmaxScale: '0.1' as never })).toThrow(TypeError);
    expect(() => mla.prefill({ ...ok, causal: 1 as never })).toThrow('mla.prefill: causal must be a boolean');
    expect(() => mla.prefill({ ...ok, q: undefined as never })).toThrow('mla.prefill: q must be a Tensor');
    expect(() => mla.prefill({ ...ok, scale: 1 } as never)).toThrow("mla.prefill: args has an unknown key 'scale'");
    expect(() => mla.prefill(null as never)).toThrow(TypeError);
    expect(() => mla.prefill({ ...ok, impl: 'v1' })).toThrow("mla.prefill: options.impl must be 'auto' or 'cpu' for tensors on the CPU, got 'v1'");
    expect(() => mla.prefill(ok)[Symbol.dispose]()).not.toThrow();
  });
});

const gpu = cudaDevice();
describe.skipIf(!gpu)(`mla.prefill on CUDA matches the CPU twin${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  const versions = gpu ? kernelVersions()['mla.prefill']!.map((v) => v.name) : [];
  beforeAll(() => gpu && binding().setPoison(gpu.id, true));
  afterAll(() => gpu && binding().setPoison(gpu.id, false));
  const call = (c: Case) => ({ tokens: tokensOf(c), heads: c.heads, seqs: c.lens.length, sm: smOf(gpu!.info) });

  const GPU_CASES: Case[] = [
    { lens: [5, 0, 1, 70], heads: 1, causal: true },
    { lens: [5, 0, 1, 70], heads: 1, causal: false },
    { lens: [1], heads: 3, causal: true },
    { lens: [33, 65, 0, 2], heads: 3, causal: true },
    { lens: [64, 1], heads: 3, causal: false },
    { lens: [0, 40], heads: 16, causal: true },
    { lens: [], heads: 2, causal: true },
    // DeepSeek-V3's 128 heads: left to real GPUs.
    { lens: [200, 57], heads: 128, causal: true },
  ];
  it.each(versions.flatMap((v) => GPU_CASES.map((c) => [`${v} ${label(c)}${tooLargeToEmulate(gpu, prefillWork(c)) ? ` (${tooLargeToEmulate(gpu, prefillWork(c))})` : ''}`, v, c] as const)))(
    '%s',
    async (_, version, c) => {
      if (tooLargeToEmulate(gpu, prefillWork(c))) return;
      const want = await runOn(device('cpu'), c);
      await runPerContract('mla.prefill', version, call(c), async () => {
        const got = await runOn(gpu!, c, version);
        const T = tokensOf(c);
        expectClose(`${version} out ${label(c)}`, got.out, want.out, OUT_TOL, { shape: [T, c.heads, MLA.v] });
        expectClose(`${version} lse ${label(c)}`, got.lse, want.lse, LSE_VS_TWIN_TOL, { shape: [c.heads, T] });
      });
    },
  );

  it.each(versions)('%s: garbage cuSeqLens are clamped: no fault, and the device stays usable', async (version) => {
    const c: Case = { lens: [20, 30], heads: 1, causal: true };
    const s = inputsOn(gpu!, c);
    try {
      for (const bad of [[0, -7, 50], [2147483647, 10, -2147483648], [0, 60, 20], [-5, 25, 50]]) {
        using cu = gpu!.tensor(Int32Array.from(bad), { shape: [3], dtype: 'i32' });
        using r = mla.prefill({ ...s, cuSeqLens: cu, softmaxScale: DEEPSEEK_SCALE, impl: version as 'v1' });
        await r.out.toArray();
        await r.lse.toArray();
      }
      const want = await runOn(device('cpu'), c);
      const got = await runOn(gpu!, c, version);
      expectClose(`${version} after garbage`, got.out, want.out, OUT_TOL);
    } finally {
      s.dispose();
    }
  });
});
