// mla.absorbQuery and mla.projectOutput: the CPU twin against float64
// oracles of the per-head products with wkv_b's W_UK and W_UV halves
// (tests/helpers/mla_prefill_oracle.ts), for ragged T and H in {1, 3, 16};
// what they compose to (the absorbed attention = the naive one) is in
// tests/mla/prefill.test.ts; every CUDA version against the twin where a
// GPU is present (or emulated), with NaN-poisoned outputs; bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, type Tensor, device, kernelVersions, mla } from '../../lib/index.js';
import { expectClose } from '../helpers/close.js';
import { cudaDevice, cudaSkipReason, tooLargeToEmulate } from '../helpers/devices.js';
import { MLA, absorbQueryOracle, projectOutputOracle } from '../helpers/mla_prefill_oracle.js';
import { rng } from '../helpers/rng.js';
import { runPerContract, smOf } from '../helpers/versions.js';

type Op = 'absorbQuery' | 'projectOutput';

interface Case {
  op: Op;
  tokens: number;
  heads: number;
}

const label = (c: Case): string => `${c.op} T ${c.tokens} H ${c.heads}`;
const kOf = (op: Op): number => (op === 'absorbQuery' ? MLA.nope : MLA.latent);
const nOf = (op: Op): number => (op === 'absorbQuery' ? MLA.latent : MLA.v);

const CASES: Case[] = [];
for (const op of ['absorbQuery', 'projectOutput'] as const) {
  for (const [tokens, heads] of [[1, 1], [63, 3], [65, 1], [17, 16], [0, 2], [5, 0]] as const) CASES.push({ op, tokens, heads });
}

function inputsOn(dev: Device, c: Case): { x: Tensor; wkvB: Tensor } {
  const r = rng(`mla.absorb ${label(c)}`);
  const K = kOf(c.op);
  const x = dev.tensor(r.randnArray(c.tokens * c.heads * K), { shape: [c.tokens, c.heads, K], dtype: 'bf16' });
  const wkvB = dev.tensor(r.randnArray(c.heads * MLA.wkvRows * MLA.latent, 1 / Math.sqrt(MLA.latent)), { shape: [c.heads * MLA.wkvRows, MLA.latent], dtype: 'bf16' });
  return { x, wkvB };
}

function call(c: Case, x: Tensor, wkvB: Tensor, impl = 'auto'): Tensor {
  return c.op === 'absorbQuery' ? mla.absorbQuery(x, wkvB, { impl: impl as 'auto' }) : mla.projectOutput(x, wkvB, { impl: impl as 'auto' });
}

async function runOn(dev: Device, c: Case, impl = 'auto'): Promise<Float32Array> {
  const { x, wkvB } = inputsOn(dev, c);
  try {
    using out = call(c, x, wkvB, impl);
    expect(out.shape).toEqual([c.tokens, c.heads, nOf(c.op)]);
    expect(out.dtype).toBe('bf16');
    return (await out.toArray()) as Float32Array;
  } finally {
    x.dispose();
    wkvB.dispose();
  }
}

// bf16 output: one rounding (2^-9 relative per element); the sums are exact enough in f32 and double.
const TOL = 1e-2;

describe('mla.absorbQuery / mla.projectOutput on the CPU match the float64 oracles', () => {
  const cpu = device('cpu');
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const { x, wkvB } = inputsOn(cpu, c);
    try {
      const [xs, ws] = await Promise.all([x.toArray(), wkvB.toArray()]);
      const want = c.op === 'absorbQuery' ? absorbQueryOracle(xs, ws, c.heads) : projectOutputOracle(xs, ws, c.heads);
      using out = call(c, x, wkvB);
      expectClose(label(c), await out.toArray(), want, TOL, { shape: [c.tokens, c.heads, nOf(c.op)] });
    } finally {
      x.dispose();
      wkvB.dispose();
    }
  });

  it('a head reads only its own rows of wkv_b: W_UK for absorbQuery, W_UV for projectOutput', async () => {
    // H = 2, one token; wkv_b is 1 at one place per head so the outputs pick single elements.
    const w = new Float32Array(2 * MLA.wkvRows * MLA.latent);
    w[(0 * MLA.wkvRows + 3) * MLA.latent + 7] = 1; // head 0, W_UK row d = 3, column c = 7
    w[(1 * MLA.wkvRows + 5) * MLA.latent + 9] = 2; // head 1, W_UK row d = 5, column c = 9
    w[(0 * MLA.wkvRows + MLA.nope + 2) * MLA.latent + 11] = 4; // head 0, W_UV row d = 2, column c = 11
    using wkvB = cpu.tensor(w, { shape: [2 * MLA.wkvRows, MLA.latent], dtype: 'bf16' });
    const qn = new Float32Array(2 * MLA.nope);
    qn[3] = 1.5; // head 0, d = 3
    qn[MLA.nope + 5] = -3; // head 1, d = 5
    using q = cpu.tensor(qn, { shape: [1, 2, MLA.nope], dtype: 'bf16' });
    using qLatent = mla.absorbQuery(q, wkvB);
    const a = await qLatent.toArray();
    expect(a[7]).toBe(1.5);
    expect(a[MLA.latent + 9]).toBe(-6);
    expect(a.reduce((s, v) => s + Math.abs(v), 0)).toBe(7.5);
    const o = new Float32Array(2 * MLA.latent);
    o[11] = 0.5; // head 0, c = 11
    o[MLA.latent + 11] = 8; // head 1, c = 11: head 1's W_UV is zero
    using ol = cpu.tensor(o, { shape: [1, 2, MLA.latent], dtype: 'bf16' });
    using out = mla.projectOutput(ol, wkvB);
    const p = await out.toArray();
    expect(p[2]).toBe(2);
    expect(p.reduce((s, v) => s + Math.abs(v), 0)).toBe(2);
  });
});

