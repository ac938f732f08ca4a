// moe.route against the float64 oracle of the DeepSeek-V3 gate
// (tests/helpers/moe_oracle.ts) on the CPU, and every CUDA version against the
// CPU twin where a GPU is present (or emulated): identical ids and counts,
// weights within 1e-6. Random logits and biases on E = 8, 64, 256, 512 with
// the DeepSeek-V3, V2 and no-group forms, T = 1, 7, 256; ties, negative
// selection scores, all-equal scores and extreme finite logits; bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, type Tensor, device, kernelVersions, moe } from '../../lib/index.js';
import { EMULATED_COST, cudaDevice, cudaSkipReason, tooLargeToEmulate } from '../helpers/devices.js';
import { type GateConfig, gateOracle } from '../helpers/moe_oracle.js';
import { rng } from '../helpers/rng.js';
import { runPerContract, smOf } from '../helpers/versions.js';

/** How the inputs are drawn. */
type Inputs = 'random' | 'ties' | 'negative' | 'equal' | 'extreme';

interface Case {
  experts: number;
  tokens: number;
  config: GateConfig;
  bias: boolean;
  inputs: Inputs;
}

const sigmoid = (topK: number, groups = 1, topGroups = groups, scale = 1): GateConfig => ({ topK, scoring: 'sigmoid', groups, topGroups, normalize: true, scale });
const softmax = (topK: number, groups = 1, topGroups = groups, scale = 1): GateConfig => ({ topK, scoring: 'softmax', groups, topGroups, normalize: false, scale });

/** Gate forms per expert count: grouped and not, sigmoid and softmax, K from 1 to 16. */
const FORMS: Record<number, { config: GateConfig; bias: boolean }[]> = {
  8: [
    { config: sigmoid(2, 4, 2), bias: true },
    { config: sigmoid(8), bias: false },
    { config: softmax(1), bias: false },
    { config: { ...softmax(3, 2, 1), normalize: true }, bias: true },
  ],
  64: [
    { config: softmax(6, 1, 1, 1), bias: false }, // DeepSeek-V2-Lite: 64 experts, top-6, no groups
    { config: sigmoid(6, 8, 3, 16), bias: true },
    { config: softmax(16, 8, 2), bias: true },
    { config: { ...sigmoid(4, 64, 5), normalize: false }, bias: true }, // groups of one expert
  ],
  256: [
    { config: sigmoid(8, 8, 4, 2.5), bias: true }, // DeepSeek-V3
    { config: sigmoid(16, 8, 4, 2.5), bias: true },
    { config: sigmoid(8), bias: true },
    { config: softmax(8, 8, 3), bias: false },
  ],
  512: [
    { config: sigmoid(16, 16, 4, 2.5), bias: true },
    { config: softmax(10), bias: true },
    { config: sigmoid(8, 32, 1), bias: false },
  ],
};
const TOKENS = [1, 7, 256];

const CASES: Case[] = [];
for (const [e, forms] of Object.entries(FORMS)) {
  for (const f of forms) for (const tokens of TOKENS) CASES.push({ experts: Number(e), tokens, ...f, inputs: 'random' });
}
// Inputs that stress the ranking, on the DeepSeek-V3 and the no-group forms.
for (const inputs of ['ties', 'negative', 'equal', 'extreme'] as const) {
  for (const f of [FORMS[256]![0]!, FORMS[64]![0]!, FORMS[8]![0]!, FORMS[512]![1]!]) {
    CASES.push({ experts: f === FORMS[64]![0]! ? 64 : f === FORMS[8]![0]! ? 8 : f === FORMS[512]![1]! ? 512 : 256, tokens: 7, ...f, inputs });
  }
}

function label(c: Case): string {
  const g = c.config.groups > 1 ? ` groups ${c.config.topGroups}/${c.config.groups}` : '';
  return `E ${c.experts} T ${c.tokens} ${c.config.scoring} top-${c.config.topK}${g}${c.bias ? ' bias' : ''}${c.config.normalize ? ' normalized' : ''} x${c.config.scale} (${c.inputs})`;
}

