/**
 * What each CUDA version of an op documents that it runs, and how it
 * accumulates: the contract its GPU tests hold it to.
 *
 * A version may refuse a call (UnsupportedError, "op: impl 'vN': why") only
 * where its documentation says so: the architecture range of its version
 * table entry (kernelVersions()), and the shape and dtype limits written in
 * its `.cu` header and `*_unsupported()` function, restated here. A refusal
 * anywhere else is a bug and fails the test; so does running a call the
 * contract says it refuses (the contract is then out of date). A version
 * without a contract here fails its tests until one is written.
 * @module
 */
import { describe, expect, it } from 'vitest';

import { UnsupportedError, buildInfo, kernelVersions } from '../../lib/index.js';
import type { Accumulator } from './tolerance.js';

/** The ops with CUDA versions. */
export type VersionedOp =
  | 'gemm'
  | 'fp8Gemm'
  | 'quantize'
  | 'dequantize'
  | 'cast'
  | 'moe.route'
  | 'moe.updateBias'
  | 'moe.permute'
  | 'moe.gather'
  | 'moe.swiglu'
  | 'moe.combine'
  | 'moe.groupedGemm'
  | 'mla.prefill'
  | 'mla.absorbQuery'
  | 'mla.projectOutput'
  | 'mla.append'
  | 'mla.decode';

type Fp8 = 'e4m3' | 'e5m2';

/** A call, as far as the contracts look at it; `sm` is the GPU's compute capability (e.g. 90). */
export interface CallOf {
  gemm: { m: number; n: number; k: number; dtype: 'f32' | 'bf16' | 'f16'; sm: number };
  fp8Gemm: { m: number; n: number; k: number; aFormat: Fp8; bFormat: Fp8; sm: number };
  quantize: { shape: readonly number[]; block: '1x128' | '128x128' | 'tensor'; dtype: 'f32' | 'bf16' | 'f16'; sm: number };
  dequantize: { shape: readonly number[]; block: '1x128' | '128x128' | 'tensor'; sm: number };
  cast: { size: number; sm: number };
  'moe.route': { experts: number; topK: number; sm: number };
  'moe.updateBias': { experts: number; sm: number };
  'moe.permute': { tokens: number; topK: number; experts: number; align: number; sm: number };
  'moe.groupedGemm': { kind: 'bf16' | 'f16' | 'f32' | 'fp8'; k: number; sm: number };
  'moe.gather': { tokens: number; hidden: number; rows: number; topK: number; quantize: Fp8 | ''; sm: number };
  'moe.swiglu': { rows: number; inter: number; quantize: Fp8 | ''; sm: number };
  'moe.combine': { tokens: number; topK: number; rows: number; hidden: number; sm: number };
  'mla.prefill': { tokens: number; heads: number; seqs: number; sm: number };
  'mla.absorbQuery': { tokens: number; heads: number; sm: number };
  'mla.projectOutput': { tokens: number; heads: number; sm: number };
  'mla.append': { batch: number; tokens: number; pageSize: number; dtype: 'bf16' | 'e4m3'; sm: number };
  'mla.decode': { batch: number; sq: number; heads: number; pageSize: number; dtype: 'bf16' | 'e4m3'; sm: number };
}

interface Contract<C> {
  /** How it sums products (tolerance.ts); undefined for ops that are exact. */
  accumulator?: (call: C) => Accumulator;
  /** Its documented shape/dtype limits: the pattern of the reason it gives, or undefined where it must run. */
  limits: (call: C) => RegExp | undefined;
}

const V1_TILES = 2 ** 31 - 1; // v1 kernels: one block per 64x64 tile on a 1-D grid
const v1Tiles = (m: number, n: number): number => Math.ceil(m / 64) * Math.ceil(n / 64);

