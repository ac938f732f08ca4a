/**
 * Fuzz cases of FP8: `fp8.encode`/`fp8.decode` on the host, and block
 * quantization: `quantize`, `dequantize`, `asQuantized` and the Quantized
 * pairs they make.
 * @module
 */
import {
  type Block,
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
  quantLive,
  quantScalesShape,
  sameShape,
  withStrayKey,
} from '../gen.js';

const FORMATS = ['e4m3', 'e5m2'] as const;
const BLOCKS: readonly Block[] = [[1, 128], [128, 128], 'tensor'];
// Not null: an option set to null takes its default.
const BAD_FORMATS: readonly string[] = ["'E4M3'", "'e4m3fn'", "'e5m3'", "'fp8'", "'e4m3 '", "'u8'", ...ODD_VALUES.filter((s) => s !== 'undefined' && s !== 'null')];
const BAD_BLOCKS: readonly string[] = [
  '[1, 64]', '[128, 1]', "'1x128'", '[1, 128, 1]', "'Tensor'", '[128]', '[]', 'null', "[1, '128']", 'new Int32Array([1, 128])', '[128, 128.5]',
  '[2, 128]', '[-1, 128]', '[1, 2 ** 32 + 128]', '{ 0: 1, 1: 128, length: 2 }', 'undefined', "'tensor '", '128',
];
const BAD_IMPLS: readonly string[] = ["'v'", "'V1'", "'gpu'", "'v1.5'", '7', "'auto '", "'v99'", "'cuda'", "'v-1'"];

function blockLit(block: Block): string {
  return block === 'tensor' ? "'tensor'" : lit([...block]);
}

/** A shape that can take `block`, with the K edges of 128 now and then. */
function quantShape(g: Gen, block: Block): number[] {
  const minRank = block === 'tensor' ? 0 : block[0] === 1 ? 1 : 2;
  const rank = g.int(minRank, Math.max(minRank, 3));
  for (;;) {
    const s = Array.from({ length: rank }, (_, i) =>
      i === rank - 1 ? g.pick([0, 1, 5, 127, 128, 129, 200, 256, 300]) : i === rank - 2 && block !== 'tensor' && block[0] === 128 ? g.pick([0, 1, 3, 127, 128, 129]) : g.int(0, 4),
    );
    if (s.reduce((a, b) => a * b, 1) <= 8192) return s;
  }
}

/** A live quantized pair (made when there is none). */
function someQuantized(g: Gen): QuantVal {
  const live = g.quants.filter(quantLive);
  if (live.length > 0 && g.chance(0.7)) return g.pick(live);
  const block = g.pick(BLOCKS);
  return g.newQuantized(block, quantShape(g, block), g.pick(FORMATS));
}

function encodeValues(g: Gen, n: number): string {
  const s = g.seed();
  return g.pick([
    `rand(${n}, ${s}, -1000, 1000)`,
    `rand(${n}, ${s}, -1e5, 1e5)`,
    `randBits(${n}, ${s})`,
    `rand64(${n}, ${s}, -6e4, 6e4)`,
    `shared(Float32Array, rand(${n}, ${s}))`,
    `offsetView(Float64Array, rand64(${n}, ${s}), ${g.int(1, 4)})`,
  ]);
}

