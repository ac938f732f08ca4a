/**
 * Suite `gemm`: bf16 GEMM (C = A·Bᵀ, f32 accumulation, bf16 out) on the
 * DeepSeek-V3 shapes, every moekit CUDA version against cuBLASLt bf16 (the
 * ×baseline). Checked against the CPU on sampled rows before timing. The CPU
 * device times the CPU twin on small M.
 * @module
 */
import { type Device, type Tensor, baselines, device as getDevice, gemm, kernelVersions } from '../../lib/index.js';
import { DEEPSEEK_NK } from './fp8_gemm.bench.js';
import { type GemmInputs, SharedGemmInputs, checkRows } from '../fp8/inputs.js';
import { compareClose } from '../harness/compare.js';
import { gemmBytes, gemmFlops } from '../harness/metrics.js';
import { type BenchCase, type BenchSuite, type SuiteContext, benchCase } from '../harness/types.js';

async function cpuReference(inp: GemmInputs, rows: readonly number[]): Promise<Float32Array> {
  const cpu = getDevice('cpu');
  const x = new Float32Array(rows.length * inp.k);
  rows.forEach((r, i) => x.set(inp.hostX.subarray(r * inp.k, (r + 1) * inp.k), i * inp.k));
  using a = cpu.tensor(x, { shape: [rows.length, inp.k], dtype: 'bf16' });
  using b = cpu.tensor(inp.hostW, { shape: [inp.n, inp.k], dtype: 'bf16' });
  using c = gemm(a, b);
  return c.toArray();
}

function cases(dev: Device, shapes: ReadonlyArray<{ m: number; n: number; k: number }>, seed: number): BenchCase[] {
  const shared = new SharedGemmInputs(seed);
  const out: BenchCase[] = [];
  const cublas = dev.kind === 'cuda' && baselines.status(dev).gemm.available;
  const versions = dev.kind === 'cuda' ? (kernelVersions().gemm ?? []).map((v) => v.name) : ['cpu'];
  for (const s of shapes) {
    const name = `m${s.m}-n${s.n}-k${s.k}`;
    const rows = checkRows(s.m);
    const common = { flops: gemmFlops(s.m, s.n, s.k), bytes: gemmBytes(s.m, s.n, s.k, 2, 2) };
    const check = (run: (inp: GemmInputs) => Tensor, label: string) => async (inp: GemmInputs) => {
      using c = run(inp);
      const all = await c.toArray();
      const got = new Float32Array(rows.length * s.n);
      rows.forEach((r, i) => got.set(all.subarray(r * s.n, (r + 1) * s.n), i * s.n));
      return compareClose(`${label} vs CPU (${rows.length} rows)`, got, await cpuReference(inp, rows), 1e-2);
    };
    for (const v of versions) {
      const run = (inp: GemmInputs) => gemm(inp.x, inp.w, { impl: v as 'v1' });
      out.push(
        benchCase<GemmInputs>({
          name: `moekit-${v}-${name}`,
          params: { m: s.m, n: s.n, k: s.k, impl: v },
          ...common,
          ...(cublas ? { baseline: `cublaslt-bf16-${name}` } : {}),
          setup: () => shared.acquire(dev, s.m, s.n, s.k),
          run,
          ...(dev.kind === 'cuda' ? { check: check(run, v) } : {}),
          teardown: (inp) => shared.release(inp),
        }),
      );
    }
    if (cublas) {
      const run = (inp: GemmInputs) => baselines.gemm(inp.x, inp.w);
      out.push(
        benchCase<GemmInputs>({
          name: `cublaslt-bf16-${name}`,
          params: { m: s.m, n: s.n, k: s.k, impl: 'cuBLASLt bf16' },
          ...common,
          setup: () => shared.acquire(dev, s.m, s.n, s.k),
          run,
          check: check(run, 'cuBLASLt'),
          teardown: (inp) => shared.release(inp),
        }),
      );
    }
  }
  return out;
}

/** The bf16 GEMM suite (see the module comment). */
export const gemmSuite: BenchSuite = {
  name: 'gemm',
  description: 'bf16 GEMM (f32 accumulation) on the DeepSeek-V3 shapes vs cuBLASLt bf16',
  notes: ['TFLOP/s = 2·M·N·K / time; GB/s counts A, B and C once (bf16).'],
  cases(ctx: SuiteContext): readonly BenchCase[] {
    if (ctx.device.kind === 'cuda') {
      const ms = ctx.quick ? [128] : [64, 128, 4096];
      const nks = ctx.quick ? DEEPSEEK_NK.slice(0, 1) : DEEPSEEK_NK;
      return cases(ctx.device, ms.flatMap((m) => nks.map(([n, k]) => ({ m, n, k }))), ctx.seed);
    }
    const nks = ctx.quick ? DEEPSEEK_NK.slice(5) : [DEEPSEEK_NK[0]!, DEEPSEEK_NK[5]!];
    return cases(ctx.device, nks.map(([n, k]) => ({ m: ctx.quick ? 4 : 16, n, k })), ctx.seed);
  },
};