const CONTRACTS: { [Op in VersionedOp]: Record<string, Contract<CallOf[Op]>> } = {
  gemm: {
    // cuda/gemm/gemm_v1.cu
    v1: { accumulator: () => 'f32', limits: (c) => (v1Tiles(c.m, c.n) > V1_TILES ? /m and n must give at most 2\^31 - 1 tiles/ : undefined) },
    // cuda/gemm/gemm_v2.cu
    v2: {
      accumulator: () => 'tensor-core',
      limits: (c) => (c.dtype === 'f32' ? /a and b must be bf16 or f16/ : c.k % 8 !== 0 ? /k must be a multiple of 8/ : undefined),
    },
  },
  fp8Gemm: {
    // cuda/gemm/fp8_gemm_v1.cu: FP8 decoded to f32, SIMT FMAs
    v1: { accumulator: () => 'f32', limits: (c) => (v1Tiles(c.m, c.n) > V1_TILES ? /m and n must give at most 2\^31 - 1 tiles/ : undefined) },
    // cuda/gemm/fp8_gemm_v2.cu: FP8 mma on sm_89+, bf16 mma on sm_80
    v2: {
      accumulator: (c) => (c.sm >= 89 ? 'fp8-tensor-core' : 'tensor-core'),
      limits: (c) => (c.k % 16 !== 0 ? /k must be a multiple of 16/ : undefined),
    },
    // cuda/gemm/sm90/fp8_gemm_v3.cu
    v3: {
      accumulator: () => 'fp8-tensor-core',
      limits: (c) =>
        c.aFormat !== 'e4m3' || c.bFormat !== 'e4m3' ? /a and b must both be e4m3/ : c.k % 16 !== 0 ? /k must be a multiple of 16/ : undefined,
    },
  },
  quantize: {
    // cuda/fp8/quantize_v1.cu
    v1: { limits: () => undefined },
    // cuda/fp8/quantize_v2.cu: 16-byte vector loads along rows
    v2: {
      limits: (c) => {
        if (c.block === 'tensor') return undefined;
        const bytes = { f32: 4, bf16: 2, f16: 2 }[c.dtype];
        return ((c.shape.at(-1) ?? 0) * bytes) % 16 !== 0 ? /rows must be a multiple of 16 bytes/ : undefined;
      },
    },
  },
  dequantize: {
    // cuda/fp8/dequantize_v1.cu: a thread per element, any shape
    v1: { limits: () => undefined },
  },
  cast: {
    // cuda/runtime/cast_v1.cu: a thread per element, any size
    v1: { limits: () => undefined },
  },
  'moe.route': {
    // cuda/moe/route_v1.cu: a warp per token, every size the binding admits (E <= 512, K <= 16)
    v1: { limits: () => undefined },
  },
  'moe.updateBias': {
    // cuda/moe/update_bias_v1.cu: one block, any E the binding admits
    v1: { limits: () => undefined },
  },
  'moe.permute': {
    // cuda/moe/permute_v1.cu: one block, every size the binding admits (E <= 512, K <= 16, align <= 1024)
    v1: { limits: () => undefined },
  },
  // cuda/moe/grouped_gemm.cu: the GEMM paths above with the grouped tile scheduler, so their limits
  'moe.groupedGemm': {
    v1: { accumulator: () => 'f32', limits: () => undefined },
    v2: {
      accumulator: (c) => (c.kind === 'fp8' && c.sm >= 89 ? 'fp8-tensor-core' : 'tensor-core'),
      limits: (c) =>
        c.kind === 'f32'
          ? /a and b must be bf16 or f16/
          : c.kind === 'fp8'
            ? c.k % 16 !== 0
              ? /k must be a multiple of 16/
              : undefined
            : c.k % 8 !== 0
              ? /k must be a multiple of 8/
              : undefined,
    },
    v3: {
      accumulator: () => 'fp8-tensor-core',
      limits: (c) => (c.kind !== 'fp8' ? /x and w must be FP8/ : c.k % 16 !== 0 ? /k must be a multiple of 16/ : undefined),
    },
  },
  'moe.gather': {
    // cuda/moe/gather_v1.cu: a warp per row, grid-stride; every shape and dtype the binding admits, plain or quantized
    v1: { limits: () => undefined },
  },
  'moe.swiglu': {
    // cuda/moe/swiglu_v1.cu: a warp per row, grid-stride; every shape and dtype the binding admits, plain or quantized
    v1: { limits: () => undefined },
  },
  'moe.combine': {
    // cuda/moe/combine_v1.cu: a warp per token, grid-stride; every shape and dtype the binding admits
    v1: { limits: () => undefined },
  },
  'mla.prefill': {
    // cuda/mla/prefill_v1.cu: mma.sync, heads on grid y, query tiles (T / 64 + B) on grid x
    v1: {
      accumulator: () => 'tensor-core',
      limits: (c) => (c.heads > 65535 ? /heads must be at most 65535/ : Math.floor(c.tokens / 64) + c.seqs > 2 ** 31 - 1 ? /T \/ 64 \+ B must be below 2\^31/ : undefined),
    },
  },
  'mla.absorbQuery': {
    // cuda/mla/absorb_v1.cu: mma.sync, heads on grid z
    v1: { accumulator: () => 'tensor-core', limits: (c) => (c.heads > 65535 ? /heads must be at most 65535/ : undefined) },
  },
  'mla.projectOutput': {
    // cuda/mla/absorb_v1.cu (the same kernel)
    v1: { accumulator: () => 'tensor-core', limits: (c) => (c.heads > 65535 ? /heads must be at most 65535/ : undefined) },
  },
  'mla.append': {
    // cuda/mla/append_v1.cu: a warp per token row, grid-stride; every page size and both cache formats
    v1: { limits: () => undefined },
  },
  'mla.decode': {
    // cuda/mla/decode_v1.cu: SIMT split-KV, f32 dot products and online softmax; every shape the binding
    // admits (Sq <= 128, H <= 1024, B <= 65535), every page size, bf16 and e4m3 caches
    v1: { accumulator: () => 'f32', limits: () => undefined },
    // cuda/mla/decode_v2.cu: mma.sync (bf16 Q K^T and P V, e4m3 codes widened to bf16 exactly), v1's split-KV
    // schedule and combine; the same shapes, page sizes and cache formats as v1
    v2: { accumulator: () => 'tensor-core', limits: () => undefined },
    // cuda/mla/sm90/decode_v3.cu: wgmma bf16 (P rounded to bf16 for P · V), TMA page loads; bf16 caches of page size 64 only
    v3: {
      accumulator: () => 'tensor-core',
      limits: (c) => (c.dtype !== 'bf16' ? /the cache must be bf16/ : c.pageSize !== 64 ? /the page size must be 64/ : undefined),
    },
  },
};

