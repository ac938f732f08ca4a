// A failure travels through every input of every op: for each op the binding
// exports and each of its tensor inputs, a run with that one input failed
// (binding().injectFailure, cast to the dtype the input needs) must fail
// every output with the op's "was not run because its input had failed",
// leave the healthy inputs readable, and never hand out numbers. The same
// with the failed input made on another device and moved (cpu -> cuda,
// cuda -> cpu) where a GPU is present, and for the cuBLASLt baselines where
// they load. How one failure travels in general: failures.test.ts.
import { afterEach, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import {
  type DType,
  type Device,
  KernelError,
  Tensor,
  asQuantized,
  baselines,
  dequantize,
  device,
  fp8Gemm,
  gemm,
  mla,
  moe,
  quantize,
} from '../../lib/index.js';
import { cudaDevice, cudaSkipReason, testDevices } from '../helpers/devices.js';
import { rng } from '../helpers/rng.js';

/** Makes the tensor of input `position`: failed when it is the one under test, else healthy. */
type InputMaker = (position: number, shape: number[], dtype: DType) => Tensor;

interface OpCase {
  /** The public call, e.g. 'gemm' or 'tensor.clone'. */
  readonly name: string;
  /** The binding functions it exercises (for the coverage check). */
  readonly native: readonly string[];
  /** Its tensor inputs, by position. */
  readonly inputs: readonly string[];
  /** The queued op's name in "<device>: <op> was not run"; undefined for views (reshape), which share the failed buffer. */
  readonly op: string | undefined;
  /** Runs it on `dev`; returns every output. */
  run(input: InputMaker, dev: Device): Tensor[];
  /** Baselines only: the feature of baselines.status() it needs. */
  readonly feature?: 'gemm' | 'fp8Tensor' | 'fp8Block' | 'groupedGemm' | 'mla';
}

const CASES: OpCase[] = [
  { name: 'tensor.cast', native: ['cast'], inputs: ['tensor'], op: 'cast', run: (input) => [input(0, [4, 8], 'f32').cast('bf16')] },
  { name: 'tensor.to', native: ['copyTo'], inputs: ['tensor'], op: 'to', run: (input, dev) => [input(0, [4, 8], 'bf16').to(dev)] },
  { name: 'tensor.clone', native: ['copyTo'], inputs: ['tensor'], op: 'to', run: (input) => [input(0, [4, 8], 'e4m3').clone()] },
  { name: 'tensor.reshape', native: ['reshape'], inputs: ['tensor'], op: undefined, run: (input) => [input(0, [4, 8], 'f16').reshape([8, 4])] },
  {
    name: 'quantize',
    native: ['quantize'],
    inputs: ['x'],
    op: 'quantize',
    run: (input) => {
      const q = quantize(input(0, [4, 256], 'bf16'), { block: [1, 128] });
      return [q.values, q.scales];
    },
  },
  {
    name: 'dequantize',
    native: ['dequantize', 'checkQuantized'],
    inputs: ['q.values', 'q.scales'],
    op: 'dequantize',
    run: (input) => [dequantize(asQuantized(input(0, [130, 256], 'e4m3') as Tensor<'e4m3'>, input(1, [2, 2], 'f32') as Tensor<'f32'>, { block: [128, 128] }), { dtype: 'bf16' })],
  },
  { name: 'gemm', native: ['gemm'], inputs: ['a', 'b'], op: 'gemm', run: (input) => [gemm(input(0, [5, 64], 'bf16'), input(1, [7, 64], 'bf16'))] },
  {
    name: 'fp8Gemm',
    native: ['fp8Gemm', 'checkQuantized'],
    inputs: ['a.values', 'a.scales', 'b.values', 'b.scales'],
    op: 'fp8Gemm',
    run: (input) => {
      const a = asQuantized(input(0, [5, 256], 'e4m3') as Tensor<'e4m3'>, input(1, [5, 2], 'f32') as Tensor<'f32'>, { block: [1, 128] });
      const b = asQuantized(input(2, [130, 256], 'e4m3') as Tensor<'e4m3'>, input(3, [2, 2], 'f32') as Tensor<'f32'>, { block: [128, 128] });
      return [fp8Gemm(a, b, { outDtype: 'f32' })];
    },
  },
  {
    name: 'moe.route',
    native: ['moeRoute'],
    inputs: ['logits', 'options.bias'],
    op: 'moe.route',
    run: (input) => {
      const r = moe.route(input(0, [5, 64], 'f32'), { topK: 6, groups: 8, topGroups: 3, bias: input(1, [64], 'f32') as Tensor<'f32'> });
      return [r.ids, r.weights, r.counts];
    },
  },
  {
    name: 'moe.updateBias',
    native: ['moeUpdateBias'],
    inputs: ['bias', 'counts'],
    op: 'moe.updateBias',
    run: (input) => [moe.updateBias(input(0, [64], 'f32'), input(1, [64], 'i32'), { rate: 1e-3 })],
  },
  {
    name: 'moe.permute',
    native: ['moePermute'],
    inputs: ['ids'],
    op: 'moe.permute',
    run: (input) => {
      const p = moe.permute(input(0, [5, 6], 'i32'), 64, { align: 4 });
      return [p.rowIds, p.offsets, p.counts, p.inverse];
    },
  },
  {
    name: 'moe.groupedGemm',
    native: ['moeGroupedGemm'],
    inputs: ['x', 'w', 'offsets', 'counts', 'rowScale'],
    op: 'moe.groupedGemm',
    run: (input) => [
      moe.groupedGemm(input(0, [6, 32], 'bf16'), input(1, [3, 16, 32], 'bf16'), input(2, [4], 'i32'), {
        counts: input(3, [3], 'i32'),
        rowScale: input(4, [6], 'f32'),
      }),
    ],
  },
  {
    name: 'moe.groupedGemmMasked (fp8)',
    native: ['moeGroupedGemm'],
    inputs: ['x.values', 'x.scales', 'w.values', 'w.scales', 'counts'],
    op: 'moe.groupedGemm',
    run: (input) => {
      const x = asQuantized(input(0, [3, 4, 256], 'e4m3') as Tensor<'e4m3'>, input(1, [3, 4, 2], 'f32') as Tensor<'f32'>, { block: [1, 128] });
      const w = asQuantized(input(2, [3, 128, 256], 'e4m3') as Tensor<'e4m3'>, input(3, [3, 1, 2], 'f32') as Tensor<'f32'>, { block: [128, 128] });
      return [moe.groupedGemmMasked(x, w, input(4, [3], 'i32'))];
    },
  },
  { name: 'moe.gather', native: ['moeGather'], inputs: ['x', 'rowIds'], op: 'moe.gather', run: (input) => [moe.gather(input(0, [5, 130], 'bf16'), input(1, [12], 'i32'), 2)] },
  {
    name: "moe.gather (quantize 'e4m3')",
    native: ['moeGather'],
    inputs: ['x', 'rowIds'],
    op: 'moe.gather',
    run: (input) => {
      const q = moe.gather(input(0, [5, 130], 'bf16'), input(1, [12], 'i32'), 2, { quantize: 'e4m3' });
      return [q.values, q.scales];
    },
  },
  { name: 'moe.swiglu', native: ['moeSwiglu'], inputs: ['h'], op: 'moe.swiglu', run: (input) => [moe.swiglu(input(0, [6, 260], 'bf16'))] },
  {
    name: "moe.swiglu (quantize 'e5m2')",
    native: ['moeSwiglu'],
    inputs: ['h'],
    op: 'moe.swiglu',
    run: (input) => {
      const q = moe.swiglu(input(0, [6, 260], 'f32'), { quantize: 'e5m2' });
      return [q.values, q.scales];
    },
  },
  {
    name: 'KvCache.append',
    native: ['mlaAppend'],
    inputs: ['latent', 'kRope', 'blockTable'],
    op: 'mla.append',
    run: (input, dev) => {
      using cache = mla.createCache(dev, { blocks: 4, pageSize: 16, dtype: 'e4m3' });
      cache.append({ latent: input(0, [2, 3, 512], 'bf16'), kRope: input(1, [2, 3, 64], 'bf16'), blockTable: input(2, [2, 2], 'i32'), positions: [0, 5] });
      // The cache is written in place: a copy of it carries the failure.
      return [cache.toTensor()];
    },
  },
  {
    name: 'mla.decode',
    native: ['mlaDecode'],
    inputs: ['q', 'kvCache', 'blockTable', 'seqLens'],
    op: 'mla.decode',
    run: (input) => {
      const r = mla.decode({
        q: input(0, [2, 1, 3, 576], 'bf16'),
        kvCache: input(1, [4, 16, 576], 'bf16'),
        blockTable: input(2, [2, 2], 'i32'),
        seqLens: input(3, [2], 'i32'),
        softmaxScale: 0.1,
      });
      return [r.out, r.lse];
    },
  },
  {
    name: 'moe.combine',
    native: ['moeCombine'],
    inputs: ['y', 'inverse', 'options.weights', 'options.shared'],
    op: 'moe.combine',
    run: (input) => [
      moe.combine(input(0, [12, 64], 'bf16'), input(1, [5, 2], 'i32'), { weights: input(2, [5, 2], 'f32') as Tensor<'f32'>, shared: input(3, [5, 64], 'f16') }),
    ],
  },
  {
    name: 'mla.prefill',
    native: ['mlaPrefill'],
    inputs: ['q', 'latent', 'kRope', 'wkvB', 'cuSeqLens'],
    op: 'mla.prefill',
    run: (input) => {
      const r = mla.prefill({
        q: input(0, [3, 1, 192], 'bf16'),
        latent: input(1, [3, 512], 'bf16'),
        kRope: input(2, [3, 64], 'bf16'),
        wkvB: input(3, [256, 512], 'bf16'),
        cuSeqLens: input(4, [2], 'i32'),
        softmaxScale: 0.1,
      });
      return [r.out, r.lse];
    },
  },
  { name: 'mla.absorbQuery', native: ['mlaAbsorbQuery'], inputs: ['qNope', 'wkvB'], op: 'mla.absorbQuery', run: (input) => [mla.absorbQuery(input(0, [2, 1, 128], 'bf16'), input(1, [256, 512], 'bf16'))] },
  { name: 'mla.projectOutput', native: ['mlaProjectOutput'], inputs: ['o', 'wkvB'], op: 'mla.projectOutput', run: (input) => [mla.projectOutput(input(0, [2, 1, 512], 'bf16'), input(1, [256, 512], 'bf16'))] },
  // The steps of the MLA baselines run on any device (their CPU twins here).
  {
    name: 'baselines.mlaGather',
    native: ['baselineMlaGather'],
    inputs: ['cache', 'blockTable'],
    op: 'baseline mla gather',
    run: (input) => [baselines.mlaGather(input(0, [3, 4, 576], 'bf16'), input(1, [2, 2], 'i32'), [5, 8])],
  },
  {
    name: 'baselines.mlaSoftmax',
    native: ['baselineMlaSoftmax'],
    inputs: ['scores'],
    op: 'baseline mla softmax',
    run: (input) => {
      const r = baselines.mlaSoftmax(input(0, [2, 6, 9], 'f32'), { lengths: [9, 4], heads: 3, queries: 2, softmaxScale: 0.5, causal: true });
      return [r.probs, r.lse];
    },
  },
  {
    name: 'baselines.mlaAssembleKeys',
    native: ['baselineMlaAssemble'],
    inputs: ['kv', 'kRope'],
    op: 'baseline mla assemble',
    run: (input) => [baselines.mlaAssembleKeys(input(0, [3, 512], 'bf16'), input(1, [3, 64], 'bf16'))],
  },
];

// cuBLASLt and cuBLAS, on CUDA devices only (M, N, K multiples of 16 for the GEMMs).
const BASELINE_CASES: OpCase[] = [
  { name: 'baselines.gemm', native: ['baselineGemm'], feature: 'gemm', inputs: ['a', 'b'], op: 'baseline gemm', run: (input) => [baselines.gemm(input(0, [16, 64], 'bf16'), input(1, [32, 64], 'bf16'))] },
  ...(['tensor', 'block'] as const).map(
    (mode): OpCase => ({
      name: `baselines.fp8Gemm (mode '${mode}')`,
      native: ['baselineFp8Prepare', 'baselineFp8Gemm'],
      feature: mode === 'tensor' ? 'fp8Tensor' : 'fp8Block',
      inputs: ['a.values', 'a.scales', 'b.values', 'b.scales'],
      op: 'baseline gemm',
      run: (input) => {
        const [sa, sb] = mode === 'tensor' ? [[1], [1]] : [[16, 2], [1, 2]];
        const a = { values: input(0, [16, 256], 'e4m3'), scales: input(1, sa!, 'f32') };
        const b = { values: input(2, [32, 256], 'e4m3'), scales: input(3, sb!, 'f32') };
        return [baselines.fp8Gemm(a, b, { mode, outDtype: 'f32' })];
      },
    }),
  ),
  ...(['loop', 'grouped'] as const).map(
    (mode): OpCase => ({
      name: `baselines.groupedGemm (mode '${mode}')`,
      native: ['baselineGroupedGemm'],
      feature: mode === 'loop' ? 'gemm' : 'groupedGemm',
      inputs: ['x', 'w'],
      op: 'baseline grouped gemm',
      run: (input) => [baselines.groupedGemm(input(0, [24, 64], 'bf16'), input(1, [2, 32, 64], 'bf16'), { offsets: [0, 16, 24], counts: [9, 8] }, { mode })],
    }),
  ),
  {
    name: 'baselines.mlaDecode',
    native: ['baselineMlaDecode'],
    feature: 'mla',
    inputs: ['q', 'cache', 'blockTable'],
    op: 'baseline mla decode',
    run: (input) => {
      const r = baselines.mlaDecode({ q: input(0, [2, 1, 2, 576], 'bf16'), cache: input(1, [3, 4, 576], 'bf16'), blockTable: input(2, [2, 2], 'i32'), seqLens: [5, 8], softmaxScale: 0.1 });
      return [r.out, r.lse];
    },
  },
  {
    name: 'baselines.mlaPrefill',
    native: ['baselineMlaPrefill'],
    feature: 'mla',
    inputs: ['q', 'latent', 'kRope', 'wkvB'],
    op: 'baseline mla prefill',
    run: (input) => {
      const r = baselines.mlaPrefill({
        q: input(0, [5, 2, 192], 'bf16'),
        latent: input(1, [5, 512], 'bf16'),
        kRope: input(2, [5, 64], 'bf16'),
        wkvB: input(3, [512, 512], 'bf16'),
        seqLens: [2, 3],
        softmaxScale: 0.1,
      });
      return [r.out, r.lse];
    },
  },
  {
    name: 'baselines.fp8GroupedGemm',
    native: ['baselineFp8GroupedPrepare', 'baselineFp8GroupedGemm'],
    feature: 'fp8Block',
    inputs: ['x.values', 'x.scales', 'w.values', 'w.scales'],
    op: 'baseline grouped gemm',
    run: (input) => {
      const x = { values: input(0, [32, 256], 'e4m3'), scales: input(1, [32, 2], 'f32') };
      const w = { values: input(2, [2, 32, 256], 'e4m3'), scales: input(3, [2, 1, 2], 'f32') };
      return [baselines.fp8GroupedGemm(x, w, { offsets: [0, 16, 32] })];
    },
  },
];

// Binding functions that take no tensor whose failure could travel:
// queries, constructors from host data, device-level calls, host codecs.
const NO_TENSOR_INPUT = new Set([
  'moekitAbi', 'NativeTensor', 'buildInfo', 'devices', 'cudaStatus', 'fromData', 'empty', 'zeros', 'synchronize', 'memory',
  'releaseCache', 'setPoison', 'injectFailure', 'queueStats', 'holdQueue', 'marker', 'elapsed', 'fp8Encode', 'fp8Decode', 'kernelVersions',
  'baselineStatus', 'emulationSelfTest',
]);
// Covered elsewhere: read in failures.test.ts ('the failed output rejects every read with the op that failed'),
// writeInPlace (a test hook) in in_place.test.ts.
const COVERED_ELSEWHERE = new Set(['read', 'writeInPlace']);

const tracked: Tensor[] = [];
afterEach(async () => {
  for (const t of tracked.splice(0)) t.dispose();
  // Clear the device-level report of the injected failures.
  for (const d of testDevices()) await d.synchronize().catch(() => undefined);
});

function healthy(dev: Device, shape: number[], dtype: DType, stream: string): Tensor {
  const r = rng(stream);
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'e4m3' || dtype === 'e5m2') return dev.tensor(Uint8Array.from({ length: n }, () => r.int(0, 0x77)), { shape, dtype });
  if (dtype === 'i32') return dev.tensor(Int32Array.from({ length: n }, () => r.int(0, 64)), { shape, dtype });
  return dev.tensor(r.uniformArray(n, 0.5, 2), { shape, dtype });
}

