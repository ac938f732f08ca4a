// The MoE grouped GEMM baselines (lib/baselines.ts: groupedGemm,
// fp8GroupedGemm): what they report and throw where cuBLAS or a GPU is
// missing, their checks of the operands and of the host-side segments (the
// same everywhere), the per-expert FP8 scale re-layout on the CPU, and on a
// GPU with cuBLAS their results per expert against float64 oracles of the
// same inputs, padding rows zero.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DisposedError, type Tensor, UnsupportedError, baselines, device } from '../../lib/index.js';
import { binding } from '../../lib/binding.js';
import { expectClose } from '../helpers/close.js';
import { cudaDevice, cudaSkipReason, emulatedProfile } from '../helpers/devices.js';
import { rng } from '../helpers/rng.js';
import { type ErrorClass, expectThrow } from '../helpers/throws.js';
import { BLOCK, expectAllFinite, fp8GemmReference, gemmReference, quantizeHost } from './support.js';

const cpu = device('cpu');
const gpu = cudaDevice();
const initial = baselines.status();
const onGpu = gpu ? baselines.status(gpu) : undefined;

const skipNote = (reason: string) => (reason ? ` (skipped: ${reason})` : '');

/** FP8 operands of any scale shapes (for argument checks). */
function fp8Grouped(dev: typeof cpu, p: number, e: number, n: number, k: number) {
  const kb = Math.ceil(k / BLOCK);
  const nb = Math.ceil(n / BLOCK);
  return {
    x: { values: dev.zeros<'e4m3'>([p, k], 'e4m3'), scales: dev.tensor(new Float32Array(p * kb).fill(1), { shape: [p, kb], dtype: 'f32' }) },
    w: { values: dev.zeros<'e4m3'>([e, n, k], 'e4m3'), scales: dev.tensor(new Float32Array(e * nb * kb).fill(1), { shape: [e, nb, kb], dtype: 'f32' }) },
  };
}

describe('status', () => {
  it('reports libcublas, the grouped GEMM and why there is no grouped FP8', () => {
    const s = baselines.status();
    expect(typeof s.cublas.available).toBe('boolean');
    expect(s.groupedGemm.available).toBe(s.groupedGemm.reason === '');
    expect(s.fp8GroupedGemm.available).toBe(false);
    expect(s.fp8GroupedGemm.reason).toMatch(/^cuBLAS has no grouped GEMM for 1x128\/128x128 block-scaled FP8: .*use mode 'loop'/);
    if (!s.cublas.available) {
      expect(s.cublas.groupedGemmEx).toBe(false);
      expect(s.groupedGemm.reason).toBe(s.cublas.reason);
    }
  });
});

