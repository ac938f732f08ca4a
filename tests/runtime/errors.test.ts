// Bad input throws the right class with a message in the house format
// (`<op>: <arg> must be <expected>, got <actual>`), matched word for word.
import { describe, expect, it } from 'vitest';

import {
  DisposedError,
  OutOfMemoryError,
  UnsupportedError,
  cudaStatus,
  device,
  fp8,
} from '../../lib/index.js';
import { binding, callNative } from '../../lib/binding.js';
import { evalInChild } from '../helpers/child.js';
import { cudaDevice, cudaSkipReason, testDevices } from '../helpers/devices.js';

const gpu = cudaDevice();
const DTYPE_LIST = "one of 'f32', 'f16', 'bf16', 'e4m3', 'e5m2', 'i32', 'u8'";
const SPECS = "'auto', 'cpu', 'cuda' or 'cuda:N'";

type Thrower = () => unknown;
type ErrorClass = new (...args: never[]) => Error;

/** Asserts `fn` throws an instance of `cls` with exactly `message`, and an error code. */
function expectThrow(fn: Thrower, cls: ErrorClass, message: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${cls.name}: ${message}`).toBeInstanceOf(cls);
  expect((caught as Error).message).toBe(message);
  expect((caught as { code?: unknown }).code).toMatch(/^ERR_MOEKIT_/);
}

describe.each(testDevices().map((d) => [d.id, d] as const))('bad arguments on %s', (_, dev) => {
  it('shapes: negative, non-integer, NaN, infinite, wrong types, too many dimensions', () => {
    const cases: Array<[Thrower, ErrorClass, string]> = [
      [() => dev.tensor([1, 2], { shape: [-1] }), RangeError, 'tensor: options.shape[0] must be a non-negative integer, got -1'],
      [() => dev.tensor([1, 2], { shape: [1.5] }), RangeError, 'tensor: options.shape[0] must be a non-negative integer, got 1.5'],
      [() => dev.tensor([1, 2], { shape: [NaN] }), RangeError, 'tensor: options.shape[0] must be a non-negative integer, got NaN'],
      [() => dev.tensor([1, 2], { shape: [Infinity] }), RangeError, 'tensor: options.shape[0] must be a non-negative integer, got Infinity'],
      [() => dev.tensor([1, 2], { shape: ['2' as unknown as number] }), TypeError, "tensor: options.shape[0] must be a non-negative integer, got a string ('2')"],
      [() => dev.tensor([1, 2], { shape: 2 as unknown as number[] }), TypeError, 'tensor: options.shape must be an array of non-negative integers, got a number (2)'],
      [() => dev.zeros([2, -3]), RangeError, 'zeros: shape[1] must be a non-negative integer, got -3'],
      [() => dev.empty([2.5]), RangeError, 'empty: shape[0] must be a non-negative integer, got 2.5'],
      [() => dev.zeros(3 as unknown as number[]), TypeError, 'zeros: shape must be an array of non-negative integers, got a number (3)'],
      [() => dev.zeros(new Array<number>(17).fill(1)), RangeError, 'zeros: shape must be at most 16 dimensions, got 17'],
      [() => dev.zeros([2 ** 30, 2 ** 30]), RangeError, 'zeros: shape must be a shape of at most 2^50 elements, got [1073741824, 1073741824]'],
    ];
    for (const [fn, cls, message] of cases) expectThrow(fn, cls, message);
  });

  it('data that does not fit the shape or the dtype', () => {
    const cases: Array<[Thrower, ErrorClass, string]> = [
      [() => dev.tensor([1, 2, 3], { shape: [2, 2] }), RangeError, 'tensor: data must be 4 elements (shape [2, 2]), got 3 elements'],
      [() => dev.tensor(new Float32Array(3), { shape: [2, 2] }), RangeError, 'tensor: data must be 16 bytes (shape [2, 2] of f32), got 12 bytes'],
      [() => dev.tensor(new Uint16Array(3), { shape: [2, 2], dtype: 'bf16' }), RangeError, 'tensor: data must be 8 bytes (shape [2, 2] of bf16), got 6 bytes'],
      [() => dev.tensor([1.5], { dtype: 'i32' }), RangeError, "tensor: data[0] must be an integer in [-2147483648, 2147483647] for dtype 'i32', got 1.5"],
      [() => dev.tensor([0, 2147483648], { dtype: 'i32' }), RangeError, "tensor: data[1] must be an integer in [-2147483648, 2147483647] for dtype 'i32', got 2147483648"],
      [() => dev.tensor([256], { dtype: 'u8' }), RangeError, "tensor: data[0] must be an integer in [0, 255] for dtype 'u8', got 256"],
      [() => dev.tensor(Float32Array.of(-1), { dtype: 'u8' }), RangeError, "tensor: data[0] must be an integer in [0, 255] for dtype 'u8', got -1"],
      [() => dev.tensor([NaN], { dtype: 'u8' }), RangeError, "tensor: data[0] must be an integer in [0, 255] for dtype 'u8', got NaN"],
      [() => dev.tensor('abc' as unknown as number[]), TypeError, "tensor: data must be an array of numbers or a numeric typed array, got a string ('abc')"],
      [() => dev.tensor([1, 'a'] as unknown as number[]), TypeError, "tensor: data[1] must be a number, got a string ('a')"],
      [() => dev.tensor(new BigInt64Array(2) as unknown as number[]), TypeError, 'tensor: data must be an array of numbers or a numeric typed array, got a BigInt64Array'],
      [() => dev.tensor({ length: 2 } as unknown as number[]), TypeError, 'tensor: data must be an array of numbers or a numeric typed array, got an object'],
      [() => dev.tensor([1], 5 as unknown as object), TypeError, 'tensor: options must be an object, got a number (5)'],
    ];
    for (const [fn, cls, message] of cases) expectThrow(fn, cls, message);
  });

  it('dtype names', () => {
    using t = dev.tensor([1, 2, 3, 4]);
    const cases: Array<[Thrower, string]> = [
      [() => dev.tensor([1], { dtype: 'float32' as 'f32' }), `tensor: options.dtype must be ${DTYPE_LIST}, got a string ('float32')`],
      [() => dev.zeros([1], 'fp8' as 'f32'), `zeros: dtype must be ${DTYPE_LIST}, got a string ('fp8')`],
      [() => dev.empty([1], 7 as unknown as 'f32'), `empty: dtype must be ${DTYPE_LIST}, got a number (7)`],
      [() => t.cast('f64' as 'f32'), `cast: dtype must be ${DTYPE_LIST}, got a string ('f64')`],
      [() => t.cast('BF16' as 'bf16'), `cast: dtype must be ${DTYPE_LIST}, got a string ('BF16')`],
    ];
    for (const [fn, message] of cases) expectThrow(fn, TypeError, message);
  });

  it('reshape to an incompatible shape', () => {
    using t = dev.tensor([1, 2, 3, 4]);
    expectThrow(() => t.reshape([3]), RangeError, 'reshape: shape must be a shape of 4 elements (as [4]), got [3] (3 elements)');
    expectThrow(() => t.reshape([-1, 3]), RangeError, 'reshape: shape must be compatible with 4 elements, got [-1, 3]');
    expectThrow(() => t.reshape([-1, -1]), RangeError, 'reshape: shape must be a shape with at most one -1, got [-1, -1]');
    expectThrow(() => t.reshape(4 as unknown as number[]), TypeError, 'reshape: shape must be an array of non-negative integers, got a number (4)');
  });

  it('disposed tensors passed on, checked in lib/ and again in the binding', () => {
    const t = dev.tensor([1, 2]);
    const handle = t.handle('test', 'tensor');
    t.dispose();
    expectThrow(() => t.cast('bf16'), DisposedError, 'cast: tensor was disposed; a tensor cannot be used after dispose()');
    expectThrow(() => callNative(() => binding().cast(handle, 'bf16')), DisposedError, 'cast: tensor was disposed; a tensor cannot be used after dispose()');
    expectThrow(() => callNative(() => binding().read(handle, true, 0, 2)), DisposedError, 'read: tensor was disposed; a tensor cannot be used after dispose()');
  });

  it('an allocation that cannot succeed throws OutOfMemoryError and the device stays usable', async () => {
    expect(() => dev.zeros([2 ** 45])).toThrow(OutOfMemoryError);
    expect(() => dev.zeros([2 ** 45])).toThrow(new RegExp(`^zeros: ${dev.id}: out of memory allocating 140737488355328 bytes`));
    using t = dev.tensor([1, 2, 3]);
    expect(Array.from(await t.toArray())).toEqual([1, 2, 3]);
  });
});

describe('arguments that are not what an op takes', () => {
  it('non-tensors where the binding wants a tensor', () => {
    expectThrow(() => callNative(() => binding().cast({} as never, 'f32')), TypeError, 'cast: tensor must be a Tensor, got an object');
    expectThrow(() => callNative(() => binding().cast(3 as never, 'f32')), TypeError, 'cast: tensor must be a Tensor, got a number (3)');
    expectThrow(() => callNative(() => binding().read(null as never, true, 0, 0)), TypeError, 'read: tensor must be a Tensor, got null');
    const Ctor = (binding() as unknown as { NativeTensor: new () => unknown }).NativeTensor;
    expect(() => new Ctor()).toThrow("NativeTensor cannot be constructed directly; use a Device's tensor(), zeros() or empty()");
  });

  it('fp8.encode and fp8.decode arguments', () => {
    const cases: Array<[Thrower, string]> = [
      [() => fp8.encode([1, 2] as unknown as Float32Array, 'e4m3'), 'fp8.encode: values must be a Float32Array or Float64Array, got an array of length 2'],
      [() => fp8.encode(new Uint8Array(2) as unknown as Float32Array, 'e4m3'), 'fp8.encode: values must be a Float32Array or Float64Array, got a Uint8Array'],
      [() => fp8.encode(new Float32Array(1), 'e3m4' as 'e4m3'), "fp8.encode: format must be one of 'e4m3', 'e5m2', got a string ('e3m4')"],
      [() => fp8.encode(new Float32Array(1), 'e4m3', { saturate: 1 as unknown as boolean }), 'fp8.encode: options.saturate must be a boolean, got a number (1)'],
      [() => fp8.encode(new Float32Array(1), 'e4m3', 'x' as unknown as object), "fp8.encode: options must be an object, got a string ('x')"],
      [() => fp8.decode(new Float32Array(1) as unknown as Uint8Array, 'e4m3'), 'fp8.decode: codes must be a Uint8Array, got a Float32Array'],
      [() => fp8.decode(new Uint8Array(1), 'bf16' as 'e4m3'), "fp8.decode: format must be one of 'e4m3', 'e5m2', got a string ('bf16')"],
    ];
    for (const [fn, message] of cases) expectThrow(fn, TypeError, message);
  });

  it('unknown device specs', () => {
    const cases: Array<[unknown, string]> = [
      ['gpu', "a string ('gpu')"],
      ['CPU', "a string ('CPU')"],
      ['cuda:x', "a string ('cuda:x')"],
      ['cuda:-1', "a string ('cuda:-1')"],
      [3, 'a number (3)'],
      [null, 'null'],
    ];
    for (const [spec, got] of cases) expectThrow(() => device(spec as 'cpu'), TypeError, `device: spec must be ${SPECS}, got ${got}`);
    using t = device('cpu').tensor([1]);
    expectThrow(() => t.to({} as 'cpu'), TypeError, `to: device must be a Device or ${SPECS}, got an object`);
    expectThrow(() => t.to('tpu' as 'cpu'), TypeError, `to: device must be a Device or ${SPECS}, got a string ('tpu')`);
  });

  it('options.pinned must be a boolean', () => {
    const cpu = device('cpu');
    using t = cpu.tensor([1]);
    expectThrow(() => cpu.zeros([4], 'f32', { pinned: 'yes' as unknown as boolean }), TypeError, "zeros: options.pinned must be a boolean, got a string ('yes')");
    expectThrow(() => t.to('cpu', { pinned: 1 as unknown as boolean }), TypeError, 'to: options.pinned must be a boolean, got a number (1)');
  });
});

describe.skipIf(Boolean(gpu))(`without a GPU${gpu ? ' (skipped: a GPU is present)' : ''}`, () => {
  const reason = cudaStatus().reason;

  it("device('cuda') throws UnsupportedError saying why", () => {
    expect(reason).not.toBe('');
    for (const spec of ['cuda', 'cuda:0', 'cuda:1'] as const) {
      expectThrow(() => device(spec), UnsupportedError, `device: no device '${spec}' (${reason}); use device('cpu') or device('auto')`);
    }
    expect(device('auto').id).toBe('cpu');
    expect(device().id).toBe('cpu');
  });

  it('pinned host memory throws UnsupportedError saying why', () => {
    const cpu = device('cpu');
    using t = cpu.tensor([1, 2]);
    expectThrow(() => cpu.zeros([4], 'f32', { pinned: true }), UnsupportedError, `zeros: pinned host memory needs a CUDA device: ${reason}`);
    expectThrow(() => cpu.empty([4], 'f32', { pinned: true }), UnsupportedError, `empty: pinned host memory needs a CUDA device: ${reason}`);
    expectThrow(() => t.to('cpu', { pinned: true }), UnsupportedError, `to: pinned host memory needs a CUDA device: ${reason}`);
  });
});

describe.skipIf(!gpu)(`cuda${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}: device mismatches`, () => {
  it('a device that does not exist names the GPUs there are', () => {
    const ids = testDevices().filter((d) => d.kind === 'cuda').map((d) => d.id);
    const missing = `cuda:${ids.length}`;
    expectThrow(() => device(missing as 'cuda'), UnsupportedError, `device: no device '${missing}' (the GPUs are ${ids.join(', ')}); use device('cpu') or device('auto')`);
  });

  it('pinned host memory works with a GPU and must be a host tensor', async () => {
    const cpu = device('cpu');
    using p = cpu.zeros([4], 'f32', { pinned: true });
    expect(Array.from(await p.toArray())).toEqual([0, 0, 0, 0]);
    expectThrow(() => gpu!.zeros([4], 'f32', { pinned: true }), TypeError, 'zeros: options.pinned must be false for a GPU tensor (only host tensors are pinned), got true');
  });

  it('timing markers of two devices cannot be compared', () => {
    const a = binding().marker('cpu');
    const b = binding().marker(gpu!.id);
    expectThrow(() => callNative(() => binding().elapsed(a, b)), TypeError, 'elapsed: end must be a marker of the same device as start, got one of another device');
  });
});

describe('MOEKIT_DEVICE overrides what auto picks', () => {
  interface Picked {
    auto?: string;
    plain?: string;
    cpu?: string;
    error?: { name: string; message: string };
  }
  const pick = (value: string | undefined): Picked =>
    evalInChild<Picked>(
      `try {
         return { auto: m.device('auto').id, plain: m.device().id, cpu: m.device('cpu').id };
       } catch (e) {
         return { error: { name: e.name, message: e.message } };
       }`,
      { MOEKIT_DEVICE: value },
    );

  it('cpu, empty and auto', () => {
    expect(pick('cpu')).toEqual({ auto: 'cpu', plain: 'cpu', cpu: 'cpu' });
    const natural = gpu ? gpu.id : 'cpu';
    expect(pick('')).toEqual({ auto: natural, plain: natural, cpu: 'cpu' });
    expect(pick('auto')).toEqual({ auto: natural, plain: natural, cpu: 'cpu' });
    expect(pick(undefined)).toEqual({ auto: natural, plain: natural, cpu: 'cpu' });
  });

  it('a bad value names the variable', () => {
    expect(pick('tpu')).toEqual({ error: { name: 'TypeError', message: `device: MOEKIT_DEVICE must be ${SPECS}, got a string ('tpu')` } });
  });

  it.skipIf(Boolean(gpu))(`cuda without a GPU throws UnsupportedError saying why${gpu ? ' (skipped: a GPU is present)' : ''}`, () => {
    expect(pick('cuda')).toEqual({
      error: { name: 'UnsupportedError', message: `device: no device 'cuda' (${cudaStatus().reason}); use device('cpu') or device('auto')` },
    });
  });

  it.skipIf(!gpu)(`cuda picks the GPU${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
    expect(pick('cuda:0')).toEqual({ auto: 'cuda:0', plain: 'cuda:0', cpu: 'cpu' });
  });
});
