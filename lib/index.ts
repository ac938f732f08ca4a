/**
 * moekit: DeepSeek-style Mixture-of-Experts inference kernels for Node.js.
 *
 * @example
 * ```ts
 * import { device } from 'moekit';
 * const dev = device();                       // first GPU, else the CPU
 * using a = dev.tensor(new Float32Array(64 * 128).fill(1), { shape: [64, 128], dtype: 'bf16' });
 * console.log(await a.toArray());
 * ```
 * @module
 */
export { DTYPES, FP8_FORMATS, type DType, type FloatDType, type Fp8Format, type ArrayFor, dtypeSize, isFloatDType } from './dtype.js';
export {
  MoekitError,
  DisposedError,
  UnsupportedError,
  OutOfMemoryError,
  KernelError,
  DeviceLostError,
  BindingLoadError,
} from './errors.js';
export {
  Device,
  device,
  devices,
  cudaStatus,
  type DeviceSpec,
  type DeviceInfo,
  type MemoryInfo,
  type CudaStatus,
  type TensorOptions,
  type AllocOptions,
} from './device.js';
export { Tensor, type TensorData, type ReadRange } from './tensor.js';
export { buildInfo, kernelVersions, type BuildInfo, type KernelVersionInfo } from './info.js';
export * as fp8 from './fp8/codec.js';
export {
  quantize,
  dequantize,
  asQuantized,
  Quantized,
  QUANT_BLOCKS,
  SCALE_FORMATS,
  DEQUANTIZE_DTYPES,
  type QuantBlock,
  type QuantizeOptions,
  type DequantizeOptions,
  type ScaleFormat,
  type DequantizeDType,
} from './fp8/quantize.js';
export type { Impl } from './validate.js';
export { gemm, GEMM_OUT_DTYPES, type GemmOptions, type GemmOutDType } from './gemm/gemm.js';
export { fp8Gemm, FP8_GEMM_OUT_DTYPES, type Fp8GemmOptions, type Fp8GemmOutDType } from './gemm/fp8_gemm.js';
export * as moe from './moe/index.js';
export * as mla from './mla/index.js';
export * as baselines from './baselines.js';
