// dequantize v1 (cuda/fp8/dequantize_v1.cu: a grid-stride loop, a thread per
// element) against the CPU twin, bit for bit, for each block, FP8 format and
// output dtype, on ragged shapes around the 128 block and a batch of
// matrices. Skipped, with the reason, without a GPU.
import { describe, expect, it } from 'vitest';

import { type QuantBlock, device, dequantize, quantize } from '../../lib/index.js';
import { cudaDevice, cudaSkipReason } from '../helpers/devices.js';
import { rng } from '../helpers/rng.js';

const gpu = cudaDevice();
const cpu = device('cpu');

const CASES: { shape: number[]; block: QuantBlock }[] = [
  { shape: [1, 1], block: [1, 128] },
  { shape: [3, 129], block: [1, 128] },
  { shape: [127, 300], block: [1, 128] },
  { shape: [129, 257], block: [128, 128] },
  { shape: [2, 130, 129], block: [128, 128] },
  { shape: [1000], block: 'tensor' },
  { shape: [0, 128], block: [1, 128] },
];

describe.skipIf(!gpu)(`dequantize v1 on ${gpu ? gpu.id : 'cuda'}${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  it.each(CASES.map((c) => [JSON.stringify(c), c] as const))('%s: every format and output dtype bit for bit as the CPU twin', async (_, c) => {
    const n = c.shape.reduce((a, b) => a * b, 1);
    using x = cpu.tensor(rng(`dequantize v1 ${JSON.stringify(c)}`).randnArray(n, 3), { shape: c.shape });
    for (const format of ['e4m3', 'e5m2'] as const) {
      using q = quantize(x, { block: c.block, format });
      using xGpu = x.to(gpu!);
      using qGpu = quantize(xGpu, { block: c.block, format });
      for (const dtype of ['f32', 'bf16', 'f16'] as const) {
        using want = dequantize(q, { dtype });
        using got = dequantize(qGpu, { dtype });
        expect(Array.from(await got.bytes()), `${format} -> ${dtype}`).toEqual(Array.from(await want.bytes()));
      }
    }
  });
});
