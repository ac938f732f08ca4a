/**
 * Fuzz cases of the matrix products: `gemm` (f32/bf16/f16) and `fp8Gemm`
 * (block-scaled FP8), including outputs whose element or byte counts
 * overflow (`[2 ** 31, 0] x [2 ** 31, 0]` gives `[2 ** 31, 2 ** 31]`).
 * @module
 */
import { type DType } from '../../../lib/dtype.js';
import {
  type Case,
  type Family,
  type Gen,
  HUGE_DIMS,
  NOT_OPTIONS,
  ODD_VALUES,
  type QuantVal,
  badTensor,
  isTensorPost,
  lit,
  tensorBytes,
  withStrayKey,
  zerosOf,
} from '../gen.js';
import { handBuilt } from './fp8.js';

const GEMM_DTYPES = ['f32', 'bf16', 'f16'] as const;
const BAD_IMPLS: readonly string[] = ["'v'", "'V1'", "'gpu'", "'v1.5'", '7', "'v99'", "'cuda'", "'auto '"];

function mn(g: Gen): number {
  // Now and then a size that spreads over the CPU threads.
  return g.chance(0.03) ? g.int(129, 256) : g.pick([0, 1, 2, 3, 5, 8, 17, 33]);
}

function kDim(g: Gen): number {
  return g.pick([0, 1, 3, 8, 16, 64, 129, 200]);
}

/** Options of a valid gemm and the output dtype they give for inputs of `dtype`. */
function gemmOptions(g: Gen, dtype: DType): { src: string; out: DType } {
  const opts: Record<string, unknown> = {};
  let out = dtype;
  if (g.chance(0.5)) {
    out = g.pick(GEMM_DTYPES);
    opts.outDtype = out;
  }
  const impl = g.validImpl();
  if (impl !== undefined) opts.impl = impl;
  return { src: Object.keys(opts).length === 0 && g.chance(0.5) ? '' : `, ${lit(opts)}`, out };
}

/** Two dimensions whose product exceeds 2^50 (the largest tensor), or is at most 2^50 but needs >= 2^43 bytes of `dtype`. */
function hugePair(g: Gen, overflow: boolean, dtype: DType): [number, number] {
  for (;;) {
    const pair: [number, number] = [g.pick(HUGE_DIMS), g.pick([...HUGE_DIMS, 2 ** 12, 2 ** 20, 2 ** 21, 2 ** 25])];
    if (g.chance(0.5)) pair.reverse();
    const n = pair[0] * pair[1];
    if (overflow ? n > 2 ** 50 : n <= 2 ** 50 && tensorBytes(dtype, pair) >= 2 ** 43) return pair;
  }
}

/** Emits a valid fp8Gemm operand pair of `m` x `k` and `n` x `k`. */
function fp8Operands(g: Gen, m: number, n: number, k: number): [QuantVal, QuantVal] {
  const a = g.chance(0.3) ? g.newQuantized([1, 128], [m, k], g.pick(['e4m3', 'e5m2'])) : g.quantized([1, 128], [m, k]);
  const b = g.chance(0.3) ? g.newQuantized([128, 128], [n, k], g.pick(['e4m3', 'e5m2'])) : g.quantized([128, 128], [n, k]);
  return [a, b];
}

