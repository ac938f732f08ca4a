// mla.decode: the absorbed form against the naive form of DeepSeek-V3's MLA
// (float64, same weights: checks the absorption math the API relies on), the
// CPU twin against a float64 oracle of the absorbed attention, every CUDA
// version against the CPU twin (or the emulated GPU); varlen, causal, zero
// lengths, NaN in unused slots, shuffled block tables, page sizes 16/32/64
// (and 48 on CUDA, 1 and 3 on the CPU), bf16 and e4m3 caches, plain bf16
// cache tensors; bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, type Impl, type Tensor, device, kernelVersions, mla } from '../../lib/index.js';
import { expectClose } from '../helpers/close.js';
import { EMULATED_COST, cudaDevice, cudaSkipReason, tooLargeToEmulate } from '../helpers/devices.js';
import {
  HEAD,
  LATENT,
  NOPE,
  ROPE,
  absorbedMla,
  bf16Codes,
  bf16Randn,
  cacheRow,
  decodeOracle,
  naiveMla,
  pagedLayout,
  slotOf,
} from '../helpers/mla_oracle.js';
import { rng } from '../helpers/rng.js';
import { describeUnverifiedEntry, expectedRefusal, runPerContract, smOf } from '../helpers/versions.js';

const cpu = device('cpu');
const gpu = cudaDevice();
const SCALE = 0.135234; // DeepSeek-V3: 192^-0.5 · mscale²

interface Case {
  batch: number;
  sq: number;
  sk: number;
  heads: number;
  causal: boolean;
  pageSize: number;
  /** 'tensor': a plain bf16 cache tensor; 'bf16' / 'e4m3': a KvCache filled by append. */
  source: 'tensor' | 'bf16' | 'e4m3';
  /** 'full': every sequence sk long; 'varlen': random lengths up to sk; 'zeros': some lengths 0. */
  lens: 'full' | 'varlen' | 'zeros';
}

function label(c: Case): string {
  return `B ${c.batch} Sq ${c.sq} Sk ${c.sk} H ${c.heads}${c.causal ? ' causal' : ''} page ${c.pageSize} ${c.source} ${c.lens}`;
}

function lengthsOf(c: Case): number[] {
  const r = rng(`${label(c)} lens`);
  return Array.from({ length: c.batch }, (_, b) => {
    if (c.lens === 'full' || b === 0) return c.sk;
    if (c.lens === 'zeros' && b % 2 === 1) return 0;
    return r.int(0, c.sk);
  });
}

/** The case's inputs on `dev`, and the decoded cache rows the oracle reads. */
interface Prepared {
  q: Tensor;
  kvCache: mla.KvCache | Tensor;
  blockTable: Tensor;
  seqLens: Tensor;
  lens: number[];
  qValues: Float32Array;
  rowOf: (b: number, t: number) => Float64Array;
  dispose(): void;
}