describe('without cuBLAS', () => {
  const emulated = emulatedProfile() ? 'the emulation build refuses cuBLAS without searching' : '';
  const missing = initial.cublas.available ? 'cuBLAS is installed here' : emulated;
  const searched = !initial.cublas.available && !emulated;

  it.skipIf(!searched)(`status() names each place looked for libcublas and the fix${skipNote(missing)}`, () => {
    const s = baselines.status();
    expect(s.cublas).toMatchObject({ available: false, library: '', version: 0, versionText: '', groupedGemmEx: false });
    expect(s.cublas.reason).toMatch(/^cuBLAS was not found \(tried /);
    for (const name of ['libcublas.so.13', 'libcublas.so.12', 'libcublas.so', '/usr/local/cuda/lib64/libcublas.so.12', 'MOEKIT_CUBLAS_PATH', 'LD_LIBRARY_PATH']) {
      expect(s.cublas.reason).toContain(name);
    }
    expect(s.groupedGemm).toEqual({ available: false, reason: s.cublas.reason });
  });

  it.skipIf(!searched)(`MOEKIT_CUBLAS_PATH is tried alone and named${skipNote(missing)}`, () => {
    const saved = process.env.MOEKIT_CUBLAS_PATH;
    try {
      process.env.MOEKIT_CUBLAS_PATH = 'libc.so.6';
      expect(baselines.status().cublas.reason).toBe(
        'cuBLAS could not be loaded from MOEKIT_CUBLAS_PATH=libc.so.6: not a usable cuBLAS: symbol cublasGetProperty is missing; ' +
          'point it at a libcublas.so.12 or .so.13, or unset it to search libcublas.so.13, libcublas.so.12 and libcublas.so',
      );
    } finally {
      if (saved === undefined) delete process.env.MOEKIT_CUBLAS_PATH;
      else process.env.MOEKIT_CUBLAS_PATH = saved;
    }
    expect(baselines.status().cublas.reason).toBe(initial.cublas.reason);
  });

  it.skipIf(!searched || initial.available)(`calls throw UnsupportedError naming the fix${skipNote(missing || (initial.available ? 'cuBLASLt is installed here' : ''))}`, () => {
    const x = cpu.zeros([8, 32], 'bf16');
    const w = cpu.zeros([2, 16, 32], 'bf16');
    const segments = { offsets: [0, 3, 8] };
    const loop = expectThrow(() => baselines.groupedGemm(x, w, segments), UnsupportedError, /cuBLASLt was not found \(tried .*install cuBLAS/);
    expect(loop.message.startsWith('baselines.groupedGemm: ')).toBe(true);
    expectThrow(
      () => baselines.groupedGemm(x, w, segments, { mode: 'grouped' }),
      UnsupportedError,
      /^baselines\.groupedGemm: cuBLAS was not found \(tried .*MOEKIT_CUBLAS_PATH/,
    );
    const q = fp8Grouped(cpu, 32, 2, 16, 256);
    expectThrow(() => baselines.fp8GroupedGemm(q.x, q.w, { offsets: [0, 16, 32] }), UnsupportedError, /^baselines\.fp8GroupedGemm: cuBLASLt was not found/);
    expectThrow(
      () => baselines.fp8GroupedGemm(q.x, q.w, { offsets: [0, 16, 32] }, { mode: 'grouped' }),
      UnsupportedError,
      /^baselines\.fp8GroupedGemm: mode 'grouped': cuBLAS has no grouped GEMM for 1x128\/128x128 block-scaled FP8/,
    );
  });

  it.skipIf(!initial.available)(`with cuBLASLt, tensors on the CPU are refused${skipNote(initial.available ? '' : 'cuBLASLt is not installed here')}`, () => {
    const x = cpu.zeros([8, 32], 'bf16');
    expectThrow(
      () => baselines.groupedGemm(x, cpu.zeros([2, 16, 32], 'bf16'), { offsets: [0, 3, 8] }),
      UnsupportedError,
      "baselines.groupedGemm: the cuBLAS baselines run on CUDA devices, not on cpu; move the tensors with .to('cuda')",
    );
  });
});

describe('bad arguments (checked before cuBLAS is looked for)', () => {
  it('groupedGemm: dtypes, ranks, K, devices, options', () => {
    const x = cpu.zeros([8, 32], 'bf16');
    const w = cpu.zeros([2, 16, 32], 'bf16');
    const seg = { offsets: [0, 3, 8] };
    const op = 'baselines.groupedGemm';
    const cases: Array<[() => unknown, ErrorClass, string]> = [
      [() => baselines.groupedGemm(cpu.zeros([8, 32], 'f16'), w, seg), TypeError, `${op}: x.dtype must be 'bf16', got 'f16'`],
      [() => baselines.groupedGemm(x, cpu.zeros([2, 16, 32], 'f32'), seg), TypeError, `${op}: w.dtype must be 'bf16', got 'f32'`],
      [() => baselines.groupedGemm(cpu.zeros([8], 'bf16'), w, seg), RangeError, `${op}: x.shape must be of rank 2, got [8]`],
      [() => baselines.groupedGemm(x, cpu.zeros([16, 32], 'bf16'), seg), RangeError, `${op}: w.shape must be of rank 3, got [16, 32]`],
      [
        () => baselines.groupedGemm(x, cpu.zeros([2, 16, 48], 'bf16'), seg),
        RangeError,
        `${op}: w.shape must be [E, N, 32] (w is [E, N, K] with the K of x, which is [8, 32]), got [2, 16, 48]`,
      ],
      [() => baselines.groupedGemm(x, w, seg, { mode: 'batched' as 'loop' }), TypeError, `${op}: options.mode must be one of 'loop', 'grouped', got a string ('batched')`],
      [() => baselines.groupedGemm(x, w, seg, { mdoe: 'loop' } as never), TypeError, `${op}: unknown option 'mdoe' (did you mean 'mode'?); the options are one of 'mode'`],
      [() => baselines.groupedGemm(3 as unknown as Tensor, w, seg), TypeError, `${op}: x must be a Tensor, got a number (3)`],
    ];
    for (const [fn, cls, message] of cases) expectThrow(fn, cls, message);
    const gone = cpu.zeros([8, 32], 'bf16');
    gone.dispose();
    expectThrow(() => baselines.groupedGemm(gone, w, seg), DisposedError, `${op}: x was disposed; a tensor cannot be used after dispose()`);
  });

  it('segments: form, length, monotone, within P, counts within their segments', () => {
    const x = cpu.zeros([8, 32], 'bf16');
    const w = cpu.zeros([2, 16, 32], 'bf16');
    const op = 'baselines.groupedGemm';
    const run = (segments: unknown) => () => baselines.groupedGemm(x, w, segments as never);
    const cases: Array<[() => unknown, ErrorClass, string]> = [
      [run(null), TypeError, `${op}: segments must be an object { offsets, counts? } of integer arrays, got null`],
      [run([0, 3, 8]), TypeError, `${op}: segments must be an object { offsets, counts? } of integer arrays, got an array of length 3`],
      [run({ offsets: [0, 3, 8], count: [1, 1] }), TypeError, `${op}: segments has an unknown key 'count' (did you mean 'counts'?); its keys are one of 'offsets', 'counts'`],
      [run({}), TypeError, `${op}: segments.offsets must be an array of integers, got undefined`],
      [run({ offsets: '0,3,8' }), TypeError, `${op}: segments.offsets must be an array of integers, got a string ('0,3,8')`],
      [run({ offsets: [0, 3] }), RangeError, `${op}: segments.offsets.length must be 3 (E + 1, with E = 2 experts in w), got 2`],
      [run({ offsets: [0, '3', 8] }), TypeError, `${op}: segments.offsets[1] must be a non-negative integer, got a string ('3')`],
      [run({ offsets: [0, 2.5, 8] }), RangeError, `${op}: segments.offsets[1] must be a non-negative integer, got 2.5`],
      [run({ offsets: [0, -1, 8] }), RangeError, `${op}: segments.offsets[1] must be a non-negative integer, got -1`],
      [run({ offsets: [1, 3, 8] }), RangeError, `${op}: segments.offsets[0] must be 0, got 1`],
      [run({ offsets: [0, 5, 4] }), RangeError, `${op}: segments.offsets[2] must be at least segments.offsets[1] = 5 (offsets never decrease), got 4`],
      [run({ offsets: [0, 3, 9] }), RangeError, `${op}: segments.offsets[2] must be at most 8 (the rows of x), got 9`],
      [run({ offsets: [0, 3, 8], counts: [1] }), RangeError, `${op}: segments.counts.length must be 2 (E, with E = 2 experts in w), got 1`],
      [
        run({ offsets: [0, 3, 8], counts: [4, 0] }),
        RangeError,
        `${op}: segments.counts[0] must be at most 3, the size of segment 0 (segments.offsets[1] - segments.offsets[0]), got 4`,
      ],
      [run({ offsets: [0, 3, 8], counts: [1, NaN] }), RangeError, `${op}: segments.counts[1] must be a non-negative integer, got NaN`],
    ];
    for (const [fn, cls, message] of cases) expectThrow(fn, cls, message);
    // Typed arrays are taken as arrays; checked the same way.
    expectThrow(run({ offsets: Int32Array.of(0, 3, 9) }), RangeError, `${op}: segments.offsets[2] must be at most 8 (the rows of x), got 9`);
  });

  it('fp8GroupedGemm: dtypes, shapes, scales, segments, sizes cuBLASLt cannot take', () => {
    const op = 'baselines.fp8GroupedGemm';
    const ok = fp8Grouped(cpu, 32, 2, 16, 256);
    const seg = { offsets: [0, 16, 32] };
    const cases: Array<[() => unknown, ErrorClass, string]> = [
      [
        () => baselines.fp8GroupedGemm({ values: cpu.zeros([32, 256], 'bf16'), scales: ok.x.scales }, ok.w, seg),
        TypeError,
        `${op}: x.values.dtype must be 'e4m3', got 'bf16'`,
      ],
      [() => baselines.fp8GroupedGemm(ok.x, { values: ok.w.values, scales: cpu.zeros([2, 1, 2], 'f16') }, seg), TypeError, `${op}: w.scales.dtype must be 'f32', got 'f16'`],
      [
        () => baselines.fp8GroupedGemm(ok.x, { values: cpu.zeros([16, 256], 'e4m3'), scales: ok.w.scales }, seg),
        RangeError,
        `${op}: w.values.shape must be of rank 3, got [16, 256]`,
      ],
      [
        () => baselines.fp8GroupedGemm({ values: ok.x.values, scales: cpu.zeros([32, 1], 'f32') }, ok.w, seg),
        RangeError,
        `${op}: x.scales.shape must be [32, 2] ([P, ceil(K/128)]: one scale per row and 128 columns of x.values, as quantize(x, {block: [1, 128]}) gives), got [32, 1]`,
      ],
      [
        () => baselines.fp8GroupedGemm(ok.x, { values: ok.w.values, scales: cpu.zeros([1, 2], 'f32') }, seg),
        RangeError,
        `${op}: w.scales.shape must be [2, 1, 2] ([E, ceil(N/128), ceil(K/128)]: one scale per 128x128 block of each expert's weights), got [1, 2]`,
      ],
      [() => baselines.fp8GroupedGemm(ok.x, ok.w, { offsets: [0, 16, 40] }), RangeError, `${op}: segments.offsets[2] must be at most 32 (the rows of x), got 40`],
      [() => baselines.fp8GroupedGemm(ok.x, ok.w, seg, { mode: 'fused' as 'loop' }), TypeError, `${op}: options.mode must be one of 'loop', 'grouped', got a string ('fused')`],
      [() => baselines.fp8GroupedGemm(null as never, ok.w, seg), TypeError, `${op}: x must be an object with values and scales tensors (as quantize() returns), got null`],
    ];
    for (const [fn, cls, message] of cases) expectThrow(fn, cls, message);
    for (const [n, k] of [
      [24, 256],
      [16, 200],
    ] as const) {
      const o = fp8Grouped(cpu, 32, 2, n, k);
      expectThrow(
        () => baselines.prepareFp8GroupedGemm(o.x, o.w, seg),
        UnsupportedError,
        `baselines.fp8GroupedGemm: cuBLASLt's FP8 matmul needs N and K to be multiples of 16 (16-byte aligned rows), got N=${n}, K=${k}`,
      );
    }
    // (prepareFp8GroupedGemm's own checks name it; the addon's checks of the same call name baselines.fp8GroupedGemm.)
    // Scales prepared for other segments are refused: their layout does not fit.
    using prepared = baselines.prepareFp8GroupedGemm(ok.x, ok.w, { offsets: [0, 16, 32], counts: [3, 16] });
    const h = (t: Tensor) => t.handle(op, 't');
    expectThrow(
      () => binding().baselineFp8GroupedGemm(h(ok.x.values), h(prepared.scales.x), h(ok.w.values), h(prepared.scales.w), [0, 16, 32], null, 'loop'),
      RangeError,
      `${op}: x.scales.shape must be [64] ([sum over experts of round_up(rows * ceil(K/128), 4)]: prepared by baselines.prepareFp8GroupedGemm ` +
        'for these segments), got [40]',
    );
  });
});

/** The per-expert layouts of the scales for cuBLASLt, computed here independently of the addon. */
function expectedGroupedLayouts(xScales: Float32Array, wScales: Float32Array, offsets: number[], rows: number[], e: number, n: number, k: number) {
  const kb = Math.ceil(k / BLOCK);
  const nb = Math.ceil(n / BLOCK);
  const kbPadded = Math.ceil(kb / 4) * 4;
  const bases: number[] = [];
  let total = 0;
  for (const r of rows) {
    bases.push(total);
    total += Math.ceil((r * kb) / 4) * 4;
  }
  const x = new Float32Array(total);
  rows.forEach((r, ex) => {
    for (let row = 0; row < r; row++) for (let j = 0; j < kb; j++) x[bases[ex]! + j * r + row] = xScales[(offsets[ex]! + row) * kb + j]!;
  });
  const w = new Float32Array(e * nb * kbPadded);
  for (let ex = 0; ex < e; ex++) for (let i = 0; i < nb; i++) for (let j = 0; j < kb; j++) w[(ex * nb + i) * kbPadded + j] = wScales[(ex * nb + i) * kb + j]!;
  return { x, w, wShape: [e, nb, kbPadded], bases };
}

interface LayoutCase {
  readonly offsets: number[];
  readonly counts?: number[];
  readonly p: number;
  readonly n: number;
  readonly k: number;
}

// Ragged segments, empty experts, counts below the segment sizes, rows past offsets[E]; ceil(K/128) of 1, 5 and 4.
const LAYOUT_CASES: LayoutCase[] = [
  { offsets: [0, 3, 3, 10], p: 12, n: 16, k: 16 },
  { offsets: [0, 4, 8, 16], counts: [1, 4, 0], p: 16, n: 272, k: 592 },
  { offsets: [0, 0, 7], p: 7, n: 128, k: 512 },
];

async function checkGroupedLayout(dev: typeof cpu, c: LayoutCase): Promise<void> {
  const e = c.offsets.length - 1;
  const kb = Math.ceil(c.k / BLOCK);
  const nb = Math.ceil(c.n / BLOCK);
  const rows = c.counts ?? c.offsets.slice(1).map((o, i) => o - c.offsets[i]!);
  const label = `grouped layout ${c.offsets.join(',')} ${c.n}x${c.k}`;
  const xScales = rng(`${label} x`).randnArray(c.p * kb, 3);
  const wScales = rng(`${label} w`).randnArray(e * nb * kb, 3);
  const x = { values: dev.zeros([c.p, c.k], 'e4m3'), scales: dev.tensor(xScales, { shape: [c.p, kb], dtype: 'f32' }) };
  const w = { values: dev.zeros([e, c.n, c.k], 'e4m3'), scales: dev.tensor(wScales, { shape: [e, nb, kb], dtype: 'f32' }) };
  const want = expectedGroupedLayouts(xScales, wScales, c.offsets, rows, e, c.n, c.k);
  {
    using prepared = baselines.prepareFp8GroupedGemm(x, w, { offsets: c.offsets, ...(c.counts ? { counts: c.counts } : {}) });
    expect([prepared.p, prepared.e, prepared.n, prepared.k]).toEqual([c.p, e, c.n, c.k]);
    expect(prepared.scales.x.shape).toEqual([want.x.length]);
    expect(prepared.scales.w.shape).toEqual(want.wShape);
    // Exact (new buffers are poisoned with NaN, so anything unwritten shows).
    expect(Array.from(await prepared.scales.x.toArray())).toEqual(Array.from(want.x));
    expect(Array.from(await prepared.scales.w.toArray())).toEqual(Array.from(want.w));
    for (const base of want.bases) expect(base % 4).toBe(0);
  }
  expect(Array.from(await x.scales.toArray())).toEqual(Array.from(xScales));
  for (const t of [x.values, x.scales, w.values, w.scales]) t.dispose();
}

function poisonDuring(dev: () => typeof cpu): void {
  beforeAll(() => binding().setPoison(dev().id, true));
  afterAll(() => binding().setPoison(dev().id, false));
}

describe('prepareFp8GroupedGemm on the CPU', () => {
  poisonDuring(() => cpu);

  it.each(LAYOUT_CASES.map((c) => [c.offsets.join(','), c] as const))('scales re-laid out per expert, offsets %s', async (_, c) => {
    await checkGroupedLayout(cpu, c);
  });

  it('a disposed preparation refuses to run', () => {
    const q = fp8Grouped(cpu, 32, 2, 16, 256);
    const prepared = baselines.prepareFp8GroupedGemm(q.x, q.w, { offsets: [0, 16, 32] });
    prepared.dispose();
    prepared.dispose();
    expect(prepared.disposed).toBe(true);
    expectThrow(() => prepared.run(), DisposedError, 'PreparedFp8GroupedGemm.run: it was disposed');
  });
});

// ---- On a GPU with cuBLAS ------------------------------------------------------------

const loopSkip = !gpu ? `no CUDA device: ${cudaSkipReason()}` : onGpu!.gemm.reason;
const groupedSkip = !gpu ? loopSkip : onGpu!.groupedGemm.reason;
const fp8Skip = !gpu ? loopSkip : onGpu!.fp8Block.reason;

interface Routing {
  readonly offsets: number[];
  readonly counts?: number[];
  readonly p: number;
}

/** Aligned to 16 rows with counts (moe.permute's layout), unaligned without, with empty experts and trailing rows. */
function routings(e: number): Array<[string, Routing]> {
  const r = rng(`grouped routing ${e}`);
  const sizes = Array.from({ length: e }, (_, i) => (i % 3 === 1 ? 0 : r.int(1, 40)));
  const offsets = [0];
  for (const s of sizes) offsets.push(offsets[offsets.length - 1]! + s);
  const counts = sizes.map((s) => Math.ceil(s / 16) * 16);
  const aligned = [0];
  for (const c of counts) aligned.push(aligned[aligned.length - 1]! + c);
  return [
    ['unaligned, no padding', { offsets, p: offsets[e]! + 5 }],
    ['aligned to 16 with counts', { offsets: aligned, counts: sizes, p: aligned[e]! + 16 }],
  ];
}

const rowsOf = (s: Routing) => s.counts ?? s.offsets.slice(1).map((o, i) => o - s.offsets[i]!);

/** Checks each expert's rows against `reference(e, rowIds)` and every other row is zero. */
async function checkGrouped(label: string, out: Tensor, s: Routing, n: number, reference: (e: number, rows: number[]) => Float64Array, tol: number) {
  expect([out.dtype, ...out.shape]).toEqual(['bf16', s.p, n]);
  const values = await out.toArray();
  expectAllFinite(label, values);
  const rows = rowsOf(s);
  const computed = new Set<number>();
  rows.forEach((count, e) => {
    if (count === 0) return;
    const ids = Array.from({ length: count }, (_, i) => s.offsets[e]! + i);
    ids.forEach((row) => computed.add(row));
    const got = new Float64Array(count * n);
    ids.forEach((row, i) => {
      for (let j = 0; j < n; j++) got[i * n + j] = values[row * n + j]!;
    });
    expectClose(`${label} expert ${e}`, got, reference(e, ids), tol);
  });
  for (let row = 0; row < s.p; row++) {
    if (computed.has(row)) continue;
    for (let j = 0; j < n; j++) if (values[row * n + j] !== 0) expect.fail(`${label}: padding row ${row} is not zero at column ${j}`);
  }
}

// [E, N, K]: small ragged, and DeepSeek-V3's expert shapes at a few experts.
const GROUPED_SHAPES: Array<[number, number, number]> = [
  [5, 72, 136],
  [8, 4096, 7168],
  [8, 7168, 2048],
];

describe.each([
  ['loop', loopSkip],
  ['grouped', groupedSkip],
] as const)(`cuBLAS bf16 grouped GEMM, mode '%s', on CUDA`, (mode, skip) => {
  poisonDuring(() => gpu!);

  it.skipIf(skip !== '').each(GROUPED_SHAPES)(`E=%i N=%i K=%i against per-expert float64 oracles${skipNote(skip)}`, async (e, n, k) => {
    const dev = gpu!;
    for (const [name, s] of routings(e)) {
      using x = dev.tensor(rng(`grouped x ${s.p}x${k}`).randnArray(s.p * k), { shape: [s.p, k], dtype: 'bf16' });
      using w = dev.tensor(rng(`grouped w ${e}x${n}x${k}`).randnArray(e * n * k, 0.05), { shape: [e, n, k], dtype: 'bf16' });
      const [xv, wv] = await Promise.all([x.toArray(), w.toArray()]);
      using out = baselines.groupedGemm(x, w, s, { mode });
      // Rows of x and the expert's weights, multiplied in float64 from the same rounded inputs.
      const reference = (ex: number, rows: number[]) => gemmReference(xv, wv.subarray(ex * n * k, (ex + 1) * n * k), n, k, rows);
      await checkGrouped(`grouped ${mode} ${name} ${e}x${n}x${k}`, out, s, n, reference, 1e-2);
    }
  });
});

describe.skipIf(fp8Skip !== '')(`cuBLASLt block-scaled FP8 grouped GEMM (mode 'loop') on CUDA${skipNote(fp8Skip)}`, () => {
  poisonDuring(() => gpu!);

  it.each(LAYOUT_CASES.map((c) => [c.offsets.join(','), c] as const))('the re-layout kernel matches, offsets %s', async (_, c) => {
    await checkGroupedLayout(gpu!, c);
  });

  it.each([
    [4, 272, 592],
    [8, 4096, 7168],
    [8, 7168, 2048],
  ] as Array<[number, number, number]>)('E=%i N=%i K=%i against per-expert float64 oracles', async (e, n, k) => {
    const dev = gpu!;
    for (const [name, s] of routings(e)) {
      const qx = quantizeHost(rng(`fp8 grouped x ${s.p}x${k}`).randnArray(s.p * k), s.p, k, '1x128');
      // Per expert 128x128 blocks: quantized one expert at a time, stacked.
      const qws = Array.from({ length: e }, (_, ex) => quantizeHost(rng(`fp8 grouped w ${ex} ${n}x${k}`).randnArray(n * k, 0.05), n, k, '128x128'));
      const kb = Math.ceil(k / BLOCK);
      const nb = Math.ceil(n / BLOCK);
      const wCodes = new Uint8Array(e * n * k);
      const wScales = new Float32Array(e * nb * kb);
      qws.forEach((q, ex) => {
        wCodes.set(q.codes, ex * n * k);
        wScales.set(q.scales, ex * nb * kb);
      });
      const x = { values: dev.tensor<'e4m3'>(qx.codes, { shape: [s.p, k], dtype: 'e4m3' }), scales: dev.tensor<'f32'>(qx.scales, { shape: [s.p, kb], dtype: 'f32' }) };
      const w = { values: dev.tensor<'e4m3'>(wCodes, { shape: [e, n, k], dtype: 'e4m3' }), scales: dev.tensor<'f32'>(wScales, { shape: [e, nb, kb], dtype: 'f32' }) };
      {
        using prepared = baselines.prepareFp8GroupedGemm(x, w, s);
        using out = prepared.run();
        const reference = (ex: number, rows: number[]) => fp8GemmReference(qx, qws[ex]!, rows);
        await checkGrouped(`fp8 grouped ${name} ${e}x${n}x${k}`, out, s, n, reference, 2e-2);
        using again = baselines.fp8GroupedGemm(x, w, s);
        await checkGrouped(`fp8 grouped one call ${name} ${e}x${n}x${k}`, again, s, n, reference, 2e-2);
      }
      for (const t of [x.values, x.scales, w.values, w.scales]) t.dispose();
    }
  });
});