function contractOf<Op extends VersionedOp>(op: Op, version: string): Contract<CallOf[Op]> {
  const c = (CONTRACTS[op] as Record<string, Contract<CallOf[Op]>>)[version];
  if (!c) expect.fail(`${op} ${version} has no contract in tests/helpers/versions.ts: write down what it documents that it runs and how it accumulates`);
  return c;
}

/**
 * Why `version` of `op` must refuse `call` (a pattern of the full message),
 * or undefined when it must run it: outside its table entry's architecture
 * range, or past its documented limits.
 */
export function expectedRefusal<Op extends VersionedOp>(op: Op, version: string, call: CallOf[Op]): RegExp | undefined {
  const contract = contractOf(op, version);
  const entry = kernelVersions()[op]?.find((v) => v.name === version);
  if (entry && (call.sm < entry.minSm || (entry.maxSm !== 0 && call.sm > entry.maxSm))) {
    return new RegExp(`^${op}: impl '${version}' needs compute capability `);
  }
  const why = contract.limits(call);
  return why && new RegExp(`^${op}: impl '${version}': .*${why.source}`);
}

/** How `version` of `op` accumulates, for {@link productTolerance}. */
export function accumulatorOf<Op extends 'gemm' | 'fp8Gemm' | 'moe.groupedGemm'>(op: Op, version: string, call: CallOf[Op]): Accumulator {
  const accumulator = contractOf(op, version).accumulator;
  if (!accumulator) expect.fail(`${op} ${version}: its contract in tests/helpers/versions.ts names no accumulator`);
  return accumulator(call);
}

/**
 * Runs `run` (a call of `version` of `op`) and holds the version to its
 * contract: where it must run, any UnsupportedError fails the test, naming
 * the refusal; where it must refuse, it must throw UnsupportedError with the
 * documented reason. Returns what `run` returned, or 'refused'.
 */
export async function runPerContract<Op extends VersionedOp, T>(
  op: Op,
  version: string,
  call: CallOf[Op],
  run: () => Promise<T> | T,
): Promise<T | 'refused'> {
  const refusal = expectedRefusal(op, version, call);
  const what = `${op} ${version} on ${JSON.stringify(call)}`;
  let result: T;
  try {
    result = await run();
  } catch (e) {
    if (!(e instanceof UnsupportedError)) throw e;
    if (!refusal) expect.fail(`${what}: refused a call it documents as supported: ${e.message}`);
    expect(e.message, `${what}: refused for another reason than documented`).toMatch(refusal);
    return 'refused';
  }
  if (refusal) expect.fail(`${what}: ran a call its contract says it refuses (${refusal.source}); update tests/helpers/versions.ts`);
  return result;
}

/** A GPU's compute capability as an integer (90 for 9.0); 0 when unknown. */
export function smOf(info: { computeCapability?: readonly [number, number] | undefined }): number {
  const cc = info.computeCapability;
  return cc ? cc[0] * 10 + cc[1] : 0;
}

/**
 * A test block checking `version`'s entry in `op`'s version table: its
 * architecture range, and that it is not verified (no GPU run yet), so
 * `auto` never picks it (docs/architecture.md, "Kernel versions"). Skipped,
 * with the reason, in a build without CUDA.
 */
export function describeUnverifiedEntry(op: VersionedOp, version: string, minSm: number, maxSm: number): void {
  const cuda = buildInfo().cuda;
  describe.skipIf(!cuda)(`${op} version table${cuda ? '' : ' (skipped: the addon was built without CUDA)'}`, () => {
    it(`lists ${version} for sm_${minSm}${maxSm === 0 ? ' and newer' : maxSm === minSm ? ' only' : `..sm_${maxSm}`}, not yet verified`, () => {
      const entry = kernelVersions()[op]?.find((v) => v.name === version);
      expect(entry).toBeDefined();
      expect(entry?.minSm).toBe(minSm);
      expect(entry?.maxSm).toBe(maxSm);
      expect(entry?.verifiedOn).toEqual([]);
    });
  });
}
