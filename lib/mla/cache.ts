/**
 * The paged latent KV cache of MLA decode: `blocks` pages of `pageSize`
 * token rows, each row DeepSeek's compressed KV of one token,
 * `[latent (512) | kRope (64)]`, shared by every head.
 *
 * Formats (native/ops/mla/cache_layout.h):
 * - `'bf16'`: one bf16 buffer `[blocks, pageSize, 576]` (FlashMLA's and vLLM's layout);
 * - `'e4m3'`: FlashMLA's FP8 token layout, one u8 buffer `[blocks, pageSize, 656]`:
 *   the latent as 512 e4m3 codes, its 4 f32 scales (one per 128 channels,
 *   quantize's 1x128 recipe), then kRope as 64 bf16, not quantized. One
 *   packed record per token keeps a token's bytes together and the cache one
 *   buffer, written in place.
 *
 * The cache is written in place by {@link KvCache.append}; it is not a
 * {@link Tensor} (tensors stay immutable). Work queued after an append sees
 * the new rows, work queued before it the old. If an append fails, the cache
 * is marked failed and every later read of it fails: make a new one
 * (docs/architecture.md, "In-place writes").
 * @module
 */
import { binding, callNative } from '../binding.js';
import type { NativeTensor } from '../binding.js';
import { type Device, type DeviceSpec, resolveDevice } from '../device.js';
import { DisposedError } from '../errors.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkInteger, checkOneOf, checkOptions, parseImpl, rangeError, typeError } from '../validate.js';

/** Latent channels per token (DeepSeek-V3's kv_lora_rank); also the width of V and of decode's output. */
export const MLA_LATENT = 512;
/** RoPE key channels per token (qk_rope_head_dim). */
export const MLA_ROPE = 64;
/** The width of a query and of a bf16 cache row: latent + rope = 576. */
export const MLA_HEAD = 576;
/** Bytes of one token of an e4m3 cache: 512 codes, 4 f32 scales, 64 bf16 = 656. */
export const MLA_FP8_ROW_BYTES = 656;
/** The largest page size a cache takes. */
export const MAX_PAGE_SIZE = 4096;

/** The cache formats. */
export const CACHE_DTYPES = ['bf16', 'e4m3'] as const;
/** A cache format: bf16 rows, or the FP8 layout (e4m3 latent with 1x128 scales, bf16 rope). */
export type CacheDType = (typeof CACHE_DTYPES)[number];

/** Options of {@link createCache}. */
export interface CacheOptions {
  /** Pages in the cache (an integer >= 1). */
  blocks: number;
  /** Token rows per page, in [1, 4096]; the CUDA kernels are tested at 16, 32 and 64 (FlashMLA uses 64). */
  pageSize: number;
  /** The format (default `'bf16'`). */
  dtype?: CacheDType;
}

/** What {@link KvCache.append} takes. */
export interface AppendArgs {
  /** bf16 `[B, S]` rows of the latent, `[B, S, 512]`: S new tokens per sequence (only the first `lengths[b]` are written). */
  latent: Tensor;
  /** bf16 `[B, S, 64]`: the RoPE'd keys of the same tokens. */
  kRope: Tensor;
  /** i32 `[B, maxPages]`: each sequence's page ids, in order (any pages of the cache, any order). */
  blockTable: Tensor;
  /**
   * Host numbers `[B]`: the position in its sequence of each sequence's
   * first new token (its length before the append). Token s of sequence b
   * goes to position `positions[b] + s`, i.e. row `(positions[b] + s) % pageSize`
   * of page `blockTable[b, floor((positions[b] + s) / pageSize)]`.
   */
  positions: readonly number[] | Int32Array;
  /** Host numbers `[B]`: tokens to write per sequence, each in [0, S] (default S for every sequence). */
  lengths?: readonly number[] | Int32Array;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

const APPEND_KEYS = ['latent', 'kRope', 'blockTable', 'positions', 'lengths', 'impl'] as const;
const CACHE_KEYS = ['blocks', 'pageSize', 'dtype'] as const;

function hostInts(op: string, arg: string, value: unknown, count: number, min: number, max: number): Int32Array {
  if (!(value instanceof Int32Array) && !Array.isArray(value)) throw typeError(op, arg, 'an array of integers or an Int32Array', value);
  const list = value as ArrayLike<unknown>;
  if (list.length !== count) throw rangeError(op, `${arg}.length`, `${count} (one per sequence)`, String(list.length));
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = checkInteger(op, `${arg}[${i}]`, list[i], min, max);
  return out;
}

/**
 * A paged latent KV cache on one device (see the module docs). Made by
 * {@link createCache}; dispose it when done.
 */
export class KvCache {
  /** The device holding the cache. */
  readonly device: Device;
  /** The number of pages. */
  readonly blocks: number;
  /** Token rows per page. */
  readonly pageSize: number;
  /** The format. */
  readonly dtype: CacheDType;
  #storage: Tensor;

