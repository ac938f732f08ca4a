/**
 * Input rotation: a small input read again and again stays in cache, and
 * its timing then measures the cache, not the memory a real workload reads
 * from. Cases whose inputs are small build several copies ("sets") of them,
 * enough to exceed the cache, and cycle through the sets from one repeat to
 * the next, so each repeat reads inputs that are not cached.
 *
 * On CUDA the L2 flush (flush.ts) also runs before each repeat; rotation
 * additionally covers the host's caches (inputs on the CPU device or host
 * sources of copies) and cases that turn the flush off.
 *
 * @example
 * ```ts
 * const sets = Array.from({ length: rotationSets(dev, bytes) }, (_, i) => makeInputs(i));
 * // in run(state, repeat):
 * const x = pick(state.sets, repeat);
 * ```
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Device } from '../../lib/index.js';

/** Most sets a rotation uses: past this the inputs are small enough that the setup cost outweighs the gain. */
export const MAX_ROTATION_SETS = 64;

/** The rotated inputs together span this many times the cache. */
const CACHE_MULTIPLE = 2;

/** Host cache size used when the OS does not say (a common server LLC). */
const FALLBACK_HOST_CACHE_BYTES = 32 * 1024 * 1024;

function parseCacheSize(text: string): number {
  const m = /^(\d+)\s*([KMG]?)/i.exec(text.trim());
  if (!m) return 0;
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * unit;
}

let hostCache: number | undefined;

/**
 * The host's last-level cache in bytes, all instances together (e.g. every
 * L3 slice of a multi-die CPU), from Linux's sysfs; a fallback of 32 MiB
 * where sysfs does not say.
 */
export function hostCacheBytes(): number {
  if (hostCache !== undefined) return hostCache;
  const root = '/sys/devices/system/cpu';
  const byLevel = new Map<number, Map<string, number>>();
  try {
    for (const cpu of readdirSync(root).filter((d) => /^cpu\d+$/.test(d))) {
      const dir = join(root, cpu, 'cache');
      let entries: string[];
      try {
        entries = readdirSync(dir).filter((d) => d.startsWith('index'));
      } catch {
        continue;
      }
      for (const index of entries) {
        const read = (f: string) => readFileSync(join(dir, index, f), 'utf8').trim();
        try {
          if (read('type') === 'Instruction') continue;
          const level = Number(read('level'));
          const shared = read('shared_cpu_list');
          const caches = byLevel.get(level) ?? new Map<string, number>();
          caches.set(shared, parseCacheSize(read('size')));
          byLevel.set(level, caches);
        } catch {
          // an index without these files: skip it
        }
      }
    }
  } catch {
    // no sysfs
  }
  const last = Math.max(0, ...byLevel.keys());
  let total = 0;
  for (const size of byLevel.get(last)?.values() ?? []) total += size;
  hostCache = total > 0 ? total : FALLBACK_HOST_CACHE_BYTES;
  return hostCache;
}

/** The cache in front of `device`'s memory: the GPU's L2, or the host's last-level cache. */
export function cacheBytes(device: Device): number {
  if (device.kind === 'cuda') return device.info.l2Bytes ?? 0;
  return hostCacheBytes();
}

/**
 * How many input sets to cycle so that together they span twice the cache
 * in front of `device` (the device the inputs live on): 1 when one set
 * already does, at most {@link MAX_ROTATION_SETS}.
 * @param bytesPerSet - bytes of one set of inputs.
 */
export function rotationSets(device: Device, bytesPerSet: number): number {
  if (!(bytesPerSet > 0)) return 1;
  const sets = Math.ceil((CACHE_MULTIPLE * cacheBytes(device)) / bytesPerSet);
  return Math.min(MAX_ROTATION_SETS, Math.max(1, sets));
}

/** The set repeat number `repeat` uses: the sets in turn. */
export function pick<T>(sets: readonly T[], repeat: number): T {
  if (sets.length === 0) throw new RangeError('pick: sets must be a non-empty array, got an empty array');
  return sets[repeat % sets.length]!;
}
