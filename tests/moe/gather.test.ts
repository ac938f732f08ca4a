// moe.gather: the CPU twin against an oracle written from the definition
// (row p is x[rowIds[p] / topK], zeros for ids outside [0, T·K)), bit for
// bit; quantized, against the float64 quantizer oracle and against
// quantize(gather(...)) bit for bit; the routing-weight use ([T·K, 1] f32,
// topK 1); every CUDA version against the twin bit for bit where a GPU is
// present (or emulated); bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, type Tensor, device, kernelVersions, moe, quantize } from '../../lib/index.js';
import { EMULATED_COST, cudaDevice, cudaSkipReason, tooLargeToEmulate } from '../helpers/devices.js';
import { type Fp8, QUANT_OPTIONS, quantizeOracle } from '../helpers/quant_oracle.js';
import { rng } from '../helpers/rng.js';
import { runPerContract, smOf } from '../helpers/versions.js';

type XDType = 'f32' | 'bf16' | 'f16';

interface Case {
  tokens: number;
  hidden: number;
  topK: number;
  rows: number;
  dtype: XDType;
  ids: 'permuted' | 'garbage' | 'padding';
}

const CASES: Case[] = [];
for (const dtype of ['bf16', 'f32', 'f16'] as const) {
  for (const [tokens, hidden, topK] of <[number, number, number][]>[[1, 1, 1], [3, 128, 2], [5, 129, 8], [17, 300, 6], [9, 127, 1], [33, 256, 8], [2, 7, 16]]) {
    CASES.push({ tokens, hidden, topK, rows: tokens * topK + 7, dtype, ids: 'permuted' });
  }
  CASES.push({ tokens: 12, hidden: 200, topK: 4, rows: 60, dtype, ids: 'garbage' });
  CASES.push({ tokens: 0, hidden: 130, topK: 8, rows: 5, dtype, ids: 'padding' });
  CASES.push({ tokens: 4, hidden: 64, topK: 2, rows: 0, dtype, ids: 'permuted' });
  CASES.push({ tokens: 6, hidden: 0, topK: 2, rows: 9, dtype, ids: 'garbage' });
}

function label(c: Case): string {
  return `T ${c.tokens} H ${c.hidden} K ${c.topK} P ${c.rows} ${c.dtype} ${c.ids} ids`;
}