async function prepare(c: Case, dev: Device): Promise<Prepared> {
  const r = rng(label(c));
  const lens = lengthsOf(c);
  const layout = pagedLayout(r, lens, c.pageSize);
  const qValues = bf16Randn(r, c.batch * c.sq * c.heads * HEAD, 0.5);
  const maxLen = Math.max(1, ...lens);
  const latent = bf16Randn(r, c.batch * maxLen * LATENT, 0.5);
  const kRope = bf16Randn(r, c.batch * maxLen * ROPE, 0.5);
  const q = dev.tensor(bf16Codes(qValues), { shape: [c.batch, c.sq, c.heads, HEAD], dtype: 'bf16' });
  const blockTable = dev.tensor(layout.table, { shape: [c.batch, layout.maxPages] });
  const seqLens = dev.tensor(Int32Array.from(lens));
  let kvCache: mla.KvCache | Tensor;
  if (c.source === 'tensor') {
    // Unused slots NaN (0x7FC0), written slots the sequences' rows.
    const host = new Uint16Array(layout.blocks * c.pageSize * HEAD).fill(0x7fc0);
    const latentCodes = bf16Codes(latent);
    const ropeCodes = bf16Codes(kRope);
    lens.forEach((L, b) => {
      for (let t = 0; t < L; t++) {
        const s = slotOf(layout, b, t);
        host.set(latentCodes.subarray((b * maxLen + t) * LATENT, (b * maxLen + t + 1) * LATENT), s * HEAD);
        host.set(ropeCodes.subarray((b * maxLen + t) * ROPE, (b * maxLen + t + 1) * ROPE), s * HEAD + LATENT);
      }
    });
    kvCache = dev.tensor(host, { shape: [layout.blocks, c.pageSize, HEAD], dtype: 'bf16' });
  } else {
    // A poisoned cache (NaN everywhere) filled by append.
    kvCache = mla.createCache(dev, { blocks: layout.blocks, pageSize: c.pageSize, dtype: c.source });
    using lat = dev.tensor(bf16Codes(latent), { shape: [c.batch, maxLen, LATENT], dtype: 'bf16' });
    using rope = dev.tensor(bf16Codes(kRope), { shape: [c.batch, maxLen, ROPE], dtype: 'bf16' });
    kvCache.append({ latent: lat, kRope: rope, blockTable, positions: lens.map(() => 0), lengths: lens });
  }
  const bytes = c.source === 'tensor' ? undefined : await (kvCache as mla.KvCache).toTensor().bytes();
  const rowOf = (b: number, t: number): Float64Array => {
    if (bytes) return cacheRow(bytes, c.source as 'bf16' | 'e4m3', slotOf(layout, b, t));
    const row = new Float64Array(HEAD);
    for (let i = 0; i < LATENT; i++) row[i] = latent[(b * maxLen + t) * LATENT + i]!;
    for (let i = 0; i < ROPE; i++) row[LATENT + i] = kRope[(b * maxLen + t) * ROPE + i]!;
    return row;
  };
  return {
    q,
    kvCache,
    blockTable,
    seqLens,
    lens,
    qValues,
    rowOf,
    dispose() {
      q.dispose();
      kvCache.dispose();
      blockTable.dispose();
      seqLens.dispose();
    },
  };
}

async function run(c: Case, p: Prepared, impl: Impl): Promise<{ out: Float32Array; lse: Float32Array }> {
  using r = mla.decode({ q: p.q, kvCache: p.kvCache, blockTable: p.blockTable, seqLens: p.seqLens, softmaxScale: SCALE, causal: c.causal, impl });
  expect(r.out.shape).toEqual([c.batch, c.sq, c.heads, LATENT]);
  expect(r.lse.shape).toEqual([c.batch, c.heads, c.sq]);
  return { out: (await r.out.toArray()) as Float32Array, lse: (await r.lse.toArray()) as Float32Array };
}

// The shape grid (every B, Sq, Sk once against every other; heads and the
// other options rotate through it) and named edge cases.
const CPU_CASES: Case[] = [];
{
  let i = 0;
  for (const batch of [1, 2, 6]) {
    for (const sq of [1, 2, 4]) {
      for (const sk of [1, 20, 140]) {
        CPU_CASES.push({
          batch,
          sq,
          sk,
          heads: [1, 16, 63][i % 3]!,
          causal: i % 2 === 1,
          pageSize: [64, 16, 32][Math.floor(i / 3) % 3]!,
          source: (['tensor', 'bf16', 'e4m3'] as const)[Math.floor(i / 9) % 3]!,
          lens: (['varlen', 'full', 'zeros'] as const)[i % 3]!,
        });
        i++;
      }
    }
  }
  CPU_CASES.push(
    { batch: 2, sq: 1, sk: 300, heads: 128, causal: false, pageSize: 64, source: 'bf16', lens: 'varlen' },
    { batch: 3, sq: 2, sk: 33, heads: 16, causal: true, pageSize: 16, source: 'e4m3', lens: 'zeros' },
    { batch: 4, sq: 1, sk: 0, heads: 16, causal: false, pageSize: 64, source: 'tensor', lens: 'full' },
    { batch: 2, sq: 4, sk: 3, heads: 8, causal: true, pageSize: 32, source: 'tensor', lens: 'varlen' }, // Sk < Sq: early rows see nothing
    { batch: 3, sq: 2, sk: 20, heads: 4, causal: true, pageSize: 3, source: 'e4m3', lens: 'varlen' }, // any page size on the CPU
    { batch: 2, sq: 1, sk: 45, heads: 2, causal: false, pageSize: 1, source: 'tensor', lens: 'varlen' },
  );
}

