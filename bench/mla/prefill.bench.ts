/**
 * The MLA prefill cases of the `mla` suite (bench/mla/mla.bench.ts):
 * mla.prefill with the K/V decompression fused into the attention kernel,
 * one causal sequence of S = 512, 2048 and 4096 tokens at DeepSeek-V3's
 * H = 128 heads (bf16), every CUDA version; and the unfused cuBLAS path
 * (baselines.mlaPrefill: decompress K and V with a GEMM into [S, H, 256],
 * assemble the keys, then scores, softmax and P·V), each row's baseline.
 * TFLOP/s counts the attention only, 2·H·(192 + 128)·P for P = S·(S + 1)/2
 * unmasked pairs (DESIGN §6, `mlaPrefillFlops`), for both; the
 * decompression the fused kernel redoes per query tile is not counted (its
 * cost model is in cuda/mla/prefill_v1.cu). Each CUDA case is first checked
 * against the CPU twin on a slice of the same problem (S ≤ 192, 2 heads:
 * the twin's float64 loops would take hours at full size). The CPU device
 * times the CPU twin at reduced sizes (S = 64 and 256, H = 4).
 *
 * `peakBytes` is the device memory a call allocates beyond its inputs, from
 * the sizes: moekit's out and lse (the kernel uses no scratch and never
 * materializes K or V); the baseline's out and lse plus its workspace
 * (baselines.mlaPrefillWorkspaceBytes: K, V, the assembled keys, the S×S
 * scores and probabilities of every head; its check asserts the call
 * reports the same). Device.memory() has no high-water mark (it reports
 * live bytes, the pool's reserved bytes and free device memory), so the
 * peak is not measured.
 * @module
 */
import { type Device, type Tensor, baselines, device as getDevice, kernelVersions, mla } from '../../lib/index.js';
import { compareClose } from '../harness/compare.js';
import { causalPairs, mlaPrefillFlops } from '../harness/metrics.js';
import { type BenchCase, type CheckOutcome, benchCase } from '../harness/types.js';
import { uniformFloats } from '../fp8/inputs.js';

const SCALE = 192 ** -0.5 * (0.1 * Math.log(40) + 1) ** 2; // DeepSeek-V3
const CUDA_SEQS = [512, 2048, 4096] as const;
const CUDA_HEADS = 128;
const CPU_SEQS = [64, 256] as const;
const CPU_HEADS = 4;
const CHECK_SEQ = 192;
const CHECK_HEADS = 2;

