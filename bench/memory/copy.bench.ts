/**
 * Suite `memory`: the memory ceilings the kernels are measured against.
 *
 * On a GPU: host-to-device copies from pinned and from pageable host
 * memory, device-to-host copies into pinned and pageable memory, and
 * device-to-device copies (`clone()`), at sizes from 1 MiB to 1 GiB. On the
 * CPU device: host memcpy (`clone()`) at the same sizes.
 *
 * Each copy is one `to()`/`clone()`, which runs on the GPU's queue when a
 * GPU is involved, so the queue's markers (CUDA events) bracket exactly the
 * copy. The bytes of one copy are checked against the host data before
 * timing. Inputs rotate (rotation.ts) so small sizes are not served from a
 * cache.
 * @module
 */
import { type Device, device as getDevice, type Tensor } from '../../lib/index.js';
import { compareBytes } from '../harness/compare.js';
import { formatBytes } from '../harness/format.js';
import { copyBytes, copyReadWriteBytes } from '../harness/metrics.js';
import { randomBytes } from '../harness/random.js';
import { pick, rotationSets } from '../harness/rotation.js';
import { type BenchCase, type BenchSuite, benchCase, type SuiteContext } from '../harness/types.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Sizes of a full run: from latency-dominated to well past any cache. */
const SIZES = [1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB] as const;
const QUICK_SIZES = [1 * MiB, 16 * MiB] as const;

/**
 * The suite's random bytes: one seeded stream, grown on demand, so every
 * case and size reads a prefix of the same data and it is generated once.
 */
function sharedBytes(seed: number): (n: number) => Uint8Array {
  let bytes: Uint8Array = new Uint8Array(0);
  return (n) => {
    if (bytes.length < n) bytes = randomBytes(seed, n);
    return bytes.subarray(0, n);
  };
}

interface CopyState {
  readonly sources: readonly Tensor<'u8'>[];
  /** What a copy of `sources[0]` must hold. */
  readonly expected: Uint8Array;
}

interface CopySpec {
  readonly name: string;
  readonly params: BenchCase['params'];
  readonly bytes: number;
  readonly baseline?: string;
  /** The device the sources live on (the cache rotation is sized for). */
  readonly sourceDevice: Device;
  /** Makes one source holding `data`. */
  makeSource(data: Uint8Array): Tensor<'u8'>;
  /** Enqueues one copy of `source`. */
  copy(source: Tensor<'u8'>): Tensor<'u8'>;
}

function copyCase(spec: CopySpec, size: number, data: (n: number) => Uint8Array, devices: readonly Device[]): BenchCase {
  return benchCase<CopyState>({
    name: spec.name,
    params: spec.params,
    bytes: spec.bytes,
    ...(spec.baseline === undefined ? {} : { baseline: spec.baseline }),
    async setup() {
      const sets = rotationSets(spec.sourceDevice, size);
      const all = data(sets * size);
      const sources: Tensor<'u8'>[] = [];
      for (let i = 0; i < sets; i++) sources.push(spec.makeSource(all.subarray(i * size, (i + 1) * size)));
      for (const d of devices) await d.synchronize();
      return { sources, expected: all.subarray(0, size) };
    },
    run(state, repeat) {
      return spec.copy(pick(state.sources, repeat));
    },
    async check(state) {
      using out = spec.copy(state.sources[0]!);
      return compareBytes(`${spec.name}: copy of ${formatBytes(size)}`, await out.bytes(), state.expected);
    },
    teardown(state) {
      for (const s of state.sources) s.dispose();
    },
  });
}

