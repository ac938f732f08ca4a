/**
 * The results of a run, as written to bench/results/ and printed by
 * `--json`: the machine, the build, the source revision and, for every
 * case, its parameters, every sample and the statistics.
 * @module
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BuildInfo, CudaStatus, DeviceInfo } from '../../lib/index.js';
import type { GitState } from './environment.js';
import type { SampleStats } from './stats.js';
import type { CaseParams } from './types.js';

/** Identifies the layout of the results file; bumped when a field changes meaning. */
export const RESULTS_SCHEMA = 'moekit-bench/1';

/** One case's outcome. */
export interface CaseResult {
  readonly name: string;
  readonly params: CaseParams;
  readonly flops: number | null;
  readonly bytes: number | null;
  readonly baseline: string | null;
  /** The case whose GB/s is this case's bandwidth ceiling, if any. */
  readonly ceiling: string | null;
  /** 'ok': checked (when it has a check) and timed; 'failed': see `error`. */
  readonly status: 'ok' | 'failed';
  readonly error: string | null;
  readonly check: { readonly status: 'passed' | 'failed' | 'none'; readonly detail: string };
  /** Device milliseconds of every timed repeat, in order. */
  readonly samplesMs: readonly number[];
  /** JS-thread milliseconds spent enqueueing each timed repeat. */
  readonly enqueueMs: readonly number[];
  /** Repeats the device may have spent waiting for the JS thread (see timing.ts). */
  readonly hostBoundSamples: number;
  readonly stats: SampleStats | null;
  /** flops / median time, in 10^12 per second. */
  readonly tflops: number | null;
  /** bytes / median time, in 10^9 per second. */
  readonly gbps: number | null;
  /** The baseline's median over this case's (above 1: faster than the baseline). */
  readonly vsBaseline: number | null;
  /** This case's GB/s over its ceiling case's (e.g. 0.9: 90% of copy bandwidth); null without a ceiling or either rate. */
  readonly ofCeiling: number | null;
  readonly warnings: readonly string[];
}

/** One suite's outcome. */
export interface SuiteResult {
  readonly name: string;
  readonly description: string;
  readonly notes: readonly string[];
  readonly seed: number;
  readonly cases: readonly CaseResult[];
  /** Geometric mean of `vsBaseline` over the cases that have one; null when none. */
  readonly geomeanVsBaseline: number | null;
  /** How many ratios went into the geometric mean. */
  readonly geomeanCount: number;
}

/** Everything a run records. */
export interface BenchResults {
  readonly schema: typeof RESULTS_SCHEMA;
  /** When the run started (ISO 8601, UTC). */
  readonly timestamp: string;
  readonly commandLine: readonly string[];
  readonly node: string;
  readonly platform: string;
  readonly moekitVersion: string;
  readonly git: GitState;
  /** The `devices()` entry of the device the cases ran on. */
  readonly device: DeviceInfo;
  /** Includes the CUDA driver and runtime versions. */
  readonly cudaStatus: CudaStatus;
  readonly build: BuildInfo;
  readonly options: {
    readonly warmup: number;
    readonly repeats: number;
    readonly minTimeMs: number;
    readonly quick: boolean;
    readonly seed: number;
    readonly filter: string | null;
    readonly suites: readonly string[];
  };
  /** The timing aids as calibrated on this device (timing.ts). */
  readonly timing: {
    readonly l2FlushBytes: number | null;
    readonly l2FlushMs: number | null;
    readonly holdUnitBytes: number | null;
    readonly holdUnitMs: number | null;
  };
  readonly suites: readonly SuiteResult[];
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * `<YYYY-MM-DD>-<device id, ':' as '-'>-<HHMMSS>.json` for a run started at
 * `at` (UTC), e.g. `2025-06-01-cuda-0-134502.json`.
 */
export function resultsFileName(deviceId: string, at: Date): string {
  const date = `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())}`;
  const time = `${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}${pad(at.getUTCSeconds())}`;
  return `${date}-${deviceId.replaceAll(':', '-')}-${time}.json`;
}

/**
 * Writes `results` into `dir` (created if missing) under
 * {@link resultsFileName}, never over an existing file; returns the path.
 * The file appears whole or not at all (written aside, then renamed).
 */
export function writeResults(dir: string, results: BenchResults, at: Date): string {
  mkdirSync(dir, { recursive: true });
  const base = resultsFileName(results.device.id, at).replace(/\.json$/, '');
  let path = join(dir, `${base}.json`);
  for (let n = 2; existsSync(path); n++) path = join(dir, `${base}-${n}.json`);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(results, null, 2)}\n`);
  renameSync(tmp, path);
  return path;
}
