/**
 * Suite `quantize`: FP8 block quantization's bandwidth. The quantizer is
 * memory-bound (one read of the input, one write of codes and scales), so
 * each case is compared with a device-to-device copy moving the same bytes
 * (read + write): ×baseline is the fraction of copy bandwidth reached
 * (target: 0.8 on H100). Activations 1x128 on [M, 7168] bf16 and weights
 * 128x128 on the DeepSeek-V3 expert and projection matrices, every CUDA
 * version; the CPU device times the CPU twin.
 * @module
 */
import { type Device, type Tensor, device as getDevice, kernelVersions, quantize } from '../../lib/index.js';
import { compareBytes } from '../harness/compare.js';
import { copyReadWriteBytes, quantizeBytes } from '../harness/metrics.js';
import { type BenchCase, type BenchSuite, type SuiteContext, benchCase } from '../harness/types.js';
import { uniformFloats } from './inputs.js';

interface QuantShape {
  readonly name: string;
  readonly shape: readonly [number, number];
  readonly block: readonly [1, 128] | readonly [128, 128];
}

const SHAPES: readonly QuantShape[] = [
  { name: 'act-4096x7168', shape: [4096, 7168], block: [1, 128] },
  { name: 'act-16384x7168', shape: [16384, 7168], block: [1, 128] },
  { name: 'act-128x7168', shape: [128, 7168], block: [1, 128] },
  { name: 'w-7168x16384', shape: [7168, 16384], block: [128, 128] },
  { name: 'w-4096x7168', shape: [4096, 7168], block: [128, 128] },
];
const QUICK_SHAPES = SHAPES.slice(0, 1);
const CPU_SHAPES: readonly QuantShape[] = [
  { name: 'act-1024x7168', shape: [1024, 7168], block: [1, 128] },
  { name: 'w-2048x7168', shape: [2048, 7168], block: [128, 128] },
];

function elements(s: QuantShape): number {
  return s.shape[0] * s.shape[1];
}

function blockElements(s: QuantShape): number {
  return s.block[0] * s.block[1];
}

/** Quantizes on the CPU for the check: same codes and scales expected, bit for bit. */
async function cpuQuantized(x: Tensor, s: QuantShape): Promise<{ codes: Uint8Array; scales: Uint8Array }> {
  using xc = x.to(getDevice('cpu'));
  using q = quantize(xc, { block: s.block });
  return { codes: await q.values.bytes(), scales: await q.scales.bytes() };
}

function cases(dev: Device, shapes: readonly QuantShape[], seed: number): BenchCase[] {
  const out: BenchCase[] = [];
  const versions = dev.kind === 'cuda' ? (kernelVersions().quantize ?? []).map((v) => v.name) : ['cpu'];
  for (const s of shapes) {
    const bytes = quantizeBytes(elements(s), 2, blockElements(s));
    // A copy of half the quantizer's bytes moves the same total (read + write).
    const copyElements = Math.round(bytes / 2);
    const copyName = `copy-${s.name}`;
    if (dev.kind === 'cuda') {
      out.push(
        benchCase<Tensor>({
          name: copyName,
          params: { shape: `${s.shape[0]}x${s.shape[1]}`, op: 'd2d copy, same bytes' },
          bytes: copyReadWriteBytes(copyElements),
          setup: () => dev.zeros([copyElements], 'u8'),
          run: (t) => t.clone(),
          teardown: (t) => t.dispose(),
        }),
      );
    }
    for (const v of versions) {
      out.push(
        benchCase<Tensor>({
          name: `${v}-${s.name}`,
          params: { shape: `${s.shape[0]}x${s.shape[1]}`, block: `${s.block[0]}x${s.block[1]}`, impl: v },
          bytes,
          ...(dev.kind === 'cuda' ? { baseline: copyName } : {}),
          setup: () => dev.tensor(uniformFloats(seed ^ elements(s), elements(s), 4), { shape: [...s.shape], dtype: 'bf16' }),
          run: (x) => quantize(x, { block: s.block, impl: v as 'v1' }),
          // The CPU twin is the reference, so only GPU versions are checked.
          ...(dev.kind === 'cuda'
            ? {
                async check(x: Tensor) {
                  using q = quantize(x, { block: s.block, impl: v as 'v1' });
                  const want = await cpuQuantized(x, s);
                  const scales = compareBytes(`${v} scales vs CPU`, await q.scales.bytes(), want.scales);
                  if (!scales.passed) return scales;
                  return compareBytes(`${v} codes vs CPU`, await q.values.bytes(), want.codes);
                },
              }
            : {}),
          teardown: (x) => x.dispose(),
        }),
      );
    }
  }
  return out;
}

/** The quantizer bandwidth suite (see the module comment). */
export const quantizeSuite: BenchSuite = {
  name: 'quantize',
  description: 'FP8 block quantization (DeepSeek-V3 recipe) bandwidth vs a device copy of the same bytes',
  notes: [
    'GB/s counts the bf16 input read once, one FP8 code and the f32 scales written once.',
    'x baseline = copy time / quantize time for the same bytes: the fraction of copy bandwidth reached.',
  ],
  cases(ctx: SuiteContext): readonly BenchCase[] {
    if (ctx.device.kind === 'cuda') return cases(ctx.device, ctx.quick ? QUICK_SHAPES : SHAPES, ctx.seed);
    return cases(ctx.device, ctx.quick ? CPU_SHAPES.slice(0, 1) : CPU_SHAPES, ctx.seed);
  },
};