function inputsOf(c: Case): { logits: Float32Array; bias?: Float32Array } {
  const r = rng(label(c));
  const n = c.tokens * c.experts;
  let logits: Float32Array;
  let bias: Float32Array | undefined = c.bias ? r.randnArray(c.experts, 0.5) : undefined;
  switch (c.inputs) {
    case 'random':
      logits = r.randnArray(n, 2);
      break;
    case 'ties':
      // Few distinct values: equal scores everywhere, equal group scores too.
      logits = Float32Array.from({ length: n }, () => r.int(-2, 2) / 2);
      if (bias) bias = Float32Array.from({ length: c.experts }, () => r.int(-1, 1) / 4);
      break;
    case 'negative':
      // Biases below -1: every selection score negative (sigmoid scores are in [0, 1]).
      logits = r.randnArray(n, 2);
      bias = Float32Array.from({ length: c.experts }, () => -3 + r.uniform(-1, 1));
      break;
    case 'equal':
      logits = new Float32Array(n).fill(0.375);
      if (bias) bias = new Float32Array(c.experts).fill(-0.25);
      break;
    case 'extreme':
      {
        const extremes = [3.4e38, -3.4e38, 1e30, -1e30, 88.7, -104, 1e-40, 0];
        logits = Float32Array.from({ length: n }, () => (r.uniform() < 0.8 ? extremes[r.int(0, extremes.length - 1)]! : r.randn()));
      }
      break;
  }
  return { logits, ...(bias ? { bias } : {}) };
}

interface Routed {
  ids: Int32Array;
  weights: Float32Array;
  counts: Int32Array;
}

async function routeOn(dev: Device, c: Case, logits: Float32Array, bias: Float32Array | undefined, impl = 'auto'): Promise<Routed> {
  using x = dev.tensor(logits, { shape: [c.tokens, c.experts] });
  using b = bias ? dev.tensor(bias, { shape: [c.experts] }) : undefined;
  using r = moe.route(x, { ...c.config, ...(b ? { bias: b as Tensor<'f32'> } : {}), impl: impl as 'auto' });
  expect(r.ids.shape).toEqual([c.tokens, c.config.topK]);
  expect(r.weights.shape).toEqual([c.tokens, c.config.topK]);
  expect(r.counts.shape).toEqual([c.experts]);
  expect([r.ids.dtype, r.weights.dtype, r.counts.dtype]).toEqual(['i32', 'f32', 'i32']);
  return { ids: (await r.ids.toArray()) as Int32Array, weights: (await r.weights.toArray()) as Float32Array, counts: (await r.counts.toArray()) as Int32Array };
}

function expectIds(what: string, got: Int32Array, want: Int32Array, k: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      const t = Math.floor(i / k);
      expect.fail(`${what}: token ${t} pick ${i % k} is expert ${got[i]}, expected ${want[i]} (row ${Array.from(got.subarray(t * k, t * k + k))} vs ${Array.from(want.subarray(t * k, t * k + k))})`);
    }
  }
}

function expectWeights(what: string, got: Float32Array, want: ArrayLike<number>, tol: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= tol * Math.max(1, Math.abs(want[i]!)))) expect.fail(`${what}: weight ${i} is ${got[i]}, expected ${want[i]} (difference ${d})`);
  }
}

describe('moe.route on the CPU matches the float64 oracle of the DeepSeek-V3 gate', () => {
  const cpu = device('cpu');
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const { logits, bias } = inputsOf(c);
    const got = await routeOn(cpu, c, logits, bias);
    const want = gateOracle(logits, c.experts, c.config, bias);
    expectIds(label(c), got.ids, want.ids, c.config.topK);
    expectWeights(label(c), got.weights, want.weights, 1e-6);
    expect(Array.from(got.counts)).toEqual(Array.from(want.counts));
  });

  it('ties go to the lower index: all-equal logits pick experts 0..K-1 of the first groups', async () => {
    using x = cpu.tensor(new Float32Array(2 * 16).fill(1), { shape: [2, 16] });
    using r = moe.route(x, { topK: 4, groups: 4, topGroups: 2 });
    expect(Array.from(await r.ids.toArray())).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(Array.from(await r.weights.toArray())).toEqual(new Array(8).fill(0.25));
    expect(Array.from(await r.counts.toArray())).toEqual([2, 2, 2, 2, ...new Array(12).fill(0)]);
  });

  it('the bias chooses but does not weigh; groups are kept by the sum of their top two', async () => {
    // Group 0 = experts 0-3, group 1 = experts 4-7. Expert 7 alone is best, but group 0's top two sum higher.
    const logits = Float32Array.of(1, 1, 0, 0, -1, -1, -1, 3);
    using x = cpu.tensor(logits, { shape: [1, 8] });
    using r = moe.route(x, { topK: 2, groups: 2, topGroups: 1, normalize: false });
    expect(Array.from(await r.ids.toArray())).toEqual([0, 1]);
    using b = cpu.tensor(Float32Array.of(0, 0, 0, 0, 0, 0, 0.9, 0), { shape: [8] });
    using rb = moe.route(x, { topK: 2, groups: 2, topGroups: 1, normalize: false, bias: b as Tensor<'f32'> });
    // Expert 6 chooses at s(-1) + 0.9 ≈ 1.17, above expert 7's s(3) ≈ 0.95; it weighs s(-1).
    expect(Array.from(await rb.ids.toArray())).toEqual([6, 7]);
    const s = (v: number) => Math.fround(1 / (1 + Math.exp(-v)));
    expect(Array.from(await rb.weights.toArray())).toEqual([s(-1), s(3)]);
  });

  it('defaults: sigmoid, normalized, no groups, scale 1; softmax is not normalized', async () => {
    const logits = rng('defaults').randnArray(3 * 32);
    using x = cpu.tensor(logits, { shape: [3, 32] });
    using r = moe.route(x, { topK: 4 });
    const want = gateOracle(logits, 32, sigmoid(4));
    expectIds('defaults', (await r.ids.toArray()) as Int32Array, want.ids, 4);
    expectWeights('defaults', (await r.weights.toArray()) as Float32Array, want.weights, 1e-6);
    using rs = moe.route(x, { topK: 4, scoring: 'softmax', impl: 'cpu', bias: null as never, groups: null as never });
    const wantS = gateOracle(logits, 32, softmax(4));
    expectWeights('softmax defaults', (await rs.weights.toArray()) as Float32Array, wantS.weights, 1e-6);
  });

  it('no tokens: empty ids and weights, zero counts', async () => {
    using x = cpu.tensor(new Float32Array(0), { shape: [0, 256] });
    using r = moe.route(x, { topK: 8, groups: 8, topGroups: 4 });
    expect(r.ids.shape).toEqual([0, 8]);
    expect((await r.weights.toArray()).length).toBe(0);
    expect(Array.from(await r.counts.toArray())).toEqual(new Array(256).fill(0));
  });
});

