/**
 * The fuzz generator's core: calls as JavaScript source, the model of what
 * earlier calls made (tensors and quantized pairs, their shapes, dtypes and
 * whether they were disposed), and {@link Gen}, the context each case
 * writes its calls through.
 *
 * A call is one JavaScript expression over the names of `values.mjs`, `m`
 * (the built package), `cpu`, `dev` (the device under test) and `v` (the
 * variables of earlier calls). The same text runs in the child process and
 * is printed as the reproduction of a finding.
 * @module
 */
import { type DType } from '../../lib/dtype.js';
import { Rng } from '../helpers/rng.js';

/** What a call must do: succeed, fail (with a proper error), or either. */
export type Expect = 'ok' | 'error' | 'any';

/** One generated call. */
export interface Call {
  /** Position in its batch. */
  readonly index: number;
  /** The case that made it, `<family>/<case>`: what known findings match on. */
  readonly tag: string;
  /** Names its error message must carry (`gemm`, `fp8.encode`, ...). */
  readonly ops: readonly string[];
  /** A JavaScript expression. */
  readonly src: string;
  readonly expect: Expect;
  /** Why the call is invalid, for reports. */
  readonly why?: string;
  /** The flavour of bad argument (`disposed`, `proxy-tensor`, `unknown-option`, ...), for reports and known findings. */
  readonly variant?: string;
  /** Variables it reads; it is skipped when one of them is missing. */
  readonly deps: readonly number[];
  /** The variable it defines (`v[def] = result`). */
  readonly def?: number;
  /** Variables whose state it changes (dispose): reproductions keep such calls. */
  readonly mutates?: readonly number[];
  /** A JavaScript expression over `r`, the result: true when it is right, else false or a reason. */
  readonly post?: string;
  /** A read: failures of earlier work on the device may surface here. */
  readonly anyOp?: boolean;
  /** Its arguments throw errors of their own (getters); those may come through. */
  readonly lenient?: boolean;
}

/** A tensor the model knows: where it is (`ref`), what it is, and whether it was disposed. */
export interface TensorVal {
  /** Source that names it: `v[3]` or `v[4].values`. */
  readonly ref: string;
  /** The variable it lives in. */
  readonly root: number;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Whether dispose() was called on it, or on a Quantized that holds it (views are tensors of their own). */
  disposed: boolean;
  /** Source of what `toArray()` must give (a typed array), when the model knows it exactly. */
  readonly expected?: string;
}

/** A quantization block as the API spells it. */
export type Block = readonly [1, 128] | readonly [128, 128] | 'tensor';

/** A Quantized the model knows; values and scales may be shared with other entries (asQuantized). */
export interface QuantVal {
  readonly ref: string;
  readonly root: number;
  readonly values: TensorVal;
  readonly scales: TensorVal;
  readonly block: Block;
  readonly format: 'e4m3' | 'e5m2';
}

/** Whether a quantized pair can still be used. */
export function quantLive(q: QuantVal): boolean {
  return !q.values.disposed && !q.scales.disposed;
}

// ---------------------------------------------------------------- source text

/** Source text embedded as is by {@link lit}. */
export class Raw {
  constructor(readonly text: string) {}
}

/** `text` as source, not as a string literal. */
export function raw(text: string): Raw {
  return new Raw(text);
}

/** A number as readable source: `2 ** 31`, `-(2 ** 31)`, `-0`, `NaN`. */
export function num(x: number): string {
  if (Object.is(x, -0)) return '-0';
  if (Number.isInteger(x) && Math.abs(x) >= 2 ** 20) {
    const a = Math.abs(x);
    const k = Math.round(Math.log2(a));
    const d = a - 2 ** k;
    const text = d === 0 ? `2 ** ${k}` : Math.abs(d) <= 256 ? `2 ** ${k} ${d > 0 ? '+' : '-'} ${Math.abs(d)}` : undefined;
    if (text !== undefined) return x < 0 ? `-(${text})` : text;
  }
  return String(x);
}

/** A value as source text: numbers, strings, arrays, plain objects and {@link Raw} pieces. */
export function lit(x: unknown): string {
  if (x instanceof Raw) return x.text;
  if (x === undefined) return 'undefined';
  if (x === null) return 'null';
  if (typeof x === 'number') return num(x);
  if (typeof x === 'string') return `'${x.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof x === 'boolean') return String(x);
  if (Array.isArray(x)) return `[${x.map(lit).join(', ')}]`;
  if (typeof x === 'object') {
    const parts = Object.entries(x as Record<string, unknown>).map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : lit(k)}: ${lit(v)}`);
    return parts.length === 0 ? '{}' : `{ ${parts.join(', ')} }`;
  }
  throw new TypeError(`lit: cannot write ${typeof x} as source`);
}

