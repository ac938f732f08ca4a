/**
 * The MLA decode cases of the `mla` suite (bench/mla/mla.bench.ts):
 * mla.decode (absorbed form) over a paged latent cache, every CUDA version,
 * bf16 and e4m3 caches, at FlashMLA's benchmark shapes: B = 1, 16, 64, 128
 * sequences, Sk = 1024, 4096, 16384 keys each, H = 16 (TP8) and 128 heads,
 * Sq = 1 and 2 (MTP), page size 64; and, for the bf16 cache, the unfused
 * cuBLAS path (baselines.mlaDecode) at the same shapes, each bf16 row's
 * baseline.
 *
 * The cache is a pool of 1024 pages (65,536 tokens: 75 MB in bf16, above
 * the L2 of every GPU the project targets) that the block tables draw from
 * at random, pages shared between sequences; a step reads Σ Sk rows, as it
 * would from a cache of that size. Before timing, each case runs its first
 * sequence (its first min(Sk, 1024) keys) on the version (or the baseline)
 * and on the CPU twin and compares out (relative L2 < 1e-2) and lse (< 1e-5).
 *
 * TFLOP/s: FlashMLA's count, 2·B·H·Sq·Sk·(576 + 512). GB/s: Σ Sk·row bytes
 * (1152 for bf16, 656 for the e4m3 token layout) + B·Sq·H·(576 + 512)·2.
 * The CPU device times the CPU twin at reduced sizes (B = 1 and 4,
 * Sk = 256 and 1024, H = 16, Sq = 1).
 * @module
 */
import { type Device, type Tensor, baselines, device as getDevice, kernelVersions, mla } from '../../lib/index.js';
import { compareClose } from '../harness/compare.js';
import { mlaDecodeCacheBytes, mlaDecodeFlops } from '../harness/metrics.js';
import { type BenchCase, type CheckOutcome, benchCase } from '../harness/types.js';
import { uniformFloats } from '../fp8/inputs.js';

const PAGE_SIZE = 64;
const POOL_PAGES = 1024;
const SCALE = 0.135234;
const CHECK_KEYS = 1024;

/** One decode shape. */
export interface Shape {
  batch: number;
  sk: number;
  heads: number;
  sq: number;
  dtype: mla.CacheDType;
}

interface State {
  cache: mla.KvCache;
  q: Tensor;
  table: Tensor;
  lens: Tensor;
  /** The baseline's view of the cache: a bf16 tensor copy of its storage (KvCache.toTensor()). */
  cacheTensor?: Tensor;
  /** The sequence lengths on the host, as the baseline takes them. */
  hostLens: number[];
}

/** Decodes the state's batch once: moekit's version `impl`, or the unfused baseline. */
type Decoder = (st: State) => { out: Tensor; lse: Tensor } & Disposable;

/** bf16 codes of uniform values in [-scale, scale) (truncated: any bf16 values do). */
function bf16Data(seed: number, n: number, scale: number): Uint16Array {
  const f = uniformFloats(seed, n, scale);
  return new Uint16Array(new Uint32Array(f.buffer).map((b) => b >>> 16));
}

function setup(dev: Device, s: Shape, seed: number, batch = s.batch, sk = s.sk): State {
  const pages = Math.min(POOL_PAGES, Math.ceil((batch * sk) / PAGE_SIZE) + 1);
  const cache = mla.createCache(dev, { blocks: pages, pageSize: PAGE_SIZE, dtype: s.dtype });
  {
    // Fill the pool through append: one sequence spanning every page in order.
    const tokens = pages * PAGE_SIZE;
    using latent = dev.tensor(bf16Data(seed, tokens * 512, 1), { shape: [1, tokens, 512], dtype: 'bf16' });
    using rope = dev.tensor(bf16Data(seed + 1, tokens * 64, 1), { shape: [1, tokens, 64], dtype: 'bf16' });
    using table = dev.tensor(Int32Array.from({ length: pages }, (_, i) => i), { shape: [1, pages] });
    cache.append({ latent, kRope: rope, blockTable: table, positions: [0] });
  }
  const maxPages = Math.ceil(sk / PAGE_SIZE);
  const pick = uniformFloats(seed + 2, batch * maxPages, 1);
  const table = dev.tensor(Int32Array.from(pick, (x) => Math.min(pages - 1, Math.floor(((x + 1) / 2) * pages))), { shape: [batch, maxPages] });
  const lens = dev.tensor(new Int32Array(batch).fill(sk));
  const q = dev.tensor(bf16Data(seed + 3, batch * s.sq * s.heads * 576, 1), { shape: [batch, s.sq, s.heads, 576], dtype: 'bf16' });
  return { cache, q, table, lens, hostLens: new Array<number>(batch).fill(sk) };
}

