/**
 * Fuzz cases of the cuBLASLt baselines (`baselines.*`). Without a GPU and
 * cuBLASLt only `status` and `prepareFp8Gemm` can succeed; the others must
 * fail with a proper error, and bad arguments must be rejected everywhere.
 * @module
 */
import {
  type Case,
  type Expect,
  type Family,
  type Gen,
  NOT_OPTIONS,
  ODD_VALUES,
  type QuantVal,
  badTensor,
  isTensorPost,
  lit,
  withStrayKey,
} from '../gen.js';

const OP = 'baselines.fp8Gemm';
// prepareFp8Gemm's own checks name it; the addon's checks of the same call name baselines.fp8Gemm.
const PREPARE = 'baselines.prepareFp8Gemm';

/** Operands cuBLASLt's FP8 GEMM takes: e4m3, M, N and K multiples of 16, scales for `mode`. */
function fp8Operands(g: Gen, mode: 'block' | 'tensor', dims: readonly [number, number, number]): [QuantVal, QuantVal] {
  const [m, n, k] = dims;
  if (mode === 'tensor') return [g.quantized('tensor', [m, k]), g.quantized('tensor', [n, k])];
  return [g.quantized([1, 128], [m, k]), g.quantized([128, 128], [n, k])];
}

/** An operand as the baselines take it: the Quantized, or a plain `{ values, scales }`. */
function operand(g: Gen, q: QuantVal): string {
  return g.chance(0.7) ? q.ref : `{ values: ${q.values.ref}, scales: ${q.scales.ref} }`;
}

