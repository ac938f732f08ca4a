// cast v1 (cuda/runtime/cast_v1.cu: a grid-stride loop, a thread per
// element) against the CPU twin, bit for bit, for every pair of dtypes, on
// sizes around the block (256 threads) and the grid-stride wrap, with every
// float bit pattern now and then (NaN, ±inf, subnormals). Skipped, with the
// reason, without a GPU.
import { describe, expect, it } from 'vitest';

import { DTYPES, type DType, device } from '../../lib/index.js';
import { cudaDevice, cudaSkipReason } from '../helpers/devices.js';
import { rng } from '../helpers/rng.js';

const gpu = cudaDevice();
const cpu = device('cpu');
const SIZES = [0, 1, 255, 256, 257, 4099];

function sourceData(n: number, dtype: DType, stream: string): Float64Array {
  const r = rng(stream);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (dtype === 'i32') out[i] = r.int(-(2 ** 31), 2 ** 31 - 1);
    else if (dtype === 'u8') out[i] = r.int(0, 255);
    else out[i] = i % 7 === 0 ? r.float32Bits() : r.randn() * 2 ** r.int(-10, 10);
  }
  return out;
}

describe.skipIf(!gpu)(`cast v1 on ${gpu ? gpu.id : 'cuda'}${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  describe.each(DTYPES.map((d) => [d] as const))('from %s', (from) => {
    it.each(SIZES.map((n) => [n] as const))('n = %d: every target dtype bit for bit as the CPU twin', async (n) => {
      const data = sourceData(n, from, `cast v1 ${from} ${n}`);
      using src = cpu.tensor(data, { dtype: from });
      using onGpu = src.to(gpu!);
      for (const to of DTYPES) {
        using want = src.cast(to);
        using got = onGpu.cast(to);
        expect(Array.from(await got.bytes()), `${from} -> ${to}, n = ${n}`).toEqual(Array.from(await want.bytes()));
      }
    });
  });
});
