// The execution model (docs/architecture.md, "Execution model"): ops return at once, work runs
// in order on each device's queue, reads resolve without blocking the JS
// thread.
import { describe, expect, it } from 'vitest';

import { type DType, device, gemm } from '../../lib/index.js';
import { binding } from '../../lib/binding.js';
import { expectCodes, f32Bits } from '../helpers/bits.js';
import { cudaDevice, cudaSkipReason, gemmWork, testDevices, tooLargeToEmulate } from '../helpers/devices.js';
import { codesOf, decodeStorage, encodeStorage } from '../helpers/dtype_oracle.js';
import { rng } from '../helpers/rng.js';

const gpu = cudaDevice();

/** What a chain of casts through `dtypes` makes of `x`, from the oracle. */
function castChain(x: number, dtypes: readonly DType[]): number {
  let v = x;
  for (const d of dtypes) v = decodeStorage(d, encodeStorage(d, v));
  return v;
}

describe('the JS thread stays free', () => {
  it('the event loop keeps ticking while a large CPU cast runs', async () => {
    const cpu = device('cpu');
    const n = 16 << 20;
    using big = cpu.zeros([n], 'f32');
    await cpu.synchronize();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const start = binding().marker('cpu');
      using a = big.cast('bf16');
      using b = a.cast('e4m3');
      using c = b.cast('f16');
      const end = binding().marker('cpu');
      const ms = await binding().elapsed(start, end);
      // The casts took `ms` on the queue; the interval must have run
      // throughout (a blocked loop would count about 0).
      expect(ms).toBeGreaterThan(0);
      expect(ticks, `${ticks} ticks during ${ms.toFixed(1)} ms of queued casts`).toBeGreaterThanOrEqual(Math.min(3, Math.floor(ms / 50)));
      expect(ticks).toBeGreaterThan(0);
      expect(c.shape).toEqual([n]);
    } finally {
      clearInterval(timer);
    }
  });
});

describe.each(testDevices().map((d) => [d.id, d] as const))('queued work on %s', (_, dev) => {
  it('ops run in order: a chain of casts, copies and views gives the right answer', async () => {
    const x = rng(`chain ${dev.id}`).randnArray(4096, 8);
    const t0 = dev.tensor(x);
    const t1 = t0.cast('bf16');
    const t2 = t1.clone();
    const t3 = t2.cast('f32');
    const t4 = t3.reshape([64, 64]);
    const t5 = t4.cast('e4m3');
    const t6 = t5.to(dev);
    const t7 = t6.cast('f16');
    const t8 = t7.reshape([-1]);
    // Disposing inputs while their work is still queued must not free them early.
    for (const t of [t0, t1, t2, t3, t4, t5, t6, t7]) t.dispose();
    const got = await t8.toArray();
    t8.dispose();
    const want = Array.from(x, (v) => f32Bits(castChain(v, ['bf16', 'f32', 'e4m3', 'f16'])));
    expectCodes(`chain on ${dev.id}`, Array.from(got, f32Bits), want, x);
  });

  it('many reads in flight all resolve with their own data', async () => {
    const r = rng(`reads ${dev.id}`);
    const inputs = Array.from({ length: 200 }, () => r.randnArray(r.int(0, 3000)));
    const tensors = inputs.map((x, i) => dev.tensor(x, { dtype: i % 2 ? 'bf16' : 'f32' }));
    const reads = tensors.map((t) => Promise.all([t.toArray(), t.bytes()]));
    // A read holds the buffer it reads: disposing now is allowed.
    for (const t of tensors) t.dispose();
    const results = await Promise.all(reads);
    results.forEach(([values, bytes], i) => {
      const dtype: DType = i % 2 ? 'bf16' : 'f32';
      const want = Array.from(inputs[i]!, (v) => encodeStorage(dtype, v));
      expectCodes(`read ${i} (${dtype}) bytes on ${dev.id}`, codesOf(dtype, bytes), want, inputs[i]);
      expectCodes(`read ${i} (${dtype}) values on ${dev.id}`, Array.from(values, (v) => encodeStorage(dtype, v)), want, inputs[i]);
    });
  });

  // Two f32 gemms of 4096^3 (gemm v1, the only f32 version) on a GPU: far too slow for the emulated one.
  const syncSkip = tooLargeToEmulate(dev, 2 * gemmWork('gemm', 'v1', 4096, 4096, 4096));
  it.skipIf(syncSkip !== '')(`synchronize() resolves once earlier work is done${syncSkip ? ` (${syncSkip})` : ''}`, async () => {
    await expect(dev.synchronize()).resolves.toBeUndefined();
    // Work long enough that a synchronize() which did not wait would resolve
    // while it still runs: casts of 4M elements on the CPU (tens of ms), an
    // f32 gemm of 4096^3 on a GPU.
    const gpuWork = dev.kind === 'cuda';
    const n = gpuWork ? 4096 : 1 << 22;
    using src = gpuWork ? dev.zeros([n, n], 'f32') : dev.zeros([n], 'f32');
    await dev.synchronize();
    const before = dev.memory();
    const queuedAt = performance.now();
    const start = binding().marker(dev.id);
    const outs = gpuWork ? [gemm(src, src), gemm(src, src)] : [src.cast('bf16'), src.cast('f16'), src.cast('e4m3')];
    const end = binding().marker(dev.id);
    // Queued work holds its outputs' buffers until it has run.
    for (const t of outs) t.dispose();
    await dev.synchronize();
    const waited = performance.now() - queuedAt;
    // 1. The queue let go of everything that ran before the synchronize:
    //    the outputs' buffers are freed (read synchronously, before any
    //    other await).
    const after = dev.memory();
    expect.soft({ buffers: after.buffers, bytes: after.bytes }, 'memory() right after synchronize() resolved').toEqual({
      buffers: before.buffers,
      bytes: before.bytes,
    });
    // 2. The work between the markers fits in the time synchronize() took.
    const ms = await binding().elapsed(start, end);
    expect(waited, `synchronize() resolved after ${waited.toFixed(2)} ms; the work before it took ${ms.toFixed(2)} ms`).toBeGreaterThanOrEqual(
      ms - 0.1,
    );
  });

  it('synchronize() stays pending while earlier work cannot finish', async () => {
    // The queue is held, so the work before the synchronize cannot run
    // however fast the machine: a synchronize() that did not wait resolves.
    const release = binding().holdQueue(dev.id);
    let resolved = false;
    const done = dev.synchronize().then(() => {
      resolved = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(resolved, 'synchronize() resolved while the queue was held').toBe(false);
    release();
    await done;
    expect(resolved).toBe(true);
  });
});

describe.skipIf(!gpu)(`cuda${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}: order across devices`, () => {
  it('cpu -> cuda -> cpu copies and casts interleave in order', async () => {
    const cpu = device('cpu');
    const x = rng('cross-device chain').randnArray(1 << 16, 16);
    const a = cpu.tensor(x);
    const b = a.to(gpu!);
    const c = b.cast('bf16');
    const d = c.to(cpu);
    const e = d.cast('e5m2');
    const g = e.to(gpu!);
    const f = g.cast('f32');
    for (const t of [a, b, c, d, e, g]) t.dispose();
    const got = await f.toArray();
    f.dispose();
    expectCodes('cross-device chain', Array.from(got, f32Bits), Array.from(x, (v) => f32Bits(castChain(v, ['bf16', 'e5m2']))), x);
  });
});
