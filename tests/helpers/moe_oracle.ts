/**
 * Float64 oracles of the MoE gate and of the bias update, written after
 * DeepSeek-V3's inference/model.py `Gate.forward`, line by line:
 *
 * ```py
 * scores = linear(x, self.weight)                     # the logits, given here
 * scores = scores.sigmoid()   # or .softmax(dim=-1, dtype=float32)
 * original_scores = scores
 * if self.bias is not None: scores = scores + self.bias
 * if self.n_groups > 1:
 *     scores = scores.view(x.size(0), self.n_groups, -1)
 *     group_scores = scores.amax(dim=-1) if self.bias is None else scores.topk(2, dim=-1)[0].sum(dim=-1)
 *     indices = group_scores.topk(self.topk_groups, dim=-1)[1]
 *     mask = scores.new_ones(x.size(0), self.n_groups, dtype=bool).scatter_(1, indices, False)
 *     scores = scores.masked_fill_(mask.unsqueeze(-1), float("-inf")).flatten(1)
 * indices = torch.topk(scores, self.topk, dim=-1)[1]
 * weights = original_scores.gather(1, indices)
 * if self.score_func == "sigmoid": weights /= weights.sum(dim=-1, keepdim=True)
 * weights *= self.route_scale
 * ```
 *
 * moekit's conventions (docs/architecture.md, "Numeric conventions") pick
 * the group score by the scoring function (top-2 sum for sigmoid, max for
 * softmax) rather than by the bias's presence, make normalisation an option
 * (HF's `norm_topk_prob`, with its `+ 1e-20`), and rank ties to the lower
 * index. Scores and selection scores are f32 values (Math.fround) as in the
 * reference; the rest is float64.
 * @module
 */

/** A gate configuration, as moe.route's options. */
export interface GateConfig {
  topK: number;
  scoring: 'sigmoid' | 'softmax';
  groups: number;
  topGroups: number;
  normalize: boolean;
  scale: number;
}

/** What the gate gives for `T` tokens: ids and weights `[T, K]` row-major, counts `[E]`. */
export interface GateResult {
  ids: Int32Array;
  weights: Float64Array;
  counts: Int32Array;
}

/** torch.topk's order with moekit's ties: larger first, NaN first, equal values by the lower index. */
function topk(values: readonly number[], k: number): number[] {
  const idx = values.map((_, i) => i);
  idx.sort((a, b) => {
    const va = values[a]!;
    const vb = values[b]!;
    if (Number.isNaN(va) !== Number.isNaN(vb)) return Number.isNaN(va) ? -1 : 1;
    if (!Number.isNaN(va) && va !== vb) return vb - va > 0 ? 1 : -1;
    return a - b;
  });
  return idx.slice(0, k);
}

/** The gate over `logits` ([T, E] row-major) with an optional bias [E]. */
export function gateOracle(logits: Float32Array, experts: number, config: GateConfig, bias?: Float32Array): GateResult {
  const E = experts;
  const T = logits.length / E;
  const K = config.topK;
  const ids = new Int32Array(T * K);
  const weights = new Float64Array(T * K);
  const counts = new Int32Array(E);
  for (let t = 0; t < T; t++) {
    const x = Array.from(logits.subarray(t * E, (t + 1) * E));
    let scores: number[];
    if (config.scoring === 'sigmoid') {
      scores = x.map((v) => Math.fround(1 / (1 + Math.exp(-v))));
    } else {
      const m = x.reduce((a, b) => Math.max(a, b), -Infinity);
      const ex = x.map((v) => Math.exp(v - m));
      const sum = ex.reduce((a, b) => a + b, 0);
      scores = ex.map((v) => Math.fround(v / sum));
    }
    const original = scores;
    if (bias) scores = scores.map((s, e) => Math.fround(s + bias[e]!));
    if (config.groups > 1) {
      const G = E / config.groups;
      const groupScores: number[] = [];
      for (let g = 0; g < config.groups; g++) {
        const members = scores.slice(g * G, (g + 1) * G);
        const best = topk(members, Math.min(2, G)).map((i) => members[i]!);
        groupScores.push(config.scoring === 'sigmoid' && best.length === 2 ? Math.fround(best[0]! + best[1]!) : best[0]!);
      }
      const keep = new Set(topk(groupScores, config.topGroups));
      scores = scores.map((s, e) => (keep.has(Math.floor(e / G)) ? s : -Infinity));
    }
    const picks = topk(scores, K);
    let w = picks.map((e) => original[e]!);
    if (config.normalize) {
      const sum = w.reduce((a, b) => a + b, 0);
      w = w.map((v) => v / (sum + 1e-20));
    }
    w = w.map((v) => v * config.scale);
    picks.forEach((e, k) => {
      ids[t * K + k] = e;
      weights[t * K + k] = w[k]!;
      counts[e]!++;
    });
  }
  return { ids, weights, counts };
}

/** The aux-loss-free bias update: `b_i + rate · sign(mean(counts) − c_i)` (sign(0) = 0), rounded to f32. */
export function updateBiasOracle(bias: Float32Array, counts: Int32Array, rate: number): Float32Array {
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  return Float32Array.from(bias, (b, i) => Math.fround(b + Math.fround(rate) * Math.sign(mean - counts[i]!)));
}