/** A tensor of `dtype` on `dev` whose producing work failed on `source`. */
function failed(source: Device, dev: Device, shape: number[], dtype: DType): Tensor {
  let t = Tensor.fromNative(binding().injectFailure(source.id, shape));
  tracked.push(t);
  if (dtype !== 'f32') tracked.push((t = t.cast(dtype)));
  if (source !== dev) tracked.push((t = t.to(dev)));
  return t;
}

/** Runs `c` on `dev` with input `position` failed on `source`, and checks what comes out. */
async function checkFailedInput(c: OpCase, position: number, source: Device, dev: Device): Promise<void> {
  const ok: Tensor[] = [];
  const input: InputMaker = (i, shape, dtype) => {
    const t = i === position ? failed(source, dev, shape, dtype) : healthy(dev, shape, dtype, `${c.name} ${i}`);
    if (i !== position) ok.push(t);
    tracked.push(t);
    return t;
  };
  const outputs = c.run(input, dev);
  tracked.push(...outputs);
  expect(outputs.length).toBeGreaterThan(0);
  // Take the source device's one report of the injected failure first (ops
  // that were not run report nothing to their device), so that a read below
  // fails only for what its own tensor carries.
  await expect(source.synchronize()).rejects.toThrow(KernelError);
  if (dev !== source) await dev.synchronize().catch(() => undefined);
  const cause = `${source.id}: injectFailure failed: failure injected for a test`;
  const what = c.op ? `${dev.id}: ${c.op} was not run because its input had failed (` : '';
  for (const [i, out] of outputs.entries()) {
    const read = await out.toArray().then(
      (values) => `numbers (${Array.from(values.slice(0, 4)).join(', ')}, ...)`,
      (e: unknown) => e,
    );
    if (!(read instanceof KernelError)) {
      expect.fail(`${c.name} with ${c.inputs[position]} failed: output ${i} gave ${read instanceof Error ? `${read.name}: ${read.message}` : read}, not the failure`);
    }
    expect(read.message, `${c.name} with ${c.inputs[position]} failed: output ${i}`).toContain(what);
    expect(read.message, `${c.name} with ${c.inputs[position]} failed: output ${i}`).toContain(cause);
  }
  // The healthy inputs are untouched.
  for (const t of ok) await expect(t.toArray()).resolves.toBeDefined();
}

