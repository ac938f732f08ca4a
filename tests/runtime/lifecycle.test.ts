// Tensor lifetimes: dispose, views, copies, empty tensors and memory
// accounting, on every device present.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { describe, expect, it } from 'vitest';

import { DisposedError, type Device, type DeviceSpec, type MemoryInfo, type Tensor } from '../../lib/index.js';
import { EMULATED_COST, cudaDevice, cudaSkipReason, testDevices, tooLargeToEmulate } from '../helpers/devices.js';
import { rng } from '../helpers/rng.js';

const gpu = cudaDevice();

// Disposed tensors leave small JS wrappers behind for V8 to collect on its
// own schedule; collecting before each RSS reading keeps that out of the
// measurement.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Resident memory outside V8's heap, whose size V8 changes at will. */
function nativeRss(): number {
  const m = process.memoryUsage();
  return m.rss - m.heapTotal;
}

/** The counters every device reports (GPU pool figures move on their own). */
function counters(m: MemoryInfo): { bytes: number; buffers: number; tensors: number } {
  return { bytes: m.bytes, buffers: m.buffers, tensors: m.tensors };
}

/** Memory counters once every queued task (and the buffers it holds) is done. */
async function settled(dev: Device): Promise<{ bytes: number; buffers: number; tensors: number }> {
  await dev.synchronize();
  return counters(dev.memory());
}

