// The paged latent KV cache (mla.createCache) and its in-place append: the
// CPU twin against rows written by hand (bf16: the rows themselves; e4m3:
// quantize's 1x128 oracle, bit for bit, rope as bf16), untouched slots kept,
// appends continuing a sequence across pages, shuffled tables; every CUDA
// version of the append against the CPU bit for bit; the in-place order and
// failure rules; bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, type Impl, device, kernelVersions, mla } from '../../lib/index.js';
import { cudaDevice, cudaSkipReason } from '../helpers/devices.js';
import { FP8_ROW, HEAD, LATENT, ROPE, bf16Codes, bf16Randn, pagedLayout, slotOf } from '../helpers/mla_oracle.js';
import { quantizeOracle } from '../helpers/quant_oracle.js';
import { rng, seedNote } from '../helpers/rng.js';
import { describeUnverifiedEntry, runPerContract, smOf } from '../helpers/versions.js';

const cpu = device('cpu');
const gpu = cudaDevice();

interface AppendCase {
  batch: number;
  /** Tokens per append call, and how many calls continue the sequences. */
  tokens: number;
  calls: number;
  pageSize: number;
  dtype: mla.CacheDType;
}

const CASES: AppendCase[] = [
  { batch: 1, tokens: 1, calls: 1, pageSize: 16, dtype: 'bf16' },
  { batch: 3, tokens: 7, calls: 3, pageSize: 16, dtype: 'bf16' },
  { batch: 2, tokens: 40, calls: 2, pageSize: 32, dtype: 'e4m3' },
  { batch: 4, tokens: 1, calls: 5, pageSize: 64, dtype: 'e4m3' },
  { batch: 2, tokens: 70, calls: 1, pageSize: 64, dtype: 'bf16' },
  { batch: 3, tokens: 5, calls: 2, pageSize: 3, dtype: 'e4m3' },
];

function label(c: AppendCase): string {
  return `B ${c.batch} S ${c.tokens} x${c.calls} page ${c.pageSize} ${c.dtype}`;
}

/** The expected bytes of one row (bf16 codes, or the e4m3 record) for latent and rope values. */
function expectedRow(dtype: mla.CacheDType, latent: Float32Array, rope: Float32Array): Uint8Array {
  if (dtype === 'bf16') {
    const codes = new Uint16Array(HEAD);
    codes.set(bf16Codes(latent), 0);
    codes.set(bf16Codes(rope), LATENT);
    return new Uint8Array(codes.buffer);
  }
  const q = quantizeOracle(latent, [1, LATENT], '1x128', 'e4m3');
  const out = new Uint8Array(FP8_ROW);
  out.set(q.codes, 0);
  out.set(new Uint8Array(q.scales.buffer), LATENT);
  out.set(new Uint8Array(bf16Codes(rope).buffer), 528);
  return out;
}

/**
 * Appends `calls` rounds of `tokens` tokens per sequence (ragged lengths in
 * the last round) on `dev`; returns the cache bytes and the expected bytes
 * (untouched rows: the poison, 0xFF).
 */
