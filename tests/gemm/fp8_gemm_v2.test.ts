// fp8Gemm v2 (cuda/gemm/fp8_gemm_v2.cu: mma.sync, 128x128 tiles, one
// 128-wide scale block per pipeline stage) against the CPU twin on the same
// quantized inputs, on the edge cases of its tiling: M and N one below and
// above the 128 tile, M = 1, odd N (element stores), K = 16 (one 16-byte
// chunk of the stage), K = 128 (one K block), a ragged last K block, more
// K blocks than pipeline stages, more tile rows than the grouped tile
// order's group of 8, and every pairing of E4M3 and E5M2 operands (on
// sm_89+ each is its own mma instruction; on sm_80 each its own bf16
// decode). Outputs are poisoned with NaN so unwritten elements show. The
// table entry is checked wherever the addon has CUDA; the GPU runs need an
// sm_80+ GPU and are skipped, with the reason, elsewhere.
import { describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, UnsupportedError, asQuantized, buildInfo, device, fp8Gemm, kernelVersions, quantize } from '../../lib/index.js';
import { expectClose } from '../helpers/close.js';
import { cudaDevice, cudaSkipReason, gemmWork, tooLargeToEmulate } from '../helpers/devices.js';
import { rng } from '../helpers/rng.js';
import { productTolerance } from '../helpers/tolerance.js';
import { accumulatorOf, describeUnverifiedEntry, smOf } from '../helpers/versions.js';

// Values whose magnitude changes by row and by 128-column block, so every
// scale of both operands matters.
function randomMatrix(rows: number, cols: number, stream: string): Float32Array {
  const r = rng(stream);
  const out = r.randnArray(rows * cols);
  const rowScale = Array.from({ length: rows }, () => 2 ** r.uniform(-4, 4));
  const blockScale = Array.from({ length: Math.ceil(cols / 128) }, () => 2 ** r.uniform(-2, 2));
  for (let i = 0; i < rows; ++i) {
    for (let j = 0; j < cols; ++j) out[i * cols + j]! *= rowScale[i]! * blockScale[Math.floor(j / 128)]!;
  }
  return out;
}

const cuda = cudaDevice();
const gpu = cuda && (cuda.info.computeCapability?.[0] ?? 0) >= 8 ? cuda : undefined;
const skipReason = !buildInfo().cuda ? 'the addon was built without CUDA' : !cuda ? cudaSkipReason() : 'v2 needs compute capability 8.0 or newer';

describeUnverifiedEntry('fp8Gemm', 'v2', 80, 0);