describe.each(testDevices().map((d) => [d.id, d] as const))('tensor lifecycle on %s', (_, dev) => {
  it('every method of a disposed tensor throws DisposedError', () => {
    const t = dev.tensor([1, 2, 3, 4], { shape: [2, 2] });
    t.dispose();
    expect(t.disposed).toBe(true);
    const calls: Array<[string, () => unknown]> = [
      ['toArray', () => t.toArray()],
      ['bytes', () => t.bytes()],
      ['to', () => t.to(dev)],
      ['cast', () => t.cast('bf16')],
      ['reshape', () => t.reshape([4])],
    ];
    for (const [op, call] of calls) {
      expect(call, op).toThrow(DisposedError);
      expect(call, op).toThrow(`${op}: tensor was disposed; a tensor cannot be used after dispose()`);
    }
    expect(() => t.clone()).toThrow(DisposedError);
    expect(() => t.clone()).toThrow(/^clone: tensor was disposed/);
    // What a tensor is stays readable.
    expect(t.dtype).toBe('f32');
    expect(t.shape).toEqual([2, 2]);
    expect(String(t)).toBe(`Tensor(f32 [2, 2] on ${dev.id}, disposed)`);
  });

  it('dispose twice, or through Symbol.dispose and using, releases once', async () => {
    const before = await settled(dev);
    const t = dev.tensor(new Float32Array(256));
    expect((await settled(dev)).tensors).toBe(before.tensors + 1);
    t.dispose();
    t.dispose();
    t[Symbol.dispose]();
    expect(await settled(dev)).toEqual(before);
    let kept: Tensor | undefined;
    {
      using scoped = dev.zeros([64], 'bf16');
      kept = scoped;
      expect(kept.disposed).toBe(false);
    }
    expect(kept.disposed).toBe(true);
    expect(await settled(dev)).toEqual(before);
  });

  it('reshape views share storage and the buffer lives until the last view is disposed', async () => {
    const before = await settled(dev);
    const data = rng(`reshape ${dev.id}`).randnArray(24);
    const t = dev.tensor(data, { shape: [2, 3, 4] });
    const v = t.reshape([6, 4]);
    const w = v.reshape([-1]);
    expect(v.shape).toEqual([6, 4]);
    expect(w.shape).toEqual([24]);
    expect(await settled(dev)).toEqual({ bytes: before.bytes + 96, buffers: before.buffers + 1, tensors: before.tensors + 3 });
    t.dispose();
    expect(await v.toArray()).toEqual(data);
    v.dispose();
    expect(await w.toArray()).toEqual(data);
    expect(await settled(dev)).toEqual({ bytes: before.bytes + 96, buffers: before.buffers + 1, tensors: before.tensors + 1 });
    w.dispose();
    expect(await settled(dev)).toEqual(before);
  });

  it('to() and clone() copy into a buffer of their own', async () => {
    const before = await settled(dev);
    const data = rng(`copy ${dev.id}`).randnArray(1000);
    const t = dev.tensor(data, { shape: [10, 100], dtype: 'bf16' });
    const c = t.clone();
    const d = t.to(dev);
    const e = t.to(dev.id as DeviceSpec);
    for (const copy of [c, d, e]) {
      expect(copy).not.toBe(t);
      expect(copy.device).toBe(dev);
      expect(copy.dtype).toBe('bf16');
      expect(copy.shape).toEqual([10, 100]);
    }
    expect(await settled(dev)).toEqual({ bytes: before.bytes + 4 * 2000, buffers: before.buffers + 4, tensors: before.tensors + 4 });
    const want = await t.bytes();
    t.dispose();
    for (const copy of [c, d, e]) {
      expect(await copy.bytes()).toEqual(want);
      copy.dispose();
    }
    expect(await settled(dev)).toEqual(before);
  });

  it('zero-size tensors work everywhere', async () => {
    const before = await settled(dev);
    using a = dev.tensor([], { shape: [0] });
    using b = dev.zeros([3, 0], 'bf16');
    using c = dev.empty([0, 5], 'e4m3');
    using d = dev.tensor(new Int32Array(0), { shape: [2, 0, 2] });
    for (const [t, shape] of [[a, [0]], [b, [3, 0]], [c, [0, 5]], [d, [2, 0, 2]]] as const) {
      expect(t.shape).toEqual(shape);
      expect(t.size).toBe(0);
      expect(t.byteLength).toBe(0);
      expect((await t.bytes()).length).toBe(0);
      expect((await t.toArray()).length).toBe(0);
      using cast = t.cast('f16');
      expect(cast.shape).toEqual(shape);
      using copy = t.clone();
      expect((await copy.bytes()).length).toBe(0);
    }
    expect(await a.toArray()).toBeInstanceOf(Float32Array);
    expect(await c.toArray()).toBeInstanceOf(Float32Array);
    expect(await d.toArray()).toBeInstanceOf(Int32Array);
    using r = b.reshape([0, 7]);
    expect(r.shape).toEqual([0, 7]);
    using scalar = dev.tensor([5], { shape: [] });
    expect(scalar.size).toBe(1);
    expect(Array.from(await scalar.toArray())).toEqual([5]);
    // Live: a, b, c, d, r (a view of b) and scalar.
    expect(await settled(dev)).toEqual({ bytes: before.bytes + 4, buffers: before.buffers + 5, tensors: before.tensors + 6 });
  });

  it('memory() counts bytes, buffers and tensors', async () => {
    const before = await settled(dev);
    using a = dev.zeros([1000], 'f32');
    using b = dev.empty([10, 100], 'bf16');
    using c = dev.tensor(new Uint8Array(333), { dtype: 'e5m2' });
    using d = dev.zeros([7], 'i32');
    expect(a.byteLength + b.byteLength + c.byteLength + d.byteLength).toBe(4000 + 2000 + 333 + 28);
    // Once the queue has run the uploads, which hold their staging buffers until then.
    await dev.synchronize();
    const m = dev.memory();
    expect(counters(m)).toEqual({ bytes: before.bytes + 6361, buffers: before.buffers + 4, tensors: before.tensors + 4 });
    if (dev.kind === 'cuda') {
      expect(m.deviceTotal).toBeGreaterThan(0);
      expect(m.deviceFree).toBeLessThanOrEqual(m.deviceTotal!);
      expect(m.reserved).toBeGreaterThanOrEqual(0);
    } else {
      expect(m.deviceTotal).toBeUndefined();
    }
  });

  // 13,000 casts of 16 Ki elements, warm-up included: minutes on the emulated GPU.
  const cyclesSkip = tooLargeToEmulate(dev, 130 * 100 * 16384 * EMULATED_COST.element);
  it.skipIf(cyclesSkip !== '')(`10,000 create/dispose cycles leave memory() and native RSS flat${cyclesSkip ? ` (${cyclesSkip})` : ''}`, async () => {
    // 16 Ki elements: a leak of every output (625 MiB of f32) stands far
    // above the tens of MiB RSS moves by on its own (allocator arenas, V8).
    const data = rng(`cycles ${dev.id}`).randnArray(16384);
    // Batches of 100 keep the queue short: RSS then follows what is live,
    // not how far the JS thread ran ahead of the queue.
    const batch = async (): Promise<void> => {
      for (let i = 0; i < 100; i++) {
        const t = dev.tensor(data, { dtype: 'bf16' });
        const f = t.cast('f32');
        t.dispose();
        f.dispose();
      }
      await dev.synchronize();
    };
    for (let b = 0; b < 30; b++) await batch(); // warm-up: allocator arenas, JIT, heap growth
    collectGarbage();
    const before = await settled(dev);
    const nativeBefore = nativeRss();
    for (let b = 0; b < 100; b++) await batch();
    collectGarbage();
    const after = await settled(dev);
    const grown = nativeRss() - nativeBefore;
    expect(after).toEqual(before);
    // Leaking every f32 output would be 10,000 x 64 KiB = 625 MiB, every bf16 one 312 MiB.
    expect(grown, `RSS outside the JS heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB`).toBeLessThan(96 * 2 ** 20);
  });
});

describe.skipIf(!gpu)(`cuda${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}: copies between devices`, () => {
  it('cpu -> cuda -> cpu keeps every byte, and each side counts its own buffer', async () => {
    const cpu = testDevices()[0]!;
    const data = rng('cpu-gpu copy').float32BitsArray(1 << 16);
    const cpuBefore = await settled(cpu);
    const gpuBefore = await settled(gpu!);
    using host = cpu.tensor(data);
    using dev = host.to(gpu!);
    using back = dev.to(cpu);
    using pinned = dev.to(cpu, { pinned: true });
    expect(dev.device).toBe(gpu);
    expect(back.device).toBe(cpu);
    const want = new Uint8Array(data.buffer);
    expect(await back.bytes()).toEqual(want);
    expect(await pinned.bytes()).toEqual(want);
    expect(await dev.bytes()).toEqual(want);
    expect((await settled(gpu!)).buffers).toBe(gpuBefore.buffers + 1);
    expect((await settled(cpu)).buffers).toBe(cpuBefore.buffers + 3);
  });
});
