// moe.permute: the CPU twin against an oracle written from the layout's
// definition (every pick once, aligned and marked segments, stable order,
// the inverse), every CUDA version against the twin bit for bit where a GPU
// is present (or emulated), ids from moe.route, ids out of range, bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, device, kernelVersions, moe } from '../../lib/index.js';
import { EMULATED_COST, cudaDevice, cudaSkipReason, tooLargeToEmulate } from '../helpers/devices.js';
import { rng } from '../helpers/rng.js';
import { runPerContract, smOf } from '../helpers/versions.js';

interface Case {
  tokens: number;
  topK: number;
  experts: number;
  align: number;
  ids: 'distinct' | 'random' | 'one-expert' | 'skewed' | 'out-of-range';
}

const CASES: Case[] = [];
for (const align of [1, 4, 128]) {
  for (const [tokens, topK, experts] of <[number, number, number][]>[[0, 8, 256], [1, 8, 256], [1, 1, 1], [3, 2, 4], [16, 8, 256], [37, 6, 64], [256, 8, 256], [100, 16, 512], [64, 16, 16], [5, 3, 512]]) {
    CASES.push({ tokens, topK, experts, align, ids: 'distinct' });
  }
  CASES.push({ tokens: 300, topK: 4, experts: 8, align, ids: 'random' });
  CASES.push({ tokens: 200, topK: 1, experts: 64, align, ids: 'one-expert' });
  CASES.push({ tokens: 129, topK: 8, experts: 256, align, ids: 'skewed' });
  CASES.push({ tokens: 40, topK: 5, experts: 32, align, ids: 'out-of-range' });
}
CASES.push({ tokens: 70, topK: 3, experts: 20, align: 1024, ids: 'distinct' }, { tokens: 513, topK: 2, experts: 3, align: 2, ids: 'random' });

function label(c: Case): string {
  return `T ${c.tokens} K ${c.topK} E ${c.experts} align ${c.align} ${c.ids} ids`;
}

function idsOf(c: Case): Int32Array {
  const r = rng(label(c));
  const ids = new Int32Array(c.tokens * c.topK);
  for (let t = 0; t < c.tokens; t++) {
    const used = new Set<number>();
    for (let k = 0; k < c.topK; k++) {
      let e: number;
      switch (c.ids) {
        case 'distinct':
          do e = r.int(0, c.experts - 1);
          while (used.has(e) && used.size < c.experts);
          used.add(e);
          break;
        case 'random':
          e = r.int(0, c.experts - 1);
          break;
        case 'one-expert':
          e = c.experts - 1;
          break;
        case 'skewed':
          // Most picks on a few experts, the rest empty: segments of 0, 1 and many rows.
          e = r.int(0, 3) === 0 ? r.int(0, c.experts - 1) : (k * 7) % 5;
          break;
        case 'out-of-range':
          e = [-1, -2147483648, c.experts, c.experts + 5, 2147483647, r.int(0, c.experts - 1), r.int(0, c.experts - 1)][r.int(0, 6)]!;
          break;
      }
      ids[t * c.topK + k] = e;
    }
  }
  return ids;
}

function worstRows(tokens: number, topK: number, experts: number, align: number): number {
  const picks = tokens * topK;
  return picks + Math.min(experts, picks) * (align - 1);
}

interface Out {
  rowIds: Int32Array;
  offsets: Int32Array;
  counts: Int32Array;
  inverse: Int32Array;
}

/** The layout from its definition, with plain arrays. */
function oracle(ids: Int32Array, experts: number, align: number, rows: number): Out {
  const perExpert: number[][] = Array.from({ length: experts }, () => []);
  ids.forEach((e, i) => {
    if (e >= 0 && e < experts) perExpert[e]!.push(i);
  });
  const rowIds = new Int32Array(rows).fill(-1);
  const offsets = new Int32Array(experts + 1);
  const counts = Int32Array.from(perExpert, (l) => l.length);
  const inverse = new Int32Array(ids.length).fill(-1);
  let at = 0;
  for (let e = 0; e < experts; e++) {
    offsets[e] = at;
    perExpert[e]!.forEach((i, j) => {
      rowIds[at + j] = i;
      inverse[i] = at + j;
    });
    at += Math.ceil(counts[e]! / align) * align;
  }
  offsets[experts] = at;
  return { rowIds, offsets, counts, inverse };
}

async function permuteOn(dev: Device, c: Case, ids: Int32Array, impl = 'auto'): Promise<Out> {
  using t = dev.tensor(ids, { shape: [c.tokens, c.topK], dtype: 'i32' });
  using p = moe.permute(t, c.experts, { align: c.align, impl: impl as 'auto' });
  const rows = worstRows(c.tokens, c.topK, c.experts, c.align);
  expect(p.rowIds.shape).toEqual([rows]);
  expect(p.offsets.shape).toEqual([c.experts + 1]);
  expect(p.counts.shape).toEqual([c.experts]);
  expect(p.inverse.shape).toEqual([c.tokens, c.topK]);
  for (const x of [p.rowIds, p.offsets, p.counts, p.inverse]) expect(x.dtype).toBe('i32');
  const [rowIds, offsets, counts, inverse] = (await Promise.all([p.rowIds.toArray(), p.offsets.toArray(), p.counts.toArray(), p.inverse.toArray()])) as Int32Array[];
  return { rowIds: rowIds!, offsets: offsets!, counts: counts!, inverse: inverse! };
}

