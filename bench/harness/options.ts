/**
 * The runner's command line: what each option means, its default, and how
 * a bad one is reported (a {@link UsageError}; the runner exits with 2).
 * @module
 */
import { parseArgs } from 'node:util';

/** Defaults of a full run and of `--quick`. */
export const DEFAULTS = {
  full: { warmup: 3, repeats: 20, minTimeMs: 100 },
  quick: { warmup: 1, repeats: 5, minTimeMs: 0 },
  seed: 1,
} as const;

/** The parsed command line. */
export interface BenchOptions {
  /** Device spec: 'auto', 'cpu', 'cuda' or 'cuda:N'. */
  readonly device: string;
  /** Suites to run, in the order given; `undefined` for all. */
  readonly suites: readonly string[] | undefined;
  /** Selects cases by name; `undefined` selects all. */
  readonly filter: CaseFilter | undefined;
  readonly warmup: number;
  readonly repeats: number;
  readonly minTimeMs: number;
  readonly quick: boolean;
  readonly seed: number;
  /** Where to write the results JSON; `undefined` for bench/results/ in the package. */
  readonly outDir: string | undefined;
  /** False with `--no-write`. */
  readonly write: boolean;
  /** Print the results JSON to stdout instead of the tables. */
  readonly json: boolean;
  readonly list: boolean;
  readonly help: boolean;
}

/** A `--filter`: a substring, or a regular expression written `/…/flags`. */
export interface CaseFilter {
  /** As given on the command line. */
  readonly text: string;
  matches(caseName: string): boolean;
}

/** A bad command line; the message says which option and why. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The `--help` text. */
export const HELP = `Usage: npm run bench -- [options]     (or: node dist/bench/run.js [options])

Times moekit's kernels and copies on one device, prints a table per suite and
writes the results as JSON.

Options:
  --device <spec>      auto (default: first GPU, else the CPU), cpu, cuda, cuda:N
  --suite <a,b>        suites to run, comma-separated (default: all; see --list)
  --filter <text>      only cases whose name contains <text>; /regex/flags for a regular expression
  --warmup <n>         untimed repeats per case (default ${DEFAULTS.full.warmup}; --quick: ${DEFAULTS.quick.warmup})
  --repeats <n>        timed repeats per case, at least (default ${DEFAULTS.full.repeats}; --quick: ${DEFAULTS.quick.repeats})
  --min-time-ms <ms>   keep repeating until the samples add up to this (default ${DEFAULTS.full.minTimeMs}; --quick: ${DEFAULTS.quick.minTimeMs})
  --quick              smoke run: small sizes, few repeats
  --seed <n>           seed of the random inputs (default ${DEFAULTS.seed})
  --out <dir>          directory for the results JSON (default: bench/results/ in the package)
  --no-write           do not write the results JSON
  --json               print the results JSON to stdout instead of the tables
  --list               list the suites and their cases on the device, run nothing
  -h, --help           this text

Exit status: 0 when every case passed its check and was timed, 1 when some
case failed, 2 for a bad command line or an unavailable device.`;

function fail(option: string, expected: string, actual: string): never {
  throw new UsageError(`bench: ${option} must be ${expected}, got '${actual}' (see --help)`);
}

function integer(option: string, text: string | undefined, min: number, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > 0xffffffff) fail(option, `an integer from ${min} to ${0xffffffff}`, text);
  return n;
}

function nonNegative(option: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0) fail(option, 'a number ≥ 0', text);
  return n;
}

function parseFilter(text: string | undefined): CaseFilter | undefined {
  if (text === undefined) return undefined;
  const re = /^\/(.*)\/([a-z]*)$/s.exec(text);
  if (!re) return { text, matches: (name) => name.includes(text) };
  let regex: RegExp;
  try {
    regex = new RegExp(re[1]!, re[2]);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new UsageError(`bench: --filter must be a valid /regex/flags, got '${text}' (${why}) (see --help)`);
  }
  return { text, matches: (name) => regex.test(name) };
}

/** Rewrites node:util's parse errors in the house format. */
function usageFromParseError(e: unknown): UsageError {
  const code = (e as { code?: unknown }).code;
  const message = e instanceof Error ? e.message : String(e);
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? message;
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`bench: unknown option '${quoted}' (see --help)`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`bench: unexpected argument '${quoted}'; every option starts with -- (see --help)`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new UsageError(`bench: ${message.replace(/^Option /, 'option ')} (see --help)`);
    default:
      return new UsageError(`bench: ${message} (see --help)`);
  }
}

/**
 * Parses the runner's arguments (without `node` and the script).
 * @param knownSuites - the registered suite names, to reject unknown ones.
 * @throws {@link UsageError} for an unknown option or suite or a bad value.
 */
export function parseBenchArgs(args: readonly string[], knownSuites: readonly string[]): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        device: { type: 'string' },
        suite: { type: 'string', multiple: true },
        filter: { type: 'string' },
        warmup: { type: 'string' },
        repeats: { type: 'string' },
        'min-time-ms': { type: 'string' },
        quick: { type: 'boolean' },
        seed: { type: 'string' },
        out: { type: 'string' },
        'no-write': { type: 'boolean' },
        json: { type: 'boolean' },
        list: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw usageFromParseError(e);
  }
  const quick = values.quick ?? false;
  const defaults = quick ? DEFAULTS.quick : DEFAULTS.full;

  let suites: string[] | undefined;
  if (values.suite !== undefined) {
    suites = [];
    for (const name of values.suite.flatMap((s) => s.split(',')).map((s) => s.trim())) {
      if (name === '') fail('--suite', 'a comma-separated list of suite names', values.suite.join(','));
      if (!knownSuites.includes(name)) {
        throw new UsageError(`bench: unknown suite '${name}'; the suites are ${knownSuites.map((s) => `'${s}'`).join(', ')} (see --list)`);
      }
      if (!suites.includes(name)) suites.push(name);
    }
  }
  const device = values.device ?? 'auto';
  if (device.trim() === '') fail('--device', "'auto', 'cpu', 'cuda' or 'cuda:N'", device);
  if (values.out !== undefined && values.out.trim() === '') fail('--out', 'a directory', values.out);
  if (values.out !== undefined && values['no-write']) throw new UsageError('bench: --out and --no-write contradict each other (see --help)');

  return {
    device,
    suites,
    filter: parseFilter(values.filter),
    warmup: integer('--warmup', values.warmup, 0, defaults.warmup),
    repeats: integer('--repeats', values.repeats, 1, defaults.repeats),
    minTimeMs: nonNegative('--min-time-ms', values['min-time-ms'], defaults.minTimeMs),
    quick,
    seed: integer('--seed', values.seed, 0, DEFAULTS.seed),
    outDir: values.out,
    write: !(values['no-write'] ?? false),
    json: values.json ?? false,
    list: values.list ?? false,
    help: values.help ?? false,
  };
}