/** {@link setup} plus the cache as a tensor, for the baseline (its cost is not timed). */
function setupWithTensor(dev: Device, s: Shape, seed: number, batch = s.batch, sk = s.sk): State {
  const st = setup(dev, s, seed, batch, sk);
  try {
    return { ...st, cacheTensor: st.cache.toTensor() };
  } catch (e) {
    teardown(st);
    throw e;
  }
}

function teardown(st: State): void {
  st.cache.dispose();
  st.q.dispose();
  st.table.dispose();
  st.lens.dispose();
  st.cacheTensor?.dispose();
}

const moekitDecoder =
  (impl: string): Decoder =>
  (st) =>
    mla.decode({ q: st.q, kvCache: st.cache, blockTable: st.table, seqLens: st.lens, softmaxScale: SCALE, causal: true, impl: impl as 'v1' });

const baselineDecoder: Decoder = (st) =>
  baselines.mlaDecode({ q: st.q, cache: st.cacheTensor!, blockTable: st.table, seqLens: st.hostLens, softmaxScale: SCALE, causal: true });

/**
 * Runs the first sequence's first keys with `decoder` (labelled `label`)
 * and on the CPU twin, from the same seeded data (the append quantizes
 * identically on both: see tests/mla/cache.test.ts).
 */
async function check(dev: Device, s: Shape, seed: number, label: string, decoder: Decoder, withTensor: boolean): Promise<CheckOutcome> {
  const keys = Math.min(s.sk, CHECK_KEYS);
  const st = (withTensor ? setupWithTensor : setup)(dev, s, seed, 1, keys);
  const ref = setup(getDevice('cpu'), s, seed, 1, keys);
  try {
    using got = decoder(st);
    using want = moekitDecoder('auto')(ref);
    const out = compareClose(`${label} out vs CPU`, (await got.out.toArray()) as Float32Array, (await want.out.toArray()) as Float32Array, 1e-2);
    if (!out.passed) return out;
    return compareClose(`${label} lse vs CPU`, (await got.lse.toArray()) as Float32Array, (await want.lse.toArray()) as Float32Array, 1e-5);
  } finally {
    teardown(st);
    teardown(ref);
  }
}

/** How {@link decodeCases} names and relates its rows. */
export interface DecodeCaseOptions {
  /** Put before every case name (e.g. `'decode-'`). */
  readonly prefix?: string;
  /** Add the unfused baseline rows (bf16 cache) and make them the bf16 rows' baseline. */
  readonly baselines?: boolean;
  /** The case every row's GB/s is read against (a device copy). */
  readonly ceiling?: string;
}

/** The name of the unfused baseline row of a bf16 shape. */
function baselineName(prefix: string, s: Shape): string {
  return `${prefix}cublas-unfused-${s.dtype}-B${s.batch}-Sk${s.sk}-H${s.heads}-Sq${s.sq}`;
}

