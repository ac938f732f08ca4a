/**
 * Fuzz cases of the runtime: devices, `Device.tensor/zeros/empty/
 * synchronize/memory`, and the Tensor methods `toArray/bytes/to/clone/cast/
 * reshape/dispose`.
 * @module
 */
import { DTYPES, type DType } from '../../../lib/dtype.js';
import {
  BAD_DIMS,
  type Case,
  type Family,
  type Gen,
  HUGE_DIMS,
  NOT_OPTIONS,
  ODD_VALUES,
  type TensorVal,
  args,
  badTensor,
  castExpected,
  isTensorPost,
  lit,
  num,
  raw,
  tensorBytes,
  withStrayKey,
  zerosOf,
} from '../gen.js';

const INT_RANGE = { i32: [-(2 ** 31), 2 ** 31 - 1], u8: [0, 255] } as const;
const FLOATS: readonly DType[] = ['f32', 'f16', 'bf16', 'e4m3', 'e5m2'];
// Not null: an option set to null takes its default.
const BAD_DTYPES: readonly string[] = ["'float32'", "'F32'", "'fp8'", "'int32'", "'e4m3fn'", "'bfloat16'", "'f64'", "'i64'", '7', "'f32\\u0000'", ...ODD_VALUES.filter((s) => s !== 'undefined' && s !== 'null')];

/** Valid data of `n` elements for `dtype`: source and the typed array class (undefined for a plain array). */
function validData(g: Gen, dtype: DType, n: number): { src: string; ctor?: string } {
  const s = g.seed();
  if (n <= 12 && g.chance(0.2)) {
    if (dtype === 'i32' || dtype === 'u8') {
      const [lo, hi] = INT_RANGE[dtype];
      return { src: lit(Array.from({ length: n }, () => g.pick([lo, hi, 0, 1, g.int(lo, hi), -0].filter((x) => x >= lo)))) };
    }
    const specials = [0, 1, -1, 0.5, -0, NaN, Infinity, -Infinity, 1e300, -1e-45, 65504, 65520, 448, 464, 57344, 3.4e38, 2 ** -24];
    return { src: lit(Array.from({ length: n }, () => (g.chance(0.5) ? g.pick(specials) : g.int(-1000, 1000) / 8))) };
  }
  if (dtype === 'i32') {
    return g.pick([
      { src: `ints(Int32Array, ${n}, ${s}, -(2 ** 31), 2 ** 31 - 1)`, ctor: 'Int32Array' },
      { src: `ints(Float64Array, ${n}, ${s}, -(2 ** 31), 2 ** 31 - 1)`, ctor: 'Float64Array' },
      { src: `ints(Int8Array, ${n}, ${s}, -128, 127)`, ctor: 'Int8Array' },
      { src: `ints(Uint16Array, ${n}, ${s}, 0, 65535)`, ctor: 'Uint16Array' },
      { src: `ints(Uint32Array, ${n}, ${s}, 0, 2 ** 31 - 1)`, ctor: 'Uint32Array' },
      { src: `ints(Array, ${n}, ${s}, -5, 5)` },
    ]);
  }
  if (dtype === 'u8') {
    return g.pick([
      { src: `ints(Uint8Array, ${n}, ${s}, 0, 255)`, ctor: 'Uint8Array' },
      { src: `ints(Uint8ClampedArray, ${n}, ${s}, 0, 255)`, ctor: 'Uint8ClampedArray' },
      { src: `ints(Int16Array, ${n}, ${s}, 0, 255)`, ctor: 'Int16Array' },
      { src: `ints(Float32Array, ${n}, ${s}, 0, 255)`, ctor: 'Float32Array' },
      { src: `ints(Array, ${n}, ${s}, 0, 255)` },
    ]);
  }
  const rawForm =
    dtype === 'f32'
      ? { src: `randBits(${n}, ${s})`, ctor: 'Float32Array' }
      : dtype === 'f16' || dtype === 'bf16'
        ? { src: `ints(Uint16Array, ${n}, ${s}, 0, 65535)`, ctor: 'Uint16Array' }
        : { src: `ints(Uint8Array, ${n}, ${s}, 0, 255)`, ctor: 'Uint8Array' };
  return g.pick([
    rawForm,
    { src: `rand(${n}, ${s}, -1000, 1000)`, ctor: 'Float32Array' },
    { src: `randBits(${n}, ${s})`, ctor: 'Float32Array' },
    { src: `rand64(${n}, ${s}, -1e6, 1e6)`, ctor: 'Float64Array' },
    { src: `ints(Int16Array, ${n}, ${s}, -32768, 32767)`, ctor: 'Int16Array' },
    { src: `ints(Uint32Array, ${n}, ${s}, 0, 2 ** 32 - 1)`, ctor: 'Uint32Array' },
    { src: `ints(Array, ${n}, ${s}, -100, 100)` },
  ]);
}

/**
 * What `toArray()` gives for a tensor of `dtype` made from `data`, where the
 * documented conversion says exactly: integers as they are, f32 rounded as
 * JavaScript rounds (to nearest, ties to even), FP8 codes taken as they are
 * (a Uint8Array) and numbers encoded as `fp8.encode` does from the double.
 */
function dataExpected(dtype: DType, data: { src: string; ctor?: string }): string | undefined {
  if (dtype === 'i32') return `Int32Array.from(${data.src})`;
  if (dtype === 'u8') return `Uint8Array.from(${data.src})`;
  if (dtype === 'f32') return `Float32Array.from(${data.src})`;
  if (dtype === 'e4m3' || dtype === 'e5m2') {
    return data.ctor === 'Uint8Array' ? `m.fp8.decode(${data.src}, '${dtype}')` : `m.fp8.decode(m.fp8.encode(Float64Array.from(${data.src}), '${dtype}'), '${dtype}')`;
  }
  return undefined;
}

/** `data` now and then moved into a SharedArrayBuffer or a view at an offset. */
function wrapData(g: Gen, data: { src: string; ctor?: string }): string {
  if (!data.ctor || g.chance(0.6)) return data.src;
  return g.chance(0.5) ? `shared(${data.ctor}, ${data.src})` : `offsetView(${data.ctor}, ${data.src}, ${g.int(1, 5)})`;
}

