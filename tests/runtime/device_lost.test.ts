// A fatal fault (on a GPU: an illegal address, a trap) breaks the device
// for the rest of the process. The faulting op is blamed, its outputs and
// everything after fail with DeviceLostError, and the device shows as lost.
// The GPU raises such faults through CUDA's sticky errors; the same
// machinery is driven here on the CPU by a test hook that fails an op as a
// fatal fault. Each case runs in a child process, whose CPU device it loses.
import { describe, expect, it } from 'vitest';

import { resolveDeviceId } from '../../lib/device.js';
import { builtEntry, evalInChild } from '../helpers/child.js';

const BINDING = builtEntry().replace(/index\.js$/, 'binding.js');

describe('a fatal fault', () => {
  it('is blamed on the op, fails what follows at once, and marks the device lost', () => {
    const out = evalInChild<Record<string, unknown>>(`
      const { binding } = await import(${JSON.stringify(BINDING)});
      const cpu = m.device('cpu');
      const good = cpu.tensor([1, 2, 3]);
      await good.toArray();
      // Held, so the two below are queued before the fault happens.
      const release = binding().holdQueue('cpu');
      const faulted = m.Tensor.fromNative(binding().injectFailure('cpu', [4], true));
      const next = faulted.cast('bf16');
      release();
      const caught = async (p) => { try { await p; return 'resolved'; } catch (e) { return e.name + ' ' + e.code + ': ' + e.message; } };
      const faultedRead = await caught(faulted.toArray());
      const nextRead = await caught(next.toArray());
      const goodRead = await caught(good.toArray());
      const sync = await caught(cpu.synchronize());
      let newOp = 'allocated';
      try { cpu.zeros([1]); } catch (e) { newOp = e.name + ' ' + e.code + ': ' + e.message; }
      const isKernelError = await faulted.toArray().catch((e) => e instanceof m.KernelError && e instanceof m.DeviceLostError);
      return { faultedRead, nextRead, goodRead, sync, newOp, lost: m.devices()[0].lost, isKernelError };
    `);
    const lost =
      'cpu: a fatal fault in injectFailure: cpu: injectFailure failed: fatal fault injected for a test. The device is lost: every later op on cpu fails; restart the process to use it again';
    expect(out.faultedRead).toBe(`DeviceLostError ERR_MOEKIT_DEVICE_LOST: ${lost}`);
    expect(out.nextRead).toBe(`DeviceLostError ERR_MOEKIT_DEVICE_LOST: ${lost}`);
    expect(out.goodRead).toBe(`DeviceLostError ERR_MOEKIT_DEVICE_LOST: ${lost}`);
    expect(out.sync).toBe(`DeviceLostError ERR_MOEKIT_DEVICE_LOST: ${lost}`);
    expect(out.newOp).toBe(`DeviceLostError ERR_MOEKIT_DEVICE_LOST: zeros: ${lost}`);
    expect(out.lost).toBe(lost);
    expect(out.isKernelError).toBe(true);
  });

  it('an ordinary failure does not lose the device', () => {
    const out = evalInChild<{ lost: unknown; after: number[] }>(`
      const { binding } = await import(${JSON.stringify(BINDING)});
      const cpu = m.device('cpu');
      const failed = m.Tensor.fromNative(binding().injectFailure('cpu', [4]));
      await failed.toArray().catch(() => undefined);
      await cpu.synchronize().catch(() => undefined);
      const after = Array.from(await cpu.tensor([5, 6]).toArray());
      return { lost: m.devices()[0].lost ?? null, after };
    `);
    expect(out).toEqual({ lost: null, after: [5, 6] });
  });
});

describe("'cuda' names the first usable GPU", () => {
  const cpu = { id: 'cpu', kind: 'cpu' };
  it('even when cuda:0 was skipped as unusable', () => {
    expect(resolveDeviceId('device', 'cuda', [cpu, { id: 'cuda:1', kind: 'cuda' }], undefined)).toBe('cuda:1');
    expect(resolveDeviceId('device', 'cuda', [cpu, { id: 'cuda:0', kind: 'cuda' }, { id: 'cuda:1', kind: 'cuda' }], undefined)).toBe('cuda:0');
    expect(resolveDeviceId('device', 'auto', [cpu, { id: 'cuda:2', kind: 'cuda' }], undefined)).toBe('cuda:2');
    expect(resolveDeviceId('device', 'auto', [cpu, { id: 'cuda:2', kind: 'cuda' }], 'cuda')).toBe('cuda:2');
    expect(resolveDeviceId('device', 'cuda:0', [cpu, { id: 'cuda:2', kind: 'cuda' }], undefined)).toBe('cuda:0');
  });

  it('and no GPU at all leaves it unresolved, for the caller to explain', () => {
    expect(resolveDeviceId('device', 'cuda', [cpu], undefined)).toBe('cuda');
    expect(resolveDeviceId('device', 'auto', [cpu], undefined)).toBe('cpu');
  });
});