  private constructor(storage: Tensor, dtype: CacheDType) {
    this.#storage = storage;
    this.device = storage.device;
    this.blocks = storage.shape[0]!;
    this.pageSize = storage.shape[1]!;
    this.dtype = dtype;
  }

  /** @internal */
  static create(storage: Tensor, dtype: CacheDType): KvCache {
    return new KvCache(storage, dtype);
  }

  /** @internal Whether `value` is a cache made by moekit. */
  static isCache(value: unknown): value is KvCache {
    return value instanceof KvCache;
  }

  /**
   * @internal The storage's native handle, for ops; throws
   * {@link DisposedError} naming `op` and `arg` when the cache was disposed.
   */
  handle(op: string, arg: string): NativeTensor {
    if (this.#storage.disposed) throw new DisposedError(`${op}: ${arg} was disposed; a cache cannot be used after dispose()`);
    return this.#storage.handle(op, arg);
  }

  /** Whether {@link KvCache.dispose} was called. */
  get disposed(): boolean {
    return this.#storage.disposed;
  }

  /**
   * Writes new tokens into their slots, in place (queued; returns at once).
   *
   * The positions are host numbers, so a write past a sequence's pages is
   * caught here: `positions[b] + lengths[b]` must be at most
   * `maxPages · pageSize`. The page ids are device data: on the CPU, an id
   * outside `[0, blocks)` fails the queued work (and marks the cache failed);
   * on CUDA such a token is skipped, never written outside the cache.
   *
   * @param args - `{ latent, kRope, blockTable, positions, lengths?, impl? }`; see {@link AppendArgs}.
   * @throws TypeError for non-tensors, wrong dtypes, or non-integer positions or lengths;
   *   RangeError for shapes that do not match (`latent [B, S, 512]`, `kRope [B, S, 64]`,
   *   `blockTable [B, maxPages]`), positions or lengths out of range, or a write past
   *   the table (naming `positions`); {@link DisposedError} after dispose().
   * @example
   * ```ts
   * using cache = mla.createCache(dev, { blocks: 1024, pageSize: 64, dtype: 'e4m3' });
   * cache.append({ latent, kRope, blockTable, positions: [0, 17] }); // two prompts, S tokens each
   * ```
   */
  append(args: AppendArgs): void {
    const op = 'mla.append';
    if (args === undefined || args === null) throw typeError(op, 'args', 'an object { latent, kRope, blockTable, positions }', args);
    const a = checkOptions(op, args, APPEND_KEYS, 'args');
    checkTensor(op, 'latent', a.latent);
    checkTensor(op, 'kRope', a.kRope);
    checkTensor(op, 'blockTable', a.blockTable);
    const impl = parseImpl(op, a.impl);
    const cache = this.handle(op, 'cache');
    const shape = a.latent.shape;
    if (shape.length !== 3 || shape[2] !== MLA_LATENT) throw rangeError(op, 'latent.shape', '[B, S, 512]', `[${shape.join(', ')}]`);
    const [B, S] = [shape[0]!, shape[1]!];
    const table = a.blockTable.shape;
    if (table.length !== 2 || table[0] !== B || table[1]! < 1) {
      throw rangeError(op, 'blockTable.shape', `[${B}, maxPages] with maxPages >= 1`, `[${table.join(', ')}]`);
    }
    const capacity = table[1]! * this.pageSize;
    const positions = hostInts(op, 'positions', a.positions, B, 0, 2 ** 31 - 1);
    const lengths = a.lengths === undefined ? new Int32Array(B).fill(S) : hostInts(op, 'lengths', a.lengths, B, 0, S);
    for (let b = 0; b < B; b++) {
      if (positions[b]! + lengths[b]! > capacity) {
        throw rangeError(
          op,
          `positions[${b}]`,
          `at most ${capacity - lengths[b]!} so that its ${lengths[b]} new tokens fit the block table's ${capacity} slots (maxPages ${table[1]} · pageSize ${this.pageSize})`,
          String(positions[b]),
        );
      }
    }
    const latent = a.latent.handle(op, 'latent');
    const kRope = a.kRope.handle(op, 'kRope');
    const blockTable = a.blockTable.handle(op, 'blockTable');
    using pos = this.device.tensor(positions);
    using len = this.device.tensor(lengths);
    callNative(() => binding().mlaAppend(cache, latent, kRope, blockTable, pos.handle(op, 'positions'), len.handle(op, 'lengths'), impl));
  }

  /**
   * A copy of the cache's storage as a new tensor, queued behind every
   * append so far: bf16 `[blocks, pageSize, 576]`, or for `'e4m3'` the raw
   * u8 `[blocks, pageSize, 656]` rows (codes, f32 scales, bf16 rope).
   */
  toTensor(): Tensor {
    this.handle('KvCache.toTensor', 'cache');
    return this.#storage.clone();
  }

  /** Frees the cache's memory once queued work no longer needs it (idempotent). */
  dispose(): void {
    this.#storage.dispose();
  }

  /** Same as {@link KvCache.dispose}. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * A new paged latent KV cache on `device`. Its slots hold unspecified
 * values until tokens are appended; decode never reads a slot at or past a
 * sequence's length, so they may hold anything, NaN included.
 *
 * @param device - A Device or a spec (`'cpu'`, `'cuda:0'`, ...).
 * @param options - `{ blocks, pageSize, dtype? }`; see {@link CacheOptions}.
 * @returns The cache; its memory is allocated now.
 * @throws TypeError for a bad device, option or dtype; RangeError for
 *   blocks < 1 or pageSize outside [1, 4096]; OutOfMemoryError when it does not fit.
 * @example
 * ```ts
 * using cache = mla.createCache('cuda', { blocks: 4096, pageSize: 64, dtype: 'bf16' });
 * ```
 */
export function createCache(device: Device | DeviceSpec, options: CacheOptions): KvCache {
  const op = 'mla.createCache';
  const dev = resolveDevice(op, device);
  if (options === undefined || options === null) throw typeError(op, 'options', 'an object { blocks, pageSize, dtype? }', options);
  const o = checkOptions(op, options, CACHE_KEYS);
  const blocks = checkInteger(op, 'options.blocks', o.blocks, 1, 2 ** 40);
  const pageSize = checkInteger(op, 'options.pageSize', o.pageSize, 1, MAX_PAGE_SIZE);
  const dtype = o.dtype === undefined ? 'bf16' : checkOneOf(op, 'options.dtype', o.dtype, CACHE_DTYPES);
  const storage = dtype === 'bf16' ? dev.empty([blocks, pageSize, MLA_HEAD], 'bf16') : dev.empty([blocks, pageSize, MLA_FP8_ROW_BYTES], 'u8');
  return KvCache.create(storage, dtype);
}