const cases = (list: readonly OpCase[]) => list.flatMap((c) => c.inputs.map((arg, position) => [`${c.name}, ${arg} failed`, c, position] as const));

describe('a failed input fails every output, at every input position of every op (cpu)', () => {
  it.each(cases(CASES))('%s', async (_, c, position) => {
    await checkFailedInput(c, position, cpu, cpu);
  });

  it('every binding function that takes tensors has its cases here', () => {
    const covered = new Set([...CASES, ...BASELINE_CASES].flatMap((c) => c.native));
    const missing = Object.keys(binding()).filter((name) => !NO_TENSOR_INPUT.has(name) && !COVERED_ELSEWHERE.has(name) && !covered.has(name));
    expect(missing, 'binding functions without failure cases: add a case per tensor input (or list them as taking none)').toEqual([]);
  });
});

const gpu = cudaDevice();
const cpu = device('cpu');
/** The devices of a pair by kind; only called inside tests that run where a GPU is. */
const on = (kind: 'cpu' | 'cuda'): Device => (kind === 'cpu' ? cpu : gpu!);
const PAIRS = [
  ['cuda', 'cuda'],
  ['cpu', 'cuda'],
  ['cuda', 'cpu'],
] as const;

describe.skipIf(!gpu)(`across devices${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  describe.each(PAIRS.map(([source, dev]) => [`failed on ${source}, op on ${dev}`, source, dev] as const))('%s', (_, source, dev) => {
    it.each(cases(CASES))('%s', async (__, c, position) => {
      await checkFailedInput(c, position, on(source), on(dev));
    });
  });
});

const baselineStatus = gpu ? baselines.status(gpu) : undefined;
/** Why a baseline case cannot run here ('' when it can). */
function baselineSkip(c: OpCase): string {
  if (!gpu) return cudaSkipReason();
  if (!baselineStatus!.available) return baselineStatus!.reason;
  return baselineStatus![c.feature!].reason;
}

for (const c of BASELINE_CASES) {
  const skip = baselineSkip(c);
  describe.skipIf(skip !== '')(`cuBLASLt ${c.name}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    describe.each(PAIRS.filter(([, dev]) => dev === 'cuda').map(([source, dev]) => [`failed on ${source}, op on ${dev}`, source, dev] as const))(
      '%s',
      (_, source, dev) => {
        it.each(cases([c]))('%s', async (__, cc, position) => {
          await checkFailedInput(cc, position, on(source), on(dev));
        });
      },
    );
  });
}
