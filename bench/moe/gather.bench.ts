/**
 * Suite `gather`: moe.gather of DeepSeek-V3 token rows (H = 7168, bf16) into
 * the contiguous expert layout of a DeepSeek-V3 routing (E = 256, top-8,
 * align 128), at T = 1, 16, 256 and 4096 tokens: plain bf16 rows and rows
 * quantized to e4m3 with 1x128 scales (the A operand of the FP8 W13 grouped
 * GEMM), every CUDA version. Each case is checked against the CPU twin first,
 * bit for bit. GB/s counts the ids, the rows read and the rows written once.
 * The CPU device times the CPU twin at T = 1, 16, 256.
 * @module
 */
import { type Device, type Tensor, device as getDevice, kernelVersions, moe } from '../../lib/index.js';
import { compareBytes } from '../harness/compare.js';
import { gatherBytes } from '../harness/metrics.js';
import { type BenchCase, type BenchSuite, type SuiteContext, benchCase } from '../harness/types.js';
import { uniformFloats } from '../fp8/inputs.js';
import { CPU_TOKENS, EXPERTS, HIDDEN, QUICK_TOKENS, TOKENS, TOP_K, routeRandomLogits } from './deepseek_v3.js';

const ALIGN = 128;
const MODES = ['bf16', 'e4m3'] as const;


interface Inputs {
  readonly x: Tensor;
  readonly rowIds: Tensor<'i32'>;
  /** Rows that read x (the rest are padding). */
  readonly used: number;
}

/** x [T, 7168] bf16 and the rowIds of a DeepSeek-V3 routing of random logits (on the CPU), moved to `dev`. */
async function setupInputs(dev: Device, tokens: number, seed: number): Promise<Inputs> {
  const cpu = getDevice('cpu');
  using r = routeRandomLogits(tokens, seed);
  using p = moe.permute(r.ids, EXPERTS, { align: ALIGN });
  using x = cpu.tensor(uniformFloats(seed ^ (tokens + 1), tokens * HIDDEN, 2), { shape: [tokens, HIDDEN], dtype: 'bf16' });
  const used = Array.from(await p.rowIds.toArray()).filter((id) => id >= 0).length;
  return { x: x.to(dev), rowIds: p.rowIds.to(dev) as Tensor<'i32'>, used };
}

function gatherWith(s: Inputs, mode: (typeof MODES)[number], impl: string) {
  return mode === 'bf16' ? moe.gather(s.x, s.rowIds, TOP_K, { impl: impl as 'v1' }) : moe.gather(s.x, s.rowIds, TOP_K, { quantize: mode, impl: impl as 'v1' });
}

/** Gathers on `impl` and on the CPU twin and compares every output exactly. */
async function checkAgainstTwin(s: Inputs, mode: (typeof MODES)[number], impl: string) {
  const cpu = getDevice('cpu');
  using xc = s.x.to(cpu);
  using idc = s.rowIds.to(cpu);
  const twin = { x: xc, rowIds: idc as Tensor<'i32'>, used: s.used };
  if (mode === 'bf16') {
    using got = moe.gather(s.x, s.rowIds, TOP_K, { impl: impl as 'v1' });
    using want = moe.gather(twin.x, twin.rowIds, TOP_K);
    return compareBytes(`${impl} rows vs CPU`, await got.bytes(), await want.bytes());
  }
  using got = moe.gather(s.x, s.rowIds, TOP_K, { quantize: mode, impl: impl as 'v1' });
  using want = moe.gather(twin.x, twin.rowIds, TOP_K, { quantize: mode });
  const values = compareBytes(`${impl} values vs CPU`, await got.values.bytes(), await want.values.bytes());
  if (!values.passed) return values;
  return compareBytes(`${impl} scales vs CPU`, await got.scales.bytes(), await want.scales.bytes());
}

function cases(dev: Device, tokens: readonly number[], seed: number): BenchCase[] {
  const versions = dev.kind === 'cuda' ? (kernelVersions()['moe.gather'] ?? []).map((v) => v.name) : ['cpu'];
  const out: BenchCase[] = [];
  for (const t of tokens) {
    const rows = t * TOP_K + Math.min(EXPERTS, t * TOP_K) * (ALIGN - 1);
    for (const mode of MODES) {
      for (const v of versions) {
        out.push(
          benchCase<Inputs>({
            name: `${v}-T${t}-${mode}`,
            params: { tokens: t, hidden: HIDDEN, rows, topK: TOP_K, out: mode, impl: v },
            // The picks' rows are read; padding rows only written.
            bytes: gatherBytes(rows, t * TOP_K, HIDDEN, 2, mode === 'bf16' ? 2 : 1, mode !== 'bf16'),
            flushL2: true,
            setup: () => setupInputs(dev, t, seed),
            run: (s) => gatherWith(s, mode, v),
            ...(dev.kind === 'cuda' ? { check: (s: Inputs) => checkAgainstTwin(s, mode, v) } : {}),
            teardown: (s) => (s.x.dispose(), s.rowIds.dispose()),
          }),
        );
      }
    }
  }
  return out;
}

/** The gather bandwidth suite (see the module comment). */
export const gatherSuite: BenchSuite = {
  name: 'gather',
  description: 'MoE gather of token rows into the expert layout, DeepSeek-V3 (H = 7168 bf16, E = 256, top-8, align 128), plain and e4m3 1x128',
  notes: [
    'v1 is a warp per row (a simple, coalesced first version); the gather is bandwidth-bound, so GB/s is the figure that counts.',
    'GB/s counts the i32 row ids, the picked rows of x read once and every output row (and scale) written once.',
    'On the CPU device: the CPU twin at reduced sizes (T = 1, 16, 256).',
  ],
  cases(ctx: SuiteContext): readonly BenchCase[] {
    if (ctx.device.kind === 'cuda') return cases(ctx.device, ctx.quick ? QUICK_TOKENS : TOKENS, ctx.seed);
    return cases(ctx.device, ctx.quick ? CPU_TOKENS.slice(0, 2) : CPU_TOKENS, ctx.seed);
  },
};
