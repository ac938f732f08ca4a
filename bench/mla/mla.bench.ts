/**
 * Suite `mla`: MLA attention at DeepSeek-V3 sizes, against the unfused
 * cuBLAS paths and the device's copy bandwidth from the same run.
 *
 * - A device copy (`copy-*`): one device-to-device `clone()` of 1 GiB on a
 *   GPU (memcpy of 64 MiB on the CPU), the memory suite's case
 *   ({@link deviceCopyCase}); every decode row's `of ceiling` column is its
 *   GB/s over this row's.
 * - Decode (`decode-*`): mla.decode over bf16 and e4m3 paged caches at
 *   FlashMLA's shapes, B ∈ {1, 16, 64, 128}, Sk ∈ {1024, 4096, 16384},
 *   H ∈ {16, 128}, Sq ∈ {1, 2} ({@link decodeCases}), the bf16 rows
 *   against baselines.mlaDecode (gather, strided batched GEMMs, softmax)
 *   on the cache as a bf16 tensor (KvCache.toTensor(), made in setup) and
 *   host sequence lengths. Target: ≥ 90% of copy bandwidth at B = 128,
 *   Sk = 4096, H = 128, bf16.
 * - Prefill (`prefill-*`): mla.prefill (K/V decompressed inside the
 *   attention kernel), one causal sequence of S ∈ {512, 2048, 4096} at
 *   H = 128 ({@link prefillCases}), against baselines.mlaPrefill (host
 *   seqLens [S]), with the memory each call allocates. Target: ≥ 2× the
 *   unfused path at S = 4096, in a fraction of its memory.
 *
 * Where the baselines cannot run (no GPU, no cuBLAS, baselines.status().mla
 * unavailable) their rows are left out and a note says why; the moekit rows
 * still run. The CPU device times the CPU twins at reduced sizes.
 * @module
 */
import { type Device, baselines } from '../../lib/index.js';
import type { BenchCase, BenchSuite, SuiteContext } from '../harness/types.js';
import { deviceCopyCase } from '../memory/copy.bench.js';
import { DECODE_NOTES, decodeCases, decodeShapes } from './decode.bench.js';
import { PREFILL_NOTES, prefillCases, prefillShapes } from './prefill.bench.js';

const MiB = 1024 * 1024;
/** The copy the decode rows are read against: large enough that launch and cache effects vanish. */
const GPU_COPY_BYTES = 1024 * MiB;
const CPU_COPY_BYTES = 64 * MiB;

/** Whether the unfused baselines can run on `dev`, and if not, why. */
function baselineAvailability(dev: Device): { available: boolean; reason: string } {
  if (dev.kind !== 'cuda') return { available: false, reason: 'the CPU device (the baselines are cuBLAS on a CUDA device)' };
  try {
    const mla = baselines.status(dev).mla;
    return { available: mla.available, reason: mla.reason };
  } catch (e) {
    return { available: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

function copyName(dev: Device): string {
  return dev.kind === 'cuda' ? 'copy-d2d-1GiB' : 'copy-memcpy-64MiB';
}

/** The MLA suite (see the module comment). */
export const mlaSuite: BenchSuite = {
  name: 'mla',
  description: 'MLA decode (paged latent cache, bf16 and e4m3) and fused prefill at DeepSeek-V3 sizes, vs the unfused cuBLAS paths and copy bandwidth',
  notes: [
    'Targets (H100/H200): decode at B = 128, Sk = 4096, H = 128, bf16 ≥ 90% of copy bandwidth (its "of ceiling" column); prefill at S = 4096 ≥ 2× the unfused path (×baseline of prefill-*-S4096), using a fraction of its memory (peakBytes).',
    'of ceiling: the row\'s GB/s over the GB/s of the copy-* row, a device-to-device clone() of 1 GiB counted read + write (memcpy of 64 MiB on the CPU device), measured in this run.',
    '×baseline: decode bf16 rows against decode-cublas-unfused-* of the same shape (gather to [B, maxSk, 576], scores with cublasGemmStridedBatchedEx, masked softmax, P·V; cache copied to a bf16 tensor in setup, seqLens on the host); e4m3 rows have none (the baseline reads a bf16 cache). Prefill rows against prefill-cublas-unfused-S<S>.',
    ...DECODE_NOTES,
    ...PREFILL_NOTES,
  ],
  contextNotes(ctx: SuiteContext): readonly string[] {
    const b = baselineAvailability(ctx.device);
    return b.available ? [] : [`Baseline unavailable, its rows and ×baseline left out: unfused MLA (baselines.mlaDecode, baselines.mlaPrefill): ${b.reason}`];
  },
  cases(ctx: SuiteContext): readonly BenchCase[] {
    const dev = ctx.device;
    const withBaselines = baselineAvailability(dev).available;
    const ceiling = copyName(dev);
    const prefill = prefillShapes(dev, ctx.quick);
    return [
      deviceCopyCase(dev, dev.kind === 'cuda' ? GPU_COPY_BYTES : CPU_COPY_BYTES, ctx.seed, ceiling),
      ...decodeCases(dev, decodeShapes(dev, ctx.quick), ctx.seed, { prefix: 'decode-', baselines: withBaselines, ceiling }),
      ...prefillCases(dev, prefill.seqs, prefill.heads, ctx.seed, { prefix: 'prefill-', baselines: withBaselines }),
    ];
  },
};