/** Row ids: a permutation of the picks with -1 padding, or ids of every kind (out of range too), or only padding. */
function idsOf(c: Case): Int32Array {
  const r = rng(label(c));
  const picks = c.tokens * c.topK;
  const ids = new Int32Array(c.rows).fill(-1);
  if (c.ids === 'permuted') {
    const order = Array.from({ length: picks }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = r.int(0, i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    // Picks scattered over the rows, padding between them.
    let at = 0;
    for (let row = 0; row < c.rows && at < order.length; row++) if (r.int(0, 7) !== 0 || c.rows - row <= order.length - at) ids[row] = order[at++]!;
  } else if (c.ids === 'garbage') {
    for (let row = 0; row < c.rows; row++) {
      ids[row] = [-1, -2, -2147483648, 2147483647, picks, picks + 1, r.int(0, Math.max(0, picks - 1)), r.int(0, Math.max(0, picks - 1))][r.int(0, 7)]!;
      if (picks === 0 && ids[row]! >= 0 && ids[row]! < 1) ids[row] = -1;
    }
  }
  return ids;
}

function xOf(c: Case): Float32Array {
  return rng(`x ${label(c)}`).randnArray(c.tokens * c.hidden, 3);
}

/** The rows as numbers (the f32 values of x's elements). */
function gatherOracle(x: Float32Array, ids: Int32Array, tokens: number, hidden: number, topK: number): Float32Array {
  const out = new Float32Array(ids.length * hidden);
  ids.forEach((id, p) => {
    if (id < 0 || id >= tokens * topK) return;
    const t = Math.floor(id / topK);
    out.set(x.subarray(t * hidden, (t + 1) * hidden), p * hidden);
  });
  return out;
}

/** The same on the storage bytes: exact bits of x's elements. */
function gatherBytes(xBytes: Uint8Array, ids: Int32Array, tokens: number, hidden: number, topK: number, size: number): Uint8Array {
  const row = hidden * size;
  const out = new Uint8Array(ids.length * row);
  ids.forEach((id, p) => {
    if (id < 0 || id >= tokens * topK) return;
    const t = Math.floor(id / topK);
    out.set(xBytes.subarray(t * row, (t + 1) * row), p * row);
  });
  return out;
}

function expectBytes(what: string, got: Uint8Array, want: Uint8Array): void {
  expect(got.length, `${what}: byte length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) expect.fail(`${what}: byte ${i} is ${got[i]}, expected ${want[i]}`);
}

interface Inputs {
  x: Tensor;
  ids: Tensor<'i32'>;
  dispose(): void;
}

function inputsOn(dev: Device, c: Case): Inputs {
  const x = dev.tensor(xOf(c), { shape: [c.tokens, c.hidden], dtype: c.dtype });
  const ids = dev.tensor(idsOf(c), { shape: [c.rows], dtype: 'i32' });
  return { x, ids, dispose: () => (x.dispose(), ids.dispose()) };
}

async function plainOn(dev: Device, c: Case, impl = 'auto'): Promise<Uint8Array> {
  const s = inputsOn(dev, c);
  try {
    using out = moe.gather(s.x, s.ids, c.topK, { impl: impl as 'auto' });
    expect(out.shape).toEqual([c.rows, c.hidden]);
    expect(out.dtype).toBe(c.dtype);
    return await out.bytes();
  } finally {
    s.dispose();
  }
}

async function quantizedOn(dev: Device, c: Case, format: Fp8, ue8m0: boolean, impl = 'auto'): Promise<[Uint8Array, Uint8Array]> {
  const s = inputsOn(dev, c);
  try {
    using q = moe.gather(s.x, s.ids, c.topK, { quantize: format, scaleFormat: ue8m0 ? 'ue8m0' : 'f32', impl: impl as 'auto' });
    expect(q.values.shape).toEqual([c.rows, c.hidden]);
    expect(q.values.dtype).toBe(format);
    expect(q.scales.shape).toEqual([c.rows, Math.ceil(c.hidden / 128)]);
    expect(q.block).toEqual([1, 128]);
    expect(q.scaleFormat).toBe(ue8m0 ? 'ue8m0' : 'f32');
    return [await q.values.bytes(), await q.scales.bytes()];
  } finally {
    s.dispose();
  }
}

describe('moe.gather on the CPU matches the oracle exactly', () => {
  const cpu = device('cpu');
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const ids = idsOf(c);
    using x = cpu.tensor(xOf(c), { shape: [c.tokens, c.hidden], dtype: c.dtype });
    const size = c.dtype === 'f32' ? 4 : 2;
    expectBytes(label(c), await plainOn(cpu, c), gatherBytes(await x.bytes(), ids, c.tokens, c.hidden, c.topK, size));
    const xs = (await x.toArray()) as Float32Array;
    for (const [format, ue8m0] of QUANT_OPTIONS) {
      const want = quantizeOracle(gatherOracle(xs, ids, c.tokens, c.hidden, c.topK), [c.rows, c.hidden], '1x128', format, ue8m0);
      const [values, scales] = await quantizedOn(cpu, c, format, ue8m0);
      const what = `${label(c)} ${format}${ue8m0 ? ' ue8m0' : ''}`;
      expectBytes(`${what} values`, values, want.codes);
      expectBytes(`${what} scales`, scales, new Uint8Array(want.scales.buffer));
    }
  });

  it('equals quantize(gather(...), [1, 128]) bit for bit, padding rows included', async () => {
    const c: Case = { tokens: 21, hidden: 385, topK: 8, rows: 200, dtype: 'bf16', ids: 'garbage' };
    const s = inputsOn(cpu, c);
    try {
      for (const [format, ue8m0] of QUANT_OPTIONS) {
        const scaleFormat = ue8m0 ? 'ue8m0' : 'f32';
        using fused = moe.gather(s.x, s.ids, c.topK, { quantize: format, scaleFormat });
        using rows = moe.gather(s.x, s.ids, c.topK);
        using twoStep = quantize(rows, { block: [1, 128], format, scaleFormat });
        expectBytes(`${format} values`, await fused.values.bytes(), await twoStep.values.bytes());
        expectBytes(`${format} scales`, await fused.scales.bytes(), await twoStep.scales.bytes());
      }
    } finally {
      s.dispose();
    }
  });

  it('a small gather by hand: rows by token, padding and garbage ids as zeros', async () => {
    using x = cpu.tensor(Float32Array.of(1, 2, 3, 4, 5, 6), { shape: [3, 2] });
    using ids = cpu.tensor(Int32Array.of(5, -1, 0, 3, 6, 2, -7), { dtype: 'i32' });
    using out = moe.gather(x, ids, 2);
    expect(Array.from(await out.toArray())).toEqual([5, 6, 0, 0, 1, 2, 3, 4, 0, 0, 3, 4, 0, 0]);
  });

  it('copies the bits: NaN payloads, infinities and -0 unchanged', async () => {
    const bits = Uint32Array.of(0x7fc00001, 0xffa00000, 0x7f800000, 0xff800000, 0x80000000, 0x00000001);
    using x = cpu.tensor(new Float32Array(bits.buffer), { shape: [3, 2] });
    using ids = cpu.tensor(Int32Array.of(2, 0, 1), { dtype: 'i32' });
    using out = moe.gather(x, ids, 1);
    expect(Array.from(new Uint32Array((await out.bytes()).buffer))).toEqual([0x80000000, 0x00000001, 0x7fc00001, 0xffa00000, 0x7f800000, 0xff800000]);
  });

  it('gathers the routing weights per permuted row: [T·K, 1] f32 with topK 1', async () => {
    using logits = cpu.tensor(rng('gather weights').randnArray(19 * 64), { shape: [19, 64] });
    using r = moe.route(logits, { topK: 6, groups: 8, topGroups: 4, scale: 2.5 });
    using p = moe.permute(r.ids, 64, { align: 8 });
    using w = r.weights.reshape([19 * 6, 1]);
    using rowWeights = moe.gather(w, p.rowIds, 1);
    expect(rowWeights.shape).toEqual([p.rowIds.shape[0], 1]);
    expect(rowWeights.dtype).toBe('f32');
    const [got, weights, rowIds] = await Promise.all([rowWeights.toArray(), r.weights.toArray(), p.rowIds.toArray()]);
    Array.from(rowIds).forEach((id, row) => expect(got[row], `row ${row}`).toBe(id < 0 ? 0 : weights[id]));
  });

  it('gathers the token rows of a permutation: every pick once, in its expert segment', async () => {
    using logits = cpu.tensor(rng('gather permute').randnArray(11 * 32), { shape: [11, 32] });
    using r = moe.route(logits, { topK: 4, groups: 4, topGroups: 2 });
    using p = moe.permute(r.ids, 32, { align: 4 });
    using x = cpu.tensor(Float32Array.from({ length: 11 * 3 }, (_, i) => Math.floor(i / 3) + 1), { shape: [11, 3] });
    using a = moe.gather(x, p.rowIds, 4);
    const [rows, rowIds] = await Promise.all([a.toArray(), p.rowIds.toArray()]);
    Array.from(rowIds).forEach((id, row) => {
      const want = id < 0 ? 0 : Math.floor(id / 4) + 1;
      for (let h = 0; h < 3; h++) expect(rows[row * 3 + h]).toBe(want);
    });
  });
});

describe('moe.gather rejects bad input with the argument named', () => {
  const cpu = device('cpu');
  it('dtypes, ranks, topK and options', () => {
    using x = cpu.zeros([4, 8], 'bf16');
    using ids = cpu.zeros([6], 'i32');
    using fIds = cpu.zeros([6], 'f32');
    using ids2 = cpu.zeros([3, 2], 'i32');
    using x3 = cpu.zeros([2, 2, 8], 'f32');
    using xi = cpu.zeros([4, 8], 'i32');
    using x8 = cpu.zeros([4, 8], 'e4m3');
    expect(() => moe.gather(xi, ids, 2)).toThrow("moe.gather: x.dtype must be 'f32', 'bf16' or 'f16', got 'i32'");
    expect(() => moe.gather(x8, ids, 2)).toThrow(TypeError);
    expect(() => moe.gather(x3, ids, 2)).toThrow('moe.gather: x.shape must be of rank 2, got [2, 2, 8]');
    expect(() => moe.gather(x, fIds, 2)).toThrow("moe.gather: rowIds.dtype must be 'i32', got 'f32'");
    expect(() => moe.gather(x, ids2, 2)).toThrow('moe.gather: rowIds.shape must be of rank 1, got [3, 2]');
    expect(() => moe.gather(x, ids, 0)).toThrow('moe.gather: topK must be an integer in [1, 2147483647], got 0');
    expect(() => moe.gather(x, ids, 1.5)).toThrow(RangeError);
    expect(() => moe.gather(x, ids, '2' as never)).toThrow(TypeError);
    expect(() => moe.gather(x, ids, 2, { quantize: 'e3m4' as never })).toThrow("moe.gather: options.quantize must be one of 'e4m3', 'e5m2', got a string ('e3m4')");
    expect(() => moe.gather(x, ids, 2, { quantize: 'e4m3', scaleFormat: 'e8m0' as never })).toThrow(TypeError);
    expect(() => moe.gather(x, ids, 2, { scaleFormat: 'ue8m0' })).toThrow("moe.gather: options.scaleFormat must be absent without options.quantize, got a string ('ue8m0')");
    expect(() => moe.gather(x, ids, 2, { quantise: 'e4m3' } as never)).toThrow("moe.gather: unknown option 'quantise' (did you mean 'quantize'?)");
    expect(() => moe.gather(x, ids, 2, { impl: 'v1' })).toThrow("moe.gather: options.impl must be 'auto' or 'cpu' for tensors on the CPU, got 'v1'");
    expect(() => moe.gather([1] as never, ids, 2)).toThrow('moe.gather: x must be a Tensor, got an array of length 1');
    expect(() => moe.gather(x, ids, 2, 3 as never)).toThrow(TypeError);
  });

  it('the binding checks on its own', () => {
    using x = cpu.zeros([4, 8], 'bf16');
    using ids = cpu.zeros([6], 'i32');
    const b = binding();
    const hx = x.handle('t', 'x');
    const hids = ids.handle('t', 'ids');
    expect(() => b.moeGather(hx, hids, 2, 'i32' as never, false, 'auto')).toThrow("moe.gather: options.quantize must be 'e4m3' or 'e5m2', got 'i32'");
    expect(() => b.moeGather(hx, hids, 2, '', true, 'auto')).toThrow("moe.gather: options.scaleFormat must be absent without options.quantize, got 'ue8m0'");
    expect(() => b.moeGather(hids, hx, 2, '', false, 'auto')).toThrow("moe.gather: x.dtype must be 'f32', 'bf16' or 'f16', got 'i32'");
    expect(() => b.moeGather(hx, hids, 0, '', false, 'auto')).toThrow(RangeError);
  });

  it('null options mean the defaults', async () => {
    using x = cpu.tensor(Float32Array.of(1, 2), { shape: [2, 1] });
    using ids = cpu.tensor(Int32Array.of(1, 0), { dtype: 'i32' });
    using out = moe.gather(x, ids, 1, null as unknown as undefined);
    expect(Array.from(await out.toArray())).toEqual([2, 1]);
  });
});

const gpu = cudaDevice();
describe.skipIf(!gpu)(`moe.gather on CUDA matches the CPU twin bit for bit${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  const versions = gpu ? kernelVersions()['moe.gather']!.map((v) => v.name) : [];
  beforeAll(() => gpu && binding().setPoison(gpu.id, true));
  afterAll(() => gpu && binding().setPoison(gpu.id, false));
  const call = (c: Case, quantize: Fp8 | '') => ({ tokens: c.tokens, hidden: c.hidden, rows: c.rows, topK: c.topK, quantize, sm: smOf(gpu!.info) });

  it.each(versions.flatMap((v) => CASES.map((c) => [`${v} ${label(c)}`, v, c] as const)))('%s', async (_, version, c) => {
    const what = `${version} ${label(c)}`;
    const cpu = device('cpu');
    await runPerContract('moe.gather', version, call(c, ''), async () => {
      expectBytes(what, await plainOn(gpu!, c, version), await plainOn(cpu, c));
    });
    for (const [format, ue8m0] of QUANT_OPTIONS) {
      const [wantValues, wantScales] = await quantizedOn(cpu, c, format, ue8m0);
      await runPerContract('moe.gather', version, call(c, format), async () => {
        const [values, scales] = await quantizedOn(gpu!, c, format, ue8m0, version);
        expectBytes(`${what} ${format} values`, values, wantValues);
        expectBytes(`${what} ${format} scales`, scales, wantScales);
      });
    }
  });

  // DeepSeek-V3: T = 512 tokens, top-8, H = 7168, bf16, with the E = 256, align 128 padding.
  const ds: Case = { tokens: 512, hidden: 7168, topK: 8, rows: 512 * 8 + 256 * 127, dtype: 'bf16', ids: 'permuted' };
  const big = tooLargeToEmulate(gpu, EMULATED_COST.element * ds.rows * ds.hidden);
  it.skipIf(big !== '').each(versions)(`%s at DeepSeek-V3 size (T 512, K 8, H 7168, P ${ds.rows}), plain and e4m3${big ? ` (${big})` : ''}`, async (version) => {
    const cpu = device('cpu');
    expectBytes(version, await plainOn(gpu!, ds, version), await plainOn(cpu, ds));
    const [values, scales] = await quantizedOn(gpu!, ds, 'e4m3', false, version);
    const [wantValues, wantScales] = await quantizedOn(cpu, ds, 'e4m3', false);
    expectBytes(`${version} values`, values, wantValues);
    expectBytes(`${version} scales`, scales, wantScales);
  });
});