/** `a, b, c` for call arguments; trailing undefined ones are left out. */
export function args(...xs: unknown[]): string {
  let n = xs.length;
  while (n > 0 && xs[n - 1] === undefined) n--;
  return xs.slice(0, n).map(lit).join(', ');
}

/** Source of a check that `r` is a Tensor of `dtype` and `shape`. */
export function isTensorPost(dtype: DType, shape: readonly number[]): string {
  return `r instanceof m.Tensor && r.dtype === ${lit(dtype)} && r.shape.length === ${shape.length} && ${lit([...shape])}.every((d, i) => r.shape[i] === d) && !r.disposed`;
}

// ---------------------------------------------------------------- odd values

/**
 * Values of the wrong type or range for any argument, as source. Used where
 * a case replaces one argument with something it must reject.
 */
export const ODD_VALUES: readonly string[] = [
  'undefined', 'null', '0', '-1', '1.5', 'NaN', 'Infinity', '-Infinity', '2 ** 31', '2 ** 32', '2 ** 53', '1e300', '-0',
  "''", "'x'", "'f32 '", 'true', 'false', '{}', '[]', '[1, 2]', '() => 1', "Symbol('s')", '10n', 'new Date(0)', 'new Map()',
  'Object.create(null)', 'new Proxy({}, {})', 'new Float32Array(2)', 'new ArrayBuffer(8)', 'new DataView(new ArrayBuffer(8))',
  'cpu', 'm', 'new Error("e")', 'Promise.resolve(1)',
];

/** Numbers that are not dimensions or are dimensions too large to allocate. */
export const BAD_DIMS: readonly number[] = [-1, 0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 53 + 2, 1e300, 2 ** 50 + 1, 2 ** 64];

/** Dimensions that fit in a shape but whose products overflow 32 bits. */
export const HUGE_DIMS: readonly number[] = [2 ** 31, 2 ** 32, 2 ** 33, 2 ** 40, 2 ** 50, 2 ** 31 - 1, 2 ** 32 + 64];

// ---------------------------------------------------------------- the context

const ELEMENT_BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, e4m3: 1, e5m2: 1, i32: 4, u8: 1 };

/** Bytes of a tensor of `dtype` and `shape`. */
export function tensorBytes(dtype: DType, shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[dtype];
}

/** What a case passes to {@link Gen.emit}; the index and the tag are filled in. */
export type CallSpec = Omit<Call, 'index' | 'tag' | 'deps'> & { deps?: readonly number[] };

/** Settings of a batch. */
export interface GenOptions {
  /** Also generate valid calls that allocate several GiB (MOEKIT_FUZZ_HUGE=1). */
  readonly huge: boolean;
  /** Live tensors kept before old ones are disposed. */
  readonly maxLive: number;
  /** The kind of the device under test (`dev`); `cpu` unless MOEKIT_FUZZ_DEVICE names a GPU. */
  readonly deviceKind: 'cpu' | 'cuda';
}

/**
 * The context a case writes calls through: a seeded generator, the model of
 * the variables earlier calls defined, and helpers that create operands.
 */
export class Gen {
  readonly rng: Rng;
  readonly options: GenOptions;
  readonly calls: Call[] = [];
  /** Tensors by variable (views and quantized components included). */
  readonly tensors: TensorVal[] = [];
  readonly quants: QuantVal[] = [];
  #tag = 'none';
  #nextVar = 0;
  #nextSeed: number;

  constructor(rng: Rng, options: GenOptions) {
    this.rng = rng;
    this.options = options;
    this.#nextSeed = rng.int(1, 1_000_000);
  }

  /** Sets the tag of the calls emitted next (the case being run). */
  setTag(tag: string): void {
    this.#tag = tag;
  }

  // ---- randomness

  int(lo: number, hi: number): number {
    return this.rng.int(lo, hi);
  }

  chance(p: number): boolean {
    return this.rng.uniform() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('Gen.pick: nothing to pick from');
    return xs[this.rng.int(0, xs.length - 1)]!;
  }

  /** An `impl` option every op takes on the device under test (undefined: leave it out). */
  validImpl(): string | undefined {
    return this.pick([undefined, 'auto', ...(this.options.deviceKind === 'cpu' ? ['cpu'] : [])]);
  }

