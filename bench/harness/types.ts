/**
 * What a benchmark suite and its cases are. A suite lists cases for a
 * device; the runner sets each case up, checks it against the CPU
 * reference, times it and tears it down.
 * @module
 */
import type { Device } from '../../lib/index.js';

/** A parameter value of a case: shown in the table, stored in the results. */
export type ParamValue = number | string | boolean;

/**
 * Named parameters of a case (shapes, dtypes, sizes). Numbers under keys
 * ending in `Bytes` are shown in binary units (`16 MiB`).
 */
export type CaseParams = Readonly<Record<string, ParamValue>>;

/** What a suite gets to build its cases. */
export interface SuiteContext {
  /** The device the cases run on. */
  readonly device: Device;
  /** Smoke run: few, small cases. */
  readonly quick: boolean;
  /** Seed for the suite's random inputs (the runner prints it when a check fails). */
  readonly seed: number;
}

/** The verdict of a case's check against the CPU reference. */
export interface CheckOutcome {
  readonly passed: boolean;
  /** What was compared and, on failure, where it first differed. */
  readonly detail: string;
}

/**
 * What one `run` returns: the tensors it produced, which the harness
 * disposes once the end marker is queued (their memory is freed after the
 * queued work that writes them).
 */
export type RunOutput = Disposable | readonly Disposable[] | void;

/**
 * One timed configuration: an op (or copy) at one shape and version.
 * `S` is the state `setup` builds (inputs, rotation sets) and the other
 * methods receive.
 */
export interface BenchCase<S = unknown> {
  /** Unique within the suite; what `--filter` matches. */
  readonly name: string;
  readonly params: CaseParams;
  /** Floating-point operations of one `run`, from a named function in `metrics.ts`. */
  readonly flops?: number;
  /** Bytes of memory traffic of one `run`, from a named function in `metrics.ts`. */
  readonly bytes?: number;
  /** Name of another case of the suite this one is compared against (×baseline = its median / ours). */
  readonly baseline?: string;
  /**
   * Name of another case of the suite whose GB/s is this case's bandwidth
   * ceiling (e.g. a device-to-device copy): the report shows this case's
   * GB/s as a fraction of that case's.
   */
  readonly ceiling?: string;
  /** Rewrite a buffer larger than the GPU's L2 before every repeat (CUDA only); default true. */
  readonly flushL2?: boolean;
  /** Allocates inputs; not timed. */
  setup(): S | Promise<S>;
  /**
   * Enqueues the work once on the device queue and returns at once.
   * `repeat` counts from 0; cases rotate their inputs with it.
   */
  run(state: S, repeat: number): RunOutput;
  /** Runs the work once and compares the result with the CPU reference; a failure means the case is not timed. */
  check?(state: S): Promise<CheckOutcome>;
  /** Disposes everything `setup` made. */
  teardown(state: S): void;
}

/** A named group of cases, e.g. the memory ceilings or one kernel family. */
export interface BenchSuite {
  /** What `--suite` takes: lower case letters, digits and '-'. */
  readonly name: string;
  readonly description: string;
  /** Lines printed under the suite's table (how bytes are counted, caveats). */
  readonly notes?: readonly string[];
  /** Notes that depend on the run (e.g. why baseline rows are left out on this device), printed after `notes`. */
  contextNotes?(ctx: SuiteContext): readonly string[];
  /** The cases on `ctx.device`; allocates nothing (that is `setup`'s job). */
  cases(ctx: SuiteContext): readonly BenchCase[];
}

/**
 * Types a case while keeping its state type inside it.
 * @example
 * ```ts
 * benchCase({ name: 'memcpy-1MiB', params: { sizeBytes: 1 << 20 }, setup: () => src, run: (s) => s.clone(), teardown: (s) => s.dispose() });
 * ```
 */
export function benchCase<S>(c: BenchCase<S>): BenchCase {
  return c as BenchCase;
}