const cases: Case[] = [
  {
    name: 'encode',
    weight: 2,
    run(g) {
      const n = g.int(0, 300);
      const opts = g.pick(['', ', {}', ', { saturate: true }', ', { saturate: false }', ', undefined']);
      g.emit({ ops: ['fp8.encode'], src: `m.fp8.encode(${encodeValues(g, n)}, '${g.pick(FORMATS)}'${opts})`, expect: 'ok', post: `r instanceof Uint8Array && r.length === ${n}` });
    },
  },
  {
    name: 'encode-specials',
    weight: 0.3,
    run(g) {
      // The documented codes: NaN is 0x7F, 1 is 0x38, 500 saturates to 0x7E, -0.0625 is 0x98 (e4m3).
      g.emit({
        ops: ['fp8.encode'],
        src: "m.fp8.encode(Float32Array.of(NaN, 1, 500, -0.0625), 'e4m3')",
        expect: 'ok',
        post: 'r.length === 4 && r[0] === 0x7f && r[1] === 0x38 && r[2] === 0x7e && r[3] === 0x98',
      });
    },
  },
  {
    name: 'encode-bad-values',
    run(g) {
      const values = g.pick(['new Uint8Array(4)', '[1, 2]', 'new Int32Array(2)', 'new Uint16Array(2)', 'new BigInt64Array(2)', 'new ArrayBuffer(8)', 'undefined', 'null', '1.5', "'x'", '{ length: 1, 0: 1 }', 'cpu']);
      g.emit({ ops: ['fp8.encode'], src: `m.fp8.encode(${values}, 'e4m3')`, expect: 'error', why: 'not a Float32Array or Float64Array' });
    },
  },
  {
    name: 'encode-bad-format',
    run(g) {
      g.emit({ ops: ['fp8.encode'], src: `m.fp8.encode(rand(4, ${g.seed()}), ${g.pick([...BAD_FORMATS, 'undefined'])})`, expect: 'error', why: 'not an FP8 format' });
    },
  },
  {
    name: 'encode-bad-options',
    run(g) {
      const choice = g.int(0, 2);
      if (choice === 0) {
        g.emit({ ops: ['fp8.encode'], src: `m.fp8.encode(rand(4, ${g.seed()}), 'e5m2', ${g.pick(NOT_OPTIONS)})`, expect: 'error', why: 'options not an object' });
      } else if (choice === 1) {
        g.emit({ ops: ['fp8.encode'], src: `m.fp8.encode(rand(4, ${g.seed()}), 'e5m2', { saturate: ${g.pick(['1', "'yes'", '{}', '0'])} })`, expect: 'error', why: 'saturate not a boolean' });
      } else {
        const opts = withStrayKey(g, g.chance(0.5) ? { saturate: false } : {}, ['saturate']);
        g.emit({ ops: ['fp8.encode'], src: `m.fp8.encode(rand(4, ${g.seed()}), 'e5m2', ${lit(opts)})`, expect: 'error', variant: 'unknown-option', why: 'an unknown option' });
      }
    },
  },
  {
    name: 'encode-hidden-length',
    weight: 0.5,
    run(g) {
      const n = g.int(1, 64);
      const src = g.chance(0.5) ? `hideLength(rand(${n}, ${g.seed()}), ${g.pick([0, 1, n + 5])})` : `sneaky(Float32Array, rand(${n}, ${g.seed()}), ${g.pick([0, n * 4])})`;
      g.emit({ ops: ['fp8.encode'], src: `m.fp8.encode(${src}, '${g.pick(FORMATS)}')`, expect: 'any', variant: 'hidden-length', post: 'r instanceof Uint8Array' });
    },
  },
  {
    name: 'decode',
    weight: 2,
    run(g) {
      const n = g.int(0, 300);
      const s = g.seed();
      const codes = g.pick([`ints(Uint8Array, ${n}, ${s}, 0, 255)`, `shared(Uint8Array, ints(Array, ${n}, ${s}, 0, 255))`, `offsetView(Uint8Array, ints(Array, ${n}, ${s}, 0, 255), 3)`]);
      g.emit({ ops: ['fp8.decode'], src: `m.fp8.decode(${codes}, '${g.pick(FORMATS)}')`, expect: 'ok', post: `r instanceof Float32Array && r.length === ${n}` });
    },
  },
  {
    name: 'decode-bad',
    run(g) {
      if (g.chance(0.5)) {
        const codes = g.pick(['new Int8Array(4)', 'new Uint8ClampedArray(4)', 'new Float32Array(4)', '[1, 2]', 'new ArrayBuffer(4)', 'undefined', 'null', "'\\x01'", 'cpu']);
        g.emit({ ops: ['fp8.decode'], src: `m.fp8.decode(${codes}, 'e4m3')`, expect: 'error', why: 'not a Uint8Array' });
      } else {
        g.emit({ ops: ['fp8.decode'], src: `m.fp8.decode(new Uint8Array(3), ${g.pick([...BAD_FORMATS, 'undefined'])})`, expect: 'error', why: 'not an FP8 format' });
      }
    },
  },
  {
    name: 'decode-hidden-length',
    weight: 0.3,
    run(g) {
      const n = g.int(1, 64);
      g.emit({ ops: ['fp8.decode'], src: `m.fp8.decode(hideLength(ints(Uint8Array, ${n}, ${g.seed()}, 0, 255), ${g.pick([0, 2 ** 31, n + 1])}), 'e5m2')`, expect: 'any', variant: 'hidden-length', post: 'r instanceof Float32Array' });
    },
  },
  {
    name: 'quantize',
    weight: 4,
    run(g) {
      const block = g.pick(BLOCKS);
      g.newQuantized(block, quantShape(g, block), g.pick(FORMATS));
    },
  },
  {
    name: 'quantize-options',
    weight: 2,
    run(g) {
      const block = g.pick(BLOCKS);
      const shape = quantShape(g, block);
      const x = g.tensor(['f32', 'bf16', 'f16'], shape);
      const format = g.pick(FORMATS);
      const opts: Record<string, unknown> = { block: block === 'tensor' ? 'tensor' : [...block], format };
      if (g.chance(0.5)) opts.scaleFormat = g.pick(['f32', 'ue8m0']);
      const impl = g.validImpl();
      if (impl !== undefined) opts.impl = impl;
      const scales = quantScalesShape(shape, block)!;
      const def = g.newVar();
      g.emit({
        ops: ['quantize'],
        src: `m.quantize(${x.ref}, ${lit(opts)})`,
        expect: 'ok',
        deps: [x.root],
        def,
        post: `r instanceof m.Quantized && r.format === '${format}' && r.values.shape.join() === '${shape.join()}' && r.scales.shape.join() === '${scales.join()}'`,
      });
      const q: QuantVal = { ref: `v[${def}]`, root: def, values: g.track(def, format, shape, { ref: `v[${def}].values` }), scales: g.track(def, 'f32', scales, { ref: `v[${def}].scales` }), block, format };
      g.quants.push(q);
    },
  },
  {
    name: 'quantize-huge-empty',
    weight: 0.5,
    run(g) {
      const block = g.pick(BLOCKS);
      const big = g.pick(HUGE_DIMS);
      const shape = g.pick([[big, 0], [0, big], [0, 3, big]]);
      g.newQuantized(block, shape, g.pick(FORMATS));
    },
  },
  {
    name: 'quantize-bad-x',
    run(g) {
      if (g.chance(0.3)) {
        const x = g.tensor(['i32', 'u8', 'e4m3', 'e5m2'], [2, 128]);
        g.emit({ ops: ['quantize'], src: `m.quantize(${x.ref}, { block: [1, 128] })`, expect: 'error', deps: [x.root], why: `x of dtype ${x.dtype}` });
        return;
      }
      const bad = badTensor(g, ['f32', 'bf16', 'f16'], [2, 128]);
      g.emit({ ops: ['quantize'], src: `m.quantize(${bad.src}, { block: [1, 128] })`, expect: bad.expect, deps: bad.deps, variant: bad.variant, why: bad.why });
    },
  },
  {
    name: 'quantize-bad-options',
    weight: 2,
    run(g) {
      const x = g.tensor(['f32', 'bf16', 'f16'], [g.int(1, 3), g.pick([64, 128, 130])]);
      const choice = g.int(0, 6);
      let opts: string;
      let variant: string | undefined;
      let expect: 'error' | 'any' = 'error';
      if (choice === 0) opts = g.pick(['', ...NOT_OPTIONS, '{}']);
      else if (choice === 1) opts = `{ block: ${g.pick(BAD_BLOCKS)} }`;
      else if (choice === 2) opts = `{ block: [1, 128], format: ${g.pick(BAD_FORMATS)} }`;
      else if (choice === 3) opts = `{ block: [1, 128], scaleFormat: ${g.pick(["'e8m0'", "'UE8M0'", "'f16'", '1', "'bf16'"])} }`;
      else if (choice === 4) {
        const impl = g.pick([...BAD_IMPLS, "'v1'"]);
        opts = `{ block: [1, 128], impl: ${impl} }`;
        // A CUDA version by name is fine on a GPU, and rejected on the CPU.
        if (impl === "'v1'" && g.options.deviceKind === 'cuda') expect = 'any';
      } else if (choice === 5) {
        opts = lit(withStrayKey(g, { block: [1, 128] }, ['block', 'format', 'scaleFormat', 'impl']));
        variant = 'unknown-option';
      } else {
        // Array-likes and frozen arrays: a frozen [1, 128] is a block.
        opts = '{ block: Object.freeze([1, 128]) }';
        expect = 'any';
      }
      g.emit({ ops: ['quantize'], src: `m.quantize(${x.ref}${opts ? `, ${opts}` : ''})`, expect, deps: [x.root], ...(variant ? { variant } : {}), why: 'bad options' });
    },
  },
  {
    name: 'quantize-rank',
    run(g) {
      const [block, shape] = g.pick([
        [[128, 128], [128]],
        [[128, 128], []],
        [[1, 128], []],
      ] as const);
      const x = g.tensor(['f32', 'bf16', 'f16'], shape);
      g.emit({ ops: ['quantize'], src: `m.quantize(${x.ref}, { block: ${lit([...block])} })`, expect: 'error', deps: [x.root], why: 'rank too small for the block' });
    },
  },
  {
    name: 'dequantize',
    weight: 2,
    run(g) {
      const q = someQuantized(g);
      const dtype = g.pick(['f32', 'bf16', 'f16'] as const);
      const opts = dtype === 'f32' && g.chance(0.5) ? g.pick(['', ', {}']) : `, { dtype: '${dtype}' }`;
      const def = g.newVar();
      g.emit({ ops: ['dequantize'], src: `m.dequantize(${q.ref}${opts})`, expect: 'ok', deps: [q.root], def, post: isTensorPost(dtype, q.values.shape) });
      g.track(def, dtype, q.values.shape);
    },
  },
  {
    name: 'dequantize-bad',
    weight: 2,
    run(g) {
      const choice = g.int(0, 5);
      if (choice === 0) {
        const q = someQuantized(g);
        g.emit({ ops: ['dequantize'], src: `m.dequantize(${q.ref}, ${g.pick([`{ dtype: ${g.pick(["'e4m3'", "'i32'", "'u8'", "'float32'"])} }`, ...NOT_OPTIONS])})`, expect: 'error', deps: [q.root], why: 'bad options' });
      } else if (choice === 1) {
        const q = someQuantized(g);
        g.emit({ ops: ['dequantize'], src: `m.dequantize(${q.ref}, ${lit(withStrayKey(g, { dtype: 'f32' }, ['dtype']))})`, expect: 'error', deps: [q.root], variant: 'unknown-option', why: 'an unknown option' });
      } else if (choice === 2) {
        const q = someQuantized(g);
        const src = g.pick([q.values.ref, `{ values: ${q.values.ref}, scales: ${q.scales.ref}, block: ${blockLit(q.block)} }`, `[${q.values.ref}, ${q.scales.ref}]`]);
        g.emit({ ops: ['dequantize'], src: `m.dequantize(${src})`, expect: 'error', deps: [q.root], why: 'not a Quantized' });
      } else if (choice === 3) {
        g.emit({ ops: ['dequantize'], src: `m.dequantize(${g.pick(ODD_VALUES)})`, expect: 'error', why: 'not a Quantized' });
      } else if (choice === 4) {
        // Disposed: the pair, or only one of its tensors.
        const q = someQuantized(g);
        const part = g.pick(['', '.values', '.scales']);
        g.emit({ ops: ['dispose'], src: `${q.ref}${part}.dispose()`, expect: 'ok', deps: [q.root], mutates: [q.root], post: 'r === undefined' });
        if (part !== '.scales') q.values.disposed = true;
        if (part !== '.values') q.scales.disposed = true;
        g.emit({ ops: ['dequantize'], src: `m.dequantize(${q.ref})`, expect: 'error', deps: [q.root], variant: 'disposed', why: 'disposed' });
      } else {
        handBuilt(g, 'dequantize', (src) => `m.dequantize(${src})`);
      }
    },
  },
  {
    name: 'as-quantized',
    weight: 2,
    run(g) {
      const block = g.pick(BLOCKS);
      const format = g.pick(FORMATS);
      const shape = quantShape(g, block);
      const n = shape.reduce((a, b) => a * b, 1);
      const scalesShape = quantScalesShape(shape, block)!;
      const vDef = g.newVar();
      const codes = `ints(Uint8Array, ${n}, ${g.seed()}, 0, 255)`;
      g.emit({ ops: ['tensor'], src: `dev.tensor(${codes}, ${lit({ shape, dtype: format })})`, expect: 'ok', def: vDef, post: isTensorPost(format, shape) });
      const values = g.track(vDef, format, shape, { expected: `m.fp8.decode(${codes}, '${format}')` });
      const sDef = g.newVar();
      const sn = scalesShape.reduce((a, b) => a * b, 1);
      const data = `rand(${sn}, ${g.seed()}, 1e-3, 1)`;
      g.emit({ ops: ['tensor'], src: `dev.tensor(${data}, ${lit({ shape: scalesShape })})`, expect: 'ok', def: sDef, post: isTensorPost('f32', scalesShape) });
      const scales = g.track(sDef, 'f32', scalesShape, { expected: data });
      const opts: Record<string, unknown> = { block: block === 'tensor' ? 'tensor' : [...block] };
      if (g.chance(0.4)) opts.scaleFormat = g.pick(['f32', 'ue8m0']);
      const def = g.newVar();
      g.emit({
        ops: ['asQuantized'],
        src: `m.asQuantized(${values.ref}, ${scales.ref}, ${lit(opts)})`,
        expect: 'ok',
        deps: [vDef, sDef],
        def,
        post: `r instanceof m.Quantized && r.values === ${values.ref} && r.scales === ${scales.ref} && r.format === '${format}'`,
      });
      g.quants.push({ ref: `v[${def}]`, root: def, values, scales, block, format });
    },
  },
  {
    name: 'as-quantized-bad',
    weight: 2,
    run(g) {
      const q = someQuantized(g);
      const block = g.pick(BLOCKS);
      const choice = g.int(0, 5);
      if (choice === 0) {
        // Another block: valid only where the scales' shape happens to agree.
        const fits = quantScalesShape(q.values.shape, block);
        const expect = fits && sameShape(fits, q.scales.shape) ? 'ok' : 'error';
        g.emit({ ops: ['asQuantized'], src: `m.asQuantized(${q.values.ref}, ${q.scales.ref}, { block: ${blockLit(block)} })`, expect, deps: [q.root], why: 'scales do not fit the block' });
      } else if (choice === 1) {
        const x = g.tensor(['f32', 'bf16', 'i32', 'u8'], q.values.shape);
        g.emit({ ops: ['asQuantized'], src: `m.asQuantized(${x.ref}, ${q.scales.ref}, { block: ${blockLit(q.block)} })`, expect: 'error', deps: [q.root, x.root], why: `values of dtype ${x.dtype}` });
      } else if (choice === 2) {
        const s = g.tensor(['bf16', 'f16', 'i32', 'e4m3'], q.scales.shape);
        g.emit({ ops: ['asQuantized'], src: `m.asQuantized(${q.values.ref}, ${s.ref}, { block: ${blockLit(q.block)} })`, expect: 'error', deps: [q.root, s.root], why: `scales of dtype ${s.dtype}` });
      } else if (choice === 3) {
        const opts = g.pick([
          ['', undefined], ...NOT_OPTIONS.map((o) => [o, undefined]), ['{}', undefined], [`{ block: ${g.pick(BAD_BLOCKS)} }`, undefined],
          [`{ block: ${blockLit(q.block)}, scaleFormat: 'e8m0' }`, undefined], [lit(withStrayKey(g, { block: q.block === 'tensor' ? 'tensor' : [...q.block] }, ['block', 'scaleFormat'])), 'unknown-option'],
        ] as const);
        g.emit({ ops: ['asQuantized'], src: `m.asQuantized(${q.values.ref}, ${q.scales.ref}${opts[0] ? `, ${opts[0]}` : ''})`, expect: 'error', deps: [q.root], ...(opts[1] ? { variant: opts[1] } : {}), why: 'bad options' });
      } else {
        const bad = badTensor(g, ['e4m3'], q.values.shape);
        const src = choice === 4 ? `m.asQuantized(${bad.src}, ${q.scales.ref}, { block: ${blockLit(q.block)} })` : `m.asQuantized(${q.values.ref}, ${bad.src}, { block: ${blockLit(q.block)} })`;
        g.emit({ ops: ['asQuantized'], src, expect: bad.expect, deps: [q.root, ...bad.deps], variant: bad.variant, why: bad.why });
      }
    },
  },
  {
    name: 'quantized-dispose',
    run(g) {
      const q = someQuantized(g);
      g.emit({ ops: ['dispose'], src: `${q.ref}${g.chance(0.5) ? '.dispose()' : '[Symbol.dispose]()'}`, expect: 'ok', deps: [q.root], mutates: [q.root], post: 'r === undefined' });
      q.values.disposed = true;
      q.scales.disposed = true;
    },
  },
  {
    name: 'quantized-props',
    weight: 0.5,
    run(g) {
      const q = g.quants.length > 0 && g.chance(0.5) ? g.pick(g.quants) : someQuantized(g);
      g.emit({
        ops: ['toString'],
        src: `[${q.ref}.shape.join(), ${q.ref}.format, ${q.ref}.device.id, String(${q.ref})]`,
        expect: 'ok',
        deps: [q.root],
        post: `r[0] === '${q.values.shape.join()}' && r[1] === '${q.format}' && r[3].startsWith('Quantized(${q.format} ')`,
      });
    },
  },
];