describe('moe.route rejects bad input with the argument named', () => {
  const cpu = device('cpu');
  const x = cpu.tensor(new Float32Array(4 * 64), { shape: [4, 64] });
  const bias = cpu.zeros([64], 'f32') as Tensor<'f32'>;
  afterAll(() => {
    x.dispose();
    bias.dispose();
  });

  it('sizes outside the supported range are RangeErrors stating the range and the value', () => {
    expect(() => moe.route(x, { topK: 17 })).toThrow(RangeError);
    expect(() => moe.route(x, { topK: 17 })).toThrow('moe.route: options.topK must be an integer in [1, 16], got 17');
    expect(() => moe.route(x, { topK: 0 })).toThrow('moe.route: options.topK must be an integer in [1, 16], got 0');
    using small = cpu.zeros([2, 4], 'f32');
    expect(() => moe.route(small, { topK: 5 })).toThrow('moe.route: options.topK must be an integer in [1, 16] and at most E (4 experts), got 5');
    using wide = cpu.zeros([2, 513], 'f32');
    expect(() => moe.route(wide, { topK: 2 })).toThrow('moe.route: logits.shape must be [T, E] with E (experts) in [1, 512], got [2, 513]');
    using none = cpu.zeros([2, 0], 'f32');
    expect(() => moe.route(none, { topK: 1 })).toThrow('moe.route: logits.shape must be [T, E] with E (experts) in [1, 512], got [2, 0]');
    expect(() => moe.route(x, { topK: 2, groups: 6 })).toThrow('moe.route: options.groups must be a divisor of E (64 experts), got 6');
    expect(() => moe.route(x, { topK: 2, groups: 8, topGroups: 9 })).toThrow('moe.route: options.topGroups must be an integer in [1, groups] ([1, 8]), got 9');
    expect(() => moe.route(x, { topK: 9, groups: 8, topGroups: 1 })).toThrow(
      'moe.route: options.topK must be at most the experts of the kept groups (topGroups 1 x 8 experts per group = 8), got 9',
    );
    expect(() => moe.route(x, { topK: 2, scale: Infinity })).toThrow('moe.route: options.scale must be a finite number, got Infinity');
    expect(() => moe.route(x, { topK: 2.5 })).toThrow(RangeError);
  });

  it('wrong tensors, dtypes, shapes, devices and options are named', () => {
    using i = cpu.zeros([4, 64], 'i32');
    using v = cpu.zeros([64], 'f32');
    using b63 = cpu.zeros([63], 'f32');
    using bbf = cpu.zeros([64], 'bf16');
    expect(() => moe.route(i, { topK: 2 })).toThrow("moe.route: logits.dtype must be 'f32', got 'i32'");
    expect(() => moe.route(v, { topK: 2 })).toThrow('moe.route: logits.shape must be of rank 2, got [64]');
    expect(() => moe.route(x, { topK: 2, bias: b63 as Tensor<'f32'> })).toThrow('moe.route: options.bias.shape must be [64] (one per expert of logits [4, 64]), got [63]');
    expect(() => moe.route(x, { topK: 2, bias: bbf as never })).toThrow("moe.route: options.bias.dtype must be 'f32', got 'bf16'");
    expect(() => moe.route(x, { topK: 2, bias: [1, 2] as never })).toThrow('moe.route: options.bias must be a Tensor, got an array of length 2');
    expect(() => moe.route(new Float32Array(4) as never, { topK: 2 })).toThrow('moe.route: logits must be a Tensor, got a Float32Array');
    expect(() => moe.route(x, undefined as never)).toThrow('moe.route: options must be an object with topK, got undefined');
    expect(() => moe.route(x, {} as never)).toThrow('moe.route: options.topK must be an integer in [1, 16], got undefined');
    expect(() => moe.route(x, { topK: 2, scoring: 'tanh' as never })).toThrow("moe.route: options.scoring must be one of 'sigmoid', 'softmax', got a string ('tanh')");
    expect(() => moe.route(x, { topK: 2, normalize: 1 as never })).toThrow('moe.route: options.normalize must be a boolean, got a number (1)');
    expect(() => moe.route(x, { topK: 2, topk: 3 } as never)).toThrow("moe.route: unknown option 'topk' (did you mean 'topK'?)");
    expect(() => moe.route(x, { topK: 2, group: 8 } as never)).toThrow(TypeError);
    expect(() => moe.route(x, { topK: 2, impl: 'v1' })).toThrow("moe.route: options.impl must be 'auto' or 'cpu' for tensors on the CPU, got 'v1'");
  });

  it('a bias on another device is a TypeError naming both', () => {
    const gpu = cudaDevice();
    if (!gpu) return;
    using gb = gpu.zeros([64], 'f32');
    expect(() => moe.route(x, { topK: 2, bias: gb as Tensor<'f32'> })).toThrow(/^moe\.route: options\.bias must be on the same device as logits \(cpu\), got a tensor on cuda:0$/);
  });
});