function gpuCases(gpu: Device, sizes: readonly number[], data: (n: number) => Uint8Array): BenchCase[] {
  const cpu = getDevice('cpu');
  const devices = [cpu, gpu];
  const pageable = (bytes: Uint8Array): Tensor<'u8'> => cpu.tensor(bytes);
  const pinned = (bytes: Uint8Array): Tensor<'u8'> => {
    using staging = cpu.tensor(bytes);
    return staging.to(cpu, { pinned: true });
  };
  const onGpu = (bytes: Uint8Array): Tensor<'u8'> => {
    using staging = cpu.tensor(bytes);
    return staging.to(gpu);
  };
  const cases: BenchCase[] = [];
  const add = (make: (size: number, label: string) => CopySpec): void => {
    for (const size of sizes) cases.push(copyCase(make(size, formatBytes(size)), size, data, devices));
  };
  add((n, l) => ({ name: `h2d-pageable-${l}`, params: { direction: 'h2d', host: 'pageable', sizeBytes: n, traffic: 'once' }, bytes: copyBytes(n), sourceDevice: cpu, makeSource: pageable, copy: (s) => s.to(gpu) }));
  add((n, l) => ({ name: `h2d-pinned-${l}`, params: { direction: 'h2d', host: 'pinned', sizeBytes: n, traffic: 'once' }, bytes: copyBytes(n), baseline: `h2d-pageable-${l}`, sourceDevice: cpu, makeSource: pinned, copy: (s) => s.to(gpu) }));
  add((n, l) => ({ name: `d2h-pageable-${l}`, params: { direction: 'd2h', host: 'pageable', sizeBytes: n, traffic: 'once' }, bytes: copyBytes(n), sourceDevice: gpu, makeSource: onGpu, copy: (s) => s.to(cpu) }));
  add((n, l) => ({ name: `d2h-pinned-${l}`, params: { direction: 'd2h', host: 'pinned', sizeBytes: n, traffic: 'once' }, bytes: copyBytes(n), baseline: `d2h-pageable-${l}`, sourceDevice: gpu, makeSource: onGpu, copy: (s) => s.to(cpu, { pinned: true }) }));
  add((n, l) => ({ name: `d2d-${l}`, params: { direction: 'd2d', sizeBytes: n, traffic: 'read+write' }, bytes: copyReadWriteBytes(n), sourceDevice: gpu, makeSource: onGpu, copy: (s) => s.clone() }));
  return cases;
}

function cpuCases(cpu: Device, sizes: readonly number[], data: (n: number) => Uint8Array): BenchCase[] {
  return sizes.map((n) =>
    copyCase(
      {
        name: `memcpy-${formatBytes(n)}`,
        params: { direction: 'host', sizeBytes: n, traffic: 'read+write' },
        bytes: copyReadWriteBytes(n),
        sourceDevice: cpu,
        makeSource: (bytes) => cpu.tensor(bytes),
        copy: (s) => s.clone(),
      },
      n,
      data,
      [cpu],
    ),
  );
}

/**
 * One copy within `dev`'s memory as a case of another suite, the ceiling its
 * bandwidth-bound kernels are read against: device-to-device `clone()` on a
 * GPU, memcpy (`clone()`) on the CPU, counted read + write (2 × size), as
 * the `d2d-*` and `memcpy-*` cases here.
 * @param name - the case name; default `d2d-<size>` or `memcpy-<size>`, as in this suite.
 */
export function deviceCopyCase(dev: Device, size: number, seed: number, name?: string): BenchCase {
  const data = sharedBytes(seed);
  const label = formatBytes(size);
  if (dev.kind !== 'cuda') {
    return copyCase(
      { name: name ?? `memcpy-${label}`, params: { direction: 'host', sizeBytes: size, traffic: 'read+write' }, bytes: copyReadWriteBytes(size), sourceDevice: dev, makeSource: (b) => dev.tensor(b), copy: (s) => s.clone() },
      size,
      data,
      [dev],
    );
  }
  const cpu = getDevice('cpu');
  const onGpu = (bytes: Uint8Array): Tensor<'u8'> => {
    using staging = cpu.tensor(bytes);
    return staging.to(dev);
  };
  return copyCase(
    { name: name ?? `d2d-${label}`, params: { direction: 'd2d', sizeBytes: size, traffic: 'read+write' }, bytes: copyReadWriteBytes(size), sourceDevice: dev, makeSource: onGpu, copy: (s) => s.clone() },
    size,
    data,
    [cpu, dev],
  );
}

/** The memory-ceiling suite (see the module comment). */
export const memorySuite: BenchSuite = {
  name: 'memory',
  description: 'copy bandwidth: host<->device over the bus, and within one memory (the ceilings kernels are measured against)',
  notes: [
    'GB/s counts the bytes once for host<->device copies and read+write (2 x size) for copies within one memory (d2d, memcpy); see traffic.',
    'x baseline: a pinned copy against the pageable copy of the same size and direction.',
    'to()/clone() allocate the destination when called: a pinned host destination (cudaHostAlloc) can cost more than the copy (such rows are marked host-bound), and a fresh pageable destination is faulted in by the copy, as it is for a caller.',
  ],
  cases(ctx: SuiteContext): readonly BenchCase[] {
    const sizes = ctx.quick ? QUICK_SIZES : SIZES;
    const data = sharedBytes(ctx.seed);
    return ctx.device.kind === 'cuda' ? gpuCases(ctx.device, sizes, data) : cpuCases(ctx.device, sizes, data);
  },
};
