/**
 * Suite `fp8`: block-scaled FP8 GEMM on the DeepSeek-V3 shapes
 * (N×K ∈ {2112×7168, 24576×1536, 32768×512, 7168×16384, 4096×7168,
 * 7168×2048}, M ∈ {64, 128, 4096}), every moekit CUDA version against
 * every cuBLASLt baseline the machine has: block-scaled FP8 (1x128 / 128x128,
 * cuBLAS ≥ 12.9 on sm_90), per-tensor FP8 and bf16. ×baseline compares with
 * the block-scaled cuBLASLt run when there is one, else per-tensor FP8.
 *
 * Each case is checked before timing: moekit's versions and the
 * block-scaled baseline against the CPU twin on the same quantized inputs
 * (sampled rows), the other baselines against the CPU bf16 product. The L2
 * is flushed before every repeat, so small shapes are not served from cache.
 *
 * On the CPU device it times the CPU twin on smaller M (GFLOP/s of the
 * reference backend).
 * @module
 */
import {
  type Device,
  type Quantized,
  type Tensor,
  asQuantized,
  baselines,
  device as getDevice,
  fp8Gemm,
  gemm,
  kernelVersions,
  quantize,
} from '../../lib/index.js';
import { compareClose } from '../harness/compare.js';
import { fp8GemmBytes, gemmBytes, gemmFlops } from '../harness/metrics.js';
import { type BenchCase, type BenchSuite, type CheckOutcome, type SuiteContext, benchCase } from '../harness/types.js';
import { type GemmInputs, SharedGemmInputs, checkRows } from '../fp8/inputs.js';

/** The DeepSeek-V3 N×K of the FP8 GEMMs (docs/architecture.md, "Benchmarks and targets"). */
export const DEEPSEEK_NK: ReadonlyArray<readonly [number, number]> = [
  [2112, 7168],
  [24576, 1536],
  [32768, 512],
  [7168, 16384],
  [4096, 7168],
  [7168, 2048],
];

const GPU_M = [64, 128, 4096];
const CPU_M = 16;
const CPU_NK: ReadonlyArray<readonly [number, number]> = [
  [2112, 7168],
  [4096, 7168],
  [7168, 2048],
];

/** A [rows, k] slice of a quantized 1x128 operand, on the CPU. */
async function cpuRows(q: Quantized, rows: readonly number[]): Promise<Quantized> {
  const [m, k] = q.shape as [number, number];
  const kb = Math.ceil(k / 128);
  const codes = await q.values.bytes();
  const scales = await q.scales.toArray();
  const rowCodes = new Uint8Array(rows.length * k);
  const rowScales = new Float32Array(rows.length * kb);
  rows.forEach((r, i) => {
    if (r >= m) throw new RangeError(`row ${r} of ${m}`);
    rowCodes.set(codes.subarray(r * k, (r + 1) * k), i * k);
    rowScales.set(scales.subarray(r * kb, (r + 1) * kb), i * kb);
  });
  const cpu = getDevice('cpu');
  return asQuantized(cpu.tensor(rowCodes, { shape: [rows.length, k], dtype: q.format }), cpu.tensor(rowScales, { shape: [rows.length, kb] }), {
    block: [1, 128],
  });
}

/** CPU references of a shape's sampled rows, computed once for all its cases. */
class References {
  readonly #fp8 = new WeakMap<GemmInputs, Promise<Float32Array>>();
  readonly #bf16 = new WeakMap<GemmInputs, Promise<Float32Array>>();

  /** The CPU twin of fp8Gemm (bf16 out) on rows {@link checkRows}. */
  fp8(inputs: GemmInputs): Promise<Float32Array> {
    let p = this.#fp8.get(inputs);
    if (!p) {
      p = (async () => {
        const cpu = getDevice('cpu');
        using a = await cpuRows(inputs.xq, checkRows(inputs.m));
        using values = inputs.wq.values.to(cpu);
        using scales = inputs.wq.scales.to(cpu);
        using b = asQuantized(values.clone(), scales.clone(), { block: [128, 128] });
        using c = fp8Gemm(a, b);
        return c.toArray();
      })();
      this.#fp8.set(inputs, p);
    }
    return p;
  }