const cases: Case[] = [
  {
    name: 'gemm',
    weight: 4,
    run(g) {
      const dtype = g.pick(GEMM_DTYPES);
      const [m, n, k] = [mn(g), mn(g), kDim(g)];
      const a = g.tensor([dtype], [m, k]);
      const b = g.tensor([dtype], [n, k]);
      const opts = gemmOptions(g, dtype);
      const def = g.newVar();
      g.emit({ ops: ['gemm'], src: `m.gemm(${a.ref}, ${b.ref}${opts.src})`, expect: 'ok', deps: [a.root, b.root], def, post: isTensorPost(opts.out, [m, n]) });
      // An empty sum is zero.
      g.track(def, opts.out, [m, n], { expected: k === 0 ? zerosOf(opts.out, m * n) : undefined });
    },
  },
  {
    name: 'gemm-then-dispose-inputs',
    run(g) {
      // The inputs are disposed while the product is queued: it must still be computed from them.
      const dtype = g.pick(GEMM_DTYPES);
      const [m, n, k] = [mn(g), mn(g), g.pick([0, 0, 1, 64])];
      const a = g.newTensor(dtype, [m, k]);
      const b = g.newTensor(dtype, [n, k]);
      const post = `r instanceof Float32Array && r.length === ${m * n}${k === 0 ? ` && same(r, ${zerosOf('f32', m * n)})` : ''}`;
      g.emit({
        ops: ['gemm', 'toArray', 'dispose'],
        src: `(async () => { const c = m.gemm(${a.ref}, ${b.ref}); ${a.ref}.dispose(); ${b.ref}.dispose(); try { return await c.toArray(); } finally { c.dispose(); } })()`,
        expect: 'ok',
        deps: [a.root, b.root],
        mutates: [a.root, b.root],
        anyOp: true,
        post,
      });
      a.disposed = true;
      b.disposed = true;
    },
  },
  {
    name: 'gemm-bad-dtype',
    run(g) {
      const [m, n, k] = [mn(g), mn(g), kDim(g)];
      if (g.chance(0.5)) {
        const da = g.pick(GEMM_DTYPES);
        const db = g.pick(GEMM_DTYPES.filter((d) => d !== da));
        const a = g.tensor([da], [m, k]);
        const b = g.tensor([db], [n, k]);
        g.emit({ ops: ['gemm'], src: `m.gemm(${a.ref}, ${b.ref})`, expect: 'error', deps: [a.root, b.root], why: `dtypes ${da} and ${db}` });
      } else {
        const dtype = g.pick(['i32', 'u8', 'e4m3', 'e5m2'] as const);
        const a = g.tensor([dtype], [m, k]);
        const b = g.tensor([dtype], [n, k]);
        g.emit({ ops: ['gemm'], src: `m.gemm(${a.ref}, ${b.ref})`, expect: 'error', deps: [a.root, b.root], why: `dtype ${dtype}` });
      }
    },
  },
  {
    name: 'gemm-bad-shape',
    run(g) {
      const dtype = g.pick(GEMM_DTYPES);
      const k = kDim(g);
      const [sa, sb] = g.pick<readonly [number[], number[]]>([
        [[mn(g), k], [mn(g), k + g.int(1, 5)]],
        [[k], [mn(g), k]],
        [[mn(g), k], [k]],
        [[2, mn(g), k], [mn(g), k]],
        [[], []],
        [[mn(g), k], [1, mn(g), k]],
      ]);
      const a = g.tensor([dtype], sa);
      const b = g.tensor([dtype], sb);
      g.emit({ ops: ['gemm'], src: `m.gemm(${a.ref}, ${b.ref})`, expect: 'error', deps: [a.root, b.root], why: `shapes [${sa.join(', ')}] and [${sb.join(', ')}]` });
    },
  },
  {
    name: 'gemm-bad-tensor',
    run(g) {
      const dtype = g.pick(GEMM_DTYPES);
      const [m, n, k] = [mn(g), mn(g), kDim(g)];
      const good = g.tensor([dtype], [m, k]);
      const bad = badTensor(g, [dtype], [n, k]);
      const src = g.chance(0.5) ? `m.gemm(${good.ref}, ${bad.src})` : `m.gemm(${bad.src}, ${good.ref})`;
      g.emit({ ops: ['gemm'], src, expect: bad.expect, deps: [good.root, ...bad.deps], variant: bad.variant, why: bad.why });
    },
  },
  {
    name: 'gemm-bad-options',
    run(g) {
      const dtype = g.pick(GEMM_DTYPES);
      const a = g.tensor([dtype], [2, 8]);
      const b = g.tensor([dtype], [3, 8]);
      const choice = g.int(0, 3);
      const [opts, variant] =
        choice === 0
          ? [`{ outDtype: ${g.pick(["'e4m3'", "'i32'", "'float32'", "'u8'", '1', "'F32'"])} }`, undefined]
          : choice === 1
            ? [`{ impl: ${g.pick(BAD_IMPLS)} }`, undefined]
            : choice === 2
              ? [g.pick(NOT_OPTIONS), undefined]
              : [lit(withStrayKey(g, g.chance(0.5) ? { outDtype: 'f32' } : {}, ['outDtype', 'impl'])), 'unknown-option'];
      g.emit({ ops: ['gemm'], src: `m.gemm(${a.ref}, ${b.ref}, ${opts})`, expect: 'error', deps: [a.root, b.root], ...(variant ? { variant } : {}), why: 'bad options' });
    },
  },
  {
    name: 'gemm-huge-overflow',
    run(g) {
      // Zero-element operands whose output has more than 2^50 elements: rejected before any allocation.
      const dtype = g.pick(GEMM_DTYPES);
      const [m, n] = hugePair(g, true, dtype);
      const a = g.newTensor(dtype, [m, 0]);
      const b = g.newTensor(dtype, [n, 0]);
      g.emit({ ops: ['gemm'], src: `m.gemm(${a.ref}, ${b.ref})`, expect: 'error', deps: [a.root, b.root], variant: 'huge-output', why: 'an output of more than 2^50 elements' });
    },
  },
  {
    name: 'gemm-huge-oom',
    weight: 0.5,
    run(g) {
      const dtype = g.pick(GEMM_DTYPES);
      const [m, n] = hugePair(g, false, dtype);
      const a = g.newTensor(dtype, [m, 0]);
      const b = g.newTensor(dtype, [n, 0]);
      g.emit({ ops: ['gemm'], src: `m.gemm(${a.ref}, ${b.ref})`, expect: 'error', deps: [a.root, b.root], variant: 'huge-output', why: 'an output larger than any memory' });
    },
  },
  {
    name: 'gemm-huge-empty',
    run(g) {
      const dtype = g.pick(GEMM_DTYPES);
      const h = g.pick(HUGE_DIMS);
      const [sa, sb, out] = g.pick<readonly [number[], number[], number[]]>([
        [[h, 0], [0, 0], [h, 0]],
        [[0, 0], [h, 0], [0, h]],
        [[0, h], [0, h], [0, 0]],
      ]);
      const a = g.newTensor(dtype, sa);
      const b = g.newTensor(dtype, sb);
      const def = g.newVar();
      g.emit({ ops: ['gemm'], src: `m.gemm(${a.ref}, ${b.ref})`, expect: 'ok', deps: [a.root, b.root], def, post: isTensorPost(dtype, out) });
      g.track(def, dtype, out);
    },
  },
  {
    name: 'fp8-gemm',
    weight: 3,
    run(g) {
      const [m, n, k] = [g.pick([0, 1, 2, 5, 17]), g.pick([0, 1, 3, 17, 128, 129]), g.pick([0, 1, 64, 128, 129, 256])];
      const [a, b] = fp8Operands(g, m, n, k);
      const out = g.pick(['bf16', 'f32'] as const);
      const opts: Record<string, unknown> = {};
      if (out === 'f32' || g.chance(0.3)) opts.outDtype = out;
      const impl = g.validImpl();
      if (impl !== undefined) opts.impl = impl;
      const def = g.newVar();
      g.emit({ ops: ['fp8Gemm'], src: `m.fp8Gemm(${a.ref}, ${b.ref}${Object.keys(opts).length > 0 ? `, ${lit(opts)}` : ''})`, expect: 'ok', deps: [a.root, b.root], def, post: isTensorPost(out, [m, n]) });
      g.track(def, out, [m, n], { expected: k === 0 ? zerosOf(out, m * n) : undefined });
    },
  },
  {
    name: 'fp8-gemm-bad-operands',
    weight: 2,
    run(g) {
      const k = g.pick([1, 128, 129]);
      const choice = g.int(0, 4);
      if (choice === 0) {
        // Blocks swapped or per tensor.
        const a = g.quantized(g.pick([[128, 128], 'tensor'] as const), [g.int(1, 3), k]);
        const b = g.quantized([128, 128], [g.int(1, 3), k]);
        g.emit({ ops: ['fp8Gemm'], src: `m.fp8Gemm(${a.ref}, ${b.ref})`, expect: 'error', deps: [a.root, b.root], why: 'a not quantized 1x128' });
      } else if (choice === 1) {
        const a = g.quantized([1, 128], [g.int(1, 3), k]);
        const b = g.quantized(g.pick([[1, 128], 'tensor'] as const), [g.int(2, 3), k]);
        g.emit({ ops: ['fp8Gemm'], src: `m.fp8Gemm(${a.ref}, ${b.ref})`, expect: 'error', deps: [a.root, b.root], why: 'b not quantized 128x128' });
      } else if (choice === 2) {
        const a = g.quantized([1, 128], [2, k]);
        const b = g.quantized([128, 128], [3, k + g.pick([1, 128])]);
        g.emit({ ops: ['fp8Gemm'], src: `m.fp8Gemm(${a.ref}, ${b.ref})`, expect: 'error', deps: [a.root, b.root], why: 'K differs' });
      } else if (choice === 3) {
        const a = g.quantized([1, 128], g.pick([[2, 2, k], [k]]));
        const b = g.quantized([128, 128], [3, k]);
        g.emit({ ops: ['fp8Gemm'], src: `m.fp8Gemm(${a.ref}, ${b.ref})`, expect: 'error', deps: [a.root, b.root], why: 'a not of rank 2' });
      } else {
        const [a, b] = fp8Operands(g, 2, 3, k);
        const odd = g.pick([a.values.ref, b.values.ref, ...ODD_VALUES.slice(0, 12), `{ values: ${a.values.ref}, scales: ${a.scales.ref}, block: [1, 128] }`]);
        const src = g.chance(0.5) ? `m.fp8Gemm(${odd}, ${b.ref})` : `m.fp8Gemm(${a.ref}, ${odd})`;
        g.emit({ ops: ['fp8Gemm'], src, expect: 'error', deps: [a.root, b.root], why: 'not a Quantized' });
      }
    },
  },
  {
    name: 'fp8-gemm-bad-options',
    run(g) {
      const [a, b] = fp8Operands(g, 2, 3, 128);
      const choice = g.int(0, 3);
      const [opts, variant] =
        choice === 0
          ? [`{ outDtype: ${g.pick(["'f16'", "'e4m3'", "'i32'", "'float32'"])} }`, undefined]
          : choice === 1
            ? [`{ impl: ${g.pick(BAD_IMPLS)} }`, undefined]
            : choice === 2
              ? [g.pick(NOT_OPTIONS), undefined]
              : [lit(withStrayKey(g, g.chance(0.5) ? { outDtype: 'f32' } : {}, ['outDtype', 'impl'])), 'unknown-option'];
      g.emit({ ops: ['fp8Gemm'], src: `m.fp8Gemm(${a.ref}, ${b.ref}, ${opts})`, expect: 'error', deps: [a.root, b.root], ...(variant ? { variant } : {}), why: 'bad options' });
    },
  },
  {
    name: 'fp8-gemm-disposed',
    run(g) {
      const [a, b] = fp8Operands(g, g.int(1, 3), g.int(1, 3), 128);
      const q = g.pick([a, b]);
      const part = g.pick(['values', 'scales'] as const);
      g.emit({ ops: ['dispose'], src: `${q.ref}.${part}.dispose()`, expect: 'ok', deps: [q.root], mutates: [q.root], post: 'r === undefined' });
      q[part].disposed = true;
      g.emit({ ops: ['fp8Gemm'], src: `m.fp8Gemm(${a.ref}, ${b.ref})`, expect: 'error', deps: [a.root, b.root], variant: 'disposed', why: `${part} disposed` });
    },
  },
  {
    name: 'fp8-gemm-handbuilt',
    run(g) {
      const [a, b] = fp8Operands(g, 2, 3, 128);
      if (g.chance(0.5)) handBuilt(g, 'fp8Gemm', (src) => `m.fp8Gemm(${src}, ${b.ref})`, [1, 128], [b.root]);
      else handBuilt(g, 'fp8Gemm', (src) => `m.fp8Gemm(${a.ref}, ${src})`, [128, 128], [a.root]);
    },
  },
  {
    name: 'fp8-gemm-huge-overflow',
    weight: 0.5,
    run(g) {
      const [m, n] = hugePair(g, true, 'bf16');
      const a = g.newQuantized([1, 128], [m, 0]);
      const b = g.newQuantized([128, 128], [n, 0]);
      g.emit({ ops: ['fp8Gemm'], src: `m.fp8Gemm(${a.ref}, ${b.ref})`, expect: 'error', deps: [a.root, b.root], variant: 'huge-output', why: 'an output of more than 2^50 elements' });
    },
  },
  {
    name: 'fp8-gemm-huge-empty',
    weight: 0.5,
    run(g) {
      const h = g.pick(HUGE_DIMS);
      const [sa, sb, out] = g.pick<readonly [number[], number[], number[]]>([
        [[h, 0], [0, 0], [h, 0]],
        [[0, 0], [h, 0], [0, h]],
      ]);
      const a = g.newQuantized([1, 128], sa);
      const b = g.newQuantized([128, 128], sb);
      const def = g.newVar();
      g.emit({ ops: ['fp8Gemm'], src: `m.fp8Gemm(${a.ref}, ${b.ref})`, expect: 'ok', deps: [a.root, b.root], def, post: isTensorPost('bf16', out) });
      g.track(def, 'bf16', out);
    },
  },
];

/** The GEMMs. */
export const gemm: Family = {
  name: 'gemm',
  covers: ['gemm', 'fp8Gemm'],
  cases,
};
