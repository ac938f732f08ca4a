// Sizes at and past the limits: shape products that would overflow, reads
// larger than one ArrayBuffer, requests that can never fit, host memory
// checked against what the system has, and the host block cache.
import { describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { OutOfMemoryError, Tensor, device, fp8Gemm, gemm, quantize } from '../../lib/index.js';
import { evalInChild } from '../helpers/child.js';

const cpu = device('cpu');

function expectRange(f: () => unknown, message: string | RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(RangeError);
  expect((caught as { code?: string }).code).toBe('ERR_MOEKIT_OUT_OF_RANGE');
  if (typeof message === 'string') expect((caught as Error).message).toBe(message);
  else expect((caught as Error).message).toMatch(message);
}

describe('shape products that overflow', () => {
  it('gemm of [2^31, 0] x [2^31, 0] is a RangeError naming the output, and allocates nothing', () => {
    using a = cpu.empty([2 ** 31, 0], 'bf16');
    using b = cpu.empty([2 ** 31, 0], 'bf16');
    const before = cpu.memory();
    expectRange(() => gemm(a, b), 'gemm: the output [M, N] (M of a, N of b) must be at most 2^50 elements, got shape [2147483648, 2147483648], whose element count overflows that');
    expectRange(() => gemm(a, b, { outDtype: 'f32' }), /^gemm: the output \[M, N\]/);
    expect(cpu.memory().buffers).toBe(before.buffers);
  });

  it('a product that wraps to a small byte count is caught too', () => {
    using a = cpu.empty([8590458896, 0], 'bf16');
    using b = cpu.empty([536838145, 0], 'bf16');
    const before = cpu.memory();
    expectRange(() => gemm(a, b), /got shape \[8590458896, 536838145\]/);
    expect(cpu.memory().bytes).toBe(before.bytes);
  });

  it('fp8Gemm with f32 output', () => {
    using x = cpu.empty([2 ** 31, 0], 'f32');
    using qa = quantize(x, { block: [1, 128] });
    using qb = quantize(x, { block: [128, 128] });
    expectRange(() => fp8Gemm(qa, qb, { outDtype: 'f32' }), /^fp8Gemm: the output \[M, N\] \(M of a, N of b\) must be at most 2\^50 elements/);
  });

  it('shapes past 2^50 elements are refused in lib/ and in the addon', () => {
    expectRange(() => cpu.zeros([2 ** 26, 2 ** 25]), 'zeros: shape must be a shape of at most 2^50 elements, got [67108864, 33554432]');
    // The addon checks on its own, without lib/.
    expectRange(() => binding().zeros('cpu', 'f32', [2 ** 26, 2 ** 25], false), /^zeros: shape must be a shape of at most 2\^50 elements/);
    // 2^50 elements of f64-sized... f32 is 2^52 bytes: beyond what a device can address.
    expectRange(() => binding().empty('cpu', 'f32', [2 ** 50], false), /^empty: shape must be at most 2\^47 bytes \(what a device can address\)/);
  });
});

describe('empty tensors with huge dimensions', () => {
  it('a zero anywhere makes the shape empty, whatever the other dimensions', () => {
    for (const shape of [[2 ** 26, 2 ** 25, 0], [0, 2 ** 26, 2 ** 25], [2 ** 40, 0, 2 ** 40]]) {
      using t = cpu.zeros(shape);
      expect(t.size).toBe(0);
      using native = Tensor.fromNative(binding().zeros('cpu', 'f32', shape, false));
      expect(native.shape).toEqual(shape);
      using flat = t.reshape([0]);
      expect(flat.shape).toEqual([0]);
    }
  });
});

describe('reads larger than one ArrayBuffer', () => {
  it('bytes() of 2^32 + 64 bytes is a RangeError that says how to read it in parts', () => {
    using t = cpu.empty([2 ** 32 + 64], 'u8');
    expectRange(() => t.bytes(), /^bytes: the result must be at most 2\^32 bytes .*read it in parts with bytes\(\{ start, end \}\)$/);
    // The addon refuses it on its own too.
    expectRange(() => binding().read(t.handle('t', 't'), false, 0, 2 ** 32 + 64), /^read: the result must be at most 2\^32 bytes/);
  });

  it('toArray() of an e4m3 tensor whose f32 result is over 4 GiB', () => {
    using t = cpu.empty([2 ** 30 + 16], 'e4m3');
    expectRange(() => t.toArray(), /^toArray: the result must be at most 2\^32 bytes .* got 4294967360 bytes for 1073741840 elements/);
  });

  it('a part of a large tensor reads fine', async () => {
    using t = cpu.empty([2 ** 32 + 64], 'u8');
    const tail = await t.bytes({ start: 2 ** 32, end: 2 ** 32 + 64 });
    expect(tail.length).toBe(64);
  });

  it('ranges are checked and read the right elements', async () => {
    using t = cpu.tensor([0, 1, 2, 3, 4, 5], { dtype: 'bf16' });
    expect(Array.from(await t.toArray({ start: 2, end: 5 }))).toEqual([2, 3, 4]);
    expect(Array.from(await t.toArray({ start: 4 }))).toEqual([4, 5]);
    expect(Array.from(await t.toArray({ end: 1 }))).toEqual([0]);
    expect((await t.bytes({ start: 1, end: 3 })).length).toBe(4);
    expect((await t.toArray({ start: 6 })).length).toBe(0);
    expectRange(() => t.toArray({ start: 7 }), 'toArray: range.start must be an integer in [0, 6], got 7');
    expectRange(() => t.toArray({ start: 3, end: 2 }), 'toArray: range.end must be an integer in [3, 6], got 2');
  });
});

describe('requests that can never fit', () => {
  it('fail at once with OutOfMemoryError, without waiting for queued work', async () => {
    // Queued work that cannot start until released: an allocation that
    // waited for the queue would never return.
    const release = binding().holdQueue('cpu');
    using x = cpu.tensor(new Float32Array(512 * 512).fill(0.5), { shape: [512, 512] });
    const outs = Array.from({ length: 6 }, () => gemm(x, x));
    let caught: unknown;
    try {
      cpu.empty([2 ** 40]);
    } catch (e) {
      caught = e;
    }
    expect(binding().queueStats('cpu').pending).toBeGreaterThanOrEqual(8);
    release();
    expect(caught).toBeInstanceOf(OutOfMemoryError);
    expect((caught as Error).message).toMatch(/^empty: cpu: out of memory allocating 4398046511104 bytes .*; the request can never fit on this device$/);
    for (const o of outs) o.dispose();
    await cpu.synchronize();
  });
});

describe('host memory limits', () => {
  it('memory() reports the limit and the cache', () => {
    const m = cpu.memory();
    expect(m.limit).toBeGreaterThan(0);
    expect(m.limit).toBeLessThanOrEqual(cpu.info.totalMemory);
    expect(m.cached).toBeGreaterThanOrEqual(0);
  });

  it('MOEKIT_HOST_MEMORY_LIMIT caps what the CPU device allocates', () => {
    const out = evalInChild<{ limit: number; first: string; second: string; again: string }>(
      `
      const cpu = m.device('cpu');
      const limit = cpu.memory().limit;
      const a = cpu.empty([600 * 2 ** 20], 'u8');
      let second = 'allocated';
      try { cpu.empty([600 * 2 ** 20], 'u8'); } catch (e) { second = e.name + ': ' + e.message; }
      a.dispose();
      await cpu.synchronize();
      let again = 'allocated';
      try { cpu.empty([600 * 2 ** 20], 'u8').dispose(); } catch (e) { again = e.name + ': ' + e.message; }
      return { limit, first: 'allocated', second, again };
      `,
      { MOEKIT_HOST_MEMORY_LIMIT: '1G' },
    );
    expect(out.limit).toBe(2 ** 30);
    expect(out.second).toMatch(/^OutOfMemoryError: empty: cpu: out of memory allocating 629145600 bytes \(629145600 bytes in 1 live buffers; host memory limit 1073741824 bytes, from MOEKIT_HOST_MEMORY_LIMIT\); dispose tensors/);
    expect(out.again).toBe('allocated');
  });

  it('a request beyond the memory available now is refused, not left to the OOM killer', () => {
    const available = Math.floor(cpu.memory().limit! * 0.999);
    const message = evalInChild<string>(
      `try { m.device('cpu').zeros([${available}], 'u8'); return 'allocated'; } catch (e) { return e.name + ': ' + e.message; }`,
    );
    expect(message).toMatch(/^OutOfMemoryError: zeros: cpu: out of memory allocating/);
  });

  it('a malformed MOEKIT_HOST_MEMORY_LIMIT is an error naming it', () => {
    const message = evalInChild<string>(`try { m.device('cpu'); return 'ok'; } catch (e) { return e.name + ': ' + e.message; }`, {
      MOEKIT_HOST_MEMORY_LIMIT: '8 GB',
    });
    expect(message).toBe(
      "TypeError: MOEKIT_HOST_MEMORY_LIMIT must be a positive number of bytes, optionally with a K, M, G or T suffix (e.g. 8G), got '8 GB'",
    );
  });
});

describe('the host block cache', () => {
  it('is reported by memory() and emptied by releaseCache()', async () => {
    await cpu.synchronize();
    cpu.releaseCache();
    const t = cpu.zeros([64 * 2 ** 20], 'u8');
    t.dispose();
    await cpu.synchronize(); // the queue lets go of the buffer
    expect(cpu.memory().cached).toBeGreaterThanOrEqual(64 * 2 ** 20);
    expect(cpu.releaseCache()).toBeGreaterThanOrEqual(64 * 2 ** 20);
    expect(cpu.memory().cached).toBe(0);
  });

  it('keeps at most 1/16 of the memory limit', () => {
    const cached = evalInChild<number>(
      `
      const cpu = m.device('cpu');
      cpu.zeros([32 * 2 ** 20], 'u8').dispose();
      await cpu.synchronize();
      return cpu.memory().cached;
      `,
      { MOEKIT_HOST_MEMORY_LIMIT: '256M' },
    );
    expect(cached).toBe(0);
  });
});