  /** The CPU bf16 product (bf16 out) on rows {@link checkRows}. */
  bf16(inputs: GemmInputs): Promise<Float32Array> {
    let p = this.#bf16.get(inputs);
    if (!p) {
      p = (async () => {
        const cpu = getDevice('cpu');
        const rows = checkRows(inputs.m);
        const x = new Float32Array(rows.length * inputs.k);
        rows.forEach((r, i) => x.set(inputs.hostX.subarray(r * inputs.k, (r + 1) * inputs.k), i * inputs.k));
        using a = cpu.tensor(x, { shape: [rows.length, inputs.k], dtype: 'bf16' });
        using b = cpu.tensor(inputs.hostW, { shape: [inputs.n, inputs.k], dtype: 'bf16' });
        using c = gemm(a, b);
        return c.toArray();
      })();
      this.#bf16.set(inputs, p);
    }
    return p;
  }
}

/** The sampled rows of a [m, n] output. */
async function outputRows(out: Tensor, n: number, rows: readonly number[]): Promise<Float32Array> {
  const all = await out.toArray();
  const picked = new Float32Array(rows.length * n);
  rows.forEach((r, i) => picked.set(all.subarray(r * n, (r + 1) * n), i * n));
  return picked;
}

/** DeepGEMM's metric 1 − 2Σxy/Σ(x²+y²) as a check (for quantization that differs from the reference's). */
function compareDiff(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, bound: number): CheckOutcome {
  let xy = 0;
  let squares = 0;
  for (let i = 0; i < actual.length; i++) {
    xy += actual[i]! * expected[i]!;
    squares += actual[i]! ** 2 + expected[i]! ** 2;
  }
  const diff = squares === 0 ? 0 : 1 - (2 * xy) / squares;
  return { passed: diff < bound, detail: `${label}: DeepGEMM diff ${diff.toExponential(2)} (bound ${bound})` };
}

interface Shape {
  readonly m: number;
  readonly n: number;
  readonly k: number;
}

function shapeName(s: Shape): string {
  return `m${s.m}-n${s.n}-k${s.k}`;
}

function gpuCases(dev: Device, shapes: readonly Shape[], shared: SharedGemmInputs, refs: References): BenchCase[] {
  const status = baselines.status(dev);
  const versions = kernelVersions().fp8Gemm ?? [];
  const cases: BenchCase[] = [];
  for (const s of shapes) {
    const name = shapeName(s);
    const params = { m: s.m, n: s.n, k: s.k };
    const flops = gemmFlops(s.m, s.n, s.k);
    const fp8Bytes = fp8GemmBytes(s.m, s.n, s.k, 2);
    const baseline = status.fp8Block.available ? `cublaslt-block-${name}` : status.fp8Tensor.available ? `cublaslt-tensor-${name}` : undefined;
    const rows = checkRows(s.m);
    for (const v of versions) {
      cases.push(
        benchCase<GemmInputs>({
          name: `moekit-${v.name}-${name}`,
          params: { ...params, impl: v.name, verified: v.verifiedOn.length > 0 },
          flops,
          bytes: fp8Bytes,
          ...(baseline ? { baseline } : {}),
          setup: () => shared.acquire(dev, s.m, s.n, s.k),
          run: (inp) => fp8Gemm(inp.xq, inp.wq, { impl: v.name as 'v1' }),
          async check(inp) {
            using out = fp8Gemm(inp.xq, inp.wq, { impl: v.name as 'v1' });
            return compareClose(`${v.name} vs CPU twin (${rows.length} rows)`, await outputRows(out, s.n, rows), await refs.fp8(inp), 1e-3);
          },
          teardown: (inp) => shared.release(inp),
        }),
      );
    }
    if (status.fp8Block.available) {
      cases.push(
        benchCase<{ inp: GemmInputs; prepared: baselines.PreparedFp8Gemm }>({
          name: `cublaslt-block-${name}`,
          params: { ...params, impl: 'cuBLASLt 1x128/128x128' },
          flops,
          bytes: fp8Bytes,
          async setup() {
            const inp = await shared.acquire(dev, s.m, s.n, s.k);
            return { inp, prepared: baselines.prepareFp8Gemm(inp.xq, inp.wq, { mode: 'block' }) };
          },
          run: (st) => st.prepared.run(),
          async check(st) {
            using out = st.prepared.run();
            return compareClose(`cuBLASLt block vs CPU twin`, await outputRows(out, s.n, rows), await refs.fp8(st.inp), 2e-3);
          },
          teardown(st) {
            st.prepared.dispose();
            shared.release(st.inp);
          },
        }),
      );
    }
    if (status.fp8Tensor.available) {
      cases.push(
        benchCase<{ inp: GemmInputs; xq: Quantized; wq: Quantized; prepared: baselines.PreparedFp8Gemm }>({
          name: `cublaslt-tensor-${name}`,
          params: { ...params, impl: 'cuBLASLt per-tensor' },
          flops,
          bytes: fp8Bytes,
          async setup() {
            const inp = await shared.acquire(dev, s.m, s.n, s.k);
            const xq = quantize(inp.x, { block: 'tensor' });
            const wq = quantize(inp.w, { block: 'tensor' });
            return { inp, xq, wq, prepared: baselines.prepareFp8Gemm(xq, wq, { mode: 'tensor' }) };
          },
          run: (st) => st.prepared.run(),
          async check(st) {
            using out = st.prepared.run();
            return compareDiff('cuBLASLt per-tensor vs CPU bf16', await outputRows(out, s.n, rows), await refs.bf16(st.inp), 1e-2);
          },
          teardown(st) {
            st.prepared.dispose();
            st.xq.dispose();
            st.wq.dispose();
            shared.release(st.inp);
          },
        }),
      );
    }
    if (status.gemm.available) {
      cases.push(
        benchCase<GemmInputs>({
          name: `cublaslt-bf16-${name}`,
          params: { ...params, impl: 'cuBLASLt bf16' },
          flops,
          bytes: gemmBytes(s.m, s.n, s.k, 2, 2),
          setup: () => shared.acquire(dev, s.m, s.n, s.k),
          run: (inp) => baselines.gemm(inp.x, inp.w),
          async check(inp) {
            using out = baselines.gemm(inp.x, inp.w);
            return compareClose('cuBLASLt bf16 vs CPU bf16', await outputRows(out, s.n, rows), await refs.bf16(inp), 1e-2);
          },
          teardown: (inp) => shared.release(inp),
        }),
      );
    }
  }
  return cases;
}

