/**
 * Turns the exports of bench/suites.ts into the list of suites, checking
 * that each is a suite and that names are unique and usable on the
 * command line.
 * @module
 */
import type { BenchSuite } from './types.js';

const NAME = /^[a-z0-9][a-z0-9-]*$/;

function isSuite(value: unknown): value is BenchSuite {
  const s = value as Partial<BenchSuite> | null;
  return typeof s === 'object' && s !== null && typeof s.name === 'string' && typeof s.description === 'string' && typeof s.cases === 'function';
}

/**
 * The suites among `exports` (a module namespace), sorted by name.
 * @throws Error when an export is not a suite, a name is malformed or two suites share one.
 */
export function collectSuites(exports: Readonly<Record<string, unknown>>): BenchSuite[] {
  const suites: BenchSuite[] = [];
  for (const [exportName, value] of Object.entries(exports)) {
    if (!isSuite(value)) throw new Error(`bench/suites: export '${exportName}' must be a suite (name, description, cases), got ${typeof value}`);
    if (!NAME.test(value.name)) throw new Error(`bench/suites: suite name must be lower case letters, digits and '-', got '${value.name}'`);
    if (suites.some((s) => s.name === value.name)) throw new Error(`bench/suites: two suites are named '${value.name}'`);
    suites.push(value);
  }
  return suites.sort((a, b) => a.name.localeCompare(b.name));
}
