// moe.updateBias against the float64 oracle (tests/helpers/moe_oracle.ts) on
// the CPU, and every CUDA version against the CPU twin, bit for bit, where a
// GPU is present (or emulated); bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, device, kernelVersions, moe } from '../../lib/index.js';
import { cudaDevice, cudaSkipReason } from '../helpers/devices.js';
import { updateBiasOracle } from '../helpers/moe_oracle.js';
import { rng } from '../helpers/rng.js';
import { runPerContract, smOf } from '../helpers/versions.js';

interface Case {
  experts: number;
  counts: 'random' | 'balanced' | 'one-hot' | 'huge';
  rate: number;
}

const CASES: Case[] = [];
for (const experts of [1, 8, 64, 256, 257, 512, 1000]) {
  for (const counts of ['random', 'balanced', 'one-hot', 'huge'] as const) CASES.push({ experts, counts, rate: experts % 2 === 0 ? 1e-3 : 0.37 });
}
CASES.push({ experts: 0, counts: 'random', rate: 1e-3 }, { experts: 256, counts: 'random', rate: 0 }, { experts: 256, counts: 'random', rate: -0.5 });

function label(c: Case): string {
  return `E ${c.experts} ${c.counts} counts, rate ${c.rate}`;
}

function inputsOf(c: Case): { bias: Float32Array; counts: Int32Array } {
  const r = rng(label(c));
  const bias = r.randnArray(c.experts, 0.1);
  let counts: Int32Array;
  switch (c.counts) {
    case 'random':
      counts = Int32Array.from({ length: c.experts }, () => r.int(0, 64));
      break;
    case 'balanced':
      // Every count at the mean: sign 0 everywhere, except two swapped from it.
      counts = new Int32Array(c.experts).fill(12);
      if (c.experts >= 2) {
        counts[0] = 13;
        counts[c.experts - 1] = 11;
      }
      break;
    case 'one-hot':
      counts = new Int32Array(c.experts);
      if (c.experts > 0) counts[r.int(0, c.experts - 1)] = 4096 * 8;
      break;
    case 'huge':
      // Near 2^31: sums past 2^32 must not wrap.
      counts = Int32Array.from({ length: c.experts }, () => 0x7fffffff - r.int(0, 3));
      break;
  }
  return { bias, counts };
}

async function updateOn(dev: Device, c: Case, bias: Float32Array, counts: Int32Array, impl = 'auto'): Promise<Float32Array> {
  using b = dev.tensor(bias, { shape: [c.experts] });
  using n = dev.tensor(counts, { shape: [c.experts], dtype: 'i32' });
  using out = moe.updateBias(b, n, { rate: c.rate, impl: impl as 'auto' });
  expect(out.shape).toEqual([c.experts]);
  expect(out.dtype).toBe('f32');
  return (await out.toArray()) as Float32Array;
}

function expectSame(what: string, got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) expect.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

describe('moe.updateBias on the CPU matches the float64 oracle exactly', () => {
  const cpu = device('cpu');
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const { bias, counts } = inputsOf(c);
    expectSame(label(c), await updateOn(cpu, c, bias, counts), updateBiasOracle(bias, counts, c.rate));
  });

  it('below the mean gains rate, above loses it, at the mean keeps the bias', async () => {
    using b = cpu.tensor(Float32Array.of(0, 0.5, -0.5, 1), { shape: [4] });
    using n = cpu.tensor(Int32Array.of(1, 3, 2, 2), { shape: [4], dtype: 'i32' });
    using out = moe.updateBias(b, n, { rate: 0.25 });
    expect(Array.from(await out.toArray())).toEqual([0.25, 0.25, -0.5, 1]);
  });

  it('takes the counts of moe.route', async () => {
    using x = cpu.tensor(rng('route counts').randnArray(16 * 64), { shape: [16, 64] });
    using b = cpu.zeros([64], 'f32');
    using r = moe.route(x, { topK: 6, groups: 8, topGroups: 3, bias: b as never });
    using next = moe.updateBias(b, r.counts, { rate: 1e-3 });
    const want = updateBiasOracle(new Float32Array(64), (await r.counts.toArray()) as Int32Array, 1e-3);
    expectSame('after route', (await next.toArray()) as Float32Array, want);
  });
});

