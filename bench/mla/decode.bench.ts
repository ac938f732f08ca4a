/**
 * Suite `mla-decode`: MLA decode (mla.decode, absorbed form) over a paged
 * latent cache, every CUDA version, bf16 and e4m3 caches, at FlashMLA's
 * benchmark shapes: B = 1, 16, 64, 128 sequences, Sk = 1024, 4096, 16384
 * keys each, H = 16 (TP8) and 128 heads, Sq = 1 and 2 (MTP), page size 64.
 *
 * The cache is a pool of 1024 pages (65,536 tokens: 75 MB in bf16, above
 * the L2 of every GPU the project targets) that the block tables draw from
 * at random, pages shared between sequences; a step reads Σ Sk rows, as it
 * would from a cache of that size. Before timing, each case runs its first
 * sequence (its first min(Sk, 1024) keys) on the version and on the CPU
 * twin and compares out (relative L2 < 1e-2) and lse (< 1e-5).
 *
 * TFLOP/s: FlashMLA's count, 2·B·H·Sq·Sk·(576 + 512). GB/s: Σ Sk·row bytes
 * (1152 for bf16, 656 for the e4m3 token layout) + B·Sq·H·(576 + 512)·2.
 * The CPU device times the CPU twin at reduced sizes (B = 1 and 4,
 * Sk = 256 and 1024, H = 16, Sq = 1).
 * @module
 */
import { type Device, type Tensor, device as getDevice, kernelVersions, mla } from '../../lib/index.js';
import { compareClose } from '../harness/compare.js';
import { mlaDecodeCacheBytes, mlaDecodeFlops } from '../harness/metrics.js';
import { type BenchCase, type BenchSuite, type CheckOutcome, type SuiteContext, benchCase } from '../harness/types.js';
import { uniformFloats } from '../fp8/inputs.js';

const PAGE_SIZE = 64;
const POOL_PAGES = 1024;
const SCALE = 0.135234;
const CHECK_KEYS = 1024;

interface Shape {
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
}

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
  return { cache, q, table, lens };
}

function teardown(st: State): void {
  st.cache.dispose();
  st.q.dispose();
  st.table.dispose();
  st.lens.dispose();
}

/**
 * Runs the first sequence's first keys on `impl` and on the CPU twin, from
 * the same seeded data (the append quantizes identically on both: see
 * tests/mla/cache.test.ts).
 */
async function check(dev: Device, s: Shape, seed: number, impl: string): Promise<CheckOutcome> {
  const keys = Math.min(s.sk, CHECK_KEYS);
  const st = setup(dev, s, seed, 1, keys);
  const ref = setup(getDevice('cpu'), s, seed, 1, keys);
  try {
    const args = { softmaxScale: SCALE, causal: true };
    using got = mla.decode({ q: st.q, kvCache: st.cache, blockTable: st.table, seqLens: st.lens, ...args, impl: impl as 'v1' });
    using want = mla.decode({ q: ref.q, kvCache: ref.cache, blockTable: ref.table, seqLens: ref.lens, ...args });
    const out = compareClose(`${impl} out vs CPU`, (await got.out.toArray()) as Float32Array, (await want.out.toArray()) as Float32Array, 1e-2);
    if (!out.passed) return out;
    return compareClose(`${impl} lse vs CPU`, (await got.lse.toArray()) as Float32Array, (await want.lse.toArray()) as Float32Array, 1e-5);
  } finally {
    teardown(st);
    teardown(ref);
  }
}

function cases(dev: Device, shapes: readonly Shape[], seed: number): BenchCase[] {
  const versions = dev.kind === 'cuda' ? (kernelVersions()['mla.decode'] ?? []).map((v) => v.name) : ['cpu'];
  const out: BenchCase[] = [];
  for (const s of shapes) {
    const lens = new Array<number>(s.batch).fill(s.sk);
    for (const v of versions) {
      out.push(
        benchCase<State>({
          name: `${v}-${s.dtype}-B${s.batch}-Sk${s.sk}-H${s.heads}-Sq${s.sq}`,
          params: { batch: s.batch, sk: s.sk, heads: s.heads, sq: s.sq, cache: s.dtype, pageSize: PAGE_SIZE, impl: v },
          flops: mlaDecodeFlops(lens, s.heads, s.sq),
          bytes: mlaDecodeCacheBytes(lens, s.heads, s.sq, s.dtype === 'bf16' ? 1152 : 656),
          setup: () => setup(dev, s, seed),
          run: (st) => mla.decode({ q: st.q, kvCache: st.cache, blockTable: st.table, seqLens: st.lens, softmaxScale: SCALE, causal: true, impl: v as 'v1' }),
          ...(dev.kind === 'cuda' ? { check: () => check(dev, s, seed, v) } : {}),
          teardown,
        }),
      );
    }
  }
  return out;
}

function grid(batches: readonly number[], sks: readonly number[], heads: readonly number[], sqs: readonly number[]): Shape[] {
  const out: Shape[] = [];
  for (const dtype of ['bf16', 'e4m3'] as const)
    for (const h of heads) for (const sq of sqs) for (const batch of batches) for (const sk of sks) out.push({ batch, sk, heads: h, sq, dtype });
  return out;
}

/** The MLA decode suite (see the module comment). */
export const mlaDecodeSuite: BenchSuite = {
  name: 'mla-decode',
  description: 'MLA decode (absorbed, paged latent cache, page 64), bf16 and e4m3 caches, FlashMLA benchmark shapes',
  notes: [
    'TFLOP/s: 2·B·H·Sq·Sk·(576 + 512) (FlashMLA). GB/s: Σ Sk·row bytes (1152 bf16, 656 e4m3) + B·Sq·H·(576 + 512)·2.',
    'v1 is SIMT (no tensor cores) with split-KV and a combine kernel; the time includes both kernels.',
    'Block tables draw pages at random from a 1024-page pool (75 MB in bf16), shared between sequences.',
    'On the CPU device: the CPU twin at reduced sizes (B = 1 and 4, Sk = 256 and 1024, H = 16, Sq = 1).',
  ],
  cases(ctx: SuiteContext): readonly BenchCase[] {
    if (ctx.device.kind === 'cuda') {
      return ctx.quick
        ? cases(ctx.device, grid([1, 64], [4096], [128], [1]), ctx.seed)
        : cases(ctx.device, grid([1, 16, 64, 128], [1024, 4096, 16384], [16, 128], [1, 2]), ctx.seed);
    }
    return cases(ctx.device, ctx.quick ? grid([1], [256], [16], [1]) : grid([1, 4], [256, 1024], [16], [1]), ctx.seed);
  },
};