function cpuCases(dev: Device, shapes: readonly Shape[], shared: SharedGemmInputs): BenchCase[] {
  return shapes.map((s) =>
    benchCase<GemmInputs>({
      name: `cpu-${shapeName(s)}`,
      params: { m: s.m, n: s.n, k: s.k, impl: 'cpu' },
      flops: gemmFlops(s.m, s.n, s.k),
      bytes: fp8GemmBytes(s.m, s.n, s.k, 2),
      setup: () => shared.acquire(dev, s.m, s.n, s.k),
      run: (inp) => fp8Gemm(inp.xq, inp.wq),
      teardown: (inp) => shared.release(inp),
    }),
  );
}

/** The FP8 GEMM suite (see the module comment). */
export const fp8Suite: BenchSuite = {
  name: 'fp8',
  description: 'block-scaled FP8 GEMM (1x128 x 128x128, promotion every 128 K) on the DeepSeek-V3 shapes vs cuBLASLt',
  notes: [
    'TFLOP/s = 2·M·N·K / time; GB/s counts A and B codes, their f32 scales and the bf16 output once.',
    'x baseline: cuBLASLt block-scaled FP8 of the same shape when available (cuBLAS >= 12.9, sm_90), else per-tensor FP8.',
    'verified=false: a version that has not passed the CUDA tests on this architecture (auto does not pick it).',
  ],
  cases(ctx: SuiteContext): readonly BenchCase[] {
    const shared = new SharedGemmInputs(ctx.seed);
    if (ctx.device.kind === 'cuda') {
      const ms = ctx.quick ? [128] : GPU_M;
      const nks = ctx.quick ? DEEPSEEK_NK.slice(0, 2) : DEEPSEEK_NK;
      return gpuCases(ctx.device, ms.flatMap((m) => nks.map(([n, k]) => ({ m, n, k }))), shared, new References());
    }
    const nks = ctx.quick ? CPU_NK.slice(2) : CPU_NK;
    return cpuCases(ctx.device, nks.map(([n, k]) => ({ m: ctx.quick ? 4 : CPU_M, n, k })), shared);
  },
};