/** The cases of `shapes` on `dev`: every version (the CPU twin on the CPU), and the baselines when asked (see the module comment). */
export function decodeCases(dev: Device, shapes: readonly Shape[], seed: number, options: DecodeCaseOptions = {}): BenchCase[] {
  const prefix = options.prefix ?? '';
  const cuda = dev.kind === 'cuda';
  const versions = cuda ? (kernelVersions()['mla.decode'] ?? []).map((v) => v.name) : ['cpu'];
  const ceiling = options.ceiling === undefined ? {} : { ceiling: options.ceiling };
  const out: BenchCase[] = [];
  for (const s of shapes) {
    const lens = new Array<number>(s.batch).fill(s.sk);
    const params = { batch: s.batch, sk: s.sk, heads: s.heads, sq: s.sq, cache: s.dtype, pageSize: PAGE_SIZE };
    const metrics = { flops: mlaDecodeFlops(lens, s.heads, s.sq), bytes: mlaDecodeCacheBytes(lens, s.heads, s.sq, s.dtype === 'bf16' ? 1152 : 656) };
    const withBaseline = options.baselines === true && s.dtype === 'bf16';
    for (const v of versions) {
      const run = moekitDecoder(v);
      out.push(
        benchCase<State>({
          name: `${prefix}${v}-${s.dtype}-B${s.batch}-Sk${s.sk}-H${s.heads}-Sq${s.sq}`,
          params: { ...params, impl: v },
          ...metrics,
          ...(withBaseline ? { baseline: baselineName(prefix, s) } : {}),
          ...ceiling,
          setup: () => setup(dev, s, seed),
          run,
          ...(cuda ? { check: () => check(dev, s, seed, v, run, false) } : {}),
          teardown,
        }),
      );
    }
    if (withBaseline) {
      const workspaceBytes = baselines.mlaDecodeWorkspaceBytes({ batch: s.batch, seqQ: s.sq, heads: s.heads, seqLens: lens });
      out.push(
        benchCase<State>({
          name: baselineName(prefix, s),
          params: { ...params, impl: 'gather + cublasGemmStridedBatchedEx + softmax + P·V', workspaceBytes },
          ...metrics,
          ...ceiling,
          setup: () => setupWithTensor(dev, s, seed),
          run: baselineDecoder,
          check: () => check(dev, s, seed, 'unfused baseline', baselineDecoder, true),
          teardown,
        }),
      );
    }
  }
  return out;
}

/** Every (dtype, H, Sq, B, Sk) of the given values, bf16 then e4m3. */
export function decodeGrid(batches: readonly number[], sks: readonly number[], heads: readonly number[], sqs: readonly number[]): Shape[] {
  const out: Shape[] = [];
  for (const dtype of ['bf16', 'e4m3'] as const)
    for (const h of heads) for (const sq of sqs) for (const batch of batches) for (const sk of sks) out.push({ batch, sk, heads: h, sq, dtype });
  return out;
}

/** The shapes on `dev`: FlashMLA's grid on a GPU (`quick`: B = 1, 128 at Sk 4096, H 128, Sq 1), reduced on the CPU. */
export function decodeShapes(dev: Device, quick: boolean): Shape[] {
  if (dev.kind === 'cuda') return quick ? decodeGrid([1, 128], [4096], [128], [1]) : decodeGrid([1, 16, 64, 128], [1024, 4096, 16384], [16, 128], [1, 2]);
  return quick ? decodeGrid([1], [256], [16], [1]) : decodeGrid([1, 4], [256, 1024], [16], [1]);
}

/** What the decode rows' numbers mean. */
export const DECODE_NOTES: readonly string[] = [
  'Decode TFLOP/s: 2·B·H·Sq·Sk·(576 + 512) (FlashMLA). GB/s: Σ Sk·row bytes (1152 bf16, 656 e4m3) + B·Sq·H·(576 + 512)·2.',
  'Decode v1 is SIMT (no tensor cores), v2 mma.sync, both with split-KV and the same combine kernel; the time includes both kernels.',
  'Decode block tables draw pages at random from a 1024-page pool (75 MB in bf16), shared between sequences.',
  'On the CPU device, decode: the CPU twin at reduced sizes (B = 1 and 4, Sk = 256 and 1024, H = 16, Sq = 1; --quick: B = 1, Sk = 256).',
];