describe('mla.absorbQuery / mla.projectOutput reject bad input with the argument named', () => {
  const cpu = device('cpu');
  it('dtypes, shapes and options', () => {
    using q = cpu.zeros([4, 2, 128], 'bf16');
    using o = cpu.zeros([4, 2, 512], 'bf16');
    using w = cpu.zeros([512, 512], 'bf16');
    using q192 = cpu.zeros([4, 2, 192], 'bf16');
    using qF = cpu.zeros([4, 2, 128], 'f32');
    using q2d = cpu.zeros([8, 128], 'bf16');
    using w3 = cpu.zeros([768, 512], 'bf16');
    using wF = cpu.zeros([512, 512], 'f16');
    using w576 = cpu.zeros([512, 576], 'bf16');
    expect(() => mla.absorbQuery(q192, w)).toThrow('mla.absorbQuery: qNope.shape must be [T, H, 128], got [4, 2, 192]');
    expect(() => mla.absorbQuery(o, w)).toThrow('mla.absorbQuery: qNope.shape must be [T, H, 128], got [4, 2, 512]');
    expect(() => mla.absorbQuery(qF, w)).toThrow("mla.absorbQuery: qNope.dtype must be 'bf16', got 'f32'");
    expect(() => mla.absorbQuery(q2d, w)).toThrow('mla.absorbQuery: qNope.shape must be of rank 3, got [8, 128]');
    expect(() => mla.absorbQuery(q, w3)).toThrow('mla.absorbQuery: wkvB.shape must be [512, 512] ([H * 256, 512] for H = 2 heads of qNope), got [768, 512]');
    expect(() => mla.absorbQuery(q, wF)).toThrow("mla.absorbQuery: wkvB.dtype must be 'bf16', got 'f16'");
    expect(() => mla.absorbQuery(q, w576)).toThrow('mla.absorbQuery: wkvB.shape must be [512, 512]');
    expect(() => mla.projectOutput(q, w)).toThrow('mla.projectOutput: o.shape must be [T, H, 512], got [4, 2, 128]');
    expect(() => mla.projectOutput(o, w3)).toThrow('mla.projectOutput: wkvB.shape must be [512, 512] ([H * 256, 512] for H = 2 heads of o), got [768, 512]');
    expect(() => mla.projectOutput(o, [1] as never)).toThrow('mla.projectOutput: wkvB must be a Tensor');
    expect(() => mla.projectOutput(o, w, { impl: 'v1' })).toThrow("mla.projectOutput: options.impl must be 'auto' or 'cpu' for tensors on the CPU, got 'v1'");
    expect(() => mla.absorbQuery(q, w, { imp: 'cpu' } as never)).toThrow("mla.absorbQuery: unknown option 'imp' (did you mean 'impl'?)");
    expect(() => mla.absorbQuery(q, w).dispose()).not.toThrow();
    expect(() => mla.projectOutput(o, w, null as never).dispose()).not.toThrow();
  });
});

const gpu = cudaDevice();
// DeepSeek-V3: 128 heads; 512 tokens is left to real GPUs.
const work = (c: Case): number => Math.ceil(c.tokens / 64) * 64 * c.heads * MLA.nope * MLA.latent;
for (const op of ['absorbQuery', 'projectOutput'] as const) {
  describe.skipIf(!gpu)(`mla.${op} on CUDA matches the CPU twin${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
    const versions = gpu ? kernelVersions()[`mla.${op}`]!.map((v) => v.name) : [];
    beforeAll(() => gpu && binding().setPoison(gpu.id, true));
    afterAll(() => gpu && binding().setPoison(gpu.id, false));
    const cases: Case[] = [...CASES.filter((c) => c.op === op), { op, tokens: 3, heads: 128 }, { op, tokens: 512, heads: 128 }];
    const rows = cases.flatMap((c) => versions.map((v) => [`${v} ${label(c)}${tooLargeToEmulate(gpu, work(c)) ? ` (${tooLargeToEmulate(gpu, work(c))})` : ''}`, v, c] as const));
    it.each(rows)('%s', async (_, version, c) => {
      if (tooLargeToEmulate(gpu, work(c))) return;
      const want = await runOn(device('cpu'), c);
      await runPerContract(`mla.${op}`, version, { tokens: c.tokens, heads: c.heads, sm: smOf(gpu!.info) }, async () => {
        expectClose(`${version} ${label(c)}`, await runOn(gpu!, c, version), want, TOL, { shape: [c.tokens, c.heads, nOf(c.op)] });
      });
    });
  });
}
