// How failures of queued work travel: a failed op's outputs carry its error,
// ops reading them are not run and fail in turn (across devices too), the
// device reports the failure once to the next read or synchronize, and
// ending a Worker with reads still queued leaves the process running.
import { describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { KernelError, Tensor, device } from '../../lib/index.js';
import { builtEntry, runModule } from '../helpers/child.js';

const cpu = device('cpu');

function failedTensor(shape: number[]): Tensor<'f32'> {
  return Tensor.fromNative<'f32'>(binding().injectFailure('cpu', shape));
}

describe('failures of queued work', () => {
  it('the failed output rejects every read with the op that failed', async () => {
    const t = failedTensor([4]);
    await expect(t.toArray()).rejects.toThrow('cpu: injectFailure failed: failure injected for a test');
    await expect(t.toArray()).rejects.toBeInstanceOf(KernelError);
    await expect(t.bytes()).rejects.toThrow('injectFailure failed');
    t.dispose();
    await cpu.synchronize().catch(() => undefined); // clear the device-level report
  });

  it('ops reading a failed tensor are not run and fail in turn', async () => {
    const t = failedTensor([2, 3]);
    const c = t.cast('bf16');
    const r = c.reshape([6]);
    const copy = r.clone();
    for (const x of [c, r, copy]) {
      await expect(x.toArray()).rejects.toThrow(/was not run because its input had failed \(cpu: injectFailure failed/);
    }
    for (const x of [t, c, r, copy]) x.dispose();
    await cpu.synchronize().catch(() => undefined);
  });

  it('the device reports a failure once, to the next synchronize or read', async () => {
    const t = failedTensor([1]);
    using ok = cpu.tensor([1, 2, 3]);
    await expect(cpu.synchronize()).rejects.toThrow('injectFailure failed');
    await expect(cpu.synchronize()).resolves.toBeUndefined();
    expect(Array.from(await ok.toArray())).toEqual([1, 2, 3]);
    t.dispose();
  });
});

describe('input the typed-array API allows', () => {
  it('takes data backed by a SharedArrayBuffer', async () => {
    const shared = new Float32Array(new SharedArrayBuffer(16));
    shared.set([1, 2, 3, 4]);
    using t = cpu.tensor(shared, { dtype: 'bf16' });
    expect(Array.from(await t.toArray())).toEqual([1, 2, 3, 4]);
  });

  it('reshape names a bad entry before inferring -1', () => {
    using t = cpu.zeros([6]);
    expect(() => t.reshape(['a' as unknown as number, -1])).toThrow("reshape: shape[0] must be a non-negative integer, got a string ('a')");
    expect(() => t.reshape([2, -1])).not.toThrow();
  });
});

describe('Workers', () => {
  it('ending a Worker with reads still queued leaves the process running', () => {
    const r = runModule(`
      import { Worker } from 'node:worker_threads';
      const src = \`
        import { device, gemm } from \${JSON.stringify(process.env.MOEKIT_ENTRY)};
        import { parentPort } from 'node:worker_threads';
        const dev = device('cpu');
        const a = dev.tensor(new Float32Array(512 * 512).fill(1), { shape: [512, 512] });
        for (let i = 0; i < 6; i++) gemm(a, a).toArray().then(() => {}, () => {});
        parentPort.postMessage('queued');
      \`;
      const w = new Worker(src, { eval: true, type: 'module' });
      await new Promise((res) => w.on('message', res));
      await w.terminate();
      await new Promise((r) => setTimeout(r, 1500));
      console.log('main survived');
    `, { MOEKIT_ENTRY: builtEntry() });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('main survived');
  });
});
