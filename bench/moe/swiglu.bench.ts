/**
 * Suite `swiglu`: moe.swiglu of DeepSeek-V3's expert MLP (I = 2048, h
 * [P, 4096] bf16) at the rows of T = 1, 16, 256 and 4096 tokens routed top-8
 * over E = 256 experts with align 128 (P = T·8 + min(256, T·8)·127): a bf16
 * output and an e4m3 1x128-quantized one (the A operand of the FP8 W2
 * grouped GEMM), every CUDA version. Each case is checked against the CPU
 * twin first: bit for bit where the GPU's expf agrees with the host's, and
 * otherwise within the tolerance tests/moe/swiglu.test.ts documents (here:
 * bf16 within 1%, relative L2). GB/s counts h read and the output written
 * once. The CPU device times the CPU twin at T = 1, 16, 256.
 * @module
 */
import { type Device, type Tensor, device as getDevice, kernelVersions, moe } from '../../lib/index.js';
import { compareClose } from '../harness/compare.js';
import { swigluBytes } from '../harness/metrics.js';
import { type BenchCase, type BenchSuite, type SuiteContext, benchCase } from '../harness/types.js';
import { uniformFloats } from '../fp8/inputs.js';
import { CPU_TOKENS, EXPERTS, INTER, QUICK_TOKENS, TOKENS, TOP_K } from './deepseek_v3.js';

const ALIGN = 128;
const MODES = ['bf16', 'e4m3'] as const;


interface Inputs {
  readonly h: Tensor;
}

function setupInputs(dev: Device, rows: number, seed: number): Inputs {
  using h = getDevice('cpu').tensor(uniformFloats(seed ^ rows, rows * 2 * INTER, 4), { shape: [rows, 2 * INTER], dtype: 'bf16' });
  return { h: h.to(dev) };
}

function swigluWith(s: Inputs, mode: (typeof MODES)[number], impl: string) {
  return mode === 'bf16' ? moe.swiglu(s.h, { impl: impl as 'v1' }) : moe.swiglu(s.h, { quantize: mode, impl: impl as 'v1' });
}

/** Runs `impl` and the CPU twin; compares the (dequantized) outputs. */
async function checkAgainstTwin(s: Inputs, mode: (typeof MODES)[number], impl: string) {
  using hc = s.h.to(getDevice('cpu'));
  if (mode === 'bf16') {
    using got = moe.swiglu(s.h, { impl: impl as 'v1' });
    using want = moe.swiglu(hc);
    return compareClose(`${impl} vs CPU`, await got.toArray(), await want.toArray(), 1e-2);
  }
  using got = moe.swiglu(s.h, { quantize: mode, impl: impl as 'v1' });
  using want = moe.swiglu(hc, { quantize: mode });
  const [gv, gs, wv, ws] = await Promise.all([got.values.toArray(), got.scales.toArray(), want.values.toArray(), want.scales.toArray()]);
  const blocks = Math.ceil(INTER / 128);
  const deq = (v: Float32Array, sc: Float32Array) => v.map((x, i) => x * sc[Math.floor(i / INTER) * blocks + Math.floor((i % INTER) / 128)]!);
  return compareClose(`${impl} dequantized vs CPU`, deq(gv as Float32Array, gs as Float32Array), deq(wv as Float32Array, ws as Float32Array), 1e-1);
}

function cases(dev: Device, tokens: readonly number[], seed: number): BenchCase[] {
  const versions = dev.kind === 'cuda' ? (kernelVersions()['moe.swiglu'] ?? []).map((v) => v.name) : ['cpu'];
  const out: BenchCase[] = [];
  for (const t of tokens) {
    const rows = t * TOP_K + Math.min(EXPERTS, t * TOP_K) * (ALIGN - 1);
    for (const mode of MODES) {
      for (const v of versions) {
        out.push(
          benchCase<Inputs>({
            name: `${v}-T${t}-${mode}`,
            params: { tokens: t, rows, inter: INTER, out: mode, impl: v },
            bytes: swigluBytes(rows, INTER, 2, mode === 'bf16' ? 2 : 1, mode !== 'bf16'),
            flushL2: true,
            setup: () => setupInputs(dev, rows, seed),
            run: (s) => swigluWith(s, mode, v),
            ...(dev.kind === 'cuda' ? { check: (s: Inputs) => checkAgainstTwin(s, mode, v) } : {}),
            teardown: (s) => s.h.dispose(),
          }),
        );
      }
    }
  }
  return out;
}

/** The SwiGLU bandwidth suite (see the module comment). */
export const swigluSuite: BenchSuite = {
  name: 'swiglu',
  description: 'MoE SwiGLU activation, DeepSeek-V3 expert MLP (I = 2048, bf16 in), bf16 out and e4m3 1x128',
  notes: [
    'v1 is a warp per row (a simple, coalesced first version); the activation is bandwidth-bound, so GB/s is the figure that counts.',
    'GB/s counts h read once and the output (and its scales) written once.',
    'On the CPU device: the CPU twin at reduced sizes (T = 1, 16, 256).',
  ],
  cases(ctx: SuiteContext): readonly BenchCase[] {
    if (ctx.device.kind === 'cuda') return cases(ctx.device, ctx.quick ? QUICK_TOKENS : TOKENS, ctx.seed);
    return cases(ctx.device, ctx.quick ? CPU_TOKENS.slice(0, 2) : CPU_TOKENS, ctx.seed);
  },
};