const gpu = cudaDevice();
describe.skipIf(!gpu)(`moe.route on CUDA matches the CPU twin${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  const versions = gpu ? kernelVersions()['moe.route']!.map((v) => v.name) : [];
  beforeAll(() => gpu && binding().setPoison(gpu.id, true));
  afterAll(() => gpu && binding().setPoison(gpu.id, false));

  it.each(versions.flatMap((v) => CASES.map((c) => [`${v} ${label(c)}`, v, c] as const)))('%s', async (_, version, c) => {
    const { logits, bias } = inputsOf(c);
    const want = await routeOn(device('cpu'), c, logits, bias);
    await runPerContract('moe.route', version, { experts: c.experts, topK: c.config.topK, sm: smOf(gpu!.info) }, async () => {
      const got = await routeOn(gpu!, c, logits, bias, version);
      expectIds(`${version} ${label(c)}`, got.ids, want.ids, c.config.topK);
      expectWeights(`${version} ${label(c)}`, got.weights, want.weights, 1e-6);
      expect(Array.from(got.counts)).toEqual(Array.from(want.counts));
    });
  });

  it.each(versions)('%s with NaN logits ranks them first, as the CPU', async (version) => {
    const c: Case = { experts: 64, tokens: 3, config: sigmoid(4, 8, 2), bias: false, inputs: 'random' };
    const logits = rng('nan').randnArray(3 * 64);
    logits[5] = NaN;
    logits[64 + 40] = NaN;
    logits[128 + 1] = NaN;
    logits[128 + 63] = NaN;
    const want = await routeOn(device('cpu'), c, logits, undefined);
    expect(want.ids[0]).toBe(5);
    const got = await routeOn(gpu!, c, logits, undefined, version);
    expect(Array.from(got.ids)).toEqual(Array.from(want.ids));
    expect(Array.from(got.counts)).toEqual(Array.from(want.counts));
  });

  // T = 4096 on DeepSeek-V3: a warp per token, each of its 256 experts an element.
  const bigWork = EMULATED_COST.element * 4096 * 256;
  const big = tooLargeToEmulate(gpu, bigWork);
  it.skipIf(big !== '').each(versions)(`%s on DeepSeek-V3 at T = 4096${big ? ` (${big})` : ''}`, async (version) => {
    const c: Case = { experts: 256, tokens: 4096, config: sigmoid(8, 8, 4, 2.5), bias: true, inputs: 'random' };
    const { logits, bias } = inputsOf(c);
    const want = await routeOn(device('cpu'), c, logits, bias);
    const got = await routeOn(gpu!, c, logits, bias, version);
    expectIds(version, got.ids, want.ids, 8);
    expectWeights(version, got.weights, want.weights, 1e-6);
    expect(Array.from(got.counts)).toEqual(Array.from(want.counts));
  });
});