describe.skipIf(!gpu)(`fp8Gemm v2 on ${gpu ? gpu.name : `cuda (skipped: ${skipReason})`}`, () => {
  // [M, N, K, what it exercises]
  const shapes: Array<[number, number, number, string]> = [
    [1, 129, 16, 'M = 1, K = 16: one chunk per row of the only stage, the rest zero-filled; N one past a tile'],
    [127, 128, 128, 'M one below the tile, K = 128: one K block, one promotion'],
    [129, 127, 144, 'M one above and N one below the tile, a ragged last K block of 16'],
    [128, 255, 1008, 'odd N (element stores), 8 K blocks (more than the 3 stages), the last one 112 wide'],
    [1100, 300, 256, '9 x 3 tiles: more tile rows than the group of 8'],
    [2, 2112, 7168, 'decode rows, DeepSeek-V3 q_a/kv_a shape: 56 K blocks'],
  ];

  function run(dev: Device, m: number, n: number, k: number, formats: ['e4m3' | 'e5m2', 'e4m3' | 'e5m2'], outDtype: 'bf16' | 'f32') {
    const cpu = device('cpu');
    const x = cpu.tensor(randomMatrix(m, k, `fp8Gemm v2 a ${m}x${k}`), { shape: [m, k] });
    const w = cpu.tensor(randomMatrix(n, k, `fp8Gemm v2 b ${n}x${k}`), { shape: [n, k] });
    const qa = quantize(x, { block: [1, 128], format: formats[0] });
    const qb = quantize(w, { block: [128, 128], format: formats[1] });
    // The twin's f32 output: the reference unrounded (tests/helpers/tolerance.ts).
    const ref = fp8Gemm(qa, qb, { impl: 'cpu', outDtype: 'f32' });
    const ga = asQuantized(qa.values.to(dev), qa.scales.to(dev), { block: [1, 128] });
    const gb = asQuantized(qb.values.to(dev), qb.scales.to(dev), { block: [128, 128] });
    const out = fp8Gemm(ga, gb, { impl: 'v2', outDtype });
    const dispose = () => [x, w, qa, qb, ref, ga, gb, out].forEach((t) => t.dispose());
    return { ref, out, dispose };
  }

  for (const [m, n, k, what] of shapes) {
    // A run for each of two output dtypes; too slow for the emulated GPU on the largest shapes.
    const skip = tooLargeToEmulate(gpu, 2 * gemmWork('fp8Gemm', 'v2', m, n, k));
    it.skipIf(skip !== '')(`M=${m} N=${n} K=${k}: ${what}${skip ? ` (${skip})` : ''}`, async () => {
      const dev = gpu!;
      binding().setPoison(dev.id, true);
      try {
        for (const outDtype of ['bf16', 'f32'] as const) {
          const { ref, out, dispose } = run(dev, m, n, k, ['e4m3', 'e4m3'], outDtype);
          try {
            expect(out.shape).toEqual([m, n]);
            expect(out.dtype).toBe(outDtype);
            // The output's rounding plus both accumulations (tests/helpers/tolerance.ts).
            const want = await ref.toArray();
            const call = { m, n, k, aFormat: 'e4m3', bFormat: 'e4m3', sm: smOf(dev.info) } as const;
            const tol = productTolerance(outDtype, want, k, [accumulatorOf('fp8Gemm', 'v2', call), 'f32']);
            expectClose(`v2 e4m3 ${outDtype} ${m}x${n}x${k}`, await out.toArray(), want, tol, { shape: [m, n] });
          } finally {
            dispose();
          }
        }
      } finally {
        binding().setPoison(dev.id, false);
      }
    });
  }

  const pairings: Array<['e4m3' | 'e5m2', 'e4m3' | 'e5m2']> = [
    ['e4m3', 'e5m2'],
    ['e5m2', 'e4m3'],
    ['e5m2', 'e5m2'],
  ];
  it.each(pairings)('a %s x b %s', async (fa, fb) => {
    const dev = gpu!;
    binding().setPoison(dev.id, true);
    try {
      const [m, n, k] = [129, 130, 400];
      const { ref, out, dispose } = run(dev, m, n, k, [fa, fb], 'f32');
      try {
        const want = await ref.toArray();
        const tol = productTolerance('f32', want, k, [accumulatorOf('fp8Gemm', 'v2', { m, n, k, aFormat: fa, bFormat: fb, sm: smOf(dev.info) }), 'f32']);
        expectClose(`v2 ${fa} x ${fb} ${m}x${n}x${k}`, await out.toArray(), want, tol, { shape: [m, n] });
      } finally {
        dispose();
      }
    } finally {
      binding().setPoison(dev.id, false);
    }
  });

  it('refuses K that is no multiple of 16, saying why', () => {
    const dev = gpu!;
    const x = dev.tensor(randomMatrix(4, 40, 'fp8Gemm v2 k40 a'), { shape: [4, 40] });
    const w = dev.tensor(randomMatrix(4, 40, 'fp8Gemm v2 k40 b'), { shape: [4, 40] });
    const qa = quantize(x, { block: [1, 128] });
    const qb = quantize(w, { block: [128, 128] });
    try {
      expect(() => fp8Gemm(qa, qb, { impl: 'v2' })).toThrow(UnsupportedError);
      expect(() => fp8Gemm(qa, qb, { impl: 'v2' })).toThrow(/k must be a multiple of 16/);
    } finally {
      [x, w, qa, qb].forEach((t) => t.dispose());
    }
  });
});
