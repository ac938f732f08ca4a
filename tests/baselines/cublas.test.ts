// The cuBLAS baselines (lib/baselines.ts): what they report and throw where
// cuBLASLt or a GPU is missing, their argument checks (the same everywhere),
// the FP8 scale re-layout on the CPU, and on a GPU with cuBLASLt their
// results against float64 oracles computed here from the same inputs.
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DisposedError, type Tensor, UnsupportedError, baselines, device, quantize } from '../../lib/index.js';
import { binding } from '../../lib/binding.js';
import { expectClose } from '../helpers/close.js';
import { cudaDevice, cudaSkipReason, emulatedProfile } from '../helpers/devices.js';
import { rng } from '../helpers/rng.js';
import { type ErrorClass, expectThrow } from '../helpers/throws.js';
import { productTolerance } from '../helpers/tolerance.js';
import {
  BLOCK,
  expectAllFinite,
  fp8GemmReference,
  gemmReference,
  pickRows,
  quantizeHost,
  sampleRows,
  upload,
} from './support.js';

const cpu = device('cpu');
const gpu = cudaDevice();
// Judged before any test changes MOEKIT_CUBLASLT_PATH.
const initial = baselines.status();
const onGpu = gpu ? baselines.status(gpu) : undefined;

const SONAMES = ['libcublasLt.so.13', 'libcublasLt.so.12', 'libcublasLt.so'];

function withCublasPath<T>(path: string | undefined, fn: () => T): T {
  const saved = process.env.MOEKIT_CUBLASLT_PATH;
  if (path === undefined) delete process.env.MOEKIT_CUBLASLT_PATH;
  else process.env.MOEKIT_CUBLASLT_PATH = path;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.MOEKIT_CUBLASLT_PATH;
    else process.env.MOEKIT_CUBLASLT_PATH = saved;
  }
}

/** Quantized operands with e4m3 codes and f32 scales of any shape (for argument checks). */
function fp8Operand(dev: typeof cpu, rows: number, k: number, scaleShape: number[]) {
  return {
    values: dev.zeros<'e4m3'>([rows, k], 'e4m3'),
    scales: dev.tensor<'f32'>(new Float32Array(scaleShape.reduce((a, b) => a * b, 1)).fill(1), { shape: scaleShape, dtype: 'f32' }),
  };
}

function blockOperands(dev: typeof cpu, m: number, n: number, k: number) {
  const kb = Math.ceil(k / BLOCK);
  return { a: fp8Operand(dev, m, k, [m, kb]), b: fp8Operand(dev, n, k, [Math.ceil(n / BLOCK), kb]) };
}

const skipNote = (reason: string) => (reason ? ` (skipped: ${reason})` : '');

