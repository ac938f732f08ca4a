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
 * The most work one test case may cost on the emulated GPU, in multiply-adds
 * (or element operations for elementwise ops). The emulation runs every CUDA
 * thread of every block on the CPU with every memory access checked: about
 * 1e8 multiply-adds a second on the tensor-core paths, far fewer on the SIMT
 * ones. Larger cases (the DeepSeek-V3 shapes at M = 4096) are left to real
 * GPUs; the smaller cases beside them cover the same paths: ragged M, N and
 * K, M = 1, every tile boundary and the pipeline's wrap-around.
 */
export const EMULATED_WORK_LIMIT = 2 ** 26;

/**
 * Why `dev` skips a case costing `work` multiply-adds, or `''` when it runs
 * it: only the emulated GPU skips, and only above
 * {@link EMULATED_WORK_LIMIT}. Put the reason in the test title or log it, so
 * the run says what it left out.
 */
export function tooLargeToEmulate(dev: Device | undefined, work: number): string {
  if (dev === undefined || dev.kind !== 'cuda' || emulatedProfile() === '' || work <= EMULATED_WORK_LIMIT) return '';
  return `skipped on the emulated GPU: ${work.toExponential(1)} multiply-adds, above its ${EMULATED_WORK_LIMIT.toExponential(1)} limit (run on a real GPU)`;
}