interface Inputs {
  readonly seq: number;
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
    seq,
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

/** Prefills the inputs once: moekit's version, or the unfused baseline. */
type Prefiller = (s: Inputs) => { out: Tensor; lse: Tensor; workspaceBytes?: number } & Disposable;

const prefillWith =
  (impl: string): Prefiller =>
  (s) =>
    mla.prefill({ q: s.q, latent: s.latent, kRope: s.kRope, wkvB: s.wkvB, cuSeqLens: s.cuSeqLens, softmaxScale: SCALE, causal: true, impl: impl as 'v1' });

const baselinePrefill: Prefiller = (s) =>
  baselines.mlaPrefill({ q: s.q, latent: s.latent, kRope: s.kRope, wkvB: s.wkvB, seqLens: [s.seq], softmaxScale: SCALE, causal: true });

/** What the call allocates for its outputs: out [S, H, 128] bf16 and lse [H, S] f32. */
function outputBytes(seq: number, heads: number): number {
  return seq * heads * 128 * 2 + heads * seq * 4;
}

/** `run` (labelled `label`) against the CPU twin on a slice of the problem (CHECK_SEQ tokens, CHECK_HEADS heads). */
async function checkAgainstTwin(dev: Device, label: string, run: Prefiller, seed: number): Promise<CheckOutcome> {
  const cpu = getDevice('cpu');
  const small = setupInputs(dev, CHECK_SEQ, CHECK_HEADS, seed);
  const host = setupInputs(cpu, CHECK_SEQ, CHECK_HEADS, seed);
  try {
    using got = run(small);
    using want = prefillWith('auto')(host);
    if (got.workspaceBytes !== undefined) {
      const expected = baselines.mlaPrefillWorkspaceBytes({ heads: CHECK_HEADS, seqLens: [CHECK_SEQ] });
      if (got.workspaceBytes !== expected) {
        return { passed: false, detail: `${label}: reports ${got.workspaceBytes} workspace bytes, mlaPrefillWorkspaceBytes says ${expected}` };
      }
    }
    const out = compareClose(`${label} out vs CPU (S ${CHECK_SEQ}, H ${CHECK_HEADS})`, await got.out.toArray(), await want.out.toArray(), 1e-2);
    if (!out.passed) return out;
    return compareClose(`${label} lse vs CPU`, await got.lse.toArray(), await want.lse.toArray(), 8 / 65536);
  } finally {
    dispose(small);
    dispose(host);
  }
}

/** How {@link prefillCases} names and relates its rows. */
export interface PrefillCaseOptions {
  /** Put before every case name (e.g. `'prefill-'`). */
  readonly prefix?: string;
  /** Add the unfused baseline rows and make them each row's baseline. */
  readonly baselines?: boolean;
}

/** The cases at `seqs` × `heads` on `dev`: every version (the CPU twin on the CPU), and the baselines when asked (see the module comment). */
export function prefillCases(dev: Device, seqs: readonly number[], heads: number, seed: number, options: PrefillCaseOptions = {}): BenchCase[] {
  const prefix = options.prefix ?? '';
  const cuda = dev.kind === 'cuda';
  const versions = cuda ? (kernelVersions()['mla.prefill'] ?? []).map((v) => v.name) : ['cpu'];
  const out: BenchCase[] = [];
  for (const s of seqs) {
    const params = { seq: s, heads, causal: true };
    const flops = mlaPrefillFlops(causalPairs([s]), heads);
    const baseline = `${prefix}cublas-unfused-S${s}`;
    for (const v of versions) {
      const run = prefillWith(v);
      out.push(
        benchCase<Inputs>({
          name: `${prefix}${v}-S${s}`,
          params: { ...params, impl: v, peakBytes: outputBytes(s, heads) },
          flops,
          ...(options.baselines === true ? { baseline } : {}),
          flushL2: true,
          setup: () => setupInputs(dev, s, heads, seed),
          run,
          ...(cuda ? { check: () => checkAgainstTwin(dev, v, run, seed) } : {}),
          teardown: dispose,
        }),
      );
    }
    if (options.baselines === true) {
      const workspaceBytes = baselines.mlaPrefillWorkspaceBytes({ heads, seqLens: [s] });
      out.push(
        benchCase<Inputs>({
          name: baseline,
          params: { ...params, impl: 'cuBLASLt decompression + cublasGemmStridedBatchedEx + softmax + P·V', peakBytes: workspaceBytes + outputBytes(s, heads), workspaceBytes },
          flops,
          flushL2: true,
          setup: () => setupInputs(dev, s, heads, seed),
          run: baselinePrefill,
          check: () => checkAgainstTwin(dev, 'unfused baseline', baselinePrefill, seed),
          teardown: dispose,
        }),
      );
    }
  }
  return out;
}

/** The sequence lengths and heads on `dev`: S = 512, 2048, 4096 at H = 128 on a GPU (`quick`: 512 and 4096), S = 64, 256 at H = 4 on the CPU (`quick`: 64). */
export function prefillShapes(dev: Device, quick: boolean): { seqs: readonly number[]; heads: number } {
  if (dev.kind === 'cuda') return { seqs: quick ? [CUDA_SEQS[0], CUDA_SEQS[2]] : CUDA_SEQS, heads: CUDA_HEADS };
  return { seqs: quick ? CPU_SEQS.slice(0, 1) : CPU_SEQS, heads: CPU_HEADS };
}

/** What the prefill rows' numbers mean. */
export const PREFILL_NOTES: readonly string[] = [
  'Prefill TFLOP/s counts the attention only: 2·H·(192+128)·P, P = S·(S+1)/2 (DESIGN §6), for moekit and the baseline alike; v1 also spends ~6.4x that on decompression (cost model in cuda/mla/prefill_v1.cu).',
  'Prefill peakBytes: device memory the call allocates beyond its inputs, from the sizes (Device.memory() has no high-water mark): moekit out + lse (K and V are never materialized); the baseline out + lse + workspaceBytes (baselines.mlaPrefillWorkspaceBytes: K, V, assembled keys, H·S·S scores and probabilities; its check asserts the call reports the same). The 32 MiB workspaces cuBLAS and cuBLASLt keep per device are not counted.',
  'Prefill CUDA cases (and baselines) are checked against the CPU twin on a slice (S = 192, H = 2) before timing.',
  'On the CPU device, prefill: the CPU twin at reduced sizes (S = 64, 256, H = 4; --quick: S = 64).',
];