const cases: Case[] = [
  {
    name: 'status',
    run(g) {
      const spec = g.pick(['', "'cpu'", 'cpu', 'dev', "'auto'", 'undefined']);
      g.emit({
        ops: ['baselines.status'],
        src: `m.baselines.status(${spec})`,
        expect: 'ok',
        post: "typeof r.available === 'boolean' && typeof r.reason === 'string' && typeof r.gemm.available === 'boolean' && typeof r.fp8Block.reason === 'string'",
      });
    },
  },
  {
    name: 'status-bad-device',
    run(g) {
      const spec = g.pick(["'gpu'", "'cuda:99'", 'null', '5', '{}', "'CPU'", "'cuda:-1'", 'Object.create(m.Device.prototype)']);
      const variant = spec.startsWith('Object.create') ? 'fake-device' : 'bad-device';
      g.emit({ ops: ['baselines.status'], src: `m.baselines.status(${spec})`, expect: 'error', variant, why: 'not a device' });
    },
  },
  {
    name: 'gemm',
    run(g) {
      const dtype = g.pick(['bf16', 'f16'] as const);
      const [m, n, k] = [g.pick([1, 16, 32]), g.pick([1, 16, 48]), g.pick([16, 64])];
      const a = g.tensor([dtype], [m, k]);
      const b = g.tensor([dtype], [n, k]);
      const out = g.pick([dtype, 'f32'] as const);
      const opts = out === dtype && g.chance(0.5) ? '' : `, { outDtype: '${out}' }`;
      // Needs cuBLASLt and a GPU: on the CPU it fails, with a proper error.
      g.emit({ ops: ['baselines.gemm'], src: `m.baselines.gemm(${a.ref}, ${b.ref}${opts})`, expect: 'any', deps: [a.root, b.root], post: isTensorPost(out, [m, n]) });
    },
  },
  {
    name: 'gemm-bad',
    run(g) {
      const a = g.tensor(['bf16'], [16, 16]);
      const choice = g.int(0, 2);
      if (choice === 0) {
        const bad = badTensor(g, ['bf16'], [16, 16]);
        g.emit({ ops: ['baselines.gemm'], src: `m.baselines.gemm(${a.ref}, ${bad.src})`, expect: bad.expect, deps: [a.root, ...bad.deps], variant: bad.variant, why: bad.why });
      } else if (choice === 1) {
        g.emit({ ops: ['baselines.gemm'], src: `m.baselines.gemm(${a.ref}, ${a.ref}, { outDtype: ${g.pick(["'e4m3'", "'i32'", '1', "'F32'"])} })`, expect: 'error', deps: [a.root], why: 'bad outDtype' });
      } else {
        const opts = g.chance(0.5) ? g.pick(NOT_OPTIONS) : lit(withStrayKey(g, {}, ['outDtype']));
        g.emit({ ops: ['baselines.gemm'], src: `m.baselines.gemm(${a.ref}, ${a.ref}, ${opts})`, expect: 'error', deps: [a.root], ...(opts.startsWith('{') ? { variant: 'unknown-option' } : {}), why: 'bad options' });
      }
    },
  },
  {
    name: 'prepare',
    weight: 2,
    run(g) {
      const mode = g.pick(['block', 'tensor'] as const);
      const dims = [g.pick([16, 32, 128]), g.pick([16, 48, 128]), g.pick([16, 128, 256])] as const;
      const [a, b] = fp8Operands(g, mode, dims);
      const e4m3 = a.format === 'e4m3' && b.format === 'e4m3';
      const def = g.newVar();
      const ref = `v[${def}]`;
      g.emit({
        ops: [OP, PREPARE],
        src: `m.baselines.prepareFp8Gemm(${operand(g, a)}, ${operand(g, b)}, { mode: '${mode}' })`,
        expect: e4m3 ? 'ok' : 'any',
        deps: [a.root, b.root],
        def,
        post: `r instanceof m.baselines.PreparedFp8Gemm && r.m === ${dims[0]} && r.n === ${dims[1]} && r.k === ${dims[2]} && r.mode === '${mode}'`,
      });
      const ops = [OP, 'PreparedFp8Gemm.run', 'PreparedFp8Gemm.scales'];
      switch (g.int(0, 3)) {
        case 0:
          // Needs cuBLASLt and a GPU.
          g.emit({ ops, src: `${ref}.run(${g.pick(['', "{ outDtype: 'f32' }", '{}'])})`, expect: 'any', deps: [def], post: 'r instanceof m.Tensor' });
          break;
        case 1:
          g.emit({ ops, src: `[${ref}.scales.a.shape.join(), ${ref}.scales.b.shape.join()]`, expect: 'ok', deps: [def] });
          break;
        case 2:
          g.emit({ ops, src: `${ref}.run(${g.pick(["{ outDtype: 'e4m3' }", "{ outdtype: 'f32' }", ...NOT_OPTIONS.slice(0, 3)])})`, expect: 'error', deps: [def], why: 'bad options' });
          break;
        default:
          g.emit({ ops: ['dispose'], src: `${ref}.dispose()`, expect: 'ok', deps: [def], mutates: [def], post: 'r === undefined' });
          g.emit({ ops, src: `${ref}.${g.pick(['run()', 'scales'])}`, expect: 'error', deps: [def], variant: 'disposed', why: 'used after dispose()' });
      }
    },
  },
  {
    name: 'prepare-unaligned',
    run(g) {
      const dims = [g.pick([1, 17, 32]), g.pick([1, 48, 130]), g.pick([16, 100, 128])] as const;
      if (dims.every((d) => d % 16 === 0)) return;
      const [a, b] = fp8Operands(g, 'block', dims);
      g.emit({ ops: [OP, PREPARE], src: `m.baselines.prepareFp8Gemm(${a.ref}, ${b.ref}, { mode: 'block' })`, expect: 'error', deps: [a.root, b.root], why: 'dimensions not multiples of 16' });
    },
  },
  {
    name: 'prepare-bad',
    weight: 2,
    run(g) {
      const [a, b] = fp8Operands(g, 'block', [16, 16, 128]);
      const choice = g.int(0, 4);
      let src: string;
      let variant: string | undefined;
      let expect: Expect = 'error';
      let deps = [a.root, b.root];
      if (choice === 0) {
        src = `m.baselines.prepareFp8Gemm(${a.ref}, ${b.ref}${g.pick(['', ', {}', ", { mode: 'Block' }", ", { mode: 'row' }", ', { mode: null }', ...NOT_OPTIONS.map((o) => `, ${o}`)])})`;
      } else if (choice === 1) {
        src = `m.baselines.prepareFp8Gemm(${a.ref}, ${b.ref}, ${lit(withStrayKey(g, { mode: 'block' }, ['mode']))})`;
        variant = 'unknown-option';
      } else if (choice === 2) {
        // Scales of the other mode.
        src = `m.baselines.prepareFp8Gemm(${a.ref}, ${b.ref}, { mode: 'tensor' })`;
      } else if (choice === 3) {
        const odd = g.pick([...ODD_VALUES.slice(0, 10), `{ values: ${a.values.ref} }`, `{ scales: ${a.scales.ref} }`, `{ values: ${a.scales.ref}, scales: ${a.values.ref} }`]);
        src = g.chance(0.5) ? `m.baselines.prepareFp8Gemm(${odd}, ${b.ref}, { mode: 'block' })` : `m.baselines.prepareFp8Gemm(${a.ref}, ${odd}, { mode: 'block' })`;
      } else {
        const bad = badTensor(g, ['e4m3'], [16, 128]);
        src = `m.baselines.prepareFp8Gemm({ values: ${bad.src}, scales: ${a.scales.ref} }, ${b.ref}, { mode: 'block' })`;
        expect = bad.expect;
        variant = bad.variant;
        deps = [...deps, ...bad.deps];
      }
      g.emit({ ops: [OP, PREPARE], src, expect, deps, ...(variant ? { variant } : {}), why: 'bad arguments' });
    },
  },
  {
    name: 'fp8-gemm',
    run(g) {
      const mode = g.pick(['block', 'tensor'] as const);
      const [a, b] = fp8Operands(g, mode, [16, 32, 128]);
      const opts = g.pick([`{ mode: '${mode}' }`, `{ mode: '${mode}', outDtype: 'f32' }`]);
      // Needs cuBLASLt and a GPU.
      g.emit({ ops: [OP, PREPARE], src: `m.baselines.fp8Gemm(${operand(g, a)}, ${operand(g, b)}, ${opts})`, expect: 'any', deps: [a.root, b.root], post: 'r instanceof m.Tensor' });
    },
  },
  {
    name: 'fp8-gemm-bad',
    run(g) {
      const [a, b] = fp8Operands(g, 'block', [16, 16, 128]);
      const [opts, variant] = g.pick<readonly [string, string | undefined]>([
        ...['', '{}', "{ mode: 'block', outDtype: 'e4m3' }", "{ mode: 'x' }", ...NOT_OPTIONS].map((o) => [o, undefined] as const),
        [lit(withStrayKey(g, { mode: 'block' }, ['mode', 'outDtype'])), 'unknown-option'],
      ]);
      g.emit({ ops: [OP, PREPARE], src: `m.baselines.fp8Gemm(${a.ref}, ${b.ref}${opts ? `, ${opts}` : ''})`, expect: 'error', deps: [a.root, b.root], ...(variant ? { variant } : {}), why: 'bad options' });
    },
  },
];

/** The cuBLASLt baselines. */
export const baselines: Family = {
  name: 'baselines',
  covers: ['baselines.status', 'baselines.gemm', 'baselines.prepareFp8Gemm', 'PreparedFp8Gemm.run', 'PreparedFp8Gemm.scales', 'PreparedFp8Gemm.dispose', 'baselines.fp8Gemm'],
  cases,
};
