/**
 * The suites `npm run bench` runs. Every export of this module is a suite
 * (checked by harness/registry.ts); a kernel family adds its own with one
 * line, e.g. `export { fp8Suite } from './fp8/gemm.bench.js';`.
 * @module
 */
export { memorySuite } from './memory/copy.bench.js';
export { fp8Suite } from './gemm/fp8_gemm.bench.js';
export { quantizeSuite } from './fp8/quantize.bench.js';
export { gemmSuite } from './gemm/gemm.bench.js';
export { routeSuite } from './moe/route.bench.js';
export { permuteSuite } from './moe/permute.bench.js';
export { gatherSuite } from './moe/gather.bench.js';
export { swigluSuite } from './moe/swiglu.bench.js';
export { combineSuite } from './moe/combine.bench.js';
export { moeSuite } from './moe/moe.bench.js';
export { mlaSuite } from './mla/mla.bench.js';