async function appendCase(c: AppendCase, dev: Device, impl: Impl): Promise<{ got: Uint8Array; want: Uint8Array }> {
  const r = rng(label(c));
  const lastLens = Array.from({ length: c.batch }, (_, b) => (b === 0 ? c.tokens : r.int(0, c.tokens)));
  const total = lastLens.map((l) => (c.calls - 1) * c.tokens + l);
  const layout = pagedLayout(r, total, c.pageSize);
  const rowBytes = c.dtype === 'bf16' ? HEAD * 2 : FP8_ROW;
  const want = new Uint8Array(layout.blocks * c.pageSize * rowBytes).fill(0xff);
  using cache = mla.createCache(dev, { blocks: layout.blocks, pageSize: c.pageSize, dtype: c.dtype });
  using table = dev.tensor(layout.table, { shape: [c.batch, layout.maxPages] });
  for (let call = 0; call < c.calls; call++) {
    const latent = bf16Randn(r, c.batch * c.tokens * LATENT, 2);
    const rope = bf16Randn(r, c.batch * c.tokens * ROPE, 2);
    const lengths = call === c.calls - 1 ? lastLens : lastLens.map(() => c.tokens);
    using lat = dev.tensor(bf16Codes(latent), { shape: [c.batch, c.tokens, LATENT], dtype: 'bf16' });
    using kr = dev.tensor(bf16Codes(rope), { shape: [c.batch, c.tokens, ROPE], dtype: 'bf16' });
    cache.append({ latent: lat, kRope: kr, blockTable: table, positions: lastLens.map(() => call * c.tokens), lengths, impl });
    for (let b = 0; b < c.batch; b++) {
      for (let s = 0; s < lengths[b]!; s++) {
        const i = b * c.tokens + s;
        const row = expectedRow(c.dtype, latent.subarray(i * LATENT, (i + 1) * LATENT), rope.subarray(i * ROPE, (i + 1) * ROPE));
        want.set(row, slotOf(layout, b, call * c.tokens + s) * rowBytes);
      }
    }
  }
  using storage = cache.toTensor();
  expect(storage.shape).toEqual([layout.blocks, c.pageSize, c.dtype === 'bf16' ? HEAD : FP8_ROW]);
  return { got: await storage.bytes(), want };
}

function expectBytes(name: string, got: Uint8Array, want: Uint8Array, rowBytes: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) expect.fail(`${name} (${seedNote()}): row ${Math.floor(i / rowBytes)} byte ${i % rowBytes}: got ${got[i]}, want ${want[i]}`);
  }
}

describe('mla.createCache', () => {
  it('exposes its geometry and format, and disposes idempotently', () => {
    const c = mla.createCache(cpu, { blocks: 3, pageSize: 16, dtype: 'e4m3' });
    expect([c.blocks, c.pageSize, c.dtype, c.device.id, c.disposed]).toEqual([3, 16, 'e4m3', 'cpu', false]);
    using t = c.toTensor();
    expect([t.dtype, t.shape]).toEqual(['u8', [3, 16, 656]]);
    c.dispose();
    c.dispose();
    expect(c.disposed).toBe(true);
    expect(() => c.toTensor()).toThrow(/was disposed/);
    using d = mla.createCache('cpu', { blocks: 2, pageSize: 64 });
    expect(d.dtype).toBe('bf16');
  });

  it('rejects bad options, naming them', () => {
    expect(() => mla.createCache(cpu, { blocks: 0, pageSize: 16 })).toThrow(/^mla\.createCache: options\.blocks must be/);
    expect(() => mla.createCache(cpu, { blocks: 1, pageSize: 5000 })).toThrow(/^mla\.createCache: options\.pageSize must be/);
    expect(() => mla.createCache(cpu, { blocks: 1, pageSize: 16, dtype: 'f32' as never })).toThrow(/^mla\.createCache: options\.dtype must be one of 'bf16', 'e4m3'/);
    expect(() => mla.createCache(cpu, { blocks: 1, pageSize: 16, page: 3 } as never)).toThrow(/unknown option 'page'/);
    expect(() => mla.createCache('tpu' as never, { blocks: 1, pageSize: 16 })).toThrow(/^mla\.createCache: device must be/);
    expect(() => mla.createCache(cpu, undefined as never)).toThrow(/^mla\.createCache: options must be an object/);
  });
});

