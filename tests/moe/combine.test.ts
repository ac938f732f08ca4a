// moe.combine: the CPU twin against an exact oracle (the f32 fused
// multiply-adds in k order, computed exactly in float64 and rounded once to
// f32, then to the output dtype), bit for bit; skipped picks (-1 and rows
// outside [0, P)), weights and the shared row; permute -> gather -> combine
// gives back each token's weighted sum; repeated calls give the same bits;
// every CUDA version against the twin bit for bit where a GPU is present
// (or emulated); bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, type Tensor, device, kernelVersions, moe } from '../../lib/index.js';
import { nextDownF32, nextUpF32 } from '../helpers/bits.js';
import { EMULATED_COST, cudaDevice, cudaSkipReason, tooLargeToEmulate } from '../helpers/devices.js';
import { decodeStorage, encodeStorage } from '../helpers/dtype_oracle.js';
import { rng } from '../helpers/rng.js';
import { runPerContract, smOf } from '../helpers/versions.js';

type FDType = 'f32' | 'bf16' | 'f16';

interface Case {
  tokens: number;
  topK: number;
  hidden: number;
  rows: number;
  dtype: FDType;
  outDtype: FDType;
  weights: boolean;
  shared: FDType | 'none';
  inverse: 'permuted' | 'garbage';
}

const CASES: Case[] = [];
for (const dtype of ['bf16', 'f32', 'f16'] as const) {
  for (const [tokens, topK, hidden] of <[number, number, number][]>[[1, 1, 1], [3, 8, 128], [17, 6, 129], [5, 16, 300], [40, 2, 7], [9, 8, 256]]) {
    for (const weights of [true, false]) {
      CASES.push({ tokens, topK, hidden, rows: tokens * topK + 5, dtype, outDtype: dtype, weights, shared: weights ? 'none' : dtype, inverse: 'permuted' });
    }
  }
  CASES.push({ tokens: 13, topK: 8, hidden: 200, rows: 50, dtype, outDtype: dtype === 'f32' ? 'bf16' : 'f32', weights: true, shared: 'f16', inverse: 'garbage' });
  CASES.push({ tokens: 11, topK: 4, hidden: 64, rows: 0, dtype, outDtype: dtype, weights: true, shared: 'bf16', inverse: 'garbage' });
  CASES.push({ tokens: 0, topK: 8, hidden: 64, rows: 12, dtype, outDtype: dtype, weights: true, shared: 'none', inverse: 'permuted' });
  CASES.push({ tokens: 6, topK: 3, hidden: 0, rows: 18, dtype, outDtype: dtype, weights: false, shared: 'none', inverse: 'permuted' });
}

function label(c: Case): string {
  return `T ${c.tokens} K ${c.topK} H ${c.hidden} P ${c.rows} ${c.dtype} -> ${c.outDtype}${c.weights ? ' weighted' : ''}${c.shared === 'none' ? '' : ` shared ${c.shared}`} ${c.inverse} inverse`;
}

