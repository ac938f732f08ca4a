/**
 * What the loaded addon was built with.
 * @module
 */
import { binding } from './binding.js';

/** Build facts of the loaded native addon. */
export interface BuildInfo {
  /** Whether CUDA kernels are compiled in. */
  readonly cuda: boolean;
  /** CUDA architectures compiled for, e.g. `80-real,89-real,90a-real,90-virtual`. */
  readonly cudaArchitectures: string;
  /** nvcc version used, e.g. `13.0.88` (`emulated` for the emulated GPU). */
  readonly cudaCompilerVersion: string;
  /**
   * The emulated GPU's profile (`sm80`, `sm89` or `sm90a`) when this is the
   * emulation build (docs/emulation.md), whose `cuda:0` runs the kernels on
   * the CPU; `''` for a real CUDA or CPU-only build.
   */
  readonly emulated: string;
  /** Node-API version the addon targets. */
  readonly napiVersion: number;
}

/** What the loaded native addon was built with. */
export function buildInfo(): BuildInfo {
  return binding().buildInfo();
}

/** A CUDA version of an op, and where it has been verified. */
export interface KernelVersionInfo {
  /** `'v1'`, `'v2'`, ... (pass as `impl`). */
  readonly name: string;
  /** What makes the version what it is. */
  readonly idea: string;
  /** Lowest compute capability, e.g. 80 for 8.0. */
  readonly minSm: number;
  /** Highest compute capability (0: no limit). */
  readonly maxSm: number;
  /**
   * Architectures where it passed the CUDA tests on a real GPU (e.g.
   * `['sm_90']`). `impl: 'auto'` only picks verified versions (else v1).
   */
  readonly verifiedOn: readonly string[];
  /**
   * Emulation profiles (`sm80`, `sm89`, `sm90a`) on which it passed the CUDA
   * tests on the emulated GPU (docs/emulation.md). Shows the code ran with
   * its bounds, race and deadlock checks holding; it does not make the
   * version eligible for `auto`, which only a real GPU run does.
   */
  readonly emulatedOn: readonly string[];
  /**
   * Why this build cannot run the version ('' when it can): it needs
   * architecture-specific code (e.g. sm_90a) the build was not compiled for.
   */
  readonly absent: string;
}

/** The CUDA versions of each op (empty lists when the build has no CUDA). */
export function kernelVersions(): Record<string, readonly KernelVersionInfo[]> {
  const raw = binding().kernelVersions();
  const out: Record<string, KernelVersionInfo[]> = {};
  for (const [op, list] of Object.entries(raw)) {
    out[op] = list.map((v) => ({
      ...v,
      verifiedOn: v.verifiedOn ? v.verifiedOn.split(',') : [],
      emulatedOn: v.emulatedOn ? v.emulatedOn.split(',') : [],
    }));
  }
  return out;
}
