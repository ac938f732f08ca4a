/**
 * `moe.permute`: the contiguous expert layout of the grouped GEMM, on the
 * device, with no host round trip: the picks of `moe.route` sorted by expert
 * (stable: by token, then by pick), each expert's segment padded to `align`
 * rows so that no GEMM tile straddles two experts.
 *
 * The row count `P` is the worst case over every routing
 * (`T·K + min(E, T·K)·(align − 1)`, native/common/expert_layout.h), known
 * without reading the ids; the rows in use, `offsets[E]`, stay on the device.
 * @module
 */
import { binding, callNative } from '../binding.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkInteger, checkOptions, parseImpl, rangeError } from '../validate.js';

/** The most experts {@link permute} takes (`numExperts`). */
export const MAX_PERMUTE_EXPERTS = 512;
/** The most picks per token {@link permute} takes (K, the last dimension of the ids). */
export const MAX_PERMUTE_TOP_K = 16;
/** The largest `align` {@link permute} takes (a power of two). */
export const MAX_PERMUTE_ALIGN = 1024;

/** Options of {@link permute}. */
export interface PermuteOptions {
  /** Segment alignment in rows, a power of two in [1, 1024] (default 1: no padding); the grouped GEMM's tile M. */
  align?: number;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

/** What {@link permute} returns. Dispose it (or its four tensors) when done. */
export interface Permutation {
  /**
   * i32 `[P]`, `P = T·K + min(E, T·K)·(align − 1)`: for each permuted row,
   * its pick `t·K + k` (a row of the flattened `[T·K]` ids), or -1 for a
   * padding row and for every row from `offsets[E]` on. Expert e's picks fill
   * rows `offsets[e] .. offsets[e] + counts[e] − 1`, by token, then by pick.
   */
  readonly rowIds: Tensor<'i32'>;
  /** i32 `[E + 1]`: `offsets[0] = 0`, each a multiple of `align`; expert e's segment is `[offsets[e], offsets[e + 1])`, `offsets[E]` the rows in use. */
  readonly offsets: Tensor<'i32'>;
  /** i32 `[E]`: the picks of each expert (padding not included). */
  readonly counts: Tensor<'i32'>;
  /** i32 `[T, K]`: the permuted row of each pick (`rowIds[inverse[t, k]] = t·K + k`), or -1 for an id out of range; the combine reads it. */
  readonly inverse: Tensor<'i32'>;
  /** Disposes the four tensors (idempotent, as each tensor's dispose). */
  dispose(): void;
  /** Same as {@link Permutation.dispose}. */
  [Symbol.dispose](): void;
}

const KNOWN = ['align', 'impl'] as const;

/**
 * Sorts the picks of a routing into the contiguous expert layout (see the
 * module docs). The work is queued; the four outputs return at once.
 *
 * Ids outside `[0, numExperts)` are skipped, not an error (the ids stay on
 * the device): such a pick is not counted, gets no row, and its `inverse`
 * is -1. No write ever leaves the buffers.
 *
 * @param ids - i32 `[T, K]` expert ids, K in [1, 16], e.g. the `ids` of `moe.route`.
 * @param numExperts - E, an integer in [1, 512].
 * @param options - `{ align?, impl? }`; see {@link PermuteOptions}.
 * @returns `{ rowIds, offsets, counts, inverse }` on the ids' device.
 * @throws TypeError for a non-tensor, a dtype other than i32, a non-integer
 *   numExperts or align, or an unknown option; RangeError for numExperts
 *   outside [1, 512], align not a power of two in [1, 1024], ids not of rank
 *   2 with K in [1, 16], or a layout of 2^31 rows or more.
 * @example
 * ```ts
 * using r = moe.route(logits, { topK: 8, bias, groups: 8, topGroups: 4, scale: 2.5 });
 * using perm = moe.permute(r.ids, 256, { align: 128 });
 * // perm.rowIds: [T*8 + 256*127] rows, expert e's at perm.offsets[e]..
 * ```
 */
export function permute(ids: Tensor, numExperts: number, options?: PermuteOptions): Permutation {
  const op = 'moe.permute';
  checkTensor(op, 'ids', ids);
  const experts = checkInteger(op, 'numExperts', numExperts, 1, MAX_PERMUTE_EXPERTS);
  const opts = checkOptions(op, options, KNOWN);
  const align = checkInteger(op, 'options.align', opts.align ?? 1, 1, MAX_PERMUTE_ALIGN);
  if ((align & (align - 1)) !== 0) throw rangeError(op, 'options.align', `a power of two in [1, ${MAX_PERMUTE_ALIGN}]`, String(align));
  const impl = parseImpl(op, opts.impl);
  const handle = ids.handle(op, 'ids');
  const [rowIds, offsets, counts, inverse] = callNative(() => binding().moePermute(handle, experts, align, impl));
  const out: Permutation = {
    rowIds: Tensor.fromNative<'i32'>(rowIds),
    offsets: Tensor.fromNative<'i32'>(offsets),
    counts: Tensor.fromNative<'i32'>(counts),
    inverse: Tensor.fromNative<'i32'>(inverse),
    dispose() {
      out.rowIds.dispose();
      out.offsets.dispose();
      out.counts.dispose();
      out.inverse.dispose();
    },
    [Symbol.dispose]() {
      out.dispose();
    },
  };
  return out;
}