describe('without cuBLASLt', () => {
  // The emulation build's loader refuses cuBLASLt before searching for it
  // (its kernels need a real GPU), so the search itself is not exercised there.
  const emulated = emulatedProfile() ? 'the emulation build refuses cuBLASLt without searching' : '';
  const missing = initial.available ? 'cuBLASLt is installed here' : emulated;
  const searched = !initial.available && !emulated;

  it.skipIf(!emulated)(`on the emulated GPU, status() says cuBLASLt does not run there${skipNote(emulated ? '' : 'not the emulation build')}`, () => {
    const s = baselines.status();
    expect(s.available).toBe(false);
    expect(s.reason).toBe('cuBLASLt does not run on the emulated GPU; the cuBLAS baselines need a real one');
    for (const feature of [s.gemm, s.fp8Tensor, s.fp8Block]) expect(feature).toEqual({ available: false, reason: s.reason });
  });

  it.skipIf(!searched)(`status() reports it unavailable, naming each place looked and the fix${skipNote(missing)}`, () => {
    const s = baselines.status();
    expect(s.available).toBe(false);
    expect(s.library).toBe('');
    expect(s.version).toBe(0);
    expect(s.versionText).toBe('');
    expect(s.reason).toMatch(/^cuBLASLt was not found \(tried /);
    for (const name of [...SONAMES, '/usr/local/cuda/lib64/libcublasLt.so.12', 'MOEKIT_CUBLASLT_PATH', 'LD_LIBRARY_PATH']) {
      expect(s.reason).toContain(name);
    }
    for (const feature of [s.gemm, s.fp8Tensor, s.fp8Block]) expect(feature).toEqual({ available: false, reason: s.reason });
    expect(baselines.status('cpu').gemm.reason).toBe(s.reason);
  });

  it.skipIf(!searched)(`MOEKIT_CUBLASLT_PATH is tried alone and named, and a failed load is retried${skipNote(missing)}`, () => {
    const absent = join(tmpdir(), 'moekit-no-such-dir', 'libcublasLt.so.12');
    withCublasPath(absent, () => {
      const s = baselines.status();
      expect(s.available).toBe(false);
      expect(s.reason).toBe(
        `cuBLASLt could not be loaded from MOEKIT_CUBLASLT_PATH=${absent}: cannot open shared object file: No such file or directory; ` +
          `point it at a libcublasLt.so.12 or .so.13, or unset it to search libcublasLt.so.13, libcublasLt.so.12 and libcublasLt.so`,
      );
    });
    // A library that loads but is not cuBLASLt.
    withCublasPath('libc.so.6', () => {
      expect(baselines.status().reason).toContain('MOEKIT_CUBLASLT_PATH=libc.so.6: not a usable cuBLASLt: symbol cublasLtGetVersion is missing');
    });
    // Unset again: the default search runs again rather than a cached answer.
    withCublasPath(undefined, () => expect(baselines.status().reason).toBe(initial.reason));
  });

  it.skipIf(!searched)(`calls throw UnsupportedError naming the fix${skipNote(missing)}`, () => {
    const fix = /cuBLASLt was not found \(tried .*install cuBLAS.*MOEKIT_CUBLASLT_PATH/;
    const a = cpu.zeros([32, 64], 'bf16');
    const b = cpu.zeros([16, 64], 'bf16');
    const e = expectThrow(() => baselines.gemm(a, b), UnsupportedError, fix);
    expect(e.message.startsWith('baselines.gemm: ')).toBe(true);
    const t = { a: fp8Operand(cpu, 32, 64, [1]), b: fp8Operand(cpu, 16, 64, [1]) };
    expectThrow(() => baselines.fp8Gemm(t.a, t.b, { mode: 'tensor' }), UnsupportedError, fix);
    const blk = blockOperands(cpu, 32, 16, 256);
    expectThrow(() => baselines.fp8Gemm(blk.a, blk.b, { mode: 'block', outDtype: 'f32' }), UnsupportedError, fix);
    // The preparation needs no cuBLASLt; running it does.
    using prepared = baselines.prepareFp8Gemm(blk.a, blk.b, { mode: 'block' });
    expectThrow(() => prepared.run(), UnsupportedError, fix);
  });

  it.skipIf(!initial.available)(
    `with cuBLASLt, tensors on the CPU are refused${skipNote(initial.available ? '' : 'cuBLASLt is not installed here')}`,
    () => {
      const a = cpu.zeros([32, 64], 'bf16');
      expectThrow(
        () => baselines.gemm(a, a),
        UnsupportedError,
        "baselines.gemm: the cuBLAS baselines run on CUDA devices, not on cpu; move the tensors with .to('cuda')",
      );
    },
  );
});

describe('bad arguments (checked before cuBLASLt is looked for)', () => {
  it('gemm: dtypes, ranks, K, devices, options', () => {
    const a = cpu.zeros([16, 32], 'bf16');
    const cases: Array<[() => unknown, ErrorClass, string]> = [
      [() => baselines.gemm(cpu.zeros([16, 32], 'f32'), a), TypeError, "baselines.gemm: a.dtype must be 'bf16' or 'f16', got 'f32'"],
      [() => baselines.gemm(a, cpu.zeros([16, 32], 'f16')), TypeError, "baselines.gemm: b.dtype must be 'bf16', got 'f16'"],
      [() => baselines.gemm(cpu.zeros([16], 'bf16'), a), RangeError, 'baselines.gemm: a.shape must be of rank 2, got [16]'],
      [() => baselines.gemm(a, cpu.zeros([2, 16, 32], 'bf16')), RangeError, 'baselines.gemm: b.shape must be of rank 2, got [2, 16, 32]'],
      [
        () => baselines.gemm(a, cpu.zeros([16, 48], 'bf16')),
        RangeError,
        'baselines.gemm: b.shape must be [N, 32] (b is [N, K] with the K of a, which is [16, 32]), got [16, 48]',
      ],
      [() => baselines.gemm(a, a, { outDtype: 'f16' }), TypeError, "baselines.gemm: outDtype must be 'bf16' or 'f32' for bf16 inputs, got 'f16'"],
      [
        () => baselines.gemm(a, a, { outDtype: 'e4m3' as 'bf16' }),
        TypeError,
        "baselines.gemm: options.outDtype must be one of 'bf16', 'f16', 'f32', got a string ('e4m3')",
      ],
      [() => baselines.gemm(3 as unknown as Tensor, a), TypeError, 'baselines.gemm: a must be a Tensor, got a number (3)'],
      [() => baselines.gemm(a, a, 'f32' as never), TypeError, "baselines.gemm: options must be an object, got a string ('f32')"],
    ];
    for (const [fn, cls, message] of cases) expectThrow(fn, cls, message);
    const gone = cpu.zeros([16, 32], 'bf16');
    gone.dispose();
    expectThrow(() => baselines.gemm(gone, a), DisposedError, 'baselines.gemm: a was disposed; a tensor cannot be used after dispose()');
  });

  it('fp8Gemm: dtypes, K, scale shapes, mode, sizes cuBLASLt cannot take', () => {
    const ok = blockOperands(cpu, 32, 16, 256);
    const bf16Values = { values: cpu.zeros([32, 256], 'bf16'), scales: ok.a.scales };
    const f16Scales = { values: ok.b.values, scales: cpu.zeros([1, 2], 'f16') };
    const cases: Array<[() => unknown, ErrorClass, string]> = [
      [() => baselines.fp8Gemm(bf16Values, ok.b, { mode: 'block' }), TypeError, "baselines.fp8Gemm: a.values.dtype must be 'e4m3', got 'bf16'"],
      [() => baselines.fp8Gemm(ok.a, f16Scales, { mode: 'block' }), TypeError, "baselines.fp8Gemm: b.scales.dtype must be 'f32', got 'f16'"],
      [
        () => baselines.fp8Gemm(ok.a, fp8Operand(cpu, 16, 384, [1, 3]), { mode: 'block' }),
        RangeError,
        'baselines.fp8Gemm: b.values.shape must be [N, 256] (b is [N, K] with the K of a.values, which is [32, 256]), got [16, 384]',
      ],
      [
        () => baselines.fp8Gemm(fp8Operand(cpu, 32, 256, [32, 1]), ok.b, { mode: 'block' }),
        RangeError,
        'baselines.fp8Gemm: a.scales.shape must be [32, 2] ([M, ceil(K/128)]: one scale per row and 128 columns of a.values, ' +
          'as quantize(x, {block: [1, 128]}) gives), got [32, 1]',
      ],
      [
        () => baselines.fp8Gemm(ok.a, fp8Operand(cpu, 16, 256, [16, 2]), { mode: 'block' }),
        RangeError,
        'baselines.fp8Gemm: b.scales.shape must be [1, 2] ([ceil(N/128), ceil(K/128)]: one scale per 128x128 block of b.values, ' +
          'as quantize(w, {block: [128, 128]}) gives), got [16, 2]',
      ],
      [
        () => baselines.fp8Gemm(ok.a, ok.b, { mode: 'tensor' }),
        RangeError,
        "baselines.fp8Gemm: a.scales.shape must be [1] (one scale for all of a.values in mode 'tensor'), got [32, 2]",
      ],
      [
        () => baselines.fp8Gemm(ok.a, ok.b, { mode: 'row' as 'block' }),
        TypeError,
        "baselines.fp8Gemm: options.mode must be one of 'tensor', 'block', got a string ('row')",
      ],
      [
        () => baselines.fp8Gemm(ok.a, ok.b, {} as { mode: 'block' }),
        TypeError,
        "baselines.fp8Gemm: options.mode must be one of 'tensor', 'block', got undefined",
      ],
      [
        () => baselines.fp8Gemm(ok.a, ok.b, { mode: 'block', outDtype: 'e5m2' as 'bf16' }),
        TypeError,
        "baselines.fp8Gemm: options.outDtype must be one of 'bf16', 'f16', 'f32', got a string ('e5m2')",
      ],
      [
        () => baselines.fp8Gemm(ok.a.values as never, ok.b, { mode: 'block' }),
        TypeError,
        'baselines.fp8Gemm: a.values must be a Tensor, got undefined',
      ],
      [
        () => baselines.fp8Gemm(null as never, ok.b, { mode: 'block' }),
        TypeError,
        'baselines.fp8Gemm: a must be an object with values and scales tensors (as quantize() returns), got null',
      ],
    ];
    for (const [fn, cls, message] of cases) expectThrow(fn, cls, message);

    // FP8 rows must be 16-byte aligned: M, N and K multiples of 16, whatever the device.
    const misaligned: Array<[number, number, number]> = [
      [24, 16, 256],
      [32, 40, 256],
      [32, 16, 200],
    ];
    for (const [m, n, k] of misaligned) {
      const o = blockOperands(cpu, m, n, k);
      expectThrow(
        () => baselines.fp8Gemm(o.a, o.b, { mode: 'block' }),
        UnsupportedError,
        `baselines.fp8Gemm: cuBLASLt's FP8 matmul needs M, N and K to be multiples of 16 (16-byte aligned rows), got M=${m}, N=${n}, K=${k}`,
      );
      const t = { a: fp8Operand(cpu, m, k, [1]), b: fp8Operand(cpu, n, k, [1]) };
      expectThrow(() => baselines.prepareFp8Gemm(t.a, t.b, { mode: 'tensor' }), UnsupportedError, /needs M, N and K to be multiples of 16/);
    }
  });
});

/** cuBLASLt's layouts of moekit's block scales, computed here independently of the addon. */
function expectedLayouts(aScales: Float32Array, bScales: Float32Array, m: number, n: number, k: number) {
  const kb = Math.ceil(k / BLOCK);
  const nb = Math.ceil(n / BLOCK);
  const kbPadded = Math.ceil(kb / 4) * 4;
  const a = new Float32Array(kb * m);
  for (let row = 0; row < m; row++) for (let j = 0; j < kb; j++) a[j * m + row] = aScales[row * kb + j]!;
  const b = new Float32Array(nb * kbPadded); // padding stays 0
  for (let i = 0; i < nb; i++) for (let j = 0; j < kb; j++) b[i * kbPadded + j] = bScales[i * kb + j]!;
  return { a, aShape: [kb, m], b, bShape: [nb, kbPadded] };
}

// [M, N, K]: ceil(K/128) of 1 (padded to 4), 5 (to 8), 4 (no padding), 0; ragged N.
const LAYOUT_SHAPES: Array<[number, number, number]> = [
  [16, 16, 16],
  [48, 272, 592],
  [32, 128, 512],
  [16, 144, 0],
];

async function checkPreparedLayout(dev: typeof cpu, m: number, n: number, k: number): Promise<void> {
  const kb = Math.ceil(k / BLOCK);
  const aScales = rng(`layout a ${m}x${n}x${k}`).randnArray(m * kb, 3);
  const bScales = rng(`layout b ${m}x${n}x${k}`).randnArray(Math.ceil(n / BLOCK) * kb, 3);
  const a = { values: dev.zeros([m, k], 'e4m3'), scales: dev.tensor(aScales, { shape: [m, kb], dtype: 'f32' }) };
  const b = { values: dev.zeros([n, k], 'e4m3'), scales: dev.tensor(bScales, { shape: [Math.ceil(n / BLOCK), kb], dtype: 'f32' }) };
  const want = expectedLayouts(aScales, bScales, m, n, k);
  {
    using prepared = baselines.prepareFp8Gemm(a, b, { mode: 'block' });
    expect([prepared.mode, prepared.m, prepared.n, prepared.k]).toEqual(['block', m, n, k]);
    expect(prepared.scales.a.shape).toEqual(want.aShape);
    expect(prepared.scales.b.shape).toEqual(want.bShape);
    // Exact: a re-layout copies bits (poisoned NaN where something was not written).
    expect(Array.from(await prepared.scales.a.toArray())).toEqual(Array.from(want.a));
    expect(Array.from(await prepared.scales.b.toArray())).toEqual(Array.from(want.b));
  }
  // The prepared operands were references: the caller's tensors live on.
  expect(Array.from(await a.scales.toArray())).toEqual(Array.from(aScales));
  for (const t of [a.values, a.scales, b.values, b.scales]) t.dispose();
}

/** New buffers of `dev` hold NaN (0xFF bytes) during the enclosing block, so unwritten outputs show. */
function poisonDuring(dev: () => typeof cpu): void {
  beforeAll(() => binding().setPoison(dev().id, true));
  afterAll(() => binding().setPoison(dev().id, false));
}

describe('prepareFp8Gemm on the CPU', () => {
  poisonDuring(() => cpu);

  it.each(LAYOUT_SHAPES)('block scales re-laid out for cuBLASLt, M=%i N=%i K=%i', async (m, n, k) => {
    await checkPreparedLayout(cpu, m, n, k);
  });

  it("takes quantize()'s output as it is (1x128 activations, 128x128 weights)", async () => {
    const [m, n, k] = [32, 144, 400];
    using x = cpu.tensor(rng('quantize x').randnArray(m * k), { shape: [m, k], dtype: 'bf16' });
    using w = cpu.tensor(rng('quantize w').randnArray(n * k, 0.05), { shape: [n, k], dtype: 'bf16' });
    using qx = quantize(x, { block: [1, 128] });
    using qw = quantize(w, { block: [128, 128] });
    using prepared = baselines.prepareFp8Gemm(qx, qw, { mode: 'block' });
    const want = expectedLayouts(await qx.scales.toArray(), await qw.scales.toArray(), m, n, k);
    expect(Array.from(await prepared.scales.a.toArray())).toEqual(Array.from(want.a));
    expect(Array.from(await prepared.scales.b.toArray())).toEqual(Array.from(want.b));
    using tx = quantize(x, { block: 'tensor' });
    using tw = quantize(w, { block: 'tensor' });
    using perTensor = baselines.prepareFp8Gemm(tx, tw, { mode: 'tensor' });
    expect(perTensor.scales.a.shape).toEqual([1]);
  });

  it('tensor mode passes the scales through; a disposed preparation refuses to run', async () => {
    const a = fp8Operand(cpu, 16, 32, [1]);
    const b = fp8Operand(cpu, 48, 32, [1]);
    const prepared = baselines.prepareFp8Gemm(a, b, { mode: 'tensor' });
    expect([prepared.m, prepared.n, prepared.k]).toEqual([16, 48, 32]);
    expect(prepared.scales.a.shape).toEqual([1]);
    expect(Array.from(await prepared.scales.b.toArray())).toEqual([1]);
    prepared.dispose();
    prepared.dispose();
    expect(prepared.disposed).toBe(true);
    expectThrow(() => prepared.run(), DisposedError, 'PreparedFp8Gemm.run: it was disposed');
    expect(Array.from(await a.scales.toArray())).toEqual([1]);
  });
});

// ---- On a GPU with cuBLASLt ---------------------------------------------------------

const gpuGemmSkip = !gpu ? `no CUDA device: ${cudaSkipReason()}` : onGpu!.gemm.reason;
const gpuFp8TensorSkip = !gpu ? gpuGemmSkip : onGpu!.fp8Tensor.reason;
const gpuFp8BlockSkip = !gpu ? gpuGemmSkip : onGpu!.fp8Block.reason;


// [M, N, K]: edge rows (1, 127, 129), K off any tile size, and DeepSeek-V3 N×K shapes.
const GEMM_SHAPES: Array<[number, number, number]> = [
  [1, 64, 128],
  [127, 129, 200],
  [129, 255, 64],
  [64, 2112, 7168],
  [128, 7168, 2048],
];

describe.skipIf(gpuGemmSkip !== '')(`cuBLASLt bf16/f16 GEMM on CUDA${skipNote(gpuGemmSkip)}`, () => {
  poisonDuring(() => gpu!);

  describe.each(['bf16', 'f16'] as const)('%s inputs', (dtype) => {
    it.each(GEMM_SHAPES)('M=%i N=%i K=%i, against a float64 oracle', async (m, n, k) => {
      const dev = gpu!;
      using a = dev.tensor(rng(`gemm a ${dtype} ${m}x${k}`).randnArray(m * k), { shape: [m, k], dtype });
      using b = dev.tensor(rng(`gemm b ${dtype} ${n}x${k}`).randnArray(n * k, 0.05), { shape: [n, k], dtype });
      // The oracle multiplies exactly the rounded inputs the GPU sees.
      const [av, bv] = await Promise.all([a.toArray(), b.toArray()]);
      const rows = sampleRows(`gemm rows ${m}`, m);
      const ref = gemmReference(av, bv, n, k, rows);
      for (const outDtype of [dtype, 'f32'] as const) {
        using c = baselines.gemm(a, b, outDtype === dtype ? undefined : { outDtype });
        expect(c.dtype).toBe(outDtype);
        expect(c.shape).toEqual([m, n]);
        const out = await c.toArray();
        expectAllFinite(`gemm ${dtype}->${outDtype} ${m}x${n}x${k}`, out);
        // Tensor cores against the unrounded oracle (tests/helpers/tolerance.ts).
        expectClose(`gemm ${dtype}->${outDtype} ${m}x${n}x${k}`, pickRows(out, n, rows), ref, productTolerance(outDtype, ref, k, ['tensor-core']));
      }
    });
  });

  it('K = 0 gives zeros, M = 0 an empty output', async () => {
    const dev = gpu!;
    using z = baselines.gemm(dev.zeros([16, 0], 'bf16'), dev.zeros([8, 0], 'bf16'), { outDtype: 'f32' });
    expect(Array.from(await z.toArray())).toEqual(new Array(16 * 8).fill(0));
    using e = baselines.gemm(dev.zeros([0, 32], 'bf16'), dev.zeros([8, 32], 'bf16'));
    expect(e.shape).toEqual([0, 8]);
    expect((await e.toArray()).length).toBe(0);
  });
});

/** Quantized random operands on the GPU and the float64 oracle rows of the product they stand for. */
function fp8Problem(m: number, n: number, k: number, mode: 'tensor' | 'block') {
  const dev = gpu!;
  const qa = quantizeHost(rng(`fp8 a ${mode} ${m}x${k}`).randnArray(m * k), m, k, mode === 'block' ? '1x128' : 'tensor');
  const qb = quantizeHost(rng(`fp8 b ${mode} ${n}x${k}`).randnArray(n * k, 0.05), n, k, mode === 'block' ? '128x128' : 'tensor');
  const rows = sampleRows(`fp8 rows ${m}`, m);
  const ref = fp8GemmReference(qa, qb, rows);
  const a = upload(dev, qa);
  const b = upload(dev, qb);
  return {
    a,
    b,
    rows,
    ref,
    [Symbol.dispose]() {
      for (const t of [a.values, a.scales, b.values, b.scales]) t.dispose();
    },
  };
}

/**
 * FP8 against the unrounded oracle from the same codes and scales: FP8 tensor
 * cores' accumulation plus the output's own rounding (tests/helpers/tolerance.ts).
 */
async function checkFp8(label: string, c: Tensor, n: number, k: number, rows: number[], ref: Float64Array): Promise<void> {
  const out = await c.toArray();
  expectAllFinite(label, out);
  expect(['f32', 'bf16']).toContain(c.dtype);
  expectClose(label, pickRows(out, n, rows), ref, productTolerance(c.dtype as 'f32' | 'bf16', ref, k, ['fp8-tensor-core']));
}

describe.skipIf(gpuFp8TensorSkip !== '')(`cuBLASLt FP8 GEMM, per-tensor scales, on CUDA${skipNote(gpuFp8TensorSkip)}`, () => {
  poisonDuring(() => gpu!);

  it.each([
    [16, 16, 16],
    [48, 272, 592],
    [64, 2112, 7168],
    [128, 7168, 2048],
  ] as Array<[number, number, number]>)('M=%i N=%i K=%i', async (m, n, k) => {
    using p = fp8Problem(m, n, k, 'tensor');
    for (const outDtype of ['f32', 'bf16'] as const) {
      using c = baselines.fp8Gemm(p.a, p.b, { mode: 'tensor', outDtype });
      expect([c.dtype, ...c.shape]).toEqual([outDtype, m, n]);
      await checkFp8(`fp8 tensor ->${outDtype} ${m}x${n}x${k}`, c, n, k, p.rows, p.ref);
    }
  });
});

// DeepSeek-V3 N×K shapes (docs/architecture.md, "Benchmarks and targets") at decode-sized M, and ragged K/N.
const FP8_BLOCK_SHAPES: Array<[number, number, number]> = [
  [48, 272, 592],
  [128, 128, 128],
  [64, 2112, 7168],
  [64, 24576, 1536],
  [64, 32768, 512],
  [64, 7168, 16384],
  [64, 4096, 7168],
  [128, 7168, 2048],
];

describe.skipIf(gpuFp8BlockSkip !== '')(`cuBLASLt FP8 GEMM, 1x128/128x128 block scales, on CUDA${skipNote(gpuFp8BlockSkip)}`, () => {
  poisonDuring(() => gpu!);

  it.each(LAYOUT_SHAPES)('the re-layout kernel matches the expected layout, M=%i N=%i K=%i', async (m, n, k) => {
    await checkPreparedLayout(gpu!, m, n, k);
  });

  it.each(FP8_BLOCK_SHAPES)('M=%i N=%i K=%i', async (m, n, k) => {
    using p = fp8Problem(m, n, k, 'block');
    using prepared = baselines.prepareFp8Gemm(p.a, p.b, { mode: 'block' });
    using c = prepared.run({ outDtype: 'bf16' });
    expect([c.dtype, ...c.shape]).toEqual(['bf16', m, n]);
    await checkFp8(`fp8 block ->bf16 ${m}x${n}x${k}`, c, n, k, p.rows, p.ref);
    // The one-call form (preparation included) does the same.
    using again = baselines.fp8Gemm(p.a, p.b, { mode: 'block' });
    await checkFp8(`fp8 block one call ->bf16 ${m}x${n}x${k}`, again, n, k, p.rows, p.ref);
  });
});
