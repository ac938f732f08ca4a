/**
 * Suite `route`: MoE routing (moe.route) with DeepSeek-V3's gate: E = 256
 * experts, top-8 of the best 4 of 8 groups, sigmoid scores, a bias, weights
 * normalised and scaled by 2.5, at T = 1, 16, 256 and 4096 tokens, every CUDA
 * version (target: at most 5 µs up to T = 256 on an H100). Each case is
 * checked against the CPU twin first: the same ids and counts, weights
 * within 1e-6. Routing is latency-bound, so µs is the figure that counts;
 * GB/s counts the logits and bias read and the ids, weights and counts
 * written once. The CPU device times the CPU twin at reduced sizes
 * (T = 1, 16 and 256).
 * @module
 */
import { type Device, type Tensor, device as getDevice, kernelVersions, moe } from '../../lib/index.js';
import { compareBytes, compareClose } from '../harness/compare.js';
import { routeBytes } from '../harness/metrics.js';
import { type BenchCase, type BenchSuite, type SuiteContext, benchCase } from '../harness/types.js';
import { uniformFloats } from '../fp8/inputs.js';
import { CPU_TOKENS, DEEPSEEK_V3_GATE, EXPERTS, QUICK_TOKENS, TOKENS, TOP_K } from './deepseek_v3.js';



interface Inputs {
  readonly logits: Tensor<'f32'>;
  readonly bias: Tensor<'f32'>;
}

function setupInputs(dev: Device, tokens: number, seed: number): Inputs {
  return {
    logits: dev.tensor(uniformFloats(seed ^ tokens, tokens * EXPERTS, 4), { shape: [tokens, EXPERTS] }) as Tensor<'f32'>,
    bias: dev.tensor(uniformFloats(seed ^ 0x5eed, EXPERTS, 0.1), { shape: [EXPERTS] }) as Tensor<'f32'>,
  };
}

function bytesOf(t: Uint8Array | Int32Array): Uint8Array {
  return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
}

/** Routes on `impl` and on the CPU twin and compares: ids and counts exactly, weights within 1e-6. */
async function checkAgainstTwin(s: Inputs, impl: string) {
  using r = moe.route(s.logits, { ...DEEPSEEK_V3_GATE, bias: s.bias, impl: impl as 'v1' });
  const cpu = getDevice('cpu');
  using lc = s.logits.to(cpu);
  using bc = s.bias.to(cpu);
  using want = moe.route(lc as Tensor<'f32'>, { ...DEEPSEEK_V3_GATE, bias: bc as Tensor<'f32'> });
  const ids = compareBytes(`${impl} ids vs CPU`, bytesOf((await r.ids.toArray()) as Int32Array), bytesOf((await want.ids.toArray()) as Int32Array));
  if (!ids.passed) return ids;
  const counts = compareBytes(`${impl} counts vs CPU`, bytesOf((await r.counts.toArray()) as Int32Array), bytesOf((await want.counts.toArray()) as Int32Array));
  if (!counts.passed) return counts;
  return compareClose(`${impl} weights vs CPU`, await r.weights.toArray(), await want.weights.toArray(), 1e-6);
}

/**
 * The routing cases at `tokens` on `dev` (every CUDA version, or the CPU
 * twin on the CPU device), named `<prefix><version>-T<tokens>`; the `moe`
 * suite builds its routing rows with this too.
 */
export function routeCases(dev: Device, tokens: readonly number[], seed: number, prefix = ''): BenchCase[] {
  const versions = dev.kind === 'cuda' ? (kernelVersions()['moe.route'] ?? []).map((v) => v.name) : ['cpu'];
  const out: BenchCase[] = [];
  for (const t of tokens) {
    for (const v of versions) {
      out.push(
        benchCase<Inputs>({
          name: `${prefix}${v}-T${t}`,
          params: { tokens: t, experts: EXPERTS, topK: TOP_K, groups: '4 of 8', impl: v },
          bytes: routeBytes(t, EXPERTS, TOP_K),
          // Decode-sized inputs sit in L2 between steps of a real model too.
          flushL2: false,
          setup: () => setupInputs(dev, t, seed),
          run: (s) => moe.route(s.logits, { ...DEEPSEEK_V3_GATE, bias: s.bias, impl: v as 'v1' }),
          // The CPU twin is the reference, so only GPU versions are checked.
          ...(dev.kind === 'cuda' ? { check: (s: Inputs) => checkAgainstTwin(s, v) } : {}),
          teardown: (s) => {
            s.logits.dispose();
            s.bias.dispose();
          },
        }),
      );
    }
  }
  return out;
}

/** The routing latency suite (see the module comment). */
export const routeSuite: BenchSuite = {
  name: 'route',
  description: 'MoE routing, DeepSeek-V3 gate (E = 256, top-8, groups 4 of 8, sigmoid + bias, scale 2.5)',
  notes: [
    'Target: at most 5 µs per call up to T = 256 on an H100 (vLLM fused grouped top-k: about 4 µs).',
    'GB/s counts the f32 logits and bias read once and the ids, weights and counts written once.',
    'On the CPU device: the CPU twin at reduced sizes (T = 1, 16, 256).',
  ],
  cases(ctx: SuiteContext): readonly BenchCase[] {
    if (ctx.device.kind === 'cuda') return routeCases(ctx.device, ctx.quick ? QUICK_TOKENS : TOKENS, ctx.seed);
    return routeCases(ctx.device, ctx.quick ? CPU_TOKENS.slice(0, 2) : CPU_TOKENS, ctx.seed);
  },
};