/** The inverse: a random placement of the picks in the rows, some skipped (-1), or rows of every kind, out of range too. */
function inverseOf(c: Case): Int32Array {
  const r = rng(`inverse ${label(c)}`);
  const picks = c.tokens * c.topK;
  const inv = new Int32Array(picks);
  if (c.inverse === 'permuted') {
    const rows = Array.from({ length: c.rows }, (_, i) => i);
    for (let i = rows.length - 1; i > 0; i--) {
      const j = r.int(0, i);
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
    for (let i = 0; i < picks; i++) inv[i] = r.int(0, 9) === 0 ? -1 : rows[i]!;
  } else {
    for (let i = 0; i < picks; i++) inv[i] = [-1, -5, -2147483648, 2147483647, c.rows, c.rows + 3, r.int(0, Math.max(0, c.rows - 1))][r.int(0, 6)]!;
  }
  return inv;
}

interface Inputs {
  y: Tensor;
  inverse: Tensor<'i32'>;
  weights?: Tensor<'f32'>;
  shared?: Tensor;
  dispose(): void;
}

function inputsOn(dev: Device, c: Case): Inputs {
  const r = rng(`data ${label(c)}`);
  const y = dev.tensor(r.randnArray(c.rows * c.hidden, 2), { shape: [c.rows, c.hidden], dtype: c.dtype });
  const inverse = dev.tensor(inverseOf(c), { shape: [c.tokens, c.topK], dtype: 'i32' });
  const weights = c.weights ? dev.tensor(r.uniformArray(c.tokens * c.topK, -0.5, 2), { shape: [c.tokens, c.topK] }) : undefined;
  const shared = c.shared === 'none' ? undefined : dev.tensor(r.randnArray(c.tokens * c.hidden), { shape: [c.tokens, c.hidden], dtype: c.shared });
  return {
    y,
    inverse,
    ...(weights ? { weights } : {}),
    ...(shared ? { shared } : {}),
    dispose: () => [y, inverse, weights, shared].forEach((t) => t?.dispose()),
  };
}

function combineOn(s: Inputs, c: Case, impl = 'auto'): Tensor {
  return moe.combine(s.y, s.inverse, { ...(s.weights ? { weights: s.weights } : {}), ...(s.shared ? { shared: s.shared } : {}), outDtype: c.outDtype, impl: impl as 'auto' });
}

async function runOn(dev: Device, c: Case, impl = 'auto'): Promise<Uint8Array> {
  const s = inputsOn(dev, c);
  try {
    using out = combineOn(s, c, impl);
    expect(out.shape).toEqual([c.tokens, c.hidden]);
    expect(out.dtype).toBe(c.outDtype);
    return await out.bytes();
  } finally {
    s.dispose();
  }
}

/** fmaf(a, b, c) for f32 a, b, c: a·b is exact in float64; the sum is made exact by TwoSum and rounded once to f32. */
function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const bb = s - p;
  const err = p - (s - bb) + (c - bb);
  const r = Math.fround(s);
  if (err === 0 || r === s || !Number.isFinite(s)) return r;
  // float64 rounding of the exact sum can only mislead the f32 rounding when s is an f32 midpoint.
  const other = r < s ? nextUpF32(r) : nextDownF32(r);
  if (other - s !== s - r) return r;
  return err > 0 ? Math.max(r, other) : Math.min(r, other);
}

/** The output values from the definition (header of native/ops/moe/combine.h). */
function combineOracle(c: Case, y: Float32Array, inv: Int32Array, w: Float32Array | undefined, shared: Float32Array | undefined): Float32Array {
  const out = new Float32Array(c.tokens * c.hidden);
  for (let t = 0; t < c.tokens; t++) {
    for (let h = 0; h < c.hidden; h++) {
      let acc = shared ? shared[t * c.hidden + h]! : 0;
      for (let k = 0; k < c.topK; k++) {
        const r = inv[t * c.topK + k]!;
        if (r < 0 || r >= c.rows) continue;
        acc = fmaF32(w ? w[t * c.topK + k]! : 1, y[r * c.hidden + h]!, acc);
      }
      out[t * c.hidden + h] = decodeStorage(c.outDtype, encodeStorage(c.outDtype, acc));
    }
  }
  return out;
}

