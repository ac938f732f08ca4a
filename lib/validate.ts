/**
 * Argument checks with one message format:
 * `<op>: <arg> must be <expected>, got <actual>` (the native binding uses the same).
 * Internal to moekit except the {@link Impl} type, which index.ts exports.
 * Not tagged internal as a whole: this comment belongs to the first import,
 * which stripInternal would then drop from validate.d.ts, leaving `DType`
 * undefined there.
 * @module
 */
import { DTYPES, type DType, isDType } from './dtype.js';

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'number': return `a number (${value})`;
    case 'string': return `a string ('${value.length > 40 ? `${value.slice(0, 40)}...` : value}')`;
    case 'boolean': return `a boolean (${value})`;
    case 'bigint': return `a bigint (${value})`;
    case 'function': return 'a function';
    case 'symbol': return 'a symbol';
    default: break;
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return withArticle(value.constructor.name);
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? withArticle(name) : 'an object';
}

/** "a Tensor", "an Int32Array", "a Uint8Array" (a "you" sound). */
function withArticle(name: string): string {
  return `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}`;
}

/** `actualText`, when given, replaces the description of `actual`. */
export function typeError(op: string, arg: string, expected: string, actual: unknown, actualText?: string): TypeError {
  const e = new TypeError(`${op}: ${arg} must be ${expected}, got ${actualText ?? describe(actual)}`);
  (e as { code?: string }).code = 'ERR_MOEKIT_INVALID_ARG';
  return e;
}

/** `actualText` is shown as is (a shape, a count), not described. */
export function rangeError(op: string, arg: string, expected: string, actualText: string): RangeError {
  const e = new RangeError(`${op}: ${arg} must be ${expected}, got ${actualText}`);
  (e as { code?: string }).code = 'ERR_MOEKIT_OUT_OF_RANGE';
  return e;
}

/** `value` as a dtype, else a TypeError listing {@link DTYPES}. */
export function checkDType(op: string, arg: string, value: unknown): DType {
  if (!isDType(value)) throw typeError(op, arg, `one of ${DTYPES.map((d) => `'${d}'`).join(', ')}`, value);
  return value;
}

/** `'a', 'b' or 'c'` from texts already quoted as they should appear. */
export function orList(texts: readonly string[]): string {
  return texts.length < 2 ? texts.join('') : `${texts.slice(0, -1).join(', ')} or ${texts[texts.length - 1]}`;
}

/** `value` as one of `options`, else a TypeError listing them. */
export function checkOneOf<const T extends readonly (string | number | boolean)[]>(
  op: string,
  arg: string,
  value: unknown,
  options: T,
): T[number] {
  if (!options.includes(value as T[number])) {
    throw typeError(op, arg, `one of ${options.map((o) => (typeof o === 'string' ? `'${o}'` : String(o))).join(', ')}`, value);
  }
  return value as T[number];
}

/**
 * Kernel choice, the `impl` option of every op: `'auto'` (the default),
 * `'cpu'`, or a CUDA version by name (`'v1'`, ...).
 */
export type Impl = 'auto' | 'cpu' | `v${number}`;

/** The `impl` option: `'auto'` when absent, else `'auto'`, `'cpu'` or `'vN'`. */
export function parseImpl(op: string, value: unknown): Impl {
  if (value === undefined) return 'auto';
  if (typeof value !== 'string' || !/^(auto|cpu|v\d+)$/.test(value)) throw typeError(op, 'options.impl', "'auto', 'cpu' or 'vN'", value);
  return value as Impl;
}

/**
 * Levenshtein distance, case-insensitive: how a mistyped option key is
 * matched to the one meant.
 */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[y.length]!;
}

/** The known key closest to `key`, when one is close enough to be a typo. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/**
 * A plain options object with only `known` keys.
 *
 * `null` and `undefined` mean the same everywhere in moekit: for the whole
 * options object, no options; for one option, its default. So the returned
 * object has no `null` values. A key not in `known` is a TypeError that
 * names it and the closest known key: a misspelt option never silently
 * falls back to its default.
 */
export function checkOptions<const K extends string>(
  op: string,
  value: unknown,
  known: readonly K[],
  arg = 'options',
): { readonly [P in K]?: unknown } {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw typeError(op, arg, 'an object', value);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (!(known as readonly string[]).includes(key)) {
      const near = closestKey(key, known);
      const list = known.length === 0 ? 'no options' : `one of ${known.map((k) => `'${k}'`).join(', ')}`;
      const e = new TypeError(
        arg === 'options'
          ? `${op}: unknown option '${key}'${near ? ` (did you mean '${near}'?)` : ''}; the options are ${list}`
          : `${op}: ${arg} has an unknown key '${key}'${near ? ` (did you mean '${near}'?)` : ''}; its keys are ${list.replace(/^no options$/, 'none')}`,
      );
      (e as { code?: string }).code = 'ERR_MOEKIT_INVALID_ARG';
      throw e;
    }
    const v = (value as Record<string, unknown>)[key];
    if (v !== null) out[key] = v;
  }
  return out as { readonly [P in K]?: unknown };
}

/** `value` as a boolean, else a TypeError. */
export function checkBoolean(op: string, arg: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw typeError(op, arg, 'a boolean', value);
  return value;
}

/** `value` as a number, else a TypeError. */
export function checkNumber(op: string, arg: string, value: unknown): number {
  if (typeof value !== 'number') throw typeError(op, arg, 'a number', value);
  return value;
}

/** `value` as an integer in `[min, max]`: a TypeError for a non-number, a RangeError otherwise. */
export function checkInteger(op: string, arg: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw typeError(op, arg, 'an integer', value);
  if (!Number.isInteger(value) || value < min || value > max) throw rangeError(op, arg, `an integer in [${min}, ${max}]`, String(value));
  return value;
}

/** The most elements a tensor may have (byte counts stay exact in int64 and in JS numbers). */
export const MAX_ELEMENTS = 2 ** 50;

/** The most dimensions a tensor may have. */
export const MAX_RANK = 16;

/** A shape: an array of non-negative safe integers whose product is at most {@link MAX_ELEMENTS}. */
export function checkShape(op: string, arg: string, value: unknown): number[] {
  if (!Array.isArray(value)) throw typeError(op, arg, 'an array of non-negative integers', value);
  if (value.length > MAX_RANK) throw rangeError(op, arg, `at most ${MAX_RANK} dimensions`, String(value.length));
  const shape = value.map((d: unknown, i) => {
    if (typeof d !== 'number') throw typeError(op, `${arg}[${i}]`, 'a non-negative integer', d);
    if (!Number.isSafeInteger(d) || d < 0) throw rangeError(op, `${arg}[${i}]`, 'a non-negative integer', String(d));
    return d;
  });
  // A zero anywhere makes the tensor empty, however large the other
  // dimensions; otherwise each partial product stays below 2^50, so exact.
  if (shape.includes(0)) return shape;
  let count = 1;
  for (const d of shape) {
    count *= d;
    if (count > MAX_ELEMENTS) throw rangeError(op, arg, 'a shape of at most 2^50 elements', shapeText(shape));
  }
  return shape;
}

/** A shape as messages show it: `[2, 128]`. */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Elements in a tensor of `shape` (1 for `[]`). */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
