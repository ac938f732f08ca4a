/**
 * Runs suites on a device: per case setup, check against the CPU reference,
 * timing and teardown, and turns the samples into results. A case that
 * fails (its check, or an error anywhere) is reported and the run goes on.
 * @module
 */
import { device as getDevice, type Device } from '../../lib/index.js';
import { createL2Flush } from './flush.js';
import { formatMicros } from './format.js';
import { createQueueHold } from './hold.js';
import type { CaseFilter } from './options.js';
import type { Progress } from './progress.js';
import { deriveSeed } from './random.js';
import type { CaseResult, SuiteResult } from './results.js';
import { geometricMean, summarize } from './stats.js';
import { HOST_GAP_SHARE, timeCase, type TimingAids, type TimingOptions } from './timing.js';
import type { BenchCase, BenchSuite, CheckOutcome } from './types.js';

/** A suite with the cases a run will time. */
export interface PlannedSuite {
  readonly suite: BenchSuite;
  readonly seed: number;
  readonly cases: readonly BenchCase[];
  /** The suite's notes, then its notes for this run (`contextNotes`). */
  readonly notes: readonly string[];
}

/** What the runner needs besides the suites. */
export interface RunnerOptions extends TimingOptions {
  readonly quick: boolean;
  readonly seed: number;
  readonly filter: CaseFilter | undefined;
}

/**
 * The cases of `suite` on `device` that `filter` selects, plus the
 * baselines and ceilings they are compared against (so a filtered run
 * still has its ×baseline and ceiling columns), in the suite's order.
 * @throws Error when case names repeat or a baseline or ceiling names no case of the suite.
 */
export function planSuite(suite: BenchSuite, device: Device, options: Pick<RunnerOptions, 'quick' | 'seed' | 'filter'>): PlannedSuite {
  const seed = deriveSeed(options.seed, suite.name);
  const ctx = { device, quick: options.quick, seed };
  const all = suite.cases(ctx);
  const byName = new Map<string, BenchCase>();
  for (const c of all) {
    if (byName.has(c.name)) throw new Error(`suite '${suite.name}': two cases are named '${c.name}'`);
    byName.set(c.name, c);
  }
  for (const c of all) {
    if (c.baseline !== undefined && !byName.has(c.baseline)) {
      throw new Error(`suite '${suite.name}': case '${c.name}' has baseline '${c.baseline}', which is no case of the suite`);
    }
    if (c.ceiling !== undefined && !byName.has(c.ceiling)) {
      throw new Error(`suite '${suite.name}': case '${c.name}' has ceiling '${c.ceiling}', which is no case of the suite`);
    }
  }
  const selected = new Set(all.filter((c) => options.filter?.matches(c.name) ?? true).map((c) => c.name));
  for (const name of [...selected]) {
    const { baseline, ceiling } = byName.get(name)!;
    if (baseline !== undefined) selected.add(baseline);
    if (ceiling !== undefined) selected.add(ceiling);
  }
  const notes = [...(suite.notes ?? []), ...(suite.contextNotes?.(ctx) ?? [])];
  return { suite, seed, cases: all.filter((c) => selected.has(c.name)), notes };
}

function message(e: unknown): string {
  if (e instanceof Error) return `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}`;
  return String(e);
}

/** Live tensors on the devices a case may use, to notice a teardown that forgot some. */
function liveTensors(devices: readonly Device[]): number {
  let n = 0;
  for (const d of devices) n += d.memory().tensors;
  return n;
}

/** Cases whose device time may include waiting for the JS thread in at least this share of repeats are flagged. */
const HOST_BOUND_SHARE = 0.1;