describe('KvCache.append on the CPU', () => {
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (name, c) => {
    const { got, want } = await appendCase(c, cpu, 'cpu');
    expectBytes(name, got, want, c.dtype === 'bf16' ? HEAD * 2 : FP8_ROW);
  });

  it('work queued before an append sees the old rows, work queued after it the new', async () => {
    using cache = mla.createCache(cpu, { blocks: 1, pageSize: 16 });
    using table = cpu.tensor(new Int32Array([0]), { shape: [1, 1] });
    const fill = (v: number): Uint16Array => bf16Codes(new Float32Array(LATENT).fill(v));
    using a = cpu.tensor(fill(1), { shape: [1, 1, LATENT], dtype: 'bf16' });
    using b = cpu.tensor(fill(2), { shape: [1, 1, LATENT], dtype: 'bf16' });
    using rope = cpu.tensor(new Uint16Array(ROPE), { shape: [1, 1, ROPE], dtype: 'bf16' });
    cache.append({ latent: a, kRope: rope, blockTable: table, positions: [0] });
    using before = cache.toTensor();
    cache.append({ latent: b, kRope: rope, blockTable: table, positions: [0] });
    using after = cache.toTensor();
    expect(((await before.toArray()) as Float32Array)[0]).toBe(1);
    expect(((await after.toArray()) as Float32Array)[0]).toBe(2);
  });

  it('a page id outside the cache fails the append and marks the cache failed', async () => {
    using cache = mla.createCache(cpu, { blocks: 2, pageSize: 16 });
    using table = cpu.tensor(new Int32Array([0, 7]), { shape: [1, 2] });
    using lat = cpu.tensor(new Uint16Array(20 * LATENT), { shape: [1, 20, LATENT], dtype: 'bf16' });
    using rope = cpu.tensor(new Uint16Array(20 * ROPE), { shape: [1, 20, ROPE], dtype: 'bf16' });
    cache.append({ latent: lat, kRope: rope, blockTable: table, positions: [0] });
    using storage = cache.toTensor();
    await expect(storage.bytes()).rejects.toThrow(/mla\.append: blockTable\[0, 1\] must be a page id in \[0, 2\), got 7/);
    await cpu.synchronize().catch(() => undefined);
  });

  it('rejects bad input at the call, naming the argument', () => {
    using cache = mla.createCache(cpu, { blocks: 2, pageSize: 16 });
    using table = cpu.tensor(new Int32Array([0, 1]), { shape: [1, 2] });
    using lat = cpu.tensor(new Uint16Array(4 * LATENT), { shape: [1, 4, LATENT], dtype: 'bf16' });
    using rope = cpu.tensor(new Uint16Array(4 * ROPE), { shape: [1, 4, ROPE], dtype: 'bf16' });
    const base = { latent: lat, kRope: rope, blockTable: table, positions: [0] };
    // Past the sequence's pages: 2 pages of 16 hold positions 0..31.
    expect(() => cache.append({ ...base, positions: [29] })).toThrow(/^mla\.append: positions\[0\] must be at most 28 .*got 29/);
    expect(() => cache.append({ ...base, positions: [30], lengths: [2] })).not.toThrow();
    expect(() => cache.append({ ...base, positions: [31], lengths: [2] })).toThrow(/^mla\.append: positions\[0\] must be at most 30/);
    expect(() => cache.append({ ...base, positions: [-1] })).toThrow(/^mla\.append: positions\[0\] must be/);
    expect(() => cache.append({ ...base, positions: [0, 0] })).toThrow(/^mla\.append: positions\.length must be 1/);
    expect(() => cache.append({ ...base, positions: [0.5] })).toThrow(/^mla\.append: positions\[0\] must be an integer/);
    expect(() => cache.append({ ...base, lengths: [5] })).toThrow(/^mla\.append: lengths\[0\] must be/);
    using lat576 = cpu.tensor(new Uint16Array(4 * HEAD), { shape: [1, 4, HEAD], dtype: 'bf16' });
    expect(() => cache.append({ ...base, latent: lat576 })).toThrow(/^mla\.append: latent\.shape must be \[B, S, 512\]/);
    using latF = cpu.tensor(new Float32Array(4 * LATENT), { shape: [1, 4, LATENT] });
    expect(() => cache.append({ ...base, latent: latF })).toThrow(/^mla\.append: latent\.dtype must be 'bf16'/);
    using rope32 = cpu.tensor(new Uint16Array(4 * 32), { shape: [1, 4, 32], dtype: 'bf16' });
    expect(() => cache.append({ ...base, kRope: rope32 })).toThrow(/^mla\.append: kRope\.shape must be \[1, 4, 64\]/);
    using table2 = cpu.tensor(new Int32Array(4), { shape: [2, 2] });
    expect(() => cache.append({ ...base, blockTable: table2 })).toThrow(/^mla\.append: blockTable\.shape must be \[1, maxPages\]/);
    using tableF = cpu.tensor(new Float32Array(2), { shape: [1, 2] });
    expect(() => cache.append({ ...base, blockTable: tableF })).toThrow(/^mla\.append: blockTable\.dtype must be 'i32'/);
    expect(() => cache.append(undefined as never)).toThrow(/^mla\.append: args must be an object/);
    expect(() => cache.append({ ...base, position: [0] } as never)).toThrow(/unknown key 'position'/);
    expect(() => cache.append({ ...base, impl: 'v1' })).toThrow(/^mla\.append: options\.impl must be 'auto' or 'cpu'/);
    cache.dispose();
    expect(() => cache.append(base)).toThrow(/^mla\.append: cache was disposed/);
  });
});