describe('moe.updateBias rejects bad input with the argument named', () => {
  const cpu = device('cpu');
  it('dtypes, shapes, options', () => {
    using b = cpu.zeros([8], 'f32');
    using n = cpu.zeros([8], 'i32');
    using n7 = cpu.zeros([7], 'i32');
    using nf = cpu.zeros([8], 'f32');
    using b2 = cpu.zeros([2, 4], 'f32');
    expect(() => moe.updateBias(b, n7, { rate: 1 })).toThrow('moe.updateBias: counts.shape must be [8] (one per expert of bias [8]), got [7]');
    expect(() => moe.updateBias(b, nf, { rate: 1 })).toThrow("moe.updateBias: counts.dtype must be 'i32', got 'f32'");
    expect(() => moe.updateBias(n, n, { rate: 1 })).toThrow("moe.updateBias: bias.dtype must be 'f32', got 'i32'");
    expect(() => moe.updateBias(b2, n, { rate: 1 })).toThrow('moe.updateBias: bias.shape must be of rank 1, got [2, 4]');
    expect(() => moe.updateBias(b, n, { rate: NaN })).toThrow('moe.updateBias: options.rate must be a finite number, got NaN');
    expect(() => moe.updateBias(b, n, { rate: '1' as never })).toThrow("moe.updateBias: options.rate must be a number, got a string ('1')");
    expect(() => moe.updateBias(b, n, {} as never)).toThrow('moe.updateBias: options.rate must be a number, got undefined');
    expect(() => moe.updateBias(b, n, undefined as never)).toThrow('moe.updateBias: options must be an object with rate, got undefined');
    expect(() => moe.updateBias(b, n, { rate: 1, rat: 2 } as never)).toThrow("moe.updateBias: unknown option 'rat' (did you mean 'rate'?)");
    expect(() => moe.updateBias(b, [1] as never, { rate: 1 })).toThrow('moe.updateBias: counts must be a Tensor, got an array of length 1');
    expect(() => moe.updateBias(b, n, { rate: 1, impl: 'v1' })).toThrow("moe.updateBias: options.impl must be 'auto' or 'cpu' for tensors on the CPU, got 'v1'");
  });
});

const gpu = cudaDevice();
describe.skipIf(!gpu)(`moe.updateBias on CUDA matches the CPU twin bit for bit${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  const versions = gpu ? kernelVersions()['moe.updateBias']!.map((v) => v.name) : [];
  beforeAll(() => gpu && binding().setPoison(gpu.id, true));
  afterAll(() => gpu && binding().setPoison(gpu.id, false));

  it.each(versions.flatMap((v) => CASES.map((c) => [`${v} ${label(c)}`, v, c] as const)))('%s', async (_, version, c) => {
    const { bias, counts } = inputsOf(c);
    const want = await updateOn(device('cpu'), c, bias, counts);
    await runPerContract('moe.updateBias', version, { experts: c.experts, sm: smOf(gpu!.info) }, async () => {
      expectSame(`${version} ${label(c)}`, await updateOn(gpu!, c, bias, counts, version), want);
    });
  });

  it.each(versions)('%s: counts on another device are a TypeError naming both', (version) => {
    using b = gpu!.zeros([8], 'f32');
    using n = device('cpu').zeros([8], 'i32');
    expect(() => moe.updateBias(b, n, { rate: 1, impl: version as 'v1' })).toThrow(
      /^moe\.updateBias: counts must be on the same device as bias \(cuda:0\), got a tensor on cpu$/,
    );
  });
});