function defaultDType(ctor: string | undefined): DType {
  return ctor === 'Int32Array' ? 'i32' : ctor === 'Uint8Array' ? 'u8' : 'f32';
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A shape of `numel` elements at most `maxRank` long (with a -1 now and then). */
function factorShape(g: Gen, n: number, maxRank = 4): { shape: number[]; resolved: number[] } {
  const rank = n === 1 ? g.int(0, maxRank) : g.int(1, maxRank);
  const resolved: number[] = [];
  let rest = n;
  for (let i = 0; i < rank - 1; i++) {
    if (rest === 0) {
      resolved.push(g.int(0, 3));
      continue;
    }
    const divisors: number[] = [];
    for (let d = 1; d <= Math.min(rest, 64); d++) if (rest % d === 0) divisors.push(d);
    const d = g.pick(divisors);
    resolved.push(d);
    rest /= d;
  }
  if (rank > 0) resolved.push(rest);
  if (n === 0 && rank > 0 && !resolved.includes(0)) resolved[g.int(0, rank - 1)] = 0;
  const shape = [...resolved];
  const others = (i: number) => numel(resolved.filter((_, j) => j !== i));
  const candidates = resolved.map((_, i) => i).filter((i) => others(i) !== 0);
  if (candidates.length > 0 && g.chance(0.4)) shape[g.pick(candidates)] = -1;
  return { shape, resolved };
}

/** A shape product above 2^50 from huge dimensions. */
function overflowShape(g: Gen): number[] {
  for (;;) {
    const s = [g.pick(HUGE_DIMS), g.pick(HUGE_DIMS)];
    if (g.chance(0.3)) s.push(g.pick([1, 3, 2 ** 20]));
    if (numel(s) > 2 ** 50) return g.chance(0.5) ? s : s.reverse();
  }
}

/** A shape with huge dimensions and no elements. */
function emptyHugeShape(g: Gen): number[] {
  const s = [g.pick(HUGE_DIMS), 0];
  if (g.chance(0.3)) s.push(g.pick([1, 2 ** 31, 2 ** 50]));
  if (numel(s.filter((d) => d !== 0)) > 2 ** 50) s.splice(2);
  return g.chance(0.5) ? s : s.reverse();
}

/** A shape that is not one, as source. */
function badShapeSrc(g: Gen): { src: string; variant: string } {
  switch (g.int(0, 4)) {
    case 0:
      return { src: lit([g.dim(3), g.pick(BAD_DIMS)].slice(g.int(0, 1))), variant: 'bad-dim' };
    case 1:
      return { src: `[${g.int(1, 3)}, ${g.pick(["'2'", 'null', 'undefined', '2n', '[2]', '{}', 'true'])}]`, variant: 'dim-type' };
    case 2:
      return { src: 'new Array(17).fill(1)', variant: 'rank-17' };
    case 3:
      return { src: g.pick(['2', "'2, 3'", '{ length: 1, 0: 2 }', 'new Int32Array([2])', 'new Set([2])', 'holes(2)']), variant: 'not-array' };
    default:
      return { src: lit(overflowShape(g)), variant: 'overflow' };
  }
}

/** Shapes whose elements fit in 2^50 but whose bytes no machine has (at least 2^43). */
function oomShape(g: Gen, dtype: DType): number[] {
  for (;;) {
    const s = g.chance(0.5) ? [g.pick([2 ** 43, 2 ** 44, 2 ** 50, 2 ** 45 + 64])] : [g.pick(HUGE_DIMS), g.pick([2 ** 12, 2 ** 19, 2 ** 20, 4099])];
    const n = numel(s);
    if (n <= 2 ** 50 && tensorBytes(dtype, s) >= 2 ** 43) return s;
  }
}

const TENSOR_KEYS = ['shape', 'dtype'];
const ALLOC_KEYS = ['pinned'];

/**
 * The check of `r`, a read of `count` elements of `t` (`range`: which ones,
 * for the values when the model knows them).
 */
function readPost(t: TensorVal, method: 'toArray' | 'bytes', count: number, range: readonly [number, number], r = 'r'): string {
  if (method === 'bytes') return `${r} instanceof Uint8Array && ${r}.length === ${num(tensorBytes(t.dtype, [count]))}`;
  const ctor = t.dtype === 'i32' ? 'Int32Array' : t.dtype === 'u8' ? 'Uint8Array' : 'Float32Array';
  const shape = `${r} instanceof ${ctor} && ${r}.length === ${num(count)}`;
  if (t.expected === undefined) return shape;
  const whole = range[0] === 0 && range[1] === numel(t.shape);
  return `${shape} && same(${r}, ${whole ? t.expected : `(${t.expected}).subarray(${range[0]}, ${range[1]})`})`;
}

/** A live tensor of any kind the model knows (views and quantized values too). */
function anyLive(g: Gen): TensorVal {
  const live = g.live();
  return live.length > 0 && g.chance(0.8) ? g.pick(live) : g.newTensor(g.pick(DTYPES), g.shape());
}

const cases: Case[] = [
  {
    name: 'device',
    run(g) {
      const spec = g.pick(['', "'cpu'", "'auto'", 'undefined']);
      g.emit({ ops: ['device'], src: `m.device(${spec})`, expect: 'ok', post: 'r instanceof m.Device' });
    },
  },
  {
    name: 'device-bad-spec',
    run(g) {
      const spec = g.pick(["'gpu'", "'CPU'", "'cuda:'", "'cuda:-1'", "'cuda:1.5'", "'cuda:0x1'", "' cpu'", "'cuda:99'", "'cuda:' + 2 ** 53", "'cpu:0'", ...ODD_VALUES.filter((s) => s !== 'undefined')]);
      g.emit({ ops: ['device'], src: `m.device(${spec})`, expect: 'error', why: 'not a device' });
    },
  },
  {
    name: 'device-maybe-gpu',
    weight: 0.3,
    run(g) {
      g.emit({ ops: ['device'], src: `m.device(${g.pick(["'cuda'", "'cuda:0'", "'cuda:1'"])})`, expect: 'any', post: 'r instanceof m.Device' });
    },
  },
  {
    name: 'info',
    run(g) {
      const extra = g.chance(0.3) ? g.pick(ODD_VALUES) : '';
      const [fn, post] = g.pick([
        ['devices', "Array.isArray(r) && r[0].id === 'cpu' && r.every((d) => typeof d.totalMemory === 'number')"],
        ['cudaStatus', "typeof r.built === 'boolean' && typeof r.available === 'boolean' && typeof r.reason === 'string'"],
        ['buildInfo', "typeof r.cuda === 'boolean' && typeof r.napiVersion === 'number'"],
        ['kernelVersions', 'Array.isArray(r.gemm) && Array.isArray(r.fp8Gemm) && Array.isArray(r.quantize)'],
      ] as const);
      g.emit({ ops: [fn], src: `m.${fn}(${extra})`, expect: 'ok', post });
    },
  },
  {
    name: 'tensor',
    weight: 4,
    run(g) {
      const dtype = g.pick(DTYPES);
      const shape = g.shape(g.int(0, 3), 2048);
      const n = numel(shape);
      const data = validData(g, dtype, n);
      const opts: Record<string, unknown> = {};
      if (shape.length !== 1 || g.chance(0.5)) opts.shape = shape;
      if (defaultDType(data.ctor) !== dtype || g.chance(0.5)) opts.dtype = dtype;
      const def = g.newVar();
      const optSrc = Object.keys(opts).length === 0 && g.chance(0.5) ? '' : `, ${lit(opts)}`;
      g.emit({ ops: ['tensor'], src: `dev.tensor(${wrapData(g, data)}${optSrc})`, expect: 'ok', def, post: isTensorPost(dtype, shape) });
      g.track(def, dtype, shape, { expected: dataExpected(dtype, data) });
    },
  },
  {
    name: 'tensor-bad-shape',
    run(g) {
      const bad = badShapeSrc(g);
      g.emit({ ops: ['tensor'], src: `dev.tensor(rand(6, ${g.seed()}), { shape: ${bad.src} })`, expect: 'error', variant: bad.variant, why: 'not a shape' });
    },
  },
  {
    name: 'tensor-shape-mismatch',
    run(g) {
      const dtype = g.pick(DTYPES);
      const shape = g.shape(g.int(1, 3), 256);
      const n = numel(shape) + g.pick([-1, 1, 2, 7]);
      if (n < 0) return;
      const data = validData(g, dtype, n);
      g.emit({ ops: ['tensor'], src: `dev.tensor(${wrapData(g, data)}, ${lit({ shape, dtype })})`, expect: 'error', why: `${n} elements for shape [${shape.join(', ')}]` });
    },
  },
  {
    name: 'tensor-huge-overflow',
    run(g) {
      const shape = overflowShape(g);
      g.emit({ ops: ['tensor'], src: `dev.tensor(${g.pick(['[]', 'new Float32Array(0)', 'rand(4, 1)'])}, ${lit({ shape, dtype: g.pick(DTYPES) })})`, expect: 'error', why: 'more than 2^50 elements' });
    },
  },
  {
    name: 'tensor-huge-empty',
    run(g) {
      const shape = emptyHugeShape(g);
      const dtype = g.pick(DTYPES);
      const def = g.newVar();
      g.emit({ ops: ['tensor'], src: `dev.tensor(${g.pick(['[]', 'new Float32Array(0)', 'new Uint8Array(0)'])}, ${lit({ shape, dtype })})`, expect: 'ok', def, post: isTensorPost(dtype, shape) });
      g.track(def, dtype, shape);
    },
  },
  {
    name: 'tensor-bad-dtype',
    run(g) {
      g.emit({ ops: ['tensor'], src: `dev.tensor([1, 2], { dtype: ${g.pick(BAD_DTYPES)} })`, expect: 'error', why: 'not a dtype' });
    },
  },
  {
    name: 'tensor-int-range',
    run(g) {
      const dtype = g.pick(['i32', 'u8'] as const);
      const [lo, hi] = INT_RANGE[dtype];
      const n = g.int(2, 40);
      const s = g.seed();
      const src = g.pick([
        `[0, ${g.pick(['1.5', '-0.5', 'NaN', 'Infinity', '-Infinity', '1e300', String(hi + 1), String(lo - 1)])}]`,
        `ints(Float64Array, ${n}, ${s}, ${lo}, ${hi + g.pick([1, 2 ** 40])})`,
        `ints(Float64Array, ${n}, ${s}, ${lo - g.pick([1, 2 ** 40])}, ${hi})`,
        dtype === 'i32' ? `ints(Uint32Array, ${n}, ${s}, 0, 2 ** 32 - 1)` : `ints(Int16Array, ${n}, ${s}, -5, 5)`,
        `rand(${n}, ${s}, 0, 100)`,
        `ints(Array, ${n}, ${s}, ${lo}, ${hi + 1})`,
      ]);
      g.emit({ ops: ['tensor'], src: `dev.tensor(${src}, { dtype: '${dtype}' })`, expect: 'error', why: `values out of the range of ${dtype}` });
    },
  },
  {
    name: 'tensor-hidden-length',
    run(g) {
      // The array says it is shorter than it is: the range check must still see every element.
      const dtype = g.pick(['i32', 'u8'] as const);
      const [lo, hi] = INT_RANGE[dtype];
      const n = g.int(1, 16);
      const bad = g.pick([`${hi + 1}`, '1e300', '-(2 ** 40)', `${lo - 1}`, '0.5']);
      const values = `[${[...Array.from({ length: n - 1 }, () => g.int(0, 9)), bad].join(', ')}]`;
      const src = g.chance(0.5) ? `hideLength(Float64Array.from(${values}), ${g.int(0, n - 1)})` : `sneaky(Float64Array, ${values}, ${g.int(0, n - 1)})`;
      g.emit({ ops: ['tensor'], src: `dev.tensor(${src}, { shape: [${n}], dtype: '${dtype}' })`, expect: 'error', variant: 'hidden-length', why: `a value out of the range of ${dtype} past the length the array reports` });
    },
  },
  {
    name: 'tensor-hidden-length-float',
    weight: 0.5,
    run(g) {
      const dtype = g.pick(FLOATS);
      const n = g.int(1, 64);
      const fake = g.pick([0, 1, n + 1, 2 ** 31, 2 ** 53]);
      const src = g.chance(0.5) ? `hideLength(rand(${n}, ${g.seed()}), ${num(fake)})` : `sneaky(Float64Array, rand(${n}, ${g.seed()}), ${num(fake)})`;
      const shape = g.chance(0.7) ? `, { shape: [${n}], dtype: '${dtype}' }` : `, { dtype: '${dtype}' }`;
      g.emit({ ops: ['tensor'], src: `dev.tensor(${src}${shape})`, expect: 'any', variant: 'hidden-length' });
    },
  },
  {
    name: 'tensor-bad-data',
    run(g) {
      const src = g.pick([
        'undefined', 'null', '0', "'abc'", '{}', '{ length: 2 }', 'new ArrayBuffer(8)', 'new DataView(new ArrayBuffer(8))', 'new BigInt64Array(2)',
        'new BigUint64Array(2)', "[1, 'a']", '[1, null]', '[1, 2n]', '[[1], [2]]', '[1, undefined]', 'holes(3)', 'cpu', "Symbol('s')", 'new Map()',
        '[1, {}]', "[1, '2']", 'new Set([1])', 'offsetView(BigInt64Array, [1n], 1)',
      ]);
      g.emit({ ops: ['tensor'], src: `dev.tensor(${src})`, expect: 'error', why: 'not tensor data' });
    },
  },
  {
    name: 'tensor-throwing-getter',
    weight: 0.3,
    run(g) {
      g.emit({ ops: ['tensor'], src: `dev.tensor(throwing([1, 2, 3], ${g.int(0, 2)}))`, expect: 'error', lenient: true, why: 'a getter throws' });
    },
  },
  {
    name: 'tensor-odd-data',
    weight: 0.5,
    run(g) {
      const [src, shape] = g.pick([
        ['new Proxy([1, 2, 3], {})', [3]],
        ["flipping([1, 2, 3], 1, 'x')", [3]],
        ['Object.freeze([1, 2])', [2]],
        ['Object.assign([1, 2], { extra: 1 })', [2]],
        ['shared(Float64Array, [1, 2, 3, 4])', [4]],
        ['new Float32Array(new SharedArrayBuffer(16), 4, 2)', [2]],
        ['new Uint8Array(new SharedArrayBuffer(3))', [3]],
      ] as const);
      const def = g.newVar();
      g.emit({ ops: ['tensor'], src: `dev.tensor(${src})`, expect: 'any', def, post: `r instanceof m.Tensor && r.shape[0] === ${shape[0]}` });
      // The dtype follows the data (u8 for a Uint8Array); toArray/bytes checks need it, so the model keeps only the f32 ones.
      if (!src.includes('Uint8Array')) g.track(def, 'f32', shape);
    },
  },
  {
    name: 'tensor-bad-options',
    run(g) {
      if (g.chance(0.5)) {
        g.emit({ ops: ['tensor'], src: `dev.tensor([1, 2], ${g.pick(NOT_OPTIONS)})`, expect: 'error', why: 'options not an object' });
      } else {
        const opts = withStrayKey(g, g.chance(0.5) ? { shape: [2] } : { dtype: 'bf16' }, TENSOR_KEYS);
        g.emit({ ops: ['tensor'], src: `dev.tensor([1, 2], ${lit(opts)})`, expect: 'error', variant: 'unknown-option', why: 'an unknown option' });
      }
    },
  },
  {
    name: 'tensor-flipping-shape',
    weight: 0.3,
    run(g) {
      const dtype = g.pick(FLOATS);
      const def = g.newVar();
      g.emit({ ops: ['tensor'], src: `dev.tensor(rand(6, ${g.seed()}), { shape: flipping([2, 3], ${g.int(0, 1)}, 2 ** 60), dtype: '${dtype}' })`, expect: 'any', def, post: isTensorPost(dtype, [2, 3]) });
      g.track(def, dtype, [2, 3]);
    },
  },
  {
    name: 'alloc',
    weight: 3,
    run(g) {
      const fn = g.pick(['zeros', 'empty'] as const);
      const dtype = g.pick(DTYPES);
      const shape = g.chance(0.1) ? emptyHugeShape(g) : g.shape(g.int(0, 4), 4096);
      const omitDType = dtype === 'f32' && g.chance(0.5);
      const opts = g.pick([undefined, {}, { pinned: false }]);
      const def = g.newVar();
      g.emit({ ops: [fn], src: `dev.${fn}(${args(shape, omitDType && opts === undefined ? undefined : omitDType ? raw('undefined') : dtype, opts)})`, expect: 'ok', def, post: isTensorPost(dtype, shape) });
      g.track(def, dtype, shape, { expected: fn === 'zeros' && numel(shape) <= 65536 ? zerosOf(dtype, numel(shape)) : undefined });
    },
  },
  {
    name: 'alloc-pinned',
    weight: 0.3,
    run(g) {
      const fn = g.pick(['zeros', 'empty'] as const);
      const def = g.newVar();
      g.emit({ ops: [fn], src: `dev.${fn}([${g.int(0, 9)}], 'f32', { pinned: true })`, expect: 'any', def, post: `r instanceof m.Tensor` });
    },
  },
  {
    name: 'alloc-bad-shape',
    run(g) {
      const fn = g.pick(['zeros', 'empty']);
      const bad = badShapeSrc(g);
      g.emit({ ops: [fn], src: `dev.${fn}(${bad.src}, ${lit(g.pick(DTYPES))})`, expect: 'error', variant: bad.variant, why: 'not a shape' });
    },
  },
  {
    name: 'alloc-huge-oom',
    weight: 0.5,
    run(g) {
      const fn = g.pick(['zeros', 'empty']);
      const dtype = g.pick(DTYPES);
      g.emit({ ops: [fn], src: `dev.${fn}(${args(oomShape(g, dtype), dtype)})`, expect: 'error', why: 'more bytes than any machine has' });
    },
  },
  {
    name: 'alloc-bad-dtype',
    run(g) {
      const fn = g.pick(['zeros', 'empty']);
      g.emit({ ops: [fn], src: `dev.${fn}([2], ${g.pick(BAD_DTYPES)})`, expect: 'error', why: 'not a dtype' });
    },
  },
  {
    name: 'alloc-bad-options',
    run(g) {
      const fn = g.pick(['zeros', 'empty']);
      const choice = g.int(0, 2);
      if (choice === 0) {
        g.emit({ ops: [fn], src: `dev.${fn}([2], 'f32', ${g.pick(NOT_OPTIONS)})`, expect: 'error', why: 'options not an object' });
      } else if (choice === 1) {
        g.emit({ ops: [fn], src: `dev.${fn}([2], 'f32', { pinned: ${g.pick(['1', "'true'", '0', '{}', "'yes'"])} })`, expect: 'error', why: 'pinned not a boolean' });
      } else {
        g.emit({ ops: [fn], src: `dev.${fn}([2], 'f32', ${lit(withStrayKey(g, g.chance(0.5) ? { pinned: false } : {}, ALLOC_KEYS))})`, expect: 'error', variant: 'unknown-option', why: 'an unknown option' });
      }
    },
  },
  {
    name: 'huge-read',
    weight: 0.2,
    run(g) {
      // Tensors of more than 4 GiB: only with MOEKIT_FUZZ_HUGE=1 (they need up to 9 GiB at once).
      if (!g.options.huge) return;
      const [shape, dtype] = g.pick([[[2 ** 32 + 64], 'u8'], [[2 ** 30 + 16], 'f32'], [[2 ** 31 + 8], 'bf16']] as const);
      const n = numel(shape);
      const def = g.newVar();
      g.emit({ ops: ['empty'], src: `dev.empty(${args([...shape], dtype)})`, expect: 'ok', def, post: isTensorPost(dtype, shape) });
      const t = g.track(def, dtype, shape);
      const method = g.pick(['toArray', 'bytes'] as const);
      // A whole read is more than the largest ArrayBuffer (2^32 bytes): a RangeError, before anything is copied.
      g.emit({ ops: [method], src: `${t.ref}.${method}()`, expect: 'error', deps: [def], why: 'a result of more than 2^32 bytes' });
      // In parts it works, up to exactly 2^32 bytes.
      const perElement = method === 'bytes' ? tensorBytes(dtype, [1]) : dtype === 'u8' ? 1 : 4;
      const start = g.chance(0.7) ? n - 64 : n - 2 ** 32 / perElement;
      g.emit({ ops: [method], src: `${t.ref}.${method}({ start: ${num(start)} }).then((r) => r.length)`, expect: 'ok', deps: [def], anyOp: true, post: `r === ${num((n - start) * perElement)}` });
      g.dispose(t);
    },
  },
  {
    name: 'synchronize-memory-release',
    run(g) {
      const extra = g.chance(0.2) ? g.pick(ODD_VALUES) : '';
      const on = g.pick(['dev', 'cpu']);
      const choice = g.int(0, 4);
      if (choice < 2) g.emit({ ops: ['synchronize'], src: `${on}.synchronize(${extra})`, expect: 'ok', anyOp: true, post: 'r === undefined' });
      else if (choice < 4) g.emit({ ops: ['memory'], src: `${on}.memory(${extra})`, expect: 'ok', post: 'Number.isSafeInteger(r.bytes) && r.bytes >= 0 && Number.isSafeInteger(r.tensors) && r.tensors >= 0' });
      else g.emit({ ops: ['releaseCache'], src: `${on}.releaseCache(${extra})`, expect: 'ok', post: 'Number.isSafeInteger(r) && r >= 0' });
    },
  },
  {
    name: 'read',
    weight: 3,
    run(g) {
      const t = anyLive(g);
      const method = g.pick(['toArray', 'bytes'] as const);
      const n = numel(t.shape);
      if (g.chance(0.6)) {
        const range = g.pick(['', 'undefined', 'null', '{}']);
        g.emit({ ops: [method], src: `${t.ref}.${method}(${range})`, expect: 'ok', deps: [t.root], anyOp: true, post: readPost(t, method, n, [0, n]) });
        return;
      }
      // Elements [start, end) of the flattened tensor.
      const start = g.chance(0.2) ? n : g.int(0, Math.min(n, 2 ** 31));
      const end = g.chance(0.2) ? n : g.int(start, Math.min(n, start + 5000));
      const range: Record<string, number> = {};
      if (start !== 0 || g.chance(0.5)) range.start = start;
      if (end !== n || g.chance(0.5)) range.end = end;
      g.emit({ ops: [method], src: `${t.ref}.${method}(${lit(range)})`, expect: 'ok', deps: [t.root], anyOp: true, post: readPost(t, method, end - start, [start, end]) });
    },
  },
  {
    name: 'read-bad-range',
    run(g) {
      const t = anyLive(g);
      const method = g.pick(['toArray', 'bytes'] as const);
      const n = numel(t.shape);
      const [range, variant] = g.pick<readonly [string, string | undefined]>([
        [`{ start: ${num(n + 1)} }`, undefined],
        [`{ end: ${num(n + 1)} }`, undefined],
        [`{ start: 1, end: 0 }`, undefined],
        [`{ start: ${g.pick(['-1', '0.5', 'NaN', 'Infinity', "'0'", '2 ** 53', '1e300', '0n'])} }`, undefined],
        [`{ end: ${g.pick(['-1', '0.5', 'NaN', '-Infinity', "'1'", '[1]'])} }`, undefined],
        [g.pick(['5', "'0:1'", '[0, 1]', 'true', "Symbol('r')"]), undefined],
        [`{ begin: 0${n > 0 ? ', end: 1' : ''} }`, 'unknown-option'],
        [`{ start: 0, stop: ${num(n)} }`, 'unknown-option'],
      ]);
      g.emit({ ops: [method], src: `${t.ref}.${method}(${range})`, expect: 'error', deps: [t.root], ...(variant ? { variant } : {}), why: 'not a range of the tensor' });
    },
  },
  {
    name: 'method-bad-receiver',
    weight: 2,
    run(g) {
      const call = g.pick(['toArray()', 'bytes()', 'clone()', "cast('f32')", 'reshape([-1])', 'to(cpu)', 'dispose()', 'disposed']);
      const method = call.includes('(') ? call.slice(0, call.indexOf('(')) : call;
      const choice = g.int(0, 3);
      if (choice === 0) {
        const t = g.disposedTensor();
        // dispose() of a disposed tensor is allowed (idempotent), and so is asking whether it is.
        const ok = method === 'dispose' || method === 'disposed';
        g.emit({ ops: [method], src: `${t.ref}.${call}`, expect: ok ? 'ok' : 'error', deps: [t.root], variant: 'disposed', why: 'a disposed tensor' });
      } else if (choice === 1) {
        const t = anyLive(g);
        g.emit({ ops: [method], src: `new Proxy(${t.ref}, {}).${call}`, expect: 'error', deps: [t.root], variant: 'proxy-tensor', why: 'a Proxy of a tensor' });
      } else if (choice === 2) {
        g.emit({ ops: [method], src: `Object.create(m.Tensor.prototype).${call}`, expect: 'error', variant: 'fake-tensor', why: 'Object.create(Tensor.prototype)' });
      } else {
        const receiver = g.pick(['{}', 'cpu', "{ dtype: 'f32', shape: [1] }", '[]', 'null', 'undefined']);
        const src = call.includes('(')
          ? `m.Tensor.prototype.${method}.call(${receiver}${call.slice(call.indexOf('(') + 1, -1) ? `, ${call.slice(call.indexOf('(') + 1, -1)}` : ''})`
          : `Object.getOwnPropertyDescriptor(m.Tensor.prototype, 'disposed').get.call(${receiver})`;
        g.emit({ ops: [method], src, expect: 'error', variant: 'foreign-this', why: 'this is not a tensor' });
      }
    },
  },
  {
    name: 'other-bad-receiver',
    run(g) {
      // Methods of Device, Quantized and PreparedFp8Gemm called on something else.
      const receiver = g.pick(['{}', 'null', 'undefined', 'Object.create(m.Device.prototype)', 'Object.create(m.Quantized.prototype)', '[]']);
      const src = g.pick([
        `m.Device.prototype.${g.pick(['zeros([2])', 'empty([2])', 'tensor([1])', 'synchronize()', 'memory()', 'releaseCache()'])}`,
        `m.Quantized.prototype.${g.pick(['dispose()', 'toString()'])}`,
        `m.baselines.PreparedFp8Gemm.prototype.${g.pick(['run()', 'dispose()'])}`,
      ]);
      const open = src.indexOf('(');
      const method = src.slice(src.lastIndexOf('.', open) + 1, open);
      const argText = src.slice(open + 1, -1);
      const call = `${src.slice(0, open)}.call(${receiver}${argText ? `, ${argText}` : ''})`;
      const cls = src.split('.prototype')[0]!.replace('m.baselines.', '').replace('m.', '');
      // toString never throws (String(), template literals and util.inspect call it); it says what it got.
      if (method === 'toString') g.emit({ ops: [method], src: call, expect: 'ok', variant: 'foreign-this', post: `r === '${cls}(not made by moekit)'` });
      else g.emit({ ops: [method, `${cls}.${method}`, 'baselines.fp8Gemm'], src: call, expect: 'error', variant: 'foreign-this', why: `this is not a ${cls}` });
    },
  },
  {
    name: 'brand-checks',
    weight: 0.5,
    run(g) {
      if (g.chance(0.5)) {
        const t = anyLive(g);
        const [arg, is] = g.pick<readonly [string, boolean]>([
          [t.ref, true], [`new Proxy(${t.ref}, {})`, false], ['Object.create(m.Tensor.prototype)', false], [`{ ...${t.ref} }`, false], ['null', false], ['cpu', false],
        ]);
        g.emit({ ops: ['isTensor'], src: `m.Tensor.isTensor(${arg})`, expect: 'ok', deps: [t.root], post: `r === ${is}` });
      } else {
        const live = g.quants.filter((q) => !q.values.disposed && !q.scales.disposed);
        if (live.length === 0) return;
        const q = g.pick(live);
        const [arg, is] = g.pick<readonly [string, boolean]>([
          [q.ref, true], [`new Proxy(${q.ref}, {})`, false], ['Object.create(m.Quantized.prototype)', false], [`{ ...${q.ref} }`, false], [q.values.ref, false], ['undefined', false],
        ]);
        g.emit({ ops: ['isQuantized'], src: `m.Quantized.isQuantized(${arg})`, expect: 'ok', deps: [q.root], post: `r === ${is}` });
      }
    },
  },
  {
    name: 'dtype-helpers',
    weight: 0.5,
    run(g) {
      const fn = g.pick(['dtypeSize', 'isFloatDType'] as const);
      if (g.chance(0.6)) {
        const d = g.pick(DTYPES);
        const want = fn === 'dtypeSize' ? tensorBytes(d, [1]) : FLOATS.includes(d);
        g.emit({ ops: [fn], src: `m.${fn}('${d}')`, expect: 'ok', post: `r === ${want}` });
      } else {
        const bad = g.pick(["'f64'", "'toString'", "'constructor'", "'__proto__'", 'undefined', '7', "'F32'", '{}']);
        // dtypeSize throws for what is not a dtype; isFloatDType, a predicate, says false.
        if (fn === 'dtypeSize') g.emit({ ops: [fn], src: `m.${fn}(${bad})`, expect: 'error', variant: 'not-a-dtype', why: 'not a dtype' });
        else g.emit({ ops: [fn], src: `m.${fn}(${bad})`, expect: 'ok', variant: 'not-a-dtype', post: 'r === false' });
      }
    },
  },
  {
    name: 'worker-ends',
    weight: 0.15,
    run(g) {
      // A Worker queues work and ends (terminated, or exiting) before it is done: its buffers must be freed.
      const pieces = [
        `const x = cpu.tensor(new Float32Array(4096).fill(0.25), { shape: [64, 64] }); for (let i = 0; i < ${g.int(1, 20)}; i++) m.gemm(x, x);`,
        `const z = cpu.zeros([${g.int(0, 2 ** 20)}]); z.toArray(); z.bytes({ start: 1 });`,
        `m.quantize(cpu.zeros([${g.int(0, 64)}, 256]), { block: [1, 128] }).values.toArray();`,
        'const t = cpu.tensor([1, 2, 3]); t.clone().toArray(); t.dispose();',
        'cpu.synchronize();',
        `setTimeout(() => process.exit(0), ${g.int(0, 3)});`,
      ];
      const body = Array.from({ length: g.int(1, 3) }, () => `{ ${g.pick(pieces)} }`).join(' ');
      g.emit({ ops: ['Worker'], src: `inWorker(${lit(body)}, ${g.pick([0, 1, 5, 20])})`, expect: 'ok', post: "r === undefined || typeof r === 'number'" });
    },
  },
  {
    name: 'to',
    run(g) {
      const t = anyLive(g);
      // The copy is tracked as living on the device under test, so the target
      // must be that device: 'auto' or m.device() is a GPU wherever one exists.
      const target = g.pick(g.options.deviceKind === 'cpu' ? ["'cpu'", 'cpu', 'dev', 'dev.id'] : ['dev', 'dev.id']);
      const opts = g.pick(['', ', {}', ', { pinned: false }']);
      const def = g.newVar();
      g.emit({ ops: ['to'], src: `${t.ref}.to(${target}${opts})`, expect: 'ok', deps: [t.root], def, post: isTensorPost(t.dtype, t.shape) });
      g.track(def, t.dtype, t.shape, { expected: t.expected });
    },
  },
  {
    name: 'to-bad-device',
    run(g) {
      const t = anyLive(g);
      const [target, expect] = g.pick<readonly [string, 'error' | 'any']>([
        ["'gpu'", 'error'], ["'cuda:99'", 'error'], ["'cuda:-1'", 'error'], ["'CPU'", 'error'], ["''", 'error'], ['null', 'error'], ['undefined', 'error'],
        ["{ id: 'cpu' }", 'error'], ['5', 'error'], ["'cuda:' + 2 ** 53", 'error'], ['Object.create(m.Device.prototype)', 'error'], ["'cuda'", 'any'],
      ]);
      const variant = target.startsWith('Object.create') ? 'fake-device' : 'bad-device';
      g.emit({ ops: ['to'], src: `${t.ref}.to(${target})`, expect, deps: [t.root], variant, why: 'not a device' });
    },
  },
  {
    name: 'to-bad-options',
    run(g) {
      const t = anyLive(g);
      const choice = g.int(0, 2);
      const [opts, variant] =
        choice === 0 ? [g.pick(NOT_OPTIONS), undefined] : choice === 1 ? [`{ pinned: ${g.pick(['1', "'no'", '{}'])} }`, undefined] : [lit(withStrayKey(g, {}, ALLOC_KEYS)), 'unknown-option'];
      g.emit({ ops: ['to'], src: `${t.ref}.to(cpu, ${opts})`, expect: 'error', deps: [t.root], ...(variant ? { variant } : {}), why: 'bad options' });
    },
  },
  {
    name: 'clone',
    run(g) {
      const t = anyLive(g);
      const def = g.newVar();
      g.emit({ ops: ['clone'], src: `${t.ref}.clone(${g.chance(0.2) ? g.pick(ODD_VALUES) : ''})`, expect: 'ok', deps: [t.root], def, post: isTensorPost(t.dtype, t.shape) });
      g.track(def, t.dtype, t.shape, { expected: t.expected });
    },
  },
  {
    name: 'cast',
    weight: 2,
    run(g) {
      const t = anyLive(g);
      const to = g.pick(DTYPES);
      const def = g.newVar();
      g.emit({ ops: ['cast'], src: `${t.ref}.cast('${to}')`, expect: 'ok', deps: [t.root], def, post: isTensorPost(to, t.shape) });
      const out = g.track(def, to, t.shape, { expected: castExpected(t, to) });
      // Read it at once now and then: the conversion is checked where the model knows the values.
      if (out.expected !== undefined && g.chance(0.5)) {
        g.emit({ ops: ['toArray'], src: `${out.ref}.toArray()`, expect: 'ok', deps: [def], anyOp: true, post: readPost(out, 'toArray', numel(out.shape), [0, numel(out.shape)]) });
      }
    },
  },
  {
    name: 'cast-bad-dtype',
    run(g) {
      const t = anyLive(g);
      g.emit({ ops: ['cast'], src: `${t.ref}.cast(${g.pick([...BAD_DTYPES, 'undefined'])})`, expect: 'error', deps: [t.root], why: 'not a dtype' });
    },
  },
  {
    name: 'reshape',
    weight: 2,
    run(g) {
      const t = anyLive(g);
      const n = numel(t.shape);
      if (n > 2 ** 40) return;
      const { shape, resolved } = factorShape(g, n);
      const def = g.newVar();
      g.emit({ ops: ['reshape'], src: `${t.ref}.reshape(${lit(shape)})`, expect: 'ok', deps: [t.root], def, post: isTensorPost(t.dtype, resolved) });
      g.track(def, t.dtype, resolved, { expected: t.expected });
    },
  },
  {
    name: 'reshape-bad',
    run(g) {
      const t = anyLive(g);
      const n = numel(t.shape);
      const [shape, expect] = g.pick<readonly [string, 'error' | 'any']>([
        [lit([n + 1]), 'error'],
        [lit([n, 2]), n === 0 ? 'any' : 'error'],
        ['[-1, -1]', 'error'],
        [`[-2, ${-n}]`, 'error'],
        // -1 is inferred by reshape, so not among these.
        [`[${g.pick(BAD_DIMS.filter((d) => d !== -1))}]`, 'error'],
        ['[-1, 0]', 'error'],
        [lit(overflowShape(g)), 'error'],
        ['[2 ** 31, 2 ** 31, 0]', n === 0 ? 'any' : 'error'],
        ['new Array(17).fill(1)', 'error'],
        [g.pick(["'2'", '2', 'null', 'undefined', '{ length: 1 }', "['1']", '[[1]]', 'new Int32Array([1])']), 'error'],
      ]);
      g.emit({ ops: ['reshape'], src: `${t.ref}.reshape(${shape})`, expect, deps: [t.root], why: `not a shape of ${n} elements` });
    },
  },
  {
    name: 'dispose',
    weight: 2,
    run(g) {
      const roots = g.live((t) => !t.ref.includes('.'));
      if (roots.length === 0) return;
      const t = g.pick(roots);
      if (g.chance(0.3)) {
        g.emit({ ops: ['dispose'], src: `${t.ref}[Symbol.dispose]()`, expect: 'ok', deps: [t.root], mutates: [t.root], post: 'r === undefined' });
        t.disposed = true;
      } else {
        g.dispose(t);
      }
    },
  },
  {
    name: 'props',
    weight: 0.5,
    run(g) {
      const t = g.chance(0.7) ? anyLive(g) : g.disposedTensor();
      const n = numel(t.shape);
      g.emit({
        ops: ['toString'],
        src: `[${t.ref}.dtype, ${t.ref}.size, ${t.ref}.byteLength, ${t.ref}.shape.join(), ${t.ref}.disposed, String(${t.ref})]`,
        expect: 'ok',
        deps: [t.root],
        post: `r[0] === '${t.dtype}' && r[1] === ${num(n)} && r[2] === ${num(tensorBytes(t.dtype, t.shape))} && r[3] === '${t.shape.join()}' && r[4] === ${t.disposed} && r[5].startsWith('Tensor(${t.dtype} ')`,
      });
    },
  },
  {
    name: 'tensor-then-mutate',
    run(g) {
      // The data is copied before tensor() returns: changing it right after must not show.
      const dtype = g.pick(['f32', 'i32', 'u8'] as const);
      const n = g.int(1, 3000);
      const s = g.seed();
      const data = dtype === 'f32' ? `rand(${n}, ${s})` : dtype === 'i32' ? `ints(Int32Array, ${n}, ${s}, -9, 9)` : `ints(Uint8Array, ${n}, ${s}, 0, 9)`;
      const ctor = dtype === 'f32' ? 'Float32Array' : dtype === 'i32' ? 'Int32Array' : 'Uint8Array';
      const held = g.chance(0.5) ? data : `shared(${ctor}, ${data})`;
      const def = g.newVar();
      g.emit({ ops: ['tensor'], src: `((a) => { const t = dev.tensor(a, { shape: [${n}] }); a.fill(7); return t; })(${held})`, expect: 'ok', def, post: isTensorPost(dtype, [n]) });
      const t = g.track(def, dtype, [n], { expected: data });
      g.emit({ ops: ['toArray'], src: `${t.ref}.toArray()`, expect: 'ok', deps: [def], anyOp: true, post: readPost(t, 'toArray', n, [0, n]) });
    },
  },
  {
    name: 'clone-then-dispose',
    run(g) {
      // The source is disposed while the copy is still queued: the copy must keep its values.
      const roots = g.live((t) => !t.ref.includes('.') && t.expected !== undefined);
      const t = roots.length > 0 ? g.pick(roots) : g.newTensor(g.pick(['f32', 'i32', 'u8', 'e4m3'] as const), g.shape(g.int(1, 3), 4096));
      const def = g.newVar();
      const copy = g.pick(['clone()', 'to(cpu)', "cast('" + t.dtype + "')", 'reshape([-1])']);
      g.emit({ ops: ['clone', 'to', 'cast', 'reshape', 'dispose'], src: `((c) => (${t.ref}.dispose(), c))(${t.ref}.${copy})`, expect: 'ok', deps: [t.root], def, mutates: [t.root] });
      t.disposed = true;
      const n = numel(t.shape);
      const c = g.track(def, t.dtype, copy.startsWith('reshape') ? [n] : t.shape, { expected: copy.startsWith('cast') ? castExpected(t, t.dtype) : t.expected });
      g.emit({ ops: ['toArray'], src: `${c.ref}.toArray()`, expect: 'ok', deps: [def], anyOp: true, post: readPost(c, 'toArray', n, [0, n]) });
    },
  },
  {
    name: 'read-then-dispose',
    run(g) {
      // Disposed right after the read was queued: the read still gets the values.
      const roots = g.live((t) => !t.ref.includes('.'));
      const t = roots.length > 0 && g.chance(0.7) ? g.pick(roots) : g.newTensor(g.pick(DTYPES), g.shape(g.int(1, 3), 4096));
      const n = numel(t.shape);
      const method = g.pick(['toArray', 'bytes'] as const);
      g.emit({ ops: [method, 'dispose'], src: `((p) => (${t.ref}.dispose(), p))(${t.ref}.${method}())`, expect: 'ok', deps: [t.root], mutates: [t.root], anyOp: true, post: readPost(t, method, n, [0, n]) });
      t.disposed = true;
    },
  },
  {
    name: 'concurrent-reads',
    run(g) {
      const t = anyLive(g);
      const n = numel(t.shape);
      const k = g.int(0, n);
      const post = readPost(t, 'toArray', n, [0, n], 'r[0]');
      g.emit({
        ops: ['toArray', 'bytes', 'synchronize'],
        src: `Promise.all([${t.ref}.toArray(), ${t.ref}.bytes(), dev.synchronize(), ${t.ref}.toArray({ end: ${num(k)} }), ${t.ref}.bytes({ start: ${num(k)} })])`,
        expect: 'ok',
        deps: [t.root],
        anyOp: true,
        post: `${post} && r[1].length === ${num(tensorBytes(t.dtype, t.shape))} && r[2] === undefined && r[3].length === ${num(k)} && r[4].length === ${num(tensorBytes(t.dtype, [n - k]))}`,
      });
    },
  },
  {
    name: 'tensor-arg-bad',
    run(g) {
      // Device methods with a tensor where a shape or data goes.
      const bad = badTensor(g, DTYPES);
      const fn = g.pick(['zeros', 'empty', 'tensor']);
      // Some odd values ([], [1, 2], a Float32Array) are data or shapes.
      const expect = bad.variant === 'odd-value' ? 'any' : 'error';
      g.emit({ ops: [fn], src: `dev.${fn}(${bad.src})`, expect, deps: bad.deps, variant: bad.variant, why: `${bad.why} as ${fn === 'tensor' ? 'data' : 'a shape'}` });
    },
  },
];

/** Runtime: devices, tensor creation, reads, copies, casts, views, disposal. */
export const runtime: Family = {
  name: 'runtime',
  covers: [
    'device', 'devices', 'cudaStatus', 'buildInfo', 'kernelVersions', 'Device.tensor', 'Device.zeros', 'Device.empty', 'Device.synchronize', 'Device.memory',
    'Tensor.toArray', 'Tensor.bytes', 'Tensor.to', 'Tensor.clone', 'Tensor.cast', 'Tensor.reshape', 'Tensor.dispose',
  ],
  cases,
};
