/**
 * The devices a test runs on, and why GPU tests are skipped.
 *
 * GPU blocks are written
 * ```ts
 * const gpu = cudaDevice();
 * describe.skipIf(!gpu)(`cuda${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => { ... });
 * ```
 * so a run without a GPU reports each skipped block with the reason.
 *
 * A skip is only right where there is no GPU: on a machine that has one, a
 * CPU-only addon or a broken driver would turn every GPU test into a skip
 * and leave the run green. {@link missingGpuFailure} says when that is a
 * failure (tests/runtime/gpu_expected.test.ts fails with it): a GPU is
 * visible to the OS ({@link visibleGpu}) or `MOEKIT_EXPECT_GPU=1`, and CUDA
 * is not usable. `MOEKIT_EXPECT_GPU=0` runs CPU-only on purpose.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

import { type CudaStatus, type Device, buildInfo, cudaStatus, device, devices } from '../../lib/index.js';

/** Every device present: the CPU first, then each usable CUDA GPU. */
export function testDevices(): Device[] {
  return devices().map((info) => device(info.id as 'cpu' | `cuda:${number}`));
}

/** The first usable GPU, or undefined when there is none. */
export function cudaDevice(): Device | undefined {
  return testDevices().find((d) => d.kind === 'cuda');
}

/** Why no GPU is usable, as the addon reports it ('' when one is). */
export function cudaSkipReason(): string {
  const status = cudaStatus();
  return status.available ? '' : status.reason;
}

/** `MOEKIT_EXPECT_GPU`: true for 1, false for 0, undefined when unset or empty. */
export function expectGpuSetting(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === '1') return true;
  if (value === '0') return false;
  throw new RangeError(`MOEKIT_EXPECT_GPU must be 1 (a GPU must be usable) or 0 (run CPU-only on purpose), got '${value}'`);
}

/** Where {@link visibleGpu} looks; replaceable for its tests. */
export interface GpuProbes {
  /** Entries of a directory; [] when it cannot be read. */
  list(path: string): string[];
  /** Output of `nvidia-smi -L`; undefined when it cannot run. */
  nvidiaSmi(): string | undefined;
}

const SYSTEM_PROBES: GpuProbes = {
  list: (path) => {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  },
  nvidiaSmi: () => {
    const r = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 15_000 });
    return r.error || r.status !== 0 ? undefined : r.stdout;
  },
};

/**
 * What shows an NVIDIA GPU on this machine, whatever CUDA makes of it: a
 * device node /dev/nvidiaN, an entry in /proc/driver/nvidia/gpus, or a GPU
 * in `nvidia-smi -L`. Undefined when none does.
 */
export function visibleGpu(probes: GpuProbes = SYSTEM_PROBES): string | undefined {
  const nodes = probes.list('/dev').filter((name) => /^nvidia\d+$/.test(name));
  if (nodes.length > 0) return `/dev/${nodes[0]} exists`;
  const gpus = probes.list('/proc/driver/nvidia/gpus');
  if (gpus.length > 0) return `/proc/driver/nvidia/gpus lists ${gpus.join(', ')}`;
  const smi = probes.nvidiaSmi()?.split('\n').find((line) => /^GPU \d+:/.test(line.trim()));
  if (smi) return `nvidia-smi -L lists '${smi.trim()}'`;
  return undefined;
}

/** What decides whether GPU tests may be skipped. */
export interface GpuExpectation {
  /** MOEKIT_EXPECT_GPU ({@link expectGpuSetting}). */
  readonly expectGpu: boolean | undefined;
  /** What shows a GPU here ({@link visibleGpu}), or undefined. */
  readonly gpuVisible: string | undefined;
  /** What the addon says about CUDA. */
  readonly status: Pick<CudaStatus, 'built' | 'available' | 'reason'>;
}

/**
 * Why this run must fail rather than skip its GPU tests, or undefined when
 * skipping (or running them) is right: CUDA is unusable although
 * MOEKIT_EXPECT_GPU=1, or although a GPU is visible and MOEKIT_EXPECT_GPU is
 * not 0.
 */
export function missingGpuFailure({ expectGpu, gpuVisible, status }: GpuExpectation): string | undefined {
  if (status.available || expectGpu === false) return undefined;
  const why = expectGpu ? 'MOEKIT_EXPECT_GPU=1' : gpuVisible ? `a GPU is visible (${gpuVisible})` : undefined;
  if (!why) return undefined;
  return `${why} but the GPU tests cannot run: ${status.reason}. Every GPU test would be skipped: fix that, or set MOEKIT_EXPECT_GPU=0 to run CPU-only on purpose.`;
}

/** {@link missingGpuFailure} for this machine, this addon and this environment. */
export function gpuExpectationHere(): GpuExpectation {
  const status = cudaStatus();
  return { expectGpu: expectGpuSetting(process.env.MOEKIT_EXPECT_GPU), gpuVisible: visibleGpu(), status };
}

/**
 * The emulated GPU's profile (`sm80`, `sm89`, `sm90a`) when the loaded addon
 * is the emulation build (npm run emulate; docs/emulation.md), else `''`.
 */
export function emulatedProfile(): string {
  return buildInfo().emulated;
}