function expectBytes(what: string, got: Uint8Array, want: Uint8Array): void {
  expect(got.length, `${what}: byte length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) expect.fail(`${what}: byte ${i} is ${got[i]}, expected ${want[i]}`);
}

function expectValues(what: string, got: Float32Array, want: Float32Array): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) expect.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
}

describe('moe.combine on the CPU matches the exact oracle bit for bit', () => {
  const cpu = device('cpu');
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const s = inputsOn(cpu, c);
    try {
      const [y, inv, w, sh] = await Promise.all([s.y.toArray(), s.inverse.toArray(), s.weights?.toArray(), s.shared?.toArray()]);
      const want = combineOracle(c, y as Float32Array, inv as Int32Array, w as Float32Array | undefined, sh as Float32Array | undefined);
      using out = combineOn(s, c);
      expectValues(label(c), (await out.toArray()) as Float32Array, want);
    } finally {
      s.dispose();
    }
  });

  it('a small combine by hand: weights, skipped picks and the shared row', async () => {
    using y = cpu.tensor(Float32Array.of(1, 10, 2, 20, 3, 30), { shape: [3, 2] });
    using inv = cpu.tensor(Int32Array.of(2, 0, -1, 1, 7, 0), { shape: [3, 2], dtype: 'i32' });
    using w = cpu.tensor(Float32Array.of(0.5, 2, 4, 0.25, 8, 1), { shape: [3, 2] });
    using sh = cpu.tensor(Float32Array.of(100, 100, 200, 200, 300, 300), { shape: [3, 2], dtype: 'bf16' });
    using out = moe.combine(y, inv, { weights: w, shared: sh });
    expect(Array.from(await out.toArray())).toEqual([100 + 1.5 + 2, 100 + 15 + 20, 200 + 0.5, 200 + 5, 300 + 1, 300 + 10]);
    using plain = moe.combine(y, inv);
    expect(Array.from(await plain.toArray())).toEqual([4, 40, 2, 20, 1, 10]);
  });

  it('sums in k order: the result depends on the order of the picks, and is the fixed one', async () => {
    // 2^24 + 1 + 1: in k order (2^24, 1, 1) each 1 is lost; the reverse order keeps both.
    using y = cpu.tensor(Float32Array.of(2 ** 24, 1, 1), { shape: [3, 1] });
    using fwd = cpu.tensor(Int32Array.of(0, 1, 2), { shape: [1, 3], dtype: 'i32' });
    using rev = cpu.tensor(Int32Array.of(1, 2, 0), { shape: [1, 3], dtype: 'i32' });
    using a = moe.combine(y, fwd);
    using b = moe.combine(y, rev);
    expect(Array.from(await a.toArray())).toEqual([2 ** 24]);
    expect(Array.from(await b.toArray())).toEqual([2 ** 24 + 2]);
  });

  it('permute -> gather -> combine gives each token its weighted sum of copies', async () => {
    const [T, E, K, H] = [23, 16, 4, 130];
    using logits = cpu.tensor(rng('combine route').randnArray(T * E), { shape: [T, E] });
    using r = moe.route(logits, { topK: K, groups: 4, topGroups: 2 });
    using p = moe.permute(r.ids, E, { align: 8 });
    using x = cpu.tensor(rng('combine x').randnArray(T * H), { shape: [T, H], dtype: 'bf16' });
    using yRows = moe.gather(x, p.rowIds, K);
    using out = moe.combine(yRows, p.inverse, { weights: r.weights, outDtype: 'f32' });
    const [xs, ws, got] = await Promise.all([x.toArray(), r.weights.toArray(), out.toArray()]);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc = fmaF32(ws[t * K + k]!, xs[t * H + h]!, acc);
        if (got[t * H + h] !== acc) expect.fail(`token ${t} column ${h} is ${got[t * H + h]}, expected ${acc}`);
      }
    }
  });

  it('repeated calls give the same bits', async () => {
    const c: Case = { tokens: 64, topK: 8, hidden: 384, rows: 600, dtype: 'bf16', outDtype: 'bf16', weights: true, shared: 'bf16', inverse: 'permuted' };
    const s = inputsOn(cpu, c);
    try {
      using first = combineOn(s, c);
      const want = await first.bytes();
      for (let i = 0; i < 3; i++) {
        using again = combineOn(s, c);
        expectBytes(`call ${i + 2}`, await again.bytes(), want);
      }
    } finally {
      s.dispose();
    }
  });
});

describe('moe.combine rejects bad input with the argument named', () => {
  const cpu = device('cpu');
  it('dtypes, ranks, shapes and options', () => {
    using y = cpu.zeros([12, 8], 'bf16');
    using inv = cpu.zeros([4, 3], 'i32');
    using w = cpu.zeros([4, 3], 'f32');
    using sh = cpu.zeros([4, 8], 'f16');
    using yi = cpu.zeros([12, 8], 'i32');
    using invF = cpu.zeros([4, 3], 'f32');
    using inv1 = cpu.zeros([12], 'i32');
    using wBad = cpu.zeros([4, 2], 'f32');
    using wBf = cpu.zeros([4, 3], 'bf16');
    using shBad = cpu.zeros([4, 9], 'f32');
    using shI = cpu.zeros([4, 8], 'i32');
    expect(() => moe.combine(yi, inv)).toThrow("moe.combine: y.dtype must be 'f32', 'bf16' or 'f16', got 'i32'");
    expect(() => moe.combine(y, invF)).toThrow("moe.combine: inverse.dtype must be 'i32', got 'f32'");
    expect(() => moe.combine(y, inv1)).toThrow('moe.combine: inverse.shape must be of rank 2, got [12]');
    expect(() => moe.combine(y, inv, { weights: wBad })).toThrow('moe.combine: options.weights.shape must be [4, 3] (one per pick of inverse [4, 3]), got [4, 2]');
    expect(() => moe.combine(y, inv, { weights: wBf as never })).toThrow("moe.combine: options.weights.dtype must be 'f32', got 'bf16'");
    expect(() => moe.combine(y, inv, { shared: shBad })).toThrow('moe.combine: options.shared.shape must be [4, 8] ([T, H]: T of inverse [4, 3], H of y [12, 8]), got [4, 9]');
    expect(() => moe.combine(y, inv, { shared: shI })).toThrow("moe.combine: options.shared.dtype must be 'f32', 'bf16' or 'f16', got 'i32'");
    expect(() => moe.combine(y, inv, { outDtype: 'e4m3' as never })).toThrow(TypeError);
    expect(() => moe.combine(y, inv, { weight: w } as never)).toThrow("moe.combine: unknown option 'weight' (did you mean 'weights'?)");
    expect(() => moe.combine(y, inv, { weights: [1, 2] as never })).toThrow('moe.combine: options.weights must be a Tensor, got an array of length 2');
    expect(() => moe.combine(y, inv, { impl: 'v1' })).toThrow("moe.combine: options.impl must be 'auto' or 'cpu' for tensors on the CPU, got 'v1'");
    expect(() => moe.combine(y, inv, { weights: w, shared: sh })).not.toThrow();
  });

  it('null options mean the defaults', async () => {
    using y = cpu.tensor(Float32Array.of(1, 2), { shape: [2, 1] });
    using inv = cpu.tensor(Int32Array.of(1, 0), { shape: [1, 2], dtype: 'i32' });
    using out = moe.combine(y, inv, { weights: null, shared: null } as never);
    expect(Array.from(await out.toArray())).toEqual([3]);
  });
});

const gpu = cudaDevice();
describe.skipIf(!gpu)(`moe.combine on CUDA matches the CPU twin bit for bit${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  const versions = gpu ? kernelVersions()['moe.combine']!.map((v) => v.name) : [];
  beforeAll(() => gpu && binding().setPoison(gpu.id, true));
  afterAll(() => gpu && binding().setPoison(gpu.id, false));
  const call = (c: Case) => ({ tokens: c.tokens, topK: c.topK, rows: c.rows, hidden: c.hidden, sm: smOf(gpu!.info) });

  it.each(versions.flatMap((v) => CASES.map((c) => [`${v} ${label(c)}`, v, c] as const)))('%s', async (_, version, c) => {
    const want = await runOn(device('cpu'), c);
    await runPerContract('moe.combine', version, call(c), async () => {
      expectBytes(`${version} ${label(c)}`, await runOn(gpu!, c, version), want);
    });
  });

  it.each(versions)('%s: repeated calls give the same bits', async (version) => {
    const c: Case = { tokens: 64, topK: 8, hidden: 384, rows: 600, dtype: 'bf16', outDtype: 'bf16', weights: true, shared: 'bf16', inverse: 'permuted' };
    const s = inputsOn(gpu!, c);
    try {
      using first = combineOn(s, c, version);
      const want = await first.bytes();
      for (let i = 0; i < 3; i++) {
        using again = combineOn(s, c, version);
        expectBytes(`${version} call ${i + 2}`, await again.bytes(), want);
      }
    } finally {
      s.dispose();
    }
  });

  // DeepSeek-V3: T = 512 tokens, top-8, H = 7168, weighted, with a shared expert.
  const ds: Case = { tokens: 512, topK: 8, hidden: 7168, rows: 512 * 8 + 256 * 127, dtype: 'bf16', outDtype: 'bf16', weights: true, shared: 'bf16', inverse: 'permuted' };
  const big = tooLargeToEmulate(gpu, EMULATED_COST.element * ds.tokens * ds.hidden * (ds.topK + 1));
  it.skipIf(big !== '').each(versions)(`%s at DeepSeek-V3 size (T 512, K 8, H 7168)${big ? ` (${big})` : ''}`, async (version) => {
    expectBytes(version, await runOn(gpu!, ds, version), await runOn(device('cpu'), ds));
  });
});
