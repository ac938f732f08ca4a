/**
 * Suite `combine`: moe.combine of DeepSeek-V3 expert outputs (H = 7168,
 * bf16) for T = 1, 16, 256 and 4096 tokens routed top-8 over E = 256 experts
 * with align 128, weighted by the routing weights and added onto a shared
 * expert's output, every CUDA version. Each case is checked against the CPU
 * twin first, bit for bit. GB/s counts the inverse and weights, the K picked
 * rows and the shared row read once per token, and the output written once.
 * The CPU device times the CPU twin at T = 1, 16, 256.
 * @module
 */
import { type Device, type Tensor, device as getDevice, kernelVersions, moe } from '../../lib/index.js';
import { compareBytes } from '../harness/compare.js';
import { combineBytes } from '../harness/metrics.js';
import { type BenchCase, type BenchSuite, type SuiteContext, benchCase } from '../harness/types.js';
import { uniformFloats } from '../fp8/inputs.js';
import { CPU_TOKENS, EXPERTS, HIDDEN, QUICK_TOKENS, TOKENS, TOP_K, routeRandomLogits } from './deepseek_v3.js';

const ALIGN = 128;


interface Inputs {
  readonly y: Tensor;
  readonly inverse: Tensor<'i32'>;
  readonly weights: Tensor<'f32'>;
  readonly shared: Tensor;
}

/** A DeepSeek-V3 routing of random logits (on the CPU), expert outputs y [P, 7168] and a shared output [T, 7168], moved to `dev`. */
function setupInputs(dev: Device, tokens: number, seed: number): Inputs {
  const cpu = getDevice('cpu');
  using r = routeRandomLogits(tokens, seed);
  using p = moe.permute(r.ids, EXPERTS, { align: ALIGN });
  const rows = p.rowIds.shape[0]!;
  using y = cpu.tensor(uniformFloats(seed ^ (tokens + 1), rows * HIDDEN, 2), { shape: [rows, HIDDEN], dtype: 'bf16' });
  using shared = cpu.tensor(uniformFloats(seed ^ (tokens + 2), tokens * HIDDEN, 2), { shape: [tokens, HIDDEN], dtype: 'bf16' });
  return { y: y.to(dev), inverse: p.inverse.to(dev) as Tensor<'i32'>, weights: r.weights.to(dev) as Tensor<'f32'>, shared: shared.to(dev) };
}

function combineWith(s: Inputs, impl: string) {
  return moe.combine(s.y, s.inverse, { weights: s.weights, shared: s.shared, impl: impl as 'v1' });
}

/** Combines on `impl` and on the CPU twin and compares the outputs exactly. */
async function checkAgainstTwin(s: Inputs, impl: string) {
  const cpu = getDevice('cpu');
  using y = s.y.to(cpu);
  using inverse = s.inverse.to(cpu);
  using weights = s.weights.to(cpu);
  using shared = s.shared.to(cpu);
  using got = combineWith(s, impl);
  using want = moe.combine(y, inverse, { weights: weights as Tensor<'f32'>, shared });
  return compareBytes(`${impl} vs CPU`, await got.bytes(), await want.bytes());
}

function dispose(s: Inputs): void {
  s.y.dispose();
  s.inverse.dispose();
  s.weights.dispose();
  s.shared.dispose();
}

function cases(dev: Device, tokens: readonly number[], seed: number): BenchCase[] {
  const versions = dev.kind === 'cuda' ? (kernelVersions()['moe.combine'] ?? []).map((v) => v.name) : ['cpu'];
  const out: BenchCase[] = [];
  for (const t of tokens) {
    for (const v of versions) {
      out.push(
        benchCase<Inputs>({
          name: `${v}-T${t}`,
          params: { tokens: t, hidden: HIDDEN, topK: TOP_K, impl: v },
          bytes: combineBytes(t, TOP_K, HIDDEN, 2, 2, 2),
          flushL2: true,
          setup: () => setupInputs(dev, t, seed),
          run: (s) => combineWith(s, v),
          ...(dev.kind === 'cuda' ? { check: (s: Inputs) => checkAgainstTwin(s, v) } : {}),
          teardown: dispose,
        }),
      );
    }
  }
  return out;
}

/** The combine bandwidth suite (see the module comment). */
export const combineSuite: BenchSuite = {
  name: 'combine',
  description: 'MoE combine of expert outputs into token order, DeepSeek-V3 (H = 7168 bf16, E = 256, top-8, align 128), weighted, with a shared expert',
  notes: [
    'v1 is a warp per token (a simple, deterministic first version); the combine is bandwidth-bound, so GB/s is the figure that counts.',
    'GB/s counts the inverse and weights, each token\'s K picked rows of y and its shared row read once, and the output written once.',
    'On the CPU device: the CPU twin at reduced sizes (T = 1, 16, 256).',
  ],
  cases(ctx: SuiteContext): readonly BenchCase[] {
    if (ctx.device.kind === 'cuda') return cases(ctx.device, ctx.quick ? QUICK_TOKENS : TOKENS, ctx.seed);
    return cases(ctx.device, ctx.quick ? CPU_TOKENS.slice(0, 2) : CPU_TOKENS, ctx.seed);
  },
};
