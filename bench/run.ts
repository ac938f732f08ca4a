/**
 * `npm run bench`: times moekit's suites on one device, prints a table per
 * suite (or the results JSON with --json) and writes the results JSON to
 * bench/results/. Options: `--help`; how it works: bench/README.md.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { packageRoot } from '../lib/binding.js';
import { buildInfo, cudaStatus, type Device, device, type DeviceSpec, devices } from '../lib/index.js';
import { commandLine, gitState } from './harness/environment.js';
import { HELP, parseBenchArgs, type BenchOptions, UsageError } from './harness/options.js';
import { Progress } from './harness/progress.js';
import { collectSuites } from './harness/registry.js';
import { renderReport } from './harness/report.js';
import { type BenchResults, RESULTS_SCHEMA, writeResults } from './harness/results.js';
import { calibration, planSuite, runSuites } from './harness/runner.js';
import { formatParams } from './harness/format.js';
import * as registered from './suites.js';

/** Exit status for a bad command line or an unavailable device. */
const EXIT_USAGE = 2;
/** Exit status when some case failed. */
const EXIT_FAILED = 1;

function resolveDevice(spec: string): Device {
  try {
    return device(spec as DeviceSpec);
  } catch (e) {
    throw new UsageError(`bench: --device '${spec}' is not usable: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function packageVersion(root: string): string {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

async function main(args: readonly string[]): Promise<number> {
  const suites = collectSuites(registered);
  let options: BenchOptions;
  let dev: Device;
  try {
    options = parseBenchArgs(args, suites.map((s) => s.name));
    if (options.help) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    dev = resolveDevice(options.device);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return EXIT_USAGE;
  }

  const chosen = options.suites === undefined ? suites : options.suites.map((n) => suites.find((s) => s.name === n)!);
  const plans = chosen.map((s) => planSuite(s, dev, options));

  if (options.list) {
    for (const p of plans) {
      process.stdout.write(`${p.suite.name}: ${p.suite.description}\n`);
      for (const c of p.cases) process.stdout.write(`  ${c.name}  ${formatParams(c.params)}\n`);
    }
    return 0;
  }

  const total = plans.reduce((n, p) => n + p.cases.length, 0);
  if (total === 0) {
    process.stderr.write(`bench: no case matches --filter '${options.filter?.text ?? ''}' on ${dev.id} (see --list)\n`);
    return EXIT_USAGE;
  }

  const root = packageRoot();
  const startedAt = new Date();
  const progress = new Progress(process.stderr, total);
  const cal = calibration(dev);
  let suiteResults;
  try {
    suiteResults = await runSuites(plans, dev, options, progress, cal);
  } finally {
    progress.finish();
  }
  const aids = cal.calibrated;
  const results: BenchResults = {
    schema: RESULTS_SCHEMA,
    timestamp: startedAt.toISOString(),
    commandLine: commandLine(root),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    moekitVersion: packageVersion(root),
    git: gitState(root),
    device: devices().find((d) => d.id === dev.id) ?? dev.info,
    cudaStatus: cudaStatus(),
    build: buildInfo(),
    options: {
      warmup: options.warmup,
      repeats: options.repeats,
      minTimeMs: options.minTimeMs,
      quick: options.quick,
      seed: options.seed,
      filter: options.filter?.text ?? null,
      suites: plans.map((p) => p.suite.name),
    },
    timing: {
      l2FlushBytes: aids?.flush?.bytes ?? null,
      l2FlushMs: aids?.flush?.ms ?? null,
      holdUnitBytes: aids?.hold.unitBytes ?? null,
      holdUnitMs: aids?.hold.unitMs ?? null,
    },
    suites: suiteResults,
  };

  process.stdout.write(options.json ? `${JSON.stringify(results, null, 2)}\n` : renderReport(results));
  if (options.write) {
    const dir = options.outDir === undefined ? join(root, 'bench', 'results') : resolve(options.outDir);
    const path = writeResults(dir, results, startedAt);
    process.stderr.write(`results: ${path}\n`);
  }
  const failed = suiteResults.some((s) => s.cases.some((c) => c.status === 'failed'));
  return failed ? EXIT_FAILED : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = EXIT_FAILED;
  },
);
