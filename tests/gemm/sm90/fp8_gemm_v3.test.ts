// fp8Gemm v3 (cuda/gemm/sm90/fp8_gemm_v3.cu, Hopper only) against the CPU
// twin on the same quantized inputs, on the edge cases of its design: the
// 64-row configuration (M <= 64) and the 128-row one, M = 1 and M = 65,
// N that is no multiple of the tile width (odd N too: no paired stores),
// K = 16 and K not a multiple of 128 (TMA zero fill), and more tiles than
// multiprocessors (the persistent walk). Outputs are poisoned with NaN so
// unwritten elements show. The table entry is checked wherever the addon
// has CUDA; the GPU runs need an sm_90 GPU and are skipped, with the
// reason, elsewhere.
import { describe, expect, it } from 'vitest';

import { binding } from '../../../lib/binding.js';
import {
  type Device,
  UnsupportedError,
  asQuantized,
  buildInfo,
  cudaStatus,
  device,
  devices,
  fp8Gemm,
  kernelVersions,
  quantize,
} from '../../../lib/index.js';
import { expectClose } from '../../helpers/close.js';
import { gemmWork, tooLargeToEmulate } from '../../helpers/devices.js';
import { rng } from '../../helpers/rng.js';
import { productTolerance } from '../../helpers/tolerance.js';
import { accumulatorOf, describeUnverifiedEntry, smOf } from '../../helpers/versions.js';

// Values whose magnitude changes by row and by 128-column block, so every
// scale of both operands matters.
function randomMatrix(rows: number, cols: number, stream: string): Float32Array {
  const r = rng(stream);
  const out = new Float32Array(rows * cols);
  const rowScale = Array.from({ length: rows }, () => 2 ** r.uniform(-4, 4));
  const blockScale = Array.from({ length: Math.ceil(cols / 128) }, () => 2 ** r.uniform(-2, 2));
  for (let i = 0; i < rows; ++i) {
    for (let j = 0; j < cols; ++j) out[i * cols + j] = r.randn() * rowScale[i]! * blockScale[Math.floor(j / 128)]!;
  }
  return out;
}

const cuda = cudaStatus();
const hopper = devices().find((d) => d.kind === 'cuda' && d.computeCapability?.[0] === 9 && d.computeCapability?.[1] === 0);
const skipReason = !cuda.built
  ? 'the addon was built without CUDA'
  : !cuda.available
    ? cuda.reason
    : 'no sm_90 GPU: v3 is Hopper-only';

describeUnverifiedEntry('fp8Gemm', 'v3', 90, 90);