describeUnverifiedEntry('mla.append', 'v1', 80, 0);

describe.skipIf(!gpu)(`mla.append (KvCache.append) CUDA versions against the CPU twin${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  beforeAll(() => {
    binding().setPoison('cpu', true);
    if (gpu) binding().setPoison(gpu.id, true);
  });
  afterAll(() => {
    binding().setPoison('cpu', false);
    if (gpu) binding().setPoison(gpu.id, false);
  });
  const versions = kernelVersions()['mla.append'] ?? [];
  it('has a v1', () => expect(versions.map((v) => v.name)).toContain('v1'));
  for (const v of versions) {
    it.each(CASES.map((c) => [label(c), c] as const))(`${v.name}: %s, bit for bit`, async (name, c) => {
      const call = { batch: c.batch, tokens: c.tokens, pageSize: c.pageSize, dtype: c.dtype, sm: smOf(gpu!.info) };
      const result = await runPerContract('mla.append', v.name, call, () => appendCase(c, gpu!, v.name as Impl));
      if (result === 'refused') return;
      const { got, want } = result;
      expectBytes(`${v.name} ${name}`, got, want, c.dtype === 'bf16' ? HEAD * 2 : FP8_ROW);
    });

    it(`${v.name}: skips tokens on page ids outside the cache, writing nothing outside it`, async () => {
      using cache = mla.createCache(gpu!, { blocks: 2, pageSize: 16, dtype: 'e4m3' });
      using table = gpu!.tensor(new Int32Array([1, 7, -3, 0]), { shape: [2, 2] });
      const latent = bf16Randn(rng('skip'), 2 * 20 * LATENT, 1);
      using lat = gpu!.tensor(bf16Codes(latent), { shape: [2, 20, LATENT], dtype: 'bf16' });
      using rope = gpu!.tensor(new Uint16Array(2 * 20 * ROPE), { shape: [2, 20, ROPE], dtype: 'bf16' });
      cache.append({ latent: lat, kRope: rope, blockTable: table, positions: [0, 12], impl: v.name as Impl });
      using storage = cache.toTensor();
      const bytes = await storage.bytes();
      // Sequence 0: positions 0..15 on page 1, 16..19 skipped; sequence 1: positions 12..15 skipped, 16..31 on page 0.
      const row = (i: number): Uint8Array => expectedRow('e4m3', latent.subarray(i * LATENT, (i + 1) * LATENT), new Float32Array(ROPE));
      for (let s = 0; s < 16; s++) expect(bytes.subarray((16 + s) * FP8_ROW, (17 + s) * FP8_ROW)).toEqual(row(s));
      for (let s = 4; s < 20; s++) expect(bytes.subarray((s - 4) * FP8_ROW, (s - 3) * FP8_ROW)).toEqual(row(20 + s));
    });
  }
});