/**
 * What a unit of work costs the emulated GPU, in tensor-core multiply-adds,
 * so that every kernel is weighed on the one scale of
 * {@link EMULATED_WORK_LIMIT}. Measured on the emulation build, on one CPU
 * core: the tensor-core paths (mma.sync, wgmma) run about 3e8 multiply-adds
 * a second over their padded tiles; the SIMT v1 GEMMs about 6e7, a fifth of
 * that; the elementwise kernels (cast, quantize, dequantize: a CUDA thread
 * per element or per few) 3e6 (cast) to 2e7 elements a second, as every
 * thread is scheduled and checked on its own. Elements are weighed as the
 * slowest of them.
 */
export const EMULATED_COST = {
  /** A multiply-add of mma.sync or wgmma, padded tiles included. */
  tensorCoreMac: 1,
  /** A multiply-add of a SIMT GEMM (gemm v1, fp8Gemm v1), padded tiles included. */
  simtMac: 5,
  /** An element of an elementwise kernel (cast, quantize, dequantize). */
  element: 100,
} as const;

/**
 * The most work one test case may cost on the emulated GPU, in tensor-core
 * multiply-adds ({@link EMULATED_COST} weighs the other kernels): about 7 s
 * of emulation. The GPU test files then take about a minute and a half per
 * profile on a two-core machine, so that the three profiles and the
 * emulation build fit well within ten minutes of CI; twice the limit would
 * let in about two minutes more per profile. Larger cases (the DeepSeek-V3
 * shapes at M = 4096, the SIMT GEMMs on any DeepSeek-V3 shape, elementwise
 * kernels over DeepSeek-V3 weights) are left to real GPUs; the smaller cases
 * beside them cover the same paths: ragged M, N and K, M = 1, every tile
 * boundary and the pipeline's wrap-around.
 */
export const EMULATED_WORK_LIMIT = 2 ** 31;

/**
 * Why `dev` skips a case costing `work` ({@link EMULATED_COST} units), or
 * `''` when it runs it: only the emulated GPU skips, and only above
 * {@link EMULATED_WORK_LIMIT}. Put the reason in the test title or log it,
 * so the run says what it left out.
 */
export function tooLargeToEmulate(dev: Device | undefined, work: number): string {
  if (dev === undefined || dev.kind !== 'cuda' || emulatedProfile() === '' || work <= EMULATED_WORK_LIMIT) return '';
  return `skipped on the emulated GPU: ${work.toExponential(1)} tensor-core multiply-adds of work, above its ${EMULATED_WORK_LIMIT.toExponential(1)} limit (run on a real GPU)`;
}

/**
 * For a test that loops over cases costing `works`: why `dev` skips the
 * whole test, or `''` when at least one case runs (the others are then
 * skipped one by one, with {@link tooLargeToEmulate}). The reason, for the
 * test title, names the work of the cheapest case.
 */
export function allTooLargeToEmulate(dev: Device | undefined, works: readonly number[]): string {
  const cheapest = Math.min(...works);
  if (works.length === 0 || tooLargeToEmulate(dev, cheapest) === '') return '';
  return `skipped on the emulated GPU: every case is above its ${EMULATED_WORK_LIMIT.toExponential(1)} limit, the cheapest at ${cheapest.toExponential(1)} tensor-core multiply-adds of work (run on a real GPU)`;
}

/** The tiles a GEMM kernel computes: rows, columns and K per tile, and the cost of its multiply-adds. */
interface GemmTiling {
  readonly tile: readonly [number, number, number];
  readonly mac: number;
}

/**
 * How each CUDA GEMM version tiles its output (cuda/gemm/): a partial tile
 * costs the emulated GPU as much as a whole one, since every thread of the
 * block runs and the padding is zero-filled rather than skipped.
 */
function gemmTiling(op: 'gemm' | 'fp8Gemm', version: string, m: number): GemmTiling {
  const simt = (bk: number): GemmTiling => ({ tile: [64, 64, bk], mac: EMULATED_COST.simtMac });
  const tensorCore = (bm: number, bn: number, bk: number): GemmTiling => ({ tile: [bm, bn, bk], mac: EMULATED_COST.tensorCoreMac });
  if (op === 'gemm') {
    if (version === 'v1') return simt(16); // gemm_v1.cu, simt_tile.cuh
    if (version === 'v2') return tensorCore(128, 128, 32); // gemm_config_v2.h
  } else {
    if (version === 'v1') return simt(32); // fp8_gemm_v1.cu
    if (version === 'v2') return tensorCore(128, 128, 128); // fp8_gemm_config_v2.h
    if (version === 'v3') return m <= 64 ? tensorCore(64, 32, 128) : tensorCore(128, 128, 128); // sm90/fp8_gemm_config_v3.h
  }
  // A version not listed yet: weighed as the costliest kind, so that it is
  // skipped rather than run past the time budget.
  return { tile: [128, 128, 128], mac: EMULATED_COST.simtMac };
}

/**
 * What one call of `version` of `op` (gemm or fp8Gemm) on an M x N x K
 * product costs the emulated GPU ({@link EMULATED_COST} units): the
 * multiply-adds of its tiles, M, N and K rounded up to whole tiles.
 */
export function gemmWork(op: 'gemm' | 'fp8Gemm', version: string, m: number, n: number, k: number): number {
  const { tile, mac } = gemmTiling(op, version, m);
  const up = (x: number, t: number): number => Math.ceil(x / t) * t;
  return up(m, tile[0]) * up(n, tile[1]) * up(k, tile[2]) * mac;
}