// Kept small for the emulated GPU (its whole budget for this file is about a
// minute per profile); they still cover split counts above 1, empty splits,
// partial tiles and row groups, page sizes 16, 32, 48 and 64, and both
// cache formats.
const CUDA_CASES: Case[] = [
  { batch: 1, sq: 1, sk: 1, heads: 1, causal: false, pageSize: 16, source: 'tensor', lens: 'full' },
  { batch: 2, sq: 2, sk: 20, heads: 16, causal: true, pageSize: 32, source: 'bf16', lens: 'varlen' },
  { batch: 6, sq: 1, sk: 140, heads: 16, causal: false, pageSize: 64, source: 'tensor', lens: 'zeros' },
  { batch: 2, sq: 4, sk: 140, heads: 63, causal: true, pageSize: 16, source: 'bf16', lens: 'varlen' },
  { batch: 6, sq: 2, sk: 140, heads: 16, causal: true, pageSize: 64, source: 'e4m3', lens: 'varlen' },
  { batch: 1, sq: 1, sk: 140, heads: 128, causal: false, pageSize: 32, source: 'e4m3', lens: 'full' },
  { batch: 2, sq: 1, sk: 1000, heads: 16, causal: false, pageSize: 64, source: 'tensor', lens: 'varlen' },
  { batch: 3, sq: 2, sk: 0, heads: 4, causal: true, pageSize: 16, source: 'tensor', lens: 'full' },
  { batch: 2, sq: 4, sk: 3, heads: 8, causal: true, pageSize: 32, source: 'tensor', lens: 'varlen' },
  // 33 query rows (a partial second row group of v2) over an e4m3 cache; a page size that 32-key tiles straddle unevenly.
  { batch: 3, sq: 3, sk: 75, heads: 11, causal: true, pageSize: 16, source: 'e4m3', lens: 'zeros' },
  { batch: 2, sq: 1, sk: 200, heads: 8, causal: false, pageSize: 48, source: 'bf16', lens: 'varlen' },
  // Enough blocks (B · Sq·H / 16 >= 2 · 132) for one split per sequence, so a
  // split walks two pages and the online softmax rescales across them (v3:
  // one page per key tile); NaN in the unused slots of the last page.
  { batch: 33, sq: 2, sk: 128, heads: 64, causal: true, pageSize: 64, source: 'tensor', lens: 'varlen' },
];

/**
 * The emulated GPU's cost of a case under `version` ({@link EMULATED_COST}
 * units): v1's SIMT multiply-adds over 16-row groups and 8-key tiles, v2's
 * mma.sync multiply-adds over 32-row groups and 32-key tiles, v3's wgmma
 * multiply-adds over 64-row groups and 64-key pages (both math warpgroups'
 * scores, P · V).
 */
function decodeWork(c: Case, version: string): number {
  if (version === 'v3') {
    const pages = Math.ceil(c.sk / 64) + 1;
    return c.batch * Math.ceil((c.sq * c.heads) / 64) * pages * 64 * 64 * (2 * HEAD + LATENT) * EMULATED_COST.tensorCoreMac;
  }
  const [rows, keys, cost] = version === 'v1' ? [16, 8, EMULATED_COST.simtMac] : [32, 32, EMULATED_COST.tensorCoreMac];
  const groups = Math.ceil((c.sq * c.heads) / rows);
  return c.batch * groups * (Math.ceil(c.sk / keys) * keys + 64) * rows * (HEAD + LATENT) * cost;
}

