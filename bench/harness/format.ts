/**
 * How numbers appear in the report's tables.
 * @module
 */
import type { CaseParams } from './types.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** Bytes in binary units, compact: `1MiB`, `256MiB`, `1.5GiB`, `100B`. */
export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 1).replace(/\.?0+$/, '');
  return `${text}${UNITS[unit]}`;
}

/** A positive quantity to about three significant digits: 0.0123, 1.23, 12.3, 123, 12345. */
export function formatValue(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x).toString();
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** Milliseconds shown in microseconds. */
export function formatMicros(ms: number): string {
  return formatValue(ms * 1000);
}

/** A ratio such as ×baseline: `1.23×`. */
export function formatRatio(r: number): string {
  return `${r.toFixed(r >= 10 ? 1 : 2)}×`;
}

/** A fraction as a percentage: `2.1%`. */
export function formatPercent(f: number): string {
  return `${(f * 100).toFixed(1)}%`;
}

/** Parameters as `key=value` pairs; `…Bytes` keys shown as `…=16MiB`. */
export function formatParams(params: CaseParams): string {
  return Object.entries(params)
    .map(([k, v]) => (typeof v === 'number' && k.endsWith('Bytes') && k.length > 5 ? `${k.slice(0, -5)}=${formatBytes(v)}` : `${k}=${String(v)}`))
    .join(' ');
}
