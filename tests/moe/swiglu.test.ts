// moe.swiglu: the CPU twin against a float64 oracle (silu(g) · u), within
// the f32 rounding of its few operations; quantized, bit for bit against
// quantize(swiglu(h, f32), [1, 128]) and the float64 quantizer oracle of
// the twin's own f32 values; every CUDA version against the twin.
//
// Tolerances. The twin computes g / (1 + expf(-g)) · u in f32: expf (the
// host libm's, within 1 ulp), the add, the division and the product each
// round once, so its f32 result is within 8 f32 ulp of the exact value
// (relative error ≤ 8·2^-24, with the derivative of 1/(1+e) bounded by 1);
// rounded to bf16/f16, within that plus one output ulp. One exception, of
// the f32 formula itself: for g < -88.7, expf(-g) overflows to inf and the
// result is ±0 where the exact value is below 2^-119·|u|; an absolute 2^-100
// covers it. CUDA's expf is
// documented to 2 ulp, so on a GPU the f32 results may differ from the
// twin's by a few ulp: f32 outputs within 8 ulp, bf16/f16 outputs within
// one output ulp (a value near a rounding boundary may round either way),
// FP8 codes within one step and scales within 8 ulp (the amax element may
// differ by ulps). On the emulated GPU, whose expf is the host's, every
// version must match the twin bit for bit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, type Tensor, device, kernelVersions, moe, quantize } from '../../lib/index.js';
import { EMULATED_COST, cudaDevice, cudaSkipReason, emulatedProfile, tooLargeToEmulate } from '../helpers/devices.js';
import { type Fp8, QUANT_OPTIONS, quantizeOracle } from '../helpers/quant_oracle.js';
import { rng } from '../helpers/rng.js';
import { runPerContract, smOf } from '../helpers/versions.js';

type FDType = 'f32' | 'bf16' | 'f16';

interface Case {
  rows: number;
  inter: number;
  dtype: FDType;
  outDtype: FDType;
}

const CASES: Case[] = [];
for (const dtype of ['bf16', 'f32', 'f16'] as const) {
  for (const [rows, inter] of <[number, number][]>[[1, 1], [3, 128], [7, 129], [33, 300], [2, 64], [40, 127], [0, 256], [5, 0], [1, 1024]]) {
    CASES.push({ rows, inter, dtype, outDtype: dtype });
  }
  CASES.push({ rows: 9, inter: 200, dtype, outDtype: dtype === 'f32' ? 'bf16' : 'f32' });
}

function label(c: Case): string {
  return `P ${c.rows} I ${c.inter} ${c.dtype} -> ${c.outDtype}`;
}

/** Gate and up values: normal, with wide and special values mixed in (large |g| saturates the sigmoid). */
function hOf(c: Case): Float32Array {
  const r = rng(`h ${c.rows} ${c.inter} ${c.dtype}`);
  const h = r.randnArray(c.rows * 2 * c.inter, 3);
  for (let i = 0; i < h.length; i += 1 + r.int(0, 40)) h[i] = [0, -0, 20, -20, 90, -90, 1e-3, -1e-3][r.int(0, 7)]!;
  return h;
}

/** The ulp of `v` in dtype (the gap above |v|'s binade floor). */
function ulp(dtype: FDType, v: number): number {
  const a = Math.abs(v);
  const [mant, minExp] = dtype === 'f32' ? [23, -126] : dtype === 'bf16' ? [7, -126] : [10, -14];
  const e = a === 0 ? minExp : Math.max(minExp, Math.floor(Math.log2(a)));
  return 2 ** (e - mant);
}

/** got is within `f32Ulps` f32 ulp of want, plus `outUlps` ulp of the output dtype. */
function expectNear(what: string, got: Float32Array, want: ArrayLike<number>, dtype: FDType, f32Ulps: number, outUlps: number): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w) || Number.isNaN(g)) {
      if (Number.isNaN(w) !== Number.isNaN(g)) expect.fail(`${what}: element ${i} is ${g}, expected ${w}`);
      continue;
    }
    if (g === w) continue;
    const tol = f32Ulps * ulp('f32', w) + outUlps * ulp(dtype, w) + 2 ** -100;
    if (!(Math.abs(g - w) <= tol)) expect.fail(`${what}: element ${i} is ${g}, expected ${w} (within ${tol})`);
  }
}

