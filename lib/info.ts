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
  /** nvcc version used, e.g. `13.0.88`. */
  readonly cudaCompilerVersion: string;
  /** Node-API version the addon targets. */
  readonly napiVersion: number;
}

/** What the loaded native addon was built with. */
export function buildInfo(): BuildInfo {
  return binding().buildInfo();
}