describe('MLA math (float64 oracles)', () => {
  it('the absorbed form equals the naive form on the same weights', () => {
    const r = rng('mla absorbed vs naive');
    const heads = 3;
    const sk = 7;
    const randn = (n: number, sd: number): Float64Array => Float64Array.from({ length: n }, () => r.randn() * sd);
    const x = {
      heads,
      wkvB: randn(heads * 256 * LATENT, 0.05),
      latent: randn(sk * LATENT, 1),
      kRope: randn(sk * ROPE, 1),
      qNope: randn(heads * NOPE, 1),
      qRope: randn(heads * ROPE, 1),
      scale: SCALE,
    };
    const naive = naiveMla(x);
    const absorbed = absorbedMla(x);
    expectClose('out, absorbed vs naive', absorbed.out, naive.out, 1e-12);
    expectClose('lse, absorbed vs naive', absorbed.lse, naive.lse, 1e-12);
  });
});

describe('mla.decode on the CPU against the float64 oracle', () => {
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CPU_CASES.map((c) => [label(c), c] as const))('%s', async (name, c) => {
    const p = await prepare(c, cpu);
    try {
      const got = await run(c, p, 'cpu');
      const ref = decodeOracle(p.qValues, p.rowOf, p.lens, c.sq, c.heads, SCALE, c.causal);
      expectClose(`${name} out`, got.out, ref.out, 1e-2, { shape: [c.batch, c.sq, c.heads, LATENT] });
      expectClose(`${name} lse`, got.lse, ref.lse, 1e-6, { shape: [c.batch, c.heads, c.sq] });
    } finally {
      p.dispose();
    }
  });

  it('a sequence of length 0 gives out = 0 and lse = +inf; NaN past the end never leaks', async () => {
    const c: Case = { batch: 3, sq: 2, sk: 9, heads: 2, causal: false, pageSize: 16, source: 'bf16', lens: 'zeros' };
    const p = await prepare(c, cpu);
    try {
      const got = await run(c, p, 'cpu');
      expect(p.lens[1]).toBe(0);
      const row = c.sq * c.heads * LATENT;
      expect(Array.from(got.out.subarray(row, 2 * row)).every((v) => v === 0)).toBe(true);
      expect(Array.from(got.lse.subarray(c.heads * c.sq, 2 * c.heads * c.sq)).every((v) => v === Infinity)).toBe(true);
      expect(got.out.every((v) => Number.isFinite(v))).toBe(true);
    } finally {
      p.dispose();
    }
  });
});

