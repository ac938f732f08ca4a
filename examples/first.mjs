// The README's first example: quantize activations and weights to FP8 with
// DeepSeek-V3 block scales and multiply them, next to the bf16 product.
// Run: node examples/first.mjs (after npm ci); MOEKIT_DEVICE=cpu to force the CPU.
import { device, fp8Gemm, gemm, quantize } from 'moekit';

const dev = device(); // the first GPU, else the CPU
const [M, N, K] = [128, 2112, 7168];
const x = dev.tensor(new Float32Array(M * K).map(() => Math.random() - 0.5), { shape: [M, K], dtype: 'bf16' });
const w = dev.tensor(new Float32Array(N * K).map(() => Math.random() - 0.5), { shape: [N, K], dtype: 'bf16' });

const xq = quantize(x, { block: [1, 128] }); // activations: one scale per token per 128 channels
const wq = quantize(w, { block: [128, 128] }); // weights: one scale per 128x128 block
const y = fp8Gemm(xq, wq); // bf16 [M, N] = x · wᵀ, FP32 promotion every 128 K
const ref = gemm(x, w); // the same product in bf16

const [yv, rv] = [await y.toArray(), await ref.toArray()];
let num = 0;
let den = 0;
for (let i = 0; i < yv.length; i++) {
  num += (yv[i] - rv[i]) ** 2;
  den += rv[i] ** 2;
}
console.log(`${dev}: y ${JSON.stringify(y.shape)}, first values ${Array.from(yv.slice(0, 4), (v) => v.toFixed(3)).join(' ')}`);
console.log(`FP8 vs bf16 relative difference: ${Math.sqrt(num / den).toExponential(2)}`);
for (const t of [x, w, xq, wq, y, ref]) t.dispose();