/**
 * Emits `make(src)` with a hand-built Quantized: `Object.create(m.Quantized.prototype)`
 * with or without fields (never a Quantized: rejected), or `new m.Quantized(...)`
 * (which checks its arguments: with tensors whose shapes fit `wantBlock` it
 * is a Quantized like any other). `extraDeps`: other variables `make` puts
 * in the call.
 */
export function handBuilt(g: Gen, op: string, make: (src: string) => string, wantBlock?: Block, extraDeps: readonly number[] = []): void {
  const q = someQuantized(g);
  const other = someQuantized(g);
  const block = wantBlock ?? q.block;
  const scales = quantScalesShape(q.values.shape, block);
  const fits = scales !== undefined && sameShape(scales, q.scales.shape);
  const [src, expect] = g.pick<readonly [string, 'error' | 'any']>([
    ['Object.create(m.Quantized.prototype)', 'error'],
    [`Object.assign(Object.create(m.Quantized.prototype), { values: ${q.values.ref}, scales: ${q.scales.ref}, block: ${blockLit(block)}, format: '${q.format}', scaleFormat: 'f32' })`, 'error'],
    [`Object.assign(Object.create(m.Quantized.prototype), { values: ${q.values.ref}, block: ${blockLit(block)} })`, 'error'],
    [`new m.Quantized(${q.values.ref}, ${q.scales.ref}, ${blockLit(block)}, ${g.pick(["'f32'", "'ue8m0'"])})`, fits ? 'any' : 'error'],
    [`new m.Quantized(${q.values.ref}, ${other.scales.ref}, ${blockLit(block)}, 'f32')`, 'any'],
    [`new m.Quantized(${q.values.ref}, ${g.pick(['null', '{}', `new Proxy(${q.scales.ref}, {})`])}, ${blockLit(block)}, 'f32')`, 'error'],
    [`new m.Quantized(${g.pick(['null', q.scales.ref, `new Proxy(${q.values.ref}, {})`])}, ${q.scales.ref}, ${blockLit(block)}, 'f32')`, 'error'],
    [`new m.Quantized(${q.values.ref}, ${q.scales.ref}, ${g.pick(['null', "'x'", '[2, 64]', '[1]', 'undefined'])}, 'f32')`, 'error'],
    [`new m.Quantized(${q.values.ref}, ${q.scales.ref}, ${blockLit(block)}, ${g.pick(["'e8m0'", '1', "'F32'"])})`, 'error'],
  ]);
  g.emit({ ops: [op, 'Quantized'], src: make(src), expect, deps: [q.root, other.root, ...extraDeps], variant: 'handbuilt-quantized', why: 'a hand-built Quantized' });
}

/** FP8 on the host and block quantization. */
export const fp8: Family = {
  name: 'fp8',
  covers: ['fp8.encode', 'fp8.decode', 'quantize', 'dequantize', 'asQuantized', 'Quantized.dispose'],
  cases,
};