async function runCase(
  c: BenchCase,
  device: Device,
  seed: number,
  options: RunnerOptions,
  aids: () => Promise<TimingAids>,
  progress: Progress,
): Promise<Omit<CaseResult, 'vsBaseline' | 'ofCeiling'>> {
  const watched = device.kind === 'cpu' ? [device] : [device, getDevice('cpu')];
  const liveBefore = liveTensors(watched);
  const warnings: string[] = [];
  let check: CaseResult['check'] = { status: 'none', detail: '' };
  let error: string | null = null;
  let timing: Awaited<ReturnType<typeof timeCase>> | undefined;
  let state: unknown;
  let setUp = false;
  try {
    state = await c.setup();
    setUp = true;
    if (c.check) {
      progress.phase('check');
      const outcome: CheckOutcome = await c.check(state);
      check = { status: outcome.passed ? 'passed' : 'failed', detail: outcome.detail };
      if (!outcome.passed) error = `check failed: ${outcome.detail} (--seed ${options.seed}, suite seed ${seed})`;
    }
    if (error === null) {
      const timingAids = await aids();
      timing = await timeCase(device, c, state, options, timingAids, (done) => {
        progress.phase(done <= options.warmup ? `warm-up ${done}/${options.warmup}` : `timing ${done - options.warmup}/${options.repeats}`);
      });
    }
  } catch (e) {
    error = message(e);
    // Queued work may have failed too; take that error so the next case starts clean.
    await device.synchronize().catch(() => undefined);
  } finally {
    if (setUp) {
      try {
        c.teardown(state);
      } catch (e) {
        error ??= `teardown: ${message(e)}`;
      }
    }
  }
  const leaked = liveTensors(watched) - liveBefore;
  if (leaked > 0) warnings.push(`${leaked} tensor(s) still alive after teardown`);
  if (timing && timing.hostBoundSamples >= HOST_BOUND_SHARE * timing.samplesMs.length) {
    warnings.push(
      `host-bound: in ${timing.hostBoundSamples} of ${timing.samplesMs.length} repeats the JS thread took longer to enqueue than the work queued ahead of it, so the device may have waited for the host for more than ${HOST_GAP_SHARE * 100}% of the time`,
    );
  }
  const stats = timing && error === null ? summarize(timing.samplesMs) : null;
  return {
    name: c.name,
    params: c.params,
    flops: c.flops ?? null,
    bytes: c.bytes ?? null,
    baseline: c.baseline ?? null,
    ceiling: c.ceiling ?? null,
    status: error === null ? 'ok' : 'failed',
    error,
    check,
    samplesMs: timing?.samplesMs ?? [],
    enqueueMs: timing?.enqueueMs ?? [],
    hostBoundSamples: timing?.hostBoundSamples ?? 0,
    stats,
    tflops: stats && c.flops !== undefined ? c.flops / stats.median / 1e9 : null,
    gbps: stats && c.bytes !== undefined ? c.bytes / stats.median / 1e6 : null,
    warnings,
  };
}

/** Timing aids of a run, calibrated on first use. */
export interface Calibration {
  aids(): Promise<TimingAids>;
  /** The calibrated aids, if a case needed them. */
  readonly calibrated: TimingAids | undefined;
}

/** Lazily calibrates the queue hold and the L2 flush of `device`. */
export function calibration(device: Device): Calibration {
  let pending: Promise<TimingAids> | undefined;
  let done: TimingAids | undefined;
  return {
    aids() {
      pending ??= (async () => {
        const hold = await createQueueHold(device);
        const flush = await createL2Flush(device);
        done = flush ? { hold, flush } : { hold };
        return done;
      })();
      return pending;
    },
    get calibrated() {
      return done;
    },
  };
}

/**
 * Runs every planned case on `device` in order and returns the suites'
 * results, with ×baseline ratios and their geometric mean per suite.
 */
export async function runSuites(
  plans: readonly PlannedSuite[],
  device: Device,
  options: RunnerOptions,
  progress: Progress,
  cal: Calibration = calibration(device),
): Promise<SuiteResult[]> {
  const out: SuiteResult[] = [];
  let index = 0;
  for (const plan of plans) {
    const cases: Omit<CaseResult, 'vsBaseline' | 'ofCeiling'>[] = [];
    for (const c of plan.cases) {
      progress.startCase(++index, `${plan.suite.name}/${c.name}`);
      const r = await runCase(c, device, plan.seed, options, () => cal.aids(), progress);
      cases.push(r);
      progress.endCase(r.stats ? `median ${formatMicros(r.stats.median)} µs` : `FAILED: ${r.error ?? 'unknown'}`);
    }
    const medians = new Map(cases.map((r) => [r.name, r.stats?.median]));
    const bandwidths = new Map(cases.map((r) => [r.name, r.gbps]));
    const withRatios: CaseResult[] = cases.map((r) => {
      const base = r.baseline === null ? undefined : medians.get(r.baseline);
      const mine = r.stats?.median;
      const top = r.ceiling === null ? null : (bandwidths.get(r.ceiling) ?? null);
      return {
        ...r,
        vsBaseline: base !== undefined && mine !== undefined && mine > 0 && base > 0 ? base / mine : null,
        ofCeiling: top !== null && r.gbps !== null && top > 0 ? r.gbps / top : null,
      };
    });
    const ratios = withRatios.flatMap((r) => (r.vsBaseline === null ? [] : [r.vsBaseline]));
    out.push({
      name: plan.suite.name,
      description: plan.suite.description,
      notes: plan.notes,
      seed: plan.seed,
      cases: withRatios,
      geomeanVsBaseline: geometricMean(ratios) ?? null,
      geomeanCount: ratios.length,
    });
  }
  return out;
}