/** The properties the layout promises, checked one by one (so a failure says which). */
function expectLayout(what: string, got: Out, ids: Int32Array, experts: number, align: number): void {
  const { rowIds, offsets, counts, inverse } = got;
  expect(offsets[0], `${what}: offsets[0]`).toBe(0);
  for (let e = 0; e < experts; e++) {
    const start = offsets[e]!;
    const end = offsets[e + 1]!;
    if (start % align !== 0) expect.fail(`${what}: offsets[${e}] = ${start} is not a multiple of ${align}`);
    if (end - start !== Math.ceil(counts[e]! / align) * align) expect.fail(`${what}: expert ${e}'s segment is ${end - start} rows for ${counts[e]} picks`);
    let prev = -1;
    for (let r = start; r < end; r++) {
      const i = rowIds[r]!;
      if (r < start + counts[e]!) {
        if (ids[i] !== e) expect.fail(`${what}: row ${r} in expert ${e}'s segment holds pick ${i} of expert ${ids[i]}`);
        if (i <= prev) expect.fail(`${what}: expert ${e}'s picks are not in (token, pick) order at row ${r}`);
        prev = i;
      } else if (i !== -1) {
        expect.fail(`${what}: padding row ${r} of expert ${e} is ${i}, not -1`);
      }
    }
  }
  for (let r = offsets[experts]!; r < rowIds.length; r++) if (rowIds[r] !== -1) expect.fail(`${what}: unused row ${r} is ${rowIds[r]}, not -1`);
  const seen = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const valid = ids[i]! >= 0 && ids[i]! < experts;
    if (!valid) {
      if (inverse[i] !== -1) expect.fail(`${what}: pick ${i} of id ${ids[i]} (out of range) has inverse ${inverse[i]}, not -1`);
      continue;
    }
    if (rowIds[inverse[i]!] !== i) expect.fail(`${what}: rowIds[inverse[${i}]] is ${rowIds[inverse[i]!]}`);
    seen[i] = seen[i]! + 1;
  }
  for (const i of rowIds) if (i >= 0) seen[i] = seen[i]! - 1;
  if (seen.some((s) => s !== 0)) expect.fail(`${what}: some pick does not appear exactly once`);
}

function expectSame(what: string, got: Out, want: Out): void {
  for (const key of ['rowIds', 'offsets', 'counts', 'inverse'] as const) {
    expect(got[key].length, `${what}: ${key} length`).toBe(want[key].length);
    for (let j = 0; j < want[key].length; j++) {
      if (got[key][j] !== want[key][j]) expect.fail(`${what}: ${key}[${j}] is ${got[key][j]}, expected ${want[key][j]}`);
    }
  }
}

describe('moe.permute on the CPU matches the layout oracle exactly', () => {
  const cpu = device('cpu');
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const ids = idsOf(c);
    const got = await permuteOn(cpu, c, ids);
    expectLayout(label(c), got, ids, c.experts, c.align);
    expectSame(label(c), got, oracle(ids, c.experts, c.align, worstRows(c.tokens, c.topK, c.experts, c.align)));
  });

  it('a small routing by hand: stable within each expert, padded with -1', async () => {
    using ids = cpu.tensor(Int32Array.of(2, 0, 0, 2, 1, 2), { shape: [3, 2], dtype: 'i32' });
    using p = moe.permute(ids, 4, { align: 2 });
    expect(Array.from(await p.counts.toArray())).toEqual([2, 1, 3, 0]);
    expect(Array.from(await p.offsets.toArray())).toEqual([0, 2, 4, 8, 8]);
    // 6 picks + min(4, 6) * 1 padding rows.
    expect(Array.from(await p.rowIds.toArray())).toEqual([1, 2, 4, -1, 0, 3, 5, -1, -1, -1]);
    expect(Array.from(await p.inverse.toArray())).toEqual([4, 0, 1, 5, 2, 6]);
  });

  it('align defaults to 1: no padding, P = T*K', async () => {
    using ids = cpu.tensor(Int32Array.of(3, 1, 1, 0), { shape: [2, 2], dtype: 'i32' });
    using p = moe.permute(ids, 4);
    expect(Array.from(await p.rowIds.toArray())).toEqual([3, 1, 2, 0]);
    expect(Array.from(await p.offsets.toArray())).toEqual([0, 1, 3, 3, 4]);
  });

  it('the inverse restores the order: gathering rows by it gives back each (token, pick)', async () => {
    const c: Case = { tokens: 50, topK: 8, experts: 64, align: 16, ids: 'distinct' };
    const ids = idsOf(c);
    const got = await permuteOn(cpu, c, ids);
    const back = Array.from(got.inverse, (row) => got.rowIds[row]);
    expect(back).toEqual(Array.from({ length: ids.length }, (_, i) => i));
  });

  it('takes the ids of moe.route (DeepSeek-V3 gate, E 256, K 8)', async () => {
    using x = cpu.tensor(rng('permute route').randnArray(33 * 256), { shape: [33, 256] });
    using r = moe.route(x, { topK: 8, groups: 8, topGroups: 4, scale: 2.5 });
    using p = moe.permute(r.ids, 256, { align: 128 });
    const ids = (await r.ids.toArray()) as Int32Array;
    const [rowIds, offsets, counts, inverse] = (await Promise.all([p.rowIds.toArray(), p.offsets.toArray(), p.counts.toArray(), p.inverse.toArray()])) as Int32Array[];
    expectLayout('route ids', { rowIds: rowIds!, offsets: offsets!, counts: counts!, inverse: inverse! }, ids, 256, 128);
    expect(Array.from(counts!)).toEqual(Array.from((await r.counts.toArray()) as Int32Array));
  });
});

