// In-place writes (a paged KV cache that tokens are appended to): work
// queued after the write sees the new contents, work queued before it the
// old, and a failed write, or one whose input failed, poisons the buffer
// for every later reader. Driven through a test hook that declares its
// tensor as written in place, as such an op does (TaskIO::in_place).
import { describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { Tensor, device } from '../../lib/index.js';

const cpu = device('cpu');

function failedTensor(): Tensor<'f32'> {
  return Tensor.fromNative<'f32'>(binding().injectFailure('cpu', [1]));
}

describe('in-place writes', () => {
  it('reads queued before see the old contents, reads queued after the new', async () => {
    using t = cpu.tensor(new Uint8Array([1, 2, 3, 4]));
    const before = t.bytes();
    binding().writeInPlace(t.handle('test', 't'), 7, false);
    const after = t.bytes();
    using copy = t.clone();
    expect(Array.from(await before)).toEqual([1, 2, 3, 4]);
    expect(Array.from(await after)).toEqual([7, 7, 7, 7]);
    expect(Array.from(await copy.bytes())).toEqual([7, 7, 7, 7]);
  });

  it('a failed write poisons the buffer for every later reader', async () => {
    using t = cpu.tensor(new Uint8Array([1, 2]));
    const before = t.bytes();
    binding().writeInPlace(t.handle('test', 't'), 9, true);
    using derived = t.cast('f32');
    expect(Array.from(await before)).toEqual([1, 2]);
    await expect(t.bytes()).rejects.toThrow('cpu: writeInPlace failed: in-place write failed for a test');
    await expect(derived.toArray()).rejects.toThrow(/cast was not run because its input had failed \(cpu: writeInPlace failed/);
    // Later in-place writes do not clear it: the contents are no longer known.
    binding().writeInPlace(t.handle('test', 't'), 1, false);
    await expect(t.bytes()).rejects.toThrow('writeInPlace failed');
    await cpu.synchronize().catch(() => undefined);
  });

  it('a write whose input failed is not run and poisons the buffer', async () => {
    using t = cpu.tensor(new Uint8Array([5]));
    using bad = failedTensor();
    binding().writeInPlace(t.handle('test', 't'), 6, false, bad.handle('test', 'bad'));
    await expect(t.bytes()).rejects.toThrow(/writeInPlace was not run because its input had failed \(cpu: injectFailure failed/);
    await cpu.synchronize().catch(() => undefined);
  });
});