function expectBytes(what: string, got: Uint8Array, want: Uint8Array): void {
  expect(got.length, `${what}: byte length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) expect.fail(`${what}: byte ${i} is ${got[i]}, expected ${want[i]}`);
}

async function hOn(dev: Device, c: Case): Promise<Tensor> {
  return dev.tensor(hOf(c), { shape: [c.rows, 2 * c.inter], dtype: c.dtype });
}

async function plainOn(dev: Device, c: Case, impl = 'auto'): Promise<Float32Array> {
  using h = await hOn(dev, c);
  using out = moe.swiglu(h, { outDtype: c.outDtype, impl: impl as 'auto' });
  expect(out.shape).toEqual([c.rows, c.inter]);
  expect(out.dtype).toBe(c.outDtype);
  return (await out.toArray()) as Float32Array;
}

async function quantizedOn(dev: Device, c: Case, format: Fp8, ue8m0: boolean, impl = 'auto'): Promise<[Uint8Array, Float32Array]> {
  using h = await hOn(dev, c);
  using q = moe.swiglu(h, { quantize: format, scaleFormat: ue8m0 ? 'ue8m0' : 'f32', impl: impl as 'auto' });
  expect(q.values.shape).toEqual([c.rows, c.inter]);
  expect(q.values.dtype).toBe(format);
  expect(q.scales.shape).toEqual([c.rows, Math.ceil(c.inter / 128)]);
  return [await q.values.bytes(), (await q.scales.toArray()) as Float32Array];
}

/** silu(g) · u in float64, from the exact values of h's elements. */
function swigluOracle(h: ArrayLike<number>, rows: number, inter: number): Float64Array {
  const out = new Float64Array(rows * inter);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < inter; j++) {
      const g = h[r * 2 * inter + j]!;
      const u = h[r * 2 * inter + inter + j]!;
      out[r * inter + j] = (g / (1 + Math.exp(-g))) * u;
    }
  }
  return out;
}

describe('moe.swiglu on the CPU matches the float64 oracle', () => {
  const cpu = device('cpu');
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    using h = await hOn(cpu, c);
    const want = swigluOracle((await h.toArray()) as Float32Array, c.rows, c.inter);
    expectNear(label(c), await plainOn(cpu, c), want, c.outDtype, 8, c.outDtype === 'f32' ? 0 : 1);
  });

  it.each(CASES.filter((c) => c.outDtype === c.dtype).map((c) => [label(c), c] as const))('quantized equals quantize(swiglu(h, f32)) bit for bit: %s', async (_, c) => {
    const f32 = await plainOn(cpu, { ...c, outDtype: 'f32' });
    using h = await hOn(cpu, c);
    using act = moe.swiglu(h, { outDtype: 'f32' });
    for (const [format, ue8m0] of QUANT_OPTIONS) {
      const scaleFormat = ue8m0 ? 'ue8m0' : 'f32';
      const what = `${label(c)} ${format} ${scaleFormat}`;
      const [values, scales] = await quantizedOn(cpu, c, format, ue8m0);
      using twoStep = quantize(act, { block: [1, 128], format, scaleFormat });
      expectBytes(`${what} values`, values, await twoStep.values.bytes());
      expectBytes(`${what} scales`, new Uint8Array(scales.buffer), await twoStep.scales.bytes());
      const want = quantizeOracle(f32, [c.rows, c.inter], '1x128', format, ue8m0);
      expectBytes(`${what} values vs oracle`, values, want.codes);
      expectBytes(`${what} scales vs oracle`, new Uint8Array(scales.buffer), new Uint8Array(want.scales.buffer));
    }
  });

  it('a small case by hand: silu(0) = 0, silu(g)·0 = 0, silu(20)·2 ≈ 40', async () => {
    // Rows [g0, g1, u0, u1].
    using h = cpu.tensor(Float32Array.of(0, 20, 7, 2, -20, 1, 3, 0), { shape: [2, 4] });
    using out = moe.swiglu(h);
    const got = await out.toArray();
    expect(got[0]).toBe(0);
    expect(got[1]).toBeCloseTo(40, 4);
    expect(got[2]).toBeCloseTo((-20 / (1 + Math.exp(20))) * 3, 10);
    expect(got[3]).toBe(0);
  });
});

describe('moe.swiglu rejects bad input with the argument named', () => {
  const cpu = device('cpu');
  it('dtypes, ranks, the odd last dimension and options', () => {
    using h = cpu.zeros([4, 8], 'bf16');
    using odd = cpu.zeros([4, 7], 'bf16');
    using h3 = cpu.zeros([2, 2, 8], 'f32');
    using hi = cpu.zeros([4, 8], 'i32');
    expect(() => moe.swiglu(odd)).toThrow('moe.swiglu: h.shape must be [P, 2I] with an even last dimension (gate and up halves), got [4, 7]');
    expect(() => moe.swiglu(hi)).toThrow("moe.swiglu: h.dtype must be 'f32', 'bf16' or 'f16', got 'i32'");
    expect(() => moe.swiglu(h3)).toThrow('moe.swiglu: h.shape must be of rank 2, got [2, 2, 8]');
    expect(() => moe.swiglu(h, { outDtype: 'e4m3' as never })).toThrow("moe.swiglu: options.outDtype must be one of 'f32', 'bf16', 'f16', got a string ('e4m3')");
    expect(() => moe.swiglu(h, { quantize: 'e4m3', outDtype: 'f32' } as never)).toThrow("moe.swiglu: options.outDtype must be absent with options.quantize, got a string ('f32')");
    expect(() => moe.swiglu(h, { scaleFormat: 'ue8m0' })).toThrow(TypeError);
    expect(() => moe.swiglu(h, { quantize: 'fp8' as never })).toThrow(TypeError);
    expect(() => moe.swiglu(h, { outdtype: 'f32' } as never)).toThrow("moe.swiglu: unknown option 'outdtype' (did you mean 'outDtype'?)");
    expect(() => moe.swiglu(h, { impl: 'v1' })).toThrow("moe.swiglu: options.impl must be 'auto' or 'cpu' for tensors on the CPU, got 'v1'");
    expect(() => moe.swiglu({} as never)).toThrow(TypeError);
  });

  it('the binding checks on its own', () => {
    using h = cpu.zeros([4, 8], 'bf16');
    using odd = cpu.zeros([4, 7], 'bf16');
    const b = binding();
    expect(() => b.moeSwiglu(odd.handle('t', 'h'), 'bf16', '', false, 'auto')).toThrow(RangeError);
    expect(() => b.moeSwiglu(h.handle('t', 'h'), 'i32', '', false, 'auto')).toThrow("moe.swiglu: options.outDtype must be 'f32', 'bf16' or 'f16', got 'i32'");
    expect(() => b.moeSwiglu(h.handle('t', 'h'), 'bf16', 'bf16' as never, false, 'auto')).toThrow(TypeError);
    expect(() => b.moeSwiglu(h.handle('t', 'h'), 'bf16', '', true, 'auto')).toThrow(TypeError);
  });
});

/** FP8 codes as signed steps (sign-magnitude), for "within one step". */
function step(code: number): number {
  return code & 0x80 ? -(code & 0x7f) : code & 0x7f;
}

const gpu = cudaDevice();
describe.skipIf(!gpu)(`moe.swiglu on CUDA matches the CPU twin${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  const versions = gpu ? kernelVersions()['moe.swiglu']!.map((v) => v.name) : [];
  // The emulated GPU's expf is the host's: bit for bit there.
  const exact = emulatedProfile() !== '';
  beforeAll(() => gpu && binding().setPoison(gpu.id, true));
  afterAll(() => gpu && binding().setPoison(gpu.id, false));

  async function check(version: string, c: Case): Promise<void> {
    const cpu = device('cpu');
    const what = `${version} ${label(c)}`;
    const call = (quantize: Fp8 | '') => ({ rows: c.rows, inter: c.inter, quantize, sm: smOf(gpu!.info) });
    const want = await plainOn(cpu, c);
    await runPerContract('moe.swiglu', version, call(''), async () => {
      const got = await plainOn(gpu!, c, version);
      if (exact) expectBytes(what, new Uint8Array(got.buffer), new Uint8Array(want.buffer));
      else expectNear(what, got, want, c.outDtype, 8, c.outDtype === 'f32' ? 0 : 1);
    });
    if (c.outDtype !== c.dtype) return;
    for (const [format, ue8m0] of QUANT_OPTIONS) {
      const [wantValues, wantScales] = await quantizedOn(cpu, c, format, ue8m0);
      await runPerContract('moe.swiglu', version, call(format), async () => {
        const [values, scales] = await quantizedOn(gpu!, c, format, ue8m0, version);
        if (exact) {
          expectBytes(`${what} ${format} values`, values, wantValues);
          expectBytes(`${what} ${format} scales`, new Uint8Array(scales.buffer), new Uint8Array(wantScales.buffer));
          return;
        }
        expectNear(`${what} ${format} scales`, scales, wantScales, 'f32', 8, 0);
        for (let i = 0; i < values.length; i++) {
          if (Math.abs(step(values[i]!) - step(wantValues[i]!)) > 1) expect.fail(`${what} ${format}: code ${i} is ${values[i]}, expected ${wantValues[i]} (within one step)`);
        }
      });
    }
  }

  it.each(versions.flatMap((v) => CASES.map((c) => [`${v} ${label(c)}`, v, c] as const)))('%s', async (_, version, c) => {
    await check(version, c);
  });

  // DeepSeek-V3's expert MLP: I = 2048, at P = 4096 + 256 * 127 rows (T = 512, top-8, align 128).
  const ds: Case = { rows: 512 * 8 + 256 * 127, inter: 2048, dtype: 'bf16', outDtype: 'bf16' };
  const big = tooLargeToEmulate(gpu, EMULATED_COST.element * ds.rows * ds.inter * 3);
  it.skipIf(big !== '').each(versions)(`%s at DeepSeek-V3 size (P ${ds.rows}, I 2048)${big ? ` (${big})` : ''}`, async (version) => {
    await check(version, ds);
  });
});