describe.skipIf(!gpu)(`mla.decode CUDA versions against the CPU twin${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  beforeAll(() => {
    binding().setPoison('cpu', true);
    if (gpu) binding().setPoison(gpu.id, true);
  });
  afterAll(() => {
    binding().setPoison('cpu', false);
    if (gpu) binding().setPoison(gpu.id, false);
  });
  const versions = kernelVersions()['mla.decode'] ?? [];
  it('has a v1 and a v2', () => expect(versions.map((v) => v.name)).toEqual(expect.arrayContaining(['v1', 'v2'])));
  for (const v of versions) {
    it.each(CUDA_CASES.map((c) => [label(c), c] as const))(`${v.name}: %s`, async (name, c) => {
      const skip = tooLargeToEmulate(gpu, decodeWork(c, v.name));
      if (skip) return void console.log(`${v.name} ${name}: ${skip}`);
      const host = await prepare(c, cpu);
      const dev = await prepare(c, gpu!);
      try {
        const ref = await run(c, host, 'cpu');
        const call = { batch: c.batch, sq: c.sq, heads: c.heads, pageSize: c.pageSize, dtype: c.source === 'e4m3' ? 'e4m3' : 'bf16', sm: smOf(gpu!.info) } as const;
        const got = await runPerContract('mla.decode', v.name, call, () => run(c, dev, v.name as Impl));
        if (got === 'refused') return;
        expectClose(`${v.name} ${name} out`, got.out, ref.out, 1e-2, { shape: [c.batch, c.sq, c.heads, LATENT] });
        expectClose(`${v.name} ${name} lse`, got.lse, ref.lse, 1e-5, { shape: [c.batch, c.heads, c.sq] });
      } finally {
        host.dispose();
        dev.dispose();
      }
    });

    it(`${v.name}: never reads outside the cache for bad page ids and lengths (masked and clamped)`, async () => {
      // Page ids past the cache and negative, a length past the table, a
      // negative length; pages of 16 keys, or 64 where the version takes no other.
      const page = expectedRefusal('mla.decode', v.name, { batch: 4, sq: 1, heads: 2, pageSize: 16, dtype: 'bf16', sm: smOf(gpu!.info) }) ? 64 : 16;
      using q = gpu!.tensor(bf16Codes(bf16Randn(rng('bad q'), 4 * 2 * HEAD, 0.5)), { shape: [4, 1, 2, HEAD], dtype: 'bf16' });
      using cache = gpu!.tensor(bf16Codes(bf16Randn(rng('bad cache'), 2 * page * HEAD, 0.5)), { shape: [2, page, HEAD], dtype: 'bf16' });
      using table = gpu!.tensor(new Int32Array([0, 5, 1, -1, 1, 0, 0, 2147483647]), { shape: [4, 2] });
      using lens = gpu!.tensor(new Int32Array([page + 14, page + 4, 1000, -7]));
      const call = { batch: 4, sq: 1, heads: 2, pageSize: page, dtype: 'bf16', sm: smOf(gpu!.info) } as const;
      const got = await runPerContract('mla.decode', v.name, call, async () => {
        using r = mla.decode({ q, kvCache: cache, blockTable: table, seqLens: lens, softmaxScale: SCALE, impl: v.name as Impl });
        return { out: (await r.out.toArray()) as Float32Array, lse: (await r.lse.toArray()) as Float32Array };
      });
      if (got === 'refused') return;
      // The same as the CPU twin on what the kernel makes of them: keys on bad
      // pages masked (sequences 0 and 1 keep their first page), the long
      // length clamped to the table's two pages, the negative one to 0.
      using qc = q.to(cpu);
      using cc = cache.to(cpu);
      using tc = cpu.tensor(new Int32Array([0, 0, 1, 0, 1, 0, 0, 0]), { shape: [4, 2] });
      using lc = cpu.tensor(new Int32Array([page, page, 2 * page, 0]));
      using want = mla.decode({ q: qc, kvCache: cc, blockTable: tc, seqLens: lc, softmaxScale: SCALE });
      expectClose('bad pages out', got.out, (await want.out.toArray()) as Float32Array, 1e-2);
      expectClose('bad pages lse', got.lse, (await want.lse.toArray()) as Float32Array, 1e-5);
    });
  }
});

describeUnverifiedEntry('mla.decode', 'v1', 80, 0);
describeUnverifiedEntry('mla.decode', 'v2', 80, 0);
describeUnverifiedEntry('mla.decode', 'v3', 90, 90);

describe('mla.decode rejects bad input', () => {
  const q = cpu.tensor(bf16Codes(new Float32Array(2 * 1 * 4 * HEAD).fill(0.5)), { shape: [2, 1, 4, HEAD], dtype: 'bf16' });
  const cache = cpu.tensor(bf16Codes(new Float32Array(2 * 16 * HEAD).fill(0.25)), { shape: [2, 16, HEAD], dtype: 'bf16' });
  const table = cpu.tensor(new Int32Array([0, 1, 1, 0]), { shape: [2, 2] });
  const lens = cpu.tensor(new Int32Array([5, 32]));
  const base = { q, kvCache: cache, blockTable: table, seqLens: lens, softmaxScale: SCALE };
  afterAll(() => [q, cache, table, lens].forEach((t) => t.dispose()));

  it('wrong head sizes, dtypes, shapes and scales throw at the call, naming the argument', () => {
    using q512 = cpu.tensor(new Uint16Array(2 * 4 * 512), { shape: [2, 1, 4, 512], dtype: 'bf16' });
    expect(() => mla.decode({ ...base, q: q512 })).toThrow(/^mla\.decode: q\.shape must be \[B, Sq, H, 576\]/);
    using qf32 = cpu.tensor(new Float32Array(2 * 4 * HEAD), { shape: [2, 1, 4, HEAD] });
    expect(() => mla.decode({ ...base, q: qf32 })).toThrow(/^mla\.decode: q\.dtype must be 'bf16', got 'f32'/);
    using c512 = cpu.tensor(new Uint16Array(2 * 16 * 512), { shape: [2, 16, 512], dtype: 'bf16' });
    expect(() => mla.decode({ ...base, kvCache: c512 })).toThrow(/^mla\.decode: kvCache must be a bf16 \[blocks, pageSize, 576\] cache/);
    using cf32 = cpu.tensor(new Float32Array(2 * 16 * HEAD), { shape: [2, 16, HEAD] });
    expect(() => mla.decode({ ...base, kvCache: cf32 })).toThrow(/^mla\.decode: kvCache must be/);
    using tf32 = cpu.tensor(new Float32Array(4), { shape: [2, 2] });
    expect(() => mla.decode({ ...base, blockTable: tf32 })).toThrow(/^mla\.decode: blockTable\.dtype must be 'i32'/);
    using t3 = cpu.tensor(new Int32Array(6), { shape: [3, 2] });
    expect(() => mla.decode({ ...base, blockTable: t3 })).toThrow(/^mla\.decode: blockTable\.shape must be \[2, maxPages\]/);
    using l3 = cpu.tensor(new Int32Array(3));
    expect(() => mla.decode({ ...base, seqLens: l3 })).toThrow(/^mla\.decode: seqLens\.shape must be \[2\]/);
    expect(() => mla.decode({ ...base, softmaxScale: 0 })).toThrow(/^mla\.decode: softmaxScale must be a finite number > 0, got 0/);
    expect(() => mla.decode({ ...base, softmaxScale: NaN })).toThrow(/^mla\.decode: softmaxScale must be a finite number > 0, got NaN/);
    expect(() => mla.decode({ ...base, kvCache: 'cache' as never })).toThrow(/^mla\.decode: kvCache must be a KvCache/);
    expect(() => mla.decode({ ...base, causal: 1 as never })).toThrow(/^mla\.decode: causal must be a boolean/);
    expect(() => mla.decode({ ...base, scale: 1 } as never)).toThrow(/unknown key 'scale'/);
    expect(() => mla.decode(undefined as never)).toThrow(/^mla\.decode: args must be an object/);
  });

  it('a disposed cache throws DisposedError naming kvCache', () => {
    const c = mla.createCache(cpu, { blocks: 1, pageSize: 16 });
    c.dispose();
    expect(() => mla.decode({ ...base, kvCache: c })).toThrow(/^mla\.decode: kvCache was disposed/);
  });

  it('on the CPU, lengths past the table, negative lengths and page ids past the cache fail the queued work, naming them', async () => {
    const cases: [Int32Array, Int32Array, RegExp][] = [
      [new Int32Array([5, 33]), new Int32Array([0, 1, 1, 0]), /mla\.decode: seqLens\[1\] must be in \[0, 32\].*got 33/],
      [new Int32Array([-1, 3]), new Int32Array([0, 1, 1, 0]), /mla\.decode: seqLens\[0\] must be in \[0, 32\].*got -1/],
      [new Int32Array([5, 20]), new Int32Array([0, 1, 1, 2]), /mla\.decode: blockTable\[1, 1\] must be a page id in \[0, 2\), got 2/],
      [new Int32Array([5, 3]), new Int32Array([-4, 1, 1, 0]), /mla\.decode: blockTable\[0, 0\] must be a page id in \[0, 2\), got -4/],
    ];
    for (const [l, t, message] of cases) {
      using seqLens = cpu.tensor(l);
      using blockTable = cpu.tensor(t, { shape: [2, 2] });
      using r = mla.decode({ ...base, seqLens, blockTable });
      await expect(r.out.toArray()).rejects.toThrow(message);
      await cpu.synchronize().catch(() => undefined);
    }
    // Entries past a sequence's pages are never looked at.
    using blockTable = cpu.tensor(new Int32Array([0, -9, 1, 99]), { shape: [2, 2] });
    using seqLens = cpu.tensor(new Int32Array([16, 3]));
    using r = mla.decode({ ...base, seqLens, blockTable });
    expect(Array.from((await r.lse.toArray()) as Float32Array).every((x) => Number.isFinite(x))).toBe(true);
  });
});