describe('moe.permute rejects bad input with the argument named', () => {
  const cpu = device('cpu');
  it('dtypes, ranks, sizes and options', () => {
    using ids = cpu.zeros([4, 2], 'i32');
    using f = cpu.zeros([4, 2], 'f32');
    using flat = cpu.zeros([8], 'i32');
    using wide = cpu.zeros([4, 17], 'i32');
    using none = cpu.zeros([4, 0], 'i32');
    expect(() => moe.permute(f, 8)).toThrow("moe.permute: ids.dtype must be 'i32', got 'f32'");
    expect(() => moe.permute(flat, 8)).toThrow('moe.permute: ids.shape must be of rank 2, got [8]');
    expect(() => moe.permute(wide, 8)).toThrow('moe.permute: ids.shape must be [T, K] with K in [1, 16], got [4, 17]');
    expect(() => moe.permute(none, 8)).toThrow(RangeError);
    expect(() => moe.permute(ids, 0)).toThrow('moe.permute: numExperts must be an integer in [1, 512], got 0');
    expect(() => moe.permute(ids, 513)).toThrow(RangeError);
    expect(() => moe.permute(ids, 2.5)).toThrow(RangeError);
    expect(() => moe.permute(ids, '8' as never)).toThrow(TypeError);
    expect(() => moe.permute(ids, 8, { align: 3 })).toThrow('moe.permute: options.align must be a power of two in [1, 1024], got 3');
    expect(() => moe.permute(ids, 8, { align: 0 })).toThrow(RangeError);
    expect(() => moe.permute(ids, 8, { align: 2048 })).toThrow(RangeError);
    expect(() => moe.permute(ids, 8, { align: '4' as never })).toThrow(TypeError);
    expect(() => moe.permute(ids, 8, { aligne: 4 } as never)).toThrow("moe.permute: unknown option 'aligne' (did you mean 'align'?)");
    expect(() => moe.permute(ids, 8, 4 as never)).toThrow(TypeError);
    expect(() => moe.permute([1, 2] as never, 8)).toThrow('moe.permute: ids must be a Tensor, got an array of length 2');
    expect(() => moe.permute(ids, 8, { impl: 'v1' })).toThrow("moe.permute: options.impl must be 'auto' or 'cpu' for tensors on the CPU, got 'v1'");
  });

  it('null options mean the defaults', async () => {
    using ids = cpu.zeros([2, 2], 'i32');
    using p = moe.permute(ids, 2, null as never);
    expect(Array.from(await p.offsets.toArray())).toEqual([0, 4, 4]);
  });
});

const gpu = cudaDevice();
describe.skipIf(!gpu)(`moe.permute on CUDA matches the CPU twin bit for bit${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  const versions = gpu ? kernelVersions()['moe.permute']!.map((v) => v.name) : [];
  beforeAll(() => gpu && binding().setPoison(gpu.id, true));
  afterAll(() => gpu && binding().setPoison(gpu.id, false));

  it.each(versions.flatMap((v) => CASES.map((c) => [`${v} ${label(c)}`, v, c] as const)))('%s', async (_, version, c) => {
    const ids = idsOf(c);
    const want = await permuteOn(device('cpu'), c, ids);
    await runPerContract('moe.permute', version, { tokens: c.tokens, topK: c.topK, experts: c.experts, align: c.align, sm: smOf(gpu!.info) }, async () => {
      expectSame(`${version} ${label(c)}`, await permuteOn(gpu!, c, ids, version), want);
    });
  });

  // T = 4096, K = 8 on one block: each pick scans its chunk of 256.
  const bigWork = EMULATED_COST.element * 4096 * 8 * 16;
  const big = tooLargeToEmulate(gpu, bigWork);
  it.skipIf(big !== '').each(versions)(`%s at T = 4096, E = 256, K = 8, align 128${big ? ` (${big})` : ''}`, async (version) => {
    const c: Case = { tokens: 4096, topK: 8, experts: 256, align: 128, ids: 'distinct' };
    const ids = idsOf(c);
    const want = await permuteOn(device('cpu'), c, ids);
    expectSame(version, await permuteOn(gpu!, c, ids, version), want);
  });
});
