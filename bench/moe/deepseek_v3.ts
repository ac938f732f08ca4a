/**
 * DeepSeek-V3's MoE sizes and gate (configs/config_671B.json), and the token
 * counts the moe-family suites time: one place for the shapes every MoE
 * bench shares.
 * @module
 */
import { device as getDevice, moe } from '../../lib/index.js';
import { uniformFloats } from '../fp8/inputs.js';

/** Routed experts. */
export const EXPERTS = 256;
/** Experts each token picks. */
export const TOP_K = 8;
/** Hidden size H. */
export const HIDDEN = 7168;
/** Expert intermediate size I. */
export const INTER = 2048;
/** The gate: sigmoid scores, groups 4 of 8, top-8, normalised, scaled by 2.5. */
export const DEEPSEEK_V3_GATE = { topK: TOP_K, scoring: 'sigmoid', groups: 8, topGroups: 4, normalize: true, scale: 2.5 } as const;

/** Token counts on a GPU: decode (1, 16) to prefill (4096). */
export const TOKENS = [1, 16, 256, 4096] as const;
/** Token counts on a GPU with --quick. */
export const QUICK_TOKENS = [1, 256] as const;
/** Token counts on the CPU device (its twins are slow at 4096). */
export const CPU_TOKENS = [1, 16, 256] as const;

/** The gate applied on the CPU to uniform random logits [tokens, EXPERTS] of the seeded stream; the caller disposes it. */
export function routeRandomLogits(tokens: number, seed: number): moe.Routing {
  using logits = getDevice('cpu').tensor(uniformFloats(seed ^ tokens, tokens * EXPERTS, 4), { shape: [tokens, EXPERTS] });
  return moe.route(logits, DEEPSEEK_V3_GATE);
}
