// gemm v2 (cuda/gemm/gemm_v2.cu: mma.sync, 128x128x32 tiles, 4-stage
// cp.async pipeline) against the CPU twin, on the edge cases of its tiling:
// M and N one below and above the 128 tile, M = 1 and N = 1, odd N (element
// stores instead of pairs), K = 8 and K = 16 (one partial stage), K not a
// multiple of the 32-wide stage, more K tiles than pipeline stages, K = 0,
// and more tile rows than the grouped tile order's group of 8. Outputs are
// poisoned with NaN so unwritten elements show. The table entry is checked
// wherever the addon has CUDA; the GPU runs need an sm_80+ GPU and are
// skipped, with the reason, elsewhere.
import { describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, UnsupportedError, buildInfo, device, gemm, kernelVersions } from '../../lib/index.js';
import { expectClose } from '../helpers/close.js';
import { cudaDevice, cudaSkipReason, gemmWork, tooLargeToEmulate } from '../helpers/devices.js';
import { rng } from '../helpers/rng.js';
import { productTolerance } from '../helpers/tolerance.js';
import { accumulatorOf, describeUnverifiedEntry, smOf } from '../helpers/versions.js';

// Values in (-1, 1) scaled per row, so a row or column mix-up shows.
function randomMatrix(rows: number, cols: number, stream: string): Float32Array {
  const r = rng(stream);
  const out = r.uniformArray(rows * cols, -1, 1);
  for (let i = 0; i < rows; ++i) {
    const scale = 2 ** r.uniform(-2, 2);
    for (let j = 0; j < cols; ++j) out[i * cols + j]! *= scale;
  }
  return out;
}

const cuda = cudaDevice();
const gpu = cuda && (cuda.info.computeCapability?.[0] ?? 0) >= 8 ? cuda : undefined;
const skipReason = !buildInfo().cuda ? 'the addon was built without CUDA' : !cuda ? cudaSkipReason() : 'v2 needs compute capability 8.0 or newer';

describeUnverifiedEntry('gemm', 'v2', 80, 0);

describe.skipIf(!gpu)(`gemm v2 on ${gpu ? gpu.name : `cuda (skipped: ${skipReason})`}`, () => {
  // [M, N, K, what it exercises]
  const shapes: Array<[number, number, number, string]> = [
    [1, 1, 8, 'M = N = 1, K = 8: one 16-byte chunk per row, the rest of the stage zero-filled'],
    [127, 129, 16, 'M one below and N one above the tile, K = 16: one mma k-step'],
    [129, 127, 32, 'M one above and N one below the tile, K = 32: exactly one stage'],
    [128, 128, 40, 'one tile, K = 40: a partial second stage'],
    [65, 255, 264, 'odd N (element stores), K not a multiple of 32, 9 K tiles (more than the 4 stages)'],
    [1100, 300, 200, '9 x 3 tiles: more tile rows than the group of 8'],
    [3, 2112, 7168, 'decode rows, DeepSeek-V3 q_a/kv_a shape'],
    [5, 7, 0, 'K = 0: C is zero'],
  ];

  function run(dev: Device, m: number, n: number, k: number, dtype: 'bf16' | 'f16', outDtype: 'bf16' | 'f16' | 'f32') {
    const cpu = device('cpu');
    const a = cpu.tensor(randomMatrix(m, k, `gemm v2 a ${m}x${k}`), { shape: [m, k], dtype });
    const b = cpu.tensor(randomMatrix(n, k, `gemm v2 b ${n}x${k}`), { shape: [n, k], dtype });
    // The twin's f32 output: the reference unrounded (tests/helpers/tolerance.ts).
    const ref = gemm(a, b, { impl: 'cpu', outDtype: 'f32' });
    const ga = a.to(dev);
    const gb = b.to(dev);
    const out = gemm(ga, gb, { impl: 'v2', outDtype });
    const dispose = () => [a, b, ref, ga, gb, out].forEach((t) => t.dispose());
    return { ref, out, dispose };
  }

  for (const [m, n, k, what] of shapes) {
    // A run for each of two input dtypes and two output dtypes; too slow for the emulated GPU on the largest shapes.
    const skip = tooLargeToEmulate(gpu, 4 * gemmWork('gemm', 'v2', m, n, k));
    it.skipIf(skip !== '')(`M=${m} N=${n} K=${k}: ${what}${skip ? ` (${skip})` : ''}`, async () => {
      const dev = gpu!;
      binding().setPoison(dev.id, true);
      try {
        for (const dtype of ['bf16', 'f16'] as const) {
          for (const outDtype of ['f32', dtype] as const) {
            const { ref, out, dispose } = run(dev, m, n, k, dtype, outDtype);
            try {
              expect(out.shape).toEqual([m, n]);
              expect(out.dtype).toBe(outDtype);
              // Same inputs; the output's rounding plus both accumulations.
              const want = await ref.toArray();
              const tol = productTolerance(outDtype, want, k, [accumulatorOf('gemm', 'v2', { m, n, k, dtype, sm: smOf(dev.info) }), 'f32']);
              expectClose(`v2 ${dtype} -> ${outDtype} ${m}x${n}x${k}`, await out.toArray(), want, tol, { shape: [m, n] });
            } finally {
              dispose();
            }
          }
        }
      } finally {
        binding().setPoison(dev.id, false);
      }
    });
  }

  it('refuses K that is no multiple of 8, saying why', () => {
    const dev = gpu!;
    const a = dev.tensor(randomMatrix(4, 12, 'gemm v2 k12 a'), { shape: [4, 12], dtype: 'bf16' });
    const b = dev.tensor(randomMatrix(4, 12, 'gemm v2 k12 b'), { shape: [4, 12], dtype: 'bf16' });
    try {
      expect(() => gemm(a, b, { impl: 'v2' })).toThrow(UnsupportedError);
      expect(() => gemm(a, b, { impl: 'v2' })).toThrow(/k must be a multiple of 8/);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('refuses f32 operands, naming v1', () => {
    const dev = gpu!;
    const a = dev.tensor(randomMatrix(4, 16, 'gemm v2 f32 a'), { shape: [4, 16] });
    const b = dev.tensor(randomMatrix(4, 16, 'gemm v2 f32 b'), { shape: [4, 16] });
    try {
      expect(() => gemm(a, b, { impl: 'v2' })).toThrow(UnsupportedError);
      expect(() => gemm(a, b, { impl: 'v2' })).toThrow(/bf16 or f16 \(f32 operands run on v1\)/);
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});
