/**
 * Suite `mla-prefill`: mla.prefill with the K/V decompression fused into
 * the attention kernel, one causal sequence of S = 512, 2048 and 4096
 * tokens at DeepSeek-V3's H = 128 heads (bf16), every CUDA version. TFLOP/s
 * counts the attention only, 2·H·(192 + 128)·P for P = S·(S + 1)/2 unmasked
 * pairs (DESIGN §6, `mlaPrefillFlops`); the decompression the kernel redoes
 * per query tile is not counted (its cost model is in cuda/mla/prefill_v1.cu).
 * Each CUDA case is first checked against the CPU twin on a slice of the
 * same problem (S ≤ 192, 2 heads: the twin's float64 loops would take
 * hours at full size). The CPU device times the CPU twin at reduced sizes
 * (S = 64 and 256, H = 4).
 *
 * `allocMiB` is the device memory the call allocates (its out and lse; the
 * kernel uses no scratch and never materializes K or V), from the output
 * sizes; the harness has no per-call peak measurement yet.
 *
 * The unfused cuBLAS baseline (decompress K and V with a GEMM into
 * [S, H, 256], then attention) is future work: a case named
 * `cublas-unfused-S<S>` would be each row's `baseline`.
 * @module
 */
import { type Device, type Tensor, device as getDevice, kernelVersions, mla } from '../../lib/index.js';
import { compareClose } from '../harness/compare.js';
import { causalPairs, mlaPrefillFlops } from '../harness/metrics.js';
import { type BenchCase, type BenchSuite, type CheckOutcome, type SuiteContext, benchCase } from '../harness/types.js';
import { uniformFloats } from '../fp8/inputs.js';

const SCALE = 192 ** -0.5 * (0.1 * Math.log(40) + 1) ** 2; // DeepSeek-V3
const CUDA_SEQS = [512, 2048, 4096] as const;
const CUDA_HEADS = 128;
const CPU_SEQS = [64, 256] as const;
const CPU_HEADS = 4;
const CHECK_SEQ = 192;
const CHECK_HEADS = 2;

interface Inputs {
  readonly q: Tensor;
  readonly latent: Tensor;
  readonly kRope: Tensor;
  readonly wkvB: Tensor;
  readonly cuSeqLens: Tensor;
}

/** One sequence of `seq` tokens and `heads` heads, uniform data of DeepSeek-like scales, made on the CPU and moved to `dev`. */
function setupInputs(dev: Device, seq: number, heads: number, seed: number): Inputs {
  const cpu = getDevice('cpu');
  const make = (n: number, shape: number[], scale: number, salt: number) => {
    using t = cpu.tensor(uniformFloats(seed ^ (seq * 7919 + heads * 31 + salt), n, scale), { shape, dtype: 'bf16' });
    return t.to(dev);
  };
  using cu = cpu.tensor(Int32Array.of(0, seq), { shape: [2], dtype: 'i32' });
  return {
    q: make(seq * heads * 192, [seq, heads, 192], 1, 1),
    latent: make(seq * 512, [seq, 512], 1, 2),
    kRope: make(seq * 64, [seq, 64], 1, 3),
    wkvB: make(heads * 256 * 512, [heads * 256, 512], 1 / Math.sqrt(512), 4),
    cuSeqLens: cu.to(dev),
  };
}

function dispose(s: Inputs): void {
  for (const t of [s.q, s.latent, s.kRope, s.wkvB, s.cuSeqLens]) t.dispose();
}

const prefillWith = (s: Inputs, impl: string) => mla.prefill({ ...s, softmaxScale: SCALE, causal: true, impl: impl as 'v1' });

/** `impl` against the CPU twin on a slice of the problem (CHECK_SEQ tokens, CHECK_HEADS heads). */
async function checkAgainstTwin(dev: Device, impl: string, seed: number): Promise<CheckOutcome> {
  const cpu = getDevice('cpu');
  const small = setupInputs(dev, CHECK_SEQ, CHECK_HEADS, seed);
  const host = setupInputs(cpu, CHECK_SEQ, CHECK_HEADS, seed);
  try {
    using got = prefillWith(small, impl);
    using want = prefillWith(host, 'auto');
    const out = compareClose(`${impl} out vs CPU (S ${CHECK_SEQ}, H ${CHECK_HEADS})`, await got.out.toArray(), await want.out.toArray(), 1e-2);
    if (!out.passed) return out;
    return compareClose(`${impl} lse vs CPU`, await got.lse.toArray(), await want.lse.toArray(), 8 / 65536);
  } finally {
    dispose(small);
    dispose(host);
  }
}

function cases(dev: Device, seqs: readonly number[], heads: number, seed: number): BenchCase[] {
  const versions = dev.kind === 'cuda' ? (kernelVersions()['mla.prefill'] ?? []).map((v) => v.name) : ['cpu'];
  const out: BenchCase[] = [];
  for (const s of seqs) {
    for (const v of versions) {
      out.push(
        benchCase<Inputs>({
          name: `${v}-S${s}`,
          params: { seq: s, heads, causal: true, impl: v, allocMiB: Number(((s * heads * 128 * 2 + heads * s * 4) / 2 ** 20).toFixed(2)) },
          flops: mlaPrefillFlops(causalPairs([s]), heads),
          flushL2: true,
          setup: () => setupInputs(dev, s, heads, seed),
          run: (st) => prefillWith(st, v),
          ...(dev.kind === 'cuda' ? { check: () => checkAgainstTwin(dev, v, seed) } : {}),
          teardown: dispose,
        }),
      );
    }
  }
  return out;
}

/** The MLA prefill suite (see the module comment). */
export const mlaPrefillSuite: BenchSuite = {
  name: 'mla-prefill',
  description: 'MLA prefill with K/V decompressed from the latent inside the attention kernel, DeepSeek-V3 (H = 128, 192/128, bf16), causal',
  notes: [
    'TFLOP/s counts the attention only: 2·H·(192+128)·P, P = S·(S+1)/2 (DESIGN §6); v1 also spends ~6.4x that on decompression (cost model in cuda/mla/prefill_v1.cu).',
    'allocMiB: what the call allocates (out and lse); K and V are never materialized.',
    'CUDA cases are checked against the CPU twin on a slice (S = 192, H = 2) before timing.',
    'On the CPU device: the CPU twin at reduced sizes (S = 64, 256, H = 4).',
    'The unfused cuBLAS baseline (decompression GEMM + attention) is not yet written.',
  ],
  cases(ctx: SuiteContext): readonly BenchCase[] {
    if (ctx.device.kind === 'cuda') return cases(ctx.device, ctx.quick ? CUDA_SEQS.slice(0, 2) : CUDA_SEQS, CUDA_HEADS, ctx.seed);
    return cases(ctx.device, ctx.quick ? CPU_SEQS.slice(0, 1) : CPU_SEQS, CPU_HEADS, ctx.seed);
  },
};