describe.skipIf(!hopper)(`fp8Gemm v3 on ${hopper ? hopper.name : `cuda (skipped: ${skipReason})`}`, () => {
  // [M, N, K, what it exercises]
  const shapes: Array<[number, number, number, string]> = [
    [1, 129, 16, 'M = 1, K = 16 (one 16-byte row, the rest of the box zero-filled), N past a tile'],
    [1, 2112, 7168, 'decode row, DeepSeek-V3 q_a/kv_a shape'],
    [64, 100, 272, 'M = 64 (last M of the 64-row config), K = 2 blocks + 16'],
    [33, 7168, 512, '64-row config, 224 tiles: several per multiprocessor'],
    [65, 128, 128, 'M = 65: first M of the 128-row config, one real row in the second warpgroup'],
    [127, 255, 144, 'odd N (element stores), ragged M, K = 128 + 16'],
    [129, 257, 1008, 'ragged M and N by one, K not a multiple of 128'],
    [1024, 4096, 128, '256 tiles of 128 x 128: two per multiprocessor'],
  ];

  function run(dev: Device, m: number, n: number, k: number, outDtype: 'bf16' | 'f32') {
    const cpu = device('cpu');
    const x = cpu.tensor(randomMatrix(m, k, `v3 a ${m}x${k}`), { shape: [m, k] });
    const w = cpu.tensor(randomMatrix(n, k, `v3 b ${n}x${k}`), { shape: [n, k] });
    const qa = quantize(x, { block: [1, 128] });
    const qb = quantize(w, { block: [128, 128] });
    // The twin's f32 output: the reference unrounded (tests/helpers/tolerance.ts).
    const ref = fp8Gemm(qa, qb, { impl: 'cpu', outDtype: 'f32' });
    const ga = asQuantized(qa.values.to(dev), qa.scales.to(dev), { block: [1, 128] });
    const gb = asQuantized(qb.values.to(dev), qb.scales.to(dev), { block: [128, 128] });
    const out = fp8Gemm(ga, gb, { impl: 'v3', outDtype });
    const dispose = () => [x, w, qa, qb, ref, ga, gb, out].forEach((t) => t.dispose());
    return { ref, out, dispose };
  }

  for (const [m, n, k, what] of shapes) {
    // A run for each of two output dtypes; too slow for the emulated GPU on the largest shapes.
    const skip = tooLargeToEmulate(hopper && device(hopper.id as `cuda:${number}`), 2 * gemmWork('fp8Gemm', 'v3', m, n, k));
    it.skipIf(skip !== '')(`M=${m} N=${n} K=${k}: ${what}${skip ? ` (${skip})` : ''}`, async () => {
      const dev = device(hopper!.id as `cuda:${number}`);
      binding().setPoison(dev.id, true);
      try {
        for (const outDtype of ['bf16', 'f32'] as const) {
          const { ref, out, dispose } = run(dev, m, n, k, outDtype);
          try {
            expect(out.shape).toEqual([m, n]);
            expect(out.dtype).toBe(outDtype);
            // The output's rounding plus both accumulations (tests/helpers/tolerance.ts).
            const want = await ref.toArray();
            const call = { m, n, k, aFormat: 'e4m3', bFormat: 'e4m3', sm: smOf(dev.info) } as const;
            const tol = productTolerance(outDtype, want, k, [accumulatorOf('fp8Gemm', 'v3', call), 'f32']);
            expectClose(`v3 ${outDtype} ${m}x${n}x${k}`, await out.toArray(), want, tol, { shape: [m, n] });
          } finally {
            dispose();
          }
        }
      } finally {
        binding().setPoison(dev.id, false);
      }
    });
  }

  it('refuses K that is no multiple of 16, saying why', () => {
    const dev = device(hopper!.id as `cuda:${number}`);
    const x = dev.tensor(randomMatrix(4, 40, 'v3 k40 a'), { shape: [4, 40] });
    const w = dev.tensor(randomMatrix(8, 40, 'v3 k40 b'), { shape: [8, 40] });
    const qa = quantize(x, { block: [1, 128] });
    const qb = quantize(w, { block: [128, 128] });
    try {
      expect(() => fp8Gemm(qa, qb, { impl: 'v3' })).toThrow(UnsupportedError);
      expect(() => fp8Gemm(qa, qb, { impl: 'v3' })).toThrow(/k must be a multiple of 16/);
    } finally {
      [x, w, qa, qb].forEach((t) => t.dispose());
    }
  });

  it('refuses e5m2 operands, saying why', () => {
    const dev = device(hopper!.id as `cuda:${number}`);
    const x = dev.tensor(randomMatrix(4, 128, 'v3 e5m2 a'), { shape: [4, 128] });
    const w = dev.tensor(randomMatrix(8, 128, 'v3 e5m2 b'), { shape: [8, 128] });
    const qa = quantize(x, { block: [1, 128], format: 'e5m2' });
    const qb = quantize(w, { block: [128, 128] });
    try {
      expect(() => fp8Gemm(qa, qb, { impl: 'v3' })).toThrow(/must both be e4m3/);
    } finally {
      [x, w, qa, qb].forEach((t) => t.dispose());
    }
  });
});
