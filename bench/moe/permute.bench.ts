/**
 * Suite `permute`: the contiguous expert layout (moe.permute) of DeepSeek-V3's
 * routing (E = 256 experts, top-8), at T = 1, 16, 256 and 4096 tokens, align 1
 * (no padding) and 128 (the grouped GEMM's tile M), every CUDA version. The
 * ids are a DeepSeek-V3 routing of random logits (moe.route on the CPU, the
 * same for every version). Each case is checked against the CPU twin first:
 * rowIds, offsets, counts and the inverse, bit for bit. µs is the figure that
 * counts; GB/s counts the ids read and the outputs written once. The CPU
 * device times the CPU twin at T = 1, 16 and 256.
 * @module
 */
import { type Device, type Tensor, device as getDevice, kernelVersions, moe } from '../../lib/index.js';
import { compareBytes } from '../harness/compare.js';
import { permuteBytes } from '../harness/metrics.js';
import { type BenchCase, type BenchSuite, type SuiteContext, benchCase } from '../harness/types.js';
import { CPU_TOKENS, EXPERTS, QUICK_TOKENS, TOKENS, TOP_K, routeRandomLogits } from './deepseek_v3.js';

const ALIGNS = [1, 128] as const;


interface Inputs {
  readonly ids: Tensor<'i32'>;
}

/** DeepSeek-V3's routing of random logits, on the CPU, moved to `dev`. */
function setupInputs(dev: Device, tokens: number, seed: number): Inputs {
  using r = routeRandomLogits(tokens, seed);
  return { ids: r.ids.to(dev) as Tensor<'i32'> };
}

function bytesOf(t: Uint8Array | Int32Array): Uint8Array {
  return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
}

/** Permutes on `impl` and on the CPU twin and compares every output exactly. */
async function checkAgainstTwin(s: Inputs, align: number, impl: string) {
  using got = moe.permute(s.ids, EXPERTS, { align, impl: impl as 'v1' });
  using ic = s.ids.to(getDevice('cpu'));
  using want = moe.permute(ic, EXPERTS, { align });
  const keys = ['rowIds', 'offsets', 'counts', 'inverse'] as const;
  const outcomes = [];
  for (const key of keys) {
    const outcome = compareBytes(`${impl} ${key} vs CPU`, bytesOf((await got[key].toArray()) as Int32Array), bytesOf((await want[key].toArray()) as Int32Array));
    if (!outcome.passed) return outcome;
    outcomes.push(outcome);
  }
  return outcomes[outcomes.length - 1]!;
}

function cases(dev: Device, tokens: readonly number[], seed: number): BenchCase[] {
  const versions = dev.kind === 'cuda' ? (kernelVersions()['moe.permute'] ?? []).map((v) => v.name) : ['cpu'];
  const out: BenchCase[] = [];
  for (const t of tokens) {
    for (const align of ALIGNS) {
      for (const v of versions) {
        out.push(
          benchCase<Inputs>({
            name: `${v}-T${t}-align${align}`,
            params: { tokens: t, experts: EXPERTS, topK: TOP_K, align, impl: v },
            bytes: permuteBytes(t, EXPERTS, TOP_K, align),
            flushL2: false,
            setup: () => setupInputs(dev, t, seed),
            run: (s) => moe.permute(s.ids, EXPERTS, { align, impl: v as 'v1' }),
            // The CPU twin is the reference, so only GPU versions are checked.
            ...(dev.kind === 'cuda' ? { check: (s: Inputs) => checkAgainstTwin(s, align, v) } : {}),
            teardown: (s) => s.ids.dispose(),
          }),
        );
      }
    }
  }
  return out;
}

/** The permutation latency suite (see the module comment). */
export const permuteSuite: BenchSuite = {
  name: 'permute',
  description: 'MoE permutation into the contiguous expert layout, DeepSeek-V3 routing (E = 256, top-8), align 1 and 128',
  notes: [
    'v1 is one block (a simple, exact first version); the permutation is latency-bound, so µs is the figure that counts.',
    'GB/s counts the i32 ids read once and rowIds, inverse, offsets and counts written once.',
    'On the CPU device: the CPU twin at reduced sizes (T = 1, 16, 256).',
  ],
  cases(ctx: SuiteContext): readonly BenchCase[] {
    if (ctx.device.kind === 'cuda') return cases(ctx.device, ctx.quick ? QUICK_TOKENS : TOKENS, ctx.seed);
    return cases(ctx.device, ctx.quick ? CPU_TOKENS.slice(0, 2) : CPU_TOKENS, ctx.seed);
  },
};