  /** A fresh seed for `rand(n, seed)` data. */
  seed(): number {
    return this.#nextSeed++;
  }

  /** A small dimension, with the edges a kernel tiles on now and then. */
  dim(max = 5): number {
    return this.chance(0.15) ? this.pick([0, 1, 127, 128, 129].filter((d) => d <= Math.max(max, 1))) : this.int(0, max);
  }

  /** A small shape of rank `rank` (random 0..3 when left out) with at most `maxElements` elements. */
  shape(rank = this.int(0, 3), maxElements = 4096): number[] {
    for (;;) {
      const s = Array.from({ length: rank }, () => this.dim(rank <= 1 ? 300 : rank === 2 ? 40 : 8));
      if (s.reduce((a, b) => a * b, 1) <= maxElements) return s;
    }
  }

  // ---- calls

  /** Appends a call; returns it. */
  emit(spec: CallSpec): Call {
    const call: Call = { ...spec, index: this.calls.length, tag: this.#tag, deps: [...new Set(spec.deps ?? [])] };
    this.calls.push(call);
    return call;
  }

  /** A new variable index. */
  newVar(): number {
    return this.#nextVar++;
  }

  // ---- the model

  /** Live tensors matching `pred`. */
  live(pred: (t: TensorVal) => boolean = () => true): TensorVal[] {
    return this.tensors.filter((t) => !t.disposed && pred(t));
  }

  /**
   * Registers a tensor defined by a call into variable `root`: its ref
   * (`v[root]` unless given) and, when known exactly, what `toArray()` gives.
   */
  track(root: number, dtype: DType, shape: readonly number[], more: { ref?: string; expected?: string | undefined } = {}): TensorVal {
    const t: TensorVal = { ref: more.ref ?? `v[${root}]`, root, dtype, shape: [...shape], disposed: false, ...(more.expected ? { expected: more.expected } : {}) };
    this.tensors.push(t);
    return t;
  }

  /**
   * Emits a valid call that makes a tensor of `dtype` and `shape` (data
   * from `rand`, or zeros) and returns it.
   */
  newTensor(dtype: DType, shape: readonly number[]): TensorVal {
    const n = shape.reduce((a, b) => a * b, 1);
    const def = this.newVar();
    let src: string;
    let expected: string | undefined;
    if (n > 65536 || this.chance(0.1)) {
      src = `dev.zeros(${args([...shape], dtype)})`;
      expected = n > 65536 ? undefined : zerosOf(dtype, n);
    } else if (dtype === 'i32') {
      const data = `ints(Int32Array, ${n}, ${this.seed()}, -1000, 1000)`;
      src = `dev.tensor(${data}, ${lit({ shape: [...shape] })})`;
      expected = data;
    } else if (dtype === 'u8' || dtype === 'e4m3' || dtype === 'e5m2') {
      const data = `ints(Uint8Array, ${n}, ${this.seed()}, 0, 255)`;
      src = `dev.tensor(${data}, ${lit({ shape: [...shape], dtype })})`;
      expected = dtype === 'u8' ? data : `m.fp8.decode(${data}, '${dtype}')`;
    } else {
      // Now and then every bit pattern: NaNs, infinities and subnormals go through the ops too.
      const data = this.chance(0.1) ? `randBits(${n}, ${this.seed()})` : `rand(${n}, ${this.seed()})`;
      src = `dev.tensor(${data}, ${lit({ shape: [...shape], dtype })})`;
      if (dtype === 'f32') expected = data;
    }
    this.emit({ ops: ['tensor', 'zeros'], src, expect: 'ok', def, post: isTensorPost(dtype, shape) });
    return this.track(def, dtype, shape, { expected });
  }

  /** A live tensor of one of `dtypes` (and `shape` when given), made when there is none (or now and then anyway). */
  tensor(dtypes: readonly DType[], shape?: readonly number[]): TensorVal {
    const fits = this.live((t) => dtypes.includes(t.dtype) && (shape === undefined || sameShape(t.shape, shape)));
    if (fits.length > 0 && this.chance(0.7)) return this.pick(fits);
    return this.newTensor(this.pick(dtypes), shape ?? this.shape());
  }

  /** A disposed tensor (made and disposed when there is none). */
  disposedTensor(): TensorVal {
    const dead = this.tensors.filter((t) => t.disposed && !t.ref.includes('.'));
    if (dead.length > 0 && this.chance(0.7)) return this.pick(dead);
    const t = this.newTensor(this.pick(['f32', 'bf16', 'u8'] as const), this.shape(2, 64));
    this.dispose(t);
    return t;
  }

  /** Emits `t.dispose()` and marks it disposed. */
  dispose(t: TensorVal): void {
    this.emit({ ops: ['dispose'], src: `${t.ref}.dispose()`, expect: 'ok', deps: [t.root], mutates: [t.root], post: 'r === undefined' });
    t.disposed = true;
  }

  /** Emits `quantize(x, { block })` of a new f32/bf16/f16 tensor of `shape`; returns the pair. */
  newQuantized(block: Block, shape: readonly number[], format: 'e4m3' | 'e5m2' = 'e4m3'): QuantVal {
    const x = this.tensor(['f32', 'bf16', 'f16'], shape);
    const def = this.newVar();
    const scalesShape = quantScalesShape(shape, block);
    if (!scalesShape) throw new RangeError(`Gen.newQuantized: shape [${shape.join(', ')}] cannot take block ${lit(block)}`);
    const opts = format === 'e4m3' && this.chance(0.5) ? { block: blockLit(block) } : { block: blockLit(block), format };
    this.emit({
      ops: ['quantize'],
      src: `m.quantize(${x.ref}, ${lit(opts)})`,
      expect: 'ok',
      deps: [x.root],
      def,
      post: `r instanceof m.Quantized && r.values.dtype === ${lit(format)} && ${lit([...scalesShape])}.every((d, i) => r.scales.shape[i] === d)`,
    });
    const q: QuantVal = {
      ref: `v[${def}]`,
      root: def,
      values: this.track(def, format, shape, { ref: `v[${def}].values` }),
      scales: this.track(def, 'f32', scalesShape, { ref: `v[${def}].scales` }),
      block,
      format,
    };
    this.quants.push(q);
    return q;
  }

  /** A live quantized pair with `block` (and `shape`), made when there is none. */
  quantized(block: Block, shape?: readonly number[]): QuantVal {
    const fits = this.quants.filter((q) => quantLive(q) && q.block === block && (shape === undefined || sameShape(q.values.shape, shape)));
    if (fits.length > 0 && this.chance(0.6)) return this.pick(fits);
    return this.newQuantized(block, shape ?? this.shape(block === 'tensor' ? this.int(0, 3) : this.int(2, 3), 8192));
  }

  /**
   * Keeps the number of live tensors bounded by disposing the oldest ones.
   * Called between cases, never inside one (its operands stay live).
   */
  trim(): void {
    const live = this.live((t) => !t.ref.includes('.'));
    if (live.length < this.options.maxLive) return;
    for (const t of live.slice(0, live.length - this.options.maxLive + 4)) this.dispose(t);
  }
}

/** Source of `n` zeros as `toArray()` gives them for `dtype`. */
export function zerosOf(dtype: DType, n: number): string {
  return `new ${dtype === 'i32' ? 'Int32Array' : dtype === 'u8' ? 'Uint8Array' : 'Float32Array'}(${n})`;
}

/**
 * Source of what `toArray()` gives for `t` cast to `to`, when it follows
 * from `t.expected` by documented rules: FP8 as `fp8.encode` rounds (ties to
 * even, saturating: an e5m2 infinity becomes ±57344 even in a cast from
 * e5m2), floats to integers truncated toward zero and saturated (NaN gives
 * 0), integers to f32 as JavaScript rounds them.
 */
export function castExpected(t: TensorVal, to: DType): string | undefined {
  const e = t.expected;
  if (e === undefined) return undefined;
  const fromFloat = t.dtype === 'f32' || t.dtype === 'e4m3' || t.dtype === 'e5m2';
  if (fromFloat && (to === 'e4m3' || to === 'e5m2')) return `m.fp8.decode(m.fp8.encode(${e}, '${to}'), '${to}')`;
  if (to === t.dtype) return e;
  if ((t.dtype === 'e4m3' || t.dtype === 'e5m2') && to === 'f32') return e;
  if ((t.dtype === 'i32' || t.dtype === 'u8') && to === 'f32') return `Float32Array.from(${e})`;
  if (fromFloat && (to === 'i32' || to === 'u8')) {
    const [lo, hi] = to === 'i32' ? ['-2147483648', '2147483647'] : ['0', '255'];
    return `${to === 'i32' ? 'Int32Array' : 'Uint8Array'}.from(${e}, (x) => (Number.isNaN(x) ? 0 : Math.min(${hi}, Math.max(${lo}, Math.trunc(x)))))`;
  }
  return undefined;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function blockLit(block: Block): unknown {
  return block === 'tensor' ? 'tensor' : [...block];
}

/** The scales' shape for values of `shape` quantized with `block`, or undefined when the rank is too small. */
export function quantScalesShape(shape: readonly number[], block: Block): number[] | undefined {
  const r = shape.length;
  if (block === 'tensor') return [1];
  if (block[0] === 1) {
    if (r < 1) return undefined;
    return [...shape.slice(0, -1), Math.ceil(shape[r - 1]! / 128)];
  }
  if (r < 2) return undefined;
  return [...shape.slice(0, -2), Math.ceil(shape[r - 2]! / 128), Math.ceil(shape[r - 1]! / 128)];
}

// ---------------------------------------------------------------- cases and families

/** One kind of call: valid, or invalid in one known way. */
export interface Case {
  /** Unique within its family; the calls' tag is `<family>/<name>`. */
  readonly name: string;
  /** Relative frequency in random batches (default 1). */
  readonly weight?: number;
  /** Emits the call, after any setup calls it needs (operands are made through `g`). */
  run(g: Gen): void;
}

/** The cases of one API family. */
export interface Family {
  readonly name: string;
  /** The public entries it calls. */
  readonly covers: readonly string[];
  readonly cases: readonly Case[];
}

// ---------------------------------------------------------------- shared argument makers

/** An argument in place of a live tensor, and what the call must then do. */
export interface BadArg {
  readonly src: string;
  readonly deps: readonly number[];
  readonly expect: Expect;
  /** The flavour of bad argument, for reports and known findings. */
  readonly variant: string;
  readonly why: string;
}

/**
 * Something that is not a usable tensor where one of `dtypes` (and `shape`)
 * is expected: a disposed tensor, a Proxy of a live one,
 * `Object.create(m.Tensor.prototype)`, a copy of a tensor's fields, a
 * Quantized, or an odd value.
 */
export function badTensor(g: Gen, dtypes: readonly DType[], shape?: readonly number[]): BadArg {
  switch (g.int(0, 5)) {
    case 0: {
      const t = g.disposedTensor();
      return { src: t.ref, deps: [t.root], expect: 'error', variant: 'disposed', why: 'a disposed tensor' };
    }
    case 1: {
      const t = g.tensor(dtypes, shape);
      return { src: `new Proxy(${t.ref}, {})`, deps: [t.root], expect: 'error', variant: 'proxy-tensor', why: 'a Proxy of a tensor (holds no data)' };
    }
    case 2:
      return { src: 'Object.create(m.Tensor.prototype)', deps: [], expect: 'error', variant: 'fake-tensor', why: 'Object.create(Tensor.prototype)' };
    case 3: {
      const t = g.tensor(dtypes, shape);
      return { src: `{ ...${t.ref} }`, deps: [t.root], expect: 'error', variant: 'lookalike', why: "a copy of a tensor's fields" };
    }
    case 4: {
      const q = g.quantized(g.pick([[1, 128], [128, 128], 'tensor'] as const));
      return { src: q.ref, deps: [q.root], expect: 'error', variant: 'quantized', why: 'a Quantized, not a Tensor' };
    }
    default:
      return { src: g.pick(ODD_VALUES.filter((s) => s !== 'undefined' || g.chance(0.3))), deps: [], expect: 'error', variant: 'odd-value', why: 'not a tensor' };
  }
}

/** Misspelled or foreign option names: an options object with one of them must be rejected. */
const STRAY_KEYS: readonly string[] = ['outdtype', 'out_dtype', 'dtyp', 'Shape', 'shapes', 'foo', 'implementation', 'saturated', 'blocks', 'scale_format', 'fmt', 'pined', 'device', 'mode_', '__proto__x'];

/** `options` with one unknown key added (none of `known`). */
export function withStrayKey(g: Gen, options: Record<string, unknown>, known: readonly string[]): Record<string, unknown> {
  const key = g.pick(STRAY_KEYS.filter((k) => !known.includes(k)));
  const value = g.pick<unknown>([true, 'f32', 1, [1, 128], 'cpu']);
  return { ...options, [key]: value };
}

/** Options values that are not plain objects (`null`, like `undefined`, means no options). */
export const NOT_OPTIONS: readonly string[] = ['5', "'f32'", 'true', '[]', "['f32']", '() => ({})', "Symbol('o')", '10n'];
