/**
 * Argument checks with one message format:
 * `<op>: <arg> must be <expected>, got <actual>` (the native binding uses the same).
 * @internal
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
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

export function typeError(op: string, arg: string, expected: string, actual: unknown): TypeError {
  const e = new TypeError(`${op}: ${arg} must be ${expected}, got ${describe(actual)}`);
  (e as { code?: string }).code = 'ERR_MOEKIT_INVALID_ARG';
  return e;
}

/** `actualText` is shown as is (a shape, a count), not described. */
export function rangeError(op: string, arg: string, expected: string, actualText: string): RangeError {
  const e = new RangeError(`${op}: ${arg} must be ${expected}, got ${actualText}`);
  (e as { code?: string }).code = 'ERR_MOEKIT_OUT_OF_RANGE';
  return e;
}

export function checkDType(op: string, arg: string, value: unknown): DType {
  if (!isDType(value)) throw typeError(op, arg, `one of ${DTYPES.map((d) => `'${d}'`).join(', ')}`, value);
  return value;
}

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

/** A plain options object (or undefined, which gives `{}`). */
export function checkOptions(op: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw typeError(op, 'options', 'an object', value);
  return value as Record<string, unknown>;
}

export function checkBoolean(op: string, arg: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw typeError(op, arg, 'a boolean', value);
  return value;
}

export function checkNumber(op: string, arg: string, value: unknown): number {
  if (typeof value !== 'number') throw typeError(op, arg, 'a number', value);
  return value;
}

export function checkInteger(op: string, arg: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw typeError(op, arg, 'an integer', value);
  if (!Number.isInteger(value) || value < min || value > max) throw rangeError(op, arg, `an integer in [${min}, ${max}]`, String(value));
  return value;
}

/** A shape: an array of non-negative safe integers. */
export function checkShape(op: string, arg: string, value: unknown): number[] {
  if (!Array.isArray(value)) throw typeError(op, arg, 'an array of non-negative integers', value);
  return value.map((d, i) => {
    if (typeof d !== 'number') throw typeError(op, `${arg}[${i}]`, 'a non-negative integer', d);
    if (!Number.isSafeInteger(d) || d < 0) throw rangeError(op, `${arg}[${i}]`, 'a non-negative integer', String(d));
    return d;
  });
}

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
