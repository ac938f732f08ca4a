// Bad input that must be refused by name: integer data checked by the addon
// itself, unknown option keys, null options, look-alike tensors and
// Quantized objects, devices named in another op, and addons that are not
// moekit's.
import { createRequire } from 'node:module';

import { afterAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import {
  Quantized,
  Tensor,
  asQuantized,
  baselines,
  dequantize,
  device,
  fp8,
  fp8Gemm,
  gemm,
  quantize,
} from '../../lib/index.js';
import { builtEntry, runModule } from '../helpers/child.js';

const cpu = device('cpu');

function thrown(f: () => unknown): { name: string; code: string | undefined; message: string } {
  try {
    f();
  } catch (e) {
    const err = e as Error & { code?: string };
    return { name: err.constructor.name, code: err.code, message: err.message };
  }
  throw new Error('expected a throw');
}

describe('integer data is checked by the addon itself', () => {
  it('a typed array whose length is hidden cannot slip values past the check', () => {
    const data = new Float64Array([1e300, -5, NaN, 3.7]);
    Object.defineProperty(data, 'length', { value: 0 });
    expect(thrown(() => cpu.tensor(data, { dtype: 'u8', shape: [4] }))).toEqual({
      name: 'RangeError',
      code: 'ERR_MOEKIT_OUT_OF_RANGE',
      message: "tensor: data[0] must be an integer in [0, 255] for dtype 'u8', got 1e+300",
    });
  });

  it.each([
    ['u8', [0, 255, -5], "tensor: data[2] must be an integer in [0, 255] for dtype 'u8', got -5"],
    ['u8', [1, NaN], "tensor: data[1] must be an integer in [0, 255] for dtype 'u8', got NaN"],
    ['u8', [3.7], "tensor: data[0] must be an integer in [0, 255] for dtype 'u8', got 3.7"],
    ['i32', [2 ** 40], "tensor: data[0] must be an integer in [-2147483648, 2147483647] for dtype 'i32', got 1099511627776"],
    ['i32', [-(2 ** 31) - 1], "tensor: data[0] must be an integer in [-2147483648, 2147483647] for dtype 'i32', got -2147483649"],
  ] as const)('the binding refuses %s data %j without lib/', (dtype, values, message) => {
    expect(thrown(() => binding().fromData('cpu', dtype, [values.length], new Float64Array(values), false))).toEqual({
      name: 'RangeError',
      code: 'ERR_MOEKIT_OUT_OF_RANGE',
      message,
    });
  });

  it('integer typed arrays out of range are refused too', () => {
    expect(thrown(() => binding().fromData('cpu', 'i32', [1], new Uint32Array([2 ** 32 - 1]), false)).message).toBe(
      "tensor: data[0] must be an integer in [-2147483648, 2147483647] for dtype 'i32', got 4294967295",
    );
    expect(thrown(() => binding().fromData('cpu', 'u8', [1], new Int16Array([-1]), false)).message).toBe(
      "tensor: data[0] must be an integer in [0, 255] for dtype 'u8', got -1",
    );
  });

  it('values in range convert exactly', async () => {
    using t = Tensor.fromNative<'i32'>(binding().fromData('cpu', 'i32', [3], new Float64Array([-(2 ** 31), 0, 2 ** 31 - 1]), false));
    expect(Array.from(await t.toArray())).toEqual([-(2 ** 31), 0, 2 ** 31 - 1]);
  });
});

describe('options', () => {
  const a = cpu.tensor(new Float32Array(4 * 128).fill(1), { shape: [4, 128] });
  const qa = quantize(a, { block: [1, 128] });
  const qb = quantize(a, { block: [128, 128] });
  afterAll(() => {
    for (const x of [a, qa, qb]) x.dispose();
  });

  const cases: [string, () => unknown, string][] = [
    ['gemm', () => gemm(a, a, { outdtype: 'f32' } as never), "gemm: unknown option 'outdtype' (did you mean 'outDtype'?); the options are one of 'outDtype', 'impl'"],
    ['fp8Gemm', () => fp8Gemm(qa, qb, { out: 'f32' } as never), "fp8Gemm: unknown option 'out'; the options are one of 'outDtype', 'impl'"],
    ['quantize', () => quantize(a, { block: [1, 128], fromat: 'e5m2' } as never), "quantize: unknown option 'fromat' (did you mean 'format'?); the options are one of 'block', 'format', 'scaleFormat', 'impl'"],
    ['dequantize', () => dequantize(qa, { dtyp: 'bf16' } as never), "dequantize: unknown option 'dtyp' (did you mean 'dtype'?); the options are one of 'dtype'"],
    ['asQuantized', () => asQuantized(qa.values, qa.scales, { block: [1, 128], scale: 'f32' } as never), "asQuantized: unknown option 'scale'; the options are one of 'block', 'scaleFormat'"],
    ['fp8.encode', () => fp8.encode(new Float32Array(1), 'e4m3', { saturated: false } as never), "fp8.encode: unknown option 'saturated' (did you mean 'saturate'?); the options are one of 'saturate'"],
    ['tensor', () => cpu.tensor([1], { dtpye: 'bf16' } as never), "tensor: unknown option 'dtpye' (did you mean 'dtype'?); the options are one of 'shape', 'dtype'"],
    ['zeros', () => cpu.zeros([1], 'f32', { pinnned: true } as never), "zeros: unknown option 'pinnned' (did you mean 'pinned'?); the options are one of 'pinned'"],
    ['empty', () => cpu.empty([1], 'f32', { Pinned: true } as never), "empty: unknown option 'Pinned' (did you mean 'pinned'?); the options are one of 'pinned'"],
    ['to', () => a.to('cpu', { pined: true } as never), "to: unknown option 'pined' (did you mean 'pinned'?); the options are one of 'pinned'"],
    ['toArray', () => a.toArray({ begin: 1 } as never), "toArray: range has an unknown key 'begin'; its keys are one of 'start', 'end'"],
    ['bytes', () => a.bytes({ stop: 1 } as never), "bytes: range has an unknown key 'stop'; its keys are one of 'start', 'end'"],
    ['baselines.gemm', () => baselines.gemm(a, a, { outDType: 'f32' } as never), "baselines.gemm: unknown option 'outDType' (did you mean 'outDtype'?); the options are one of 'outDtype'"],
  ];

  it.each(cases)('%s: an unknown key is a TypeError naming it and the closest valid one', (_, f, message) => {
    expect(thrown(f)).toEqual({ name: 'TypeError', code: 'ERR_MOEKIT_INVALID_ARG', message });
  });

  it('null means the default, for one option and for the whole object', async () => {
    using c1 = gemm(a, a, { outDtype: null } as never);
    using c2 = gemm(a, a, null as never);
    expect(c1.dtype).toBe('f32');
    expect(c2.dtype).toBe('f32');
    using q = quantize(a, { block: [1, 128], format: null, scaleFormat: null } as never);
    expect(q.format).toBe('e4m3');
    expect(q.scaleFormat).toBe('f32');
    expect(Array.from(await a.toArray(null as never)).length).toBe(4 * 128);
    expect(Array.from(fp8.encode(new Float32Array([1000]), 'e4m3', { saturate: null } as never))).toEqual([0x7e]);
  });
});

describe('look-alikes are refused by name', () => {
  const t = cpu.zeros([2, 2]);
  afterAll(() => t.dispose());

  it.each([
    ['a Proxy of a Tensor', () => new Proxy(t, {})],
    ['Object.create(Tensor.prototype)', () => Object.create(Tensor.prototype) as Tensor],
  ])('%s', (_, make) => {
    const fake = make();
    const lookalike = 'an object that only looks like a Tensor (a Proxy or an Object.create copy)';
    expect(thrown(() => gemm(fake, t))).toEqual({ name: 'TypeError', code: 'ERR_MOEKIT_INVALID_ARG', message: `gemm: a must be a Tensor, got ${lookalike}` });
    expect(thrown(() => gemm(t, fake)).message).toBe(`gemm: b must be a Tensor, got ${lookalike}`);
    expect(thrown(() => quantize(fake, { block: [1, 128] })).message).toBe(`quantize: x must be a Tensor, got ${lookalike}`);
    expect(thrown(() => fake.toArray()).message).toBe(`toArray: tensor must be a Tensor, got ${lookalike}`);
    expect(thrown(() => fake.cast('bf16')).message).toBe(`cast: tensor must be a Tensor, got ${lookalike}`);
    expect(thrown(() => fake.dispose()).message).toBe(`dispose: this must be a Tensor, got ${lookalike}`);
    expect(thrown(() => fake.disposed).message).toBe(`disposed: this must be a Tensor, got ${lookalike}`);
    expect(String(Object.create(Tensor.prototype))).toBe('Tensor(not made by moekit)');
  });

  it('a hand-built Quantized', () => {
    const plain = { values: t, scales: t, block: [1, 128] };
    expect(thrown(() => fp8Gemm(plain as never, plain as never))).toEqual({
      name: 'TypeError',
      code: 'ERR_MOEKIT_INVALID_ARG',
      message: 'fp8Gemm: a must be a Quantized (from quantize(x, { block: [1, 128] })), got an object',
    });
    expect(thrown(() => dequantize(Object.create(Quantized.prototype) as Quantized)).message).toBe(
      'dequantize: q must be a Quantized (from quantize() or asQuantized()), got a Quantized',
    );
    // The constructor checks its arguments: a Quantized without a block cannot be made.
    using v = cpu.zeros([2, 128], 'e4m3');
    expect(thrown(() => new Quantized(v, t, undefined as never, 'f32')).message).toBe(
      "Quantized: block must be [1, 128], [128, 128] or 'tensor', got undefined",
    );
    expect(thrown(() => new Quantized(t as never, t, [1, 128], 'f32')).message).toBe("Quantized: values.dtype must be 'e4m3' or 'e5m2', got a string ('f32')");
  });

  it('to() names itself for a device that does not exist', () => {
    const e = thrown(() => t.to('cuda:7'));
    expect(e.name).toBe('UnsupportedError');
    expect(e.message).toMatch(/^to: no device 'cuda:7' \(/);
    expect(thrown(() => t.to('gpu' as never)).message).toBe("to: device must be a Device or 'auto', 'cpu', 'cuda' or 'cuda:N', got a string ('gpu')");
  });
});

describe('MOEKIT_BINDING_PATH', () => {
  const load = (path: string) =>
    runModule(
      `const m = await import(${JSON.stringify(builtEntry())});
       try { m.devices(); process.stdout.write('loaded'); } catch (e) { process.stdout.write(e.name + ' ' + e.code + ': ' + e.message.split('\\n')[0]); }`,
      { MOEKIT_BINDING_PATH: path },
    );

  it("moekit's own JavaScript entry point is refused, not run", () => {
    const r = load(builtEntry());
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`BindingLoadError ERR_MOEKIT_BINDING: moekit: MOEKIT_BINDING_PATH must name a .node file (the addon moekit.node), got '${builtEntry()}'.`);
  });

  const require = createRequire(import.meta.url);
  let other: string | undefined;
  try {
    other = require.resolve('lightningcss-linux-x64-gnu/lightningcss.linux-x64-gnu.node');
  } catch {
    other = undefined;
  }

  it.skipIf(!other)(`another package's addon is refused${other ? '' : ' (skipped: no other .node file is installed here)'}`, () => {
    const r = load(other!);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`BindingLoadError ERR_MOEKIT_BINDING: moekit: MOEKIT_BINDING_PATH (${other}) is not a moekit addon.`);
  });
});
