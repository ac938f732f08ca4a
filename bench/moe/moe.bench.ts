/**
 * Suite `moe`: the MoE family at DeepSeek-V3 sizes, against cuBLAS from the
 * same run.
 *
 * - Routing (moe.route, DeepSeek-V3's gate: E = 256, top-8 of the best 4 of
 *   8 groups, sigmoid + bias, normalized, scale 2.5) at T = 1, 16, 256 and
 *   4096, every CUDA version: the route suite's cases ({@link routeCases}).
 * - The grouped GEMM (moe.groupedGemm), every CUDA version, bf16 and FP8
 *   (1x128 x 128x128): DESIGN's target shape, 8 experts × 4096 rows at
 *   N×K 4096×7168 (target ≥ 1.2× cublasGemmGroupedBatchedEx), and the decode
 *   regime, 256 experts × 8 rows at N×K 4096×7168 and 7168×2048 (target ≥ 3×
 *   a per-expert cuBLASLt loop). Baselines: baselines.groupedGemm 'loop' and
 *   'grouped' (bf16), baselines.fp8GroupedGemm 'loop' (FP8, prepared once).
 * - The layer (moe.forward) with H = 7168, I = 2048, E = 256, K = 8 and one
 *   shared expert (Is = 2048), T = 1, 16, 128, 1024 and 4096, bf16 and FP8
 *   weights, impl 'auto' and each grouped GEMM version, against a per-expert
 *   cuBLAS loop driven by the same routing ({@link runLoopLayer}).
 *
 * Checks: routing against the CPU twin exactly (the route suite's check); the
 * grouped GEMMs on sampled rows of two experts against the CPU twin of the
 * same (quantized) inputs; the layer and its baseline on a reduced shape
 * ({@link CHECK_LAYER}) against the CPU layer, since the CPU twin of a
 * 22 GB layer is out of reach. The CPU device times the CPU twins at
 * reduced sizes (no baselines, no checks: the twin is the reference).
 * @module
 */
import {
  type Device,
  type Quantized,
  type Tensor,
  asQuantized,
  baselines,
  device as getDevice,
  fp8Gemm,
  gemm,
  kernelVersions,
  moe,
  quantize,
} from '../../lib/index.js';
import { compareClose } from '../harness/compare.js';
import { groupedGemmBytes, groupedGemmFlops, moeLayerBytes, moeLayerFlops } from '../harness/metrics.js';
import { uint32Generator } from '../harness/random.js';
import { type BenchCase, type BenchSuite, type CheckOutcome, type SuiteContext, benchCase } from '../harness/types.js';
import { checkRows, uniformFloats } from '../fp8/inputs.js';
import { DEEPSEEK_V3_GATE } from './deepseek_v3.js';
import { routeCases } from './route.bench.js';

type WeightKind = 'bf16' | 'fp8';
const KINDS: readonly WeightKind[] = ['bf16', 'fp8'];

/** Weights: a bf16 tensor, or FP8 quantized 128x128 (1x128 for activations). */
type Operand = Tensor | Quantized;

function dispose(...items: ReadonlyArray<{ dispose(): void } | undefined>): void {
  for (const t of items) t?.dispose();
}

/** `make(inputs)`, disposing `inputs` when it throws (a failed setup is not torn down, and these inputs can be tens of GB). */
async function guarded<I, S>(inputs: I, release: (i: I) => void, make: (i: I) => S | Promise<S>): Promise<S> {
  try {
    return await make(inputs);
  } catch (e) {
    release(inputs);
    throw e;
  }
}

// ---- inputs made on the device ------------------------------------------------

/** Distinct random rows a large matrix is drawn from. */
const POOL_ROWS = 256;

/**
 * A bf16 [rows, cols] matrix on `dev` whose every row is one of
 * {@link POOL_ROWS} random rows (uniform in [-scale, scale)), picked by a
 * seeded stream, copied into place on the device by moe.gather (top-1).
 *
 * Why not plain random values: a DeepSeek-V3 layer holds 22.5 GB of bf16
 * weights; drawing them on the host and copying them over would take
 * minutes per case, the gather takes milliseconds. The values do not matter
 * for the timing (a dense GEMM's time does not depend on them, and these
 * look random to it); they do matter for the checks, which compute on the
 * very values made here, read back from the device (sampled rows, or a
 * reduced shape).
 */
function pooledMatrix(dev: Device, rows: number, cols: number, seed: number, scale: number): Tensor<'bf16'> {
  const pool = Math.min(POOL_ROWS, rows);
  using src = dev.tensor(uniformFloats(seed, pool * cols, scale), { shape: [pool, cols], dtype: 'bf16' });
  const next = uint32Generator(seed ^ 0x9e3779b9);
  const ids = new Int32Array(rows);
  for (let i = 0; i < rows; i++) ids[i] = next() % pool;
  using rowIds = dev.tensor(ids, { shape: [rows], dtype: 'i32' });
  return moe.gather(src, rowIds, 1) as Tensor<'bf16'>;
}

/**
 * Weights [E, N, K] on `dev`: bf16, or quantized 128x128 per expert (the
 * bf16 copy is freed before the call returns, so only one form is held).
 */
function expertWeights(dev: Device, kind: WeightKind, experts: number, n: number, k: number, seed: number): Operand {
  const flat = pooledMatrix(dev, experts * n, k, seed, 0.05);
  const w = flat.reshape([experts, n, k]);
  flat.dispose();
  if (kind === 'bf16') return w;
  try {
    return quantize(w, { block: [128, 128] });
  } finally {
    w.dispose();
  }
}

function valuesOf(w: Operand): Tensor {
  return 'values' in w ? w.values : w;
}

// ---- grouped GEMM -----------------------------------------------------------------

interface GroupedShape {
  readonly experts: number;
  readonly rows: number;
  readonly n: number;
  readonly k: number;
}

function groupedName(s: GroupedShape): string {
  return `e${s.experts}x${s.rows}-n${s.n}-k${s.k}`;
}

/** DESIGN's grouped GEMM target shape, and the decode regime (≤ 16 rows per expert). */
const GPU_GROUPED: readonly GroupedShape[] = [
  { experts: 8, rows: 4096, n: 4096, k: 7168 },
  { experts: 256, rows: 8, n: 4096, k: 7168 },
  { experts: 256, rows: 8, n: 7168, k: 2048 },
];
const CPU_GROUPED: readonly GroupedShape[] = [
  { experts: 4, rows: 64, n: 256, k: 512 },
  { experts: 16, rows: 8, n: 256, k: 512 },
  { experts: 16, rows: 8, n: 512, k: 128 },
];

interface GroupedInputs {
  readonly shape: GroupedShape;
  /** [P, K] bf16, or quantized 1x128. */
  readonly x: Operand;
  /** [E, N, K] bf16, or quantized 128x128 per expert. */
  readonly w: Operand;
  /** i32 [E + 1] on the device, and the same on the host for the baselines. */
  readonly offsets: Tensor<'i32'>;
  readonly segments: { readonly offsets: number[]; readonly counts: number[] };
}

function groupedInputs(dev: Device, s: GroupedShape, kind: WeightKind, seed: number): GroupedInputs {
  const p = s.experts * s.rows;
  const offsets = Array.from({ length: s.experts + 1 }, (_, e) => e * s.rows);
  const x16 = pooledMatrix(dev, p, s.k, seed ^ (s.experts * 131 + s.k), 1);
  let x: Operand = x16;
  if (kind === 'fp8') {
    x = quantize(x16, { block: [1, 128] });
    x16.dispose();
  }
  return {
    shape: s,
    x,
    w: expertWeights(dev, kind, s.experts, s.n, s.k, seed ^ (s.n * 17 + s.k)),
    offsets: dev.tensor(Int32Array.from(offsets), { shape: [s.experts + 1], dtype: 'i32' }) as Tensor<'i32'>,
    segments: { offsets, counts: new Array<number>(s.experts).fill(s.rows) },
  };
}

function disposeGrouped(inp: GroupedInputs): void {
  dispose(inp.x, inp.w, inp.offsets);
}

/** The rows a grouped check recomputes: a few of the first and of the last expert. */
function groupedCheckRows(s: GroupedShape): number[] {
  const last = (s.experts - 1) * s.rows;
  return [...checkRows(s.rows, 3), ...checkRows(s.rows, 3).map((r) => last + r)];
}

/** `rows` of a row-major operand with `cols` columns, read back to the CPU (values and, for FP8, 1x128 scales). */
async function cpuRows(op: Operand, cols: number, rows: readonly number[]): Promise<Operand> {
  const cpu = getDevice('cpu');
  if (!('values' in op)) {
    const out = new Float32Array(rows.length * cols);
    for (const [i, r] of rows.entries()) out.set(await op.toArray({ start: r * cols, end: (r + 1) * cols }), i * cols);
    return cpu.tensor(out, { shape: [rows.length, cols], dtype: 'bf16' });
  }
  const kb = Math.ceil(cols / 128);
  const codes = new Uint8Array(rows.length * cols);
  const scales = new Float32Array(rows.length * kb);
  for (const [i, r] of rows.entries()) {
    codes.set(await op.values.bytes({ start: r * cols, end: (r + 1) * cols }), i * cols);
    scales.set(await op.scales.toArray({ start: r * kb, end: (r + 1) * kb }), i * kb);
  }
  return asQuantized(cpu.tensor(codes, { shape: [rows.length, cols], dtype: op.values.dtype }), cpu.tensor(scales, { shape: [rows.length, kb] }), {
    block: [1, 128],
  });
}

/** Expert `e`'s weights [N, K] read back to the CPU (FP8: with its 128x128 scales). */
async function cpuExpert(w: Operand, e: number, n: number, k: number): Promise<Operand> {
  const cpu = getDevice('cpu');
  if (!('values' in w)) return cpu.tensor(await w.toArray({ start: e * n * k, end: (e + 1) * n * k }), { shape: [n, k], dtype: 'bf16' });
  const blocks = Math.ceil(n / 128) * Math.ceil(k / 128);
  const codes = await w.values.bytes({ start: e * n * k, end: (e + 1) * n * k });
  const scales = await w.scales.toArray({ start: e * blocks, end: (e + 1) * blocks });
  return asQuantized(
    cpu.tensor(codes, { shape: [n, k], dtype: w.values.dtype }),
    cpu.tensor(scales, { shape: [Math.ceil(n / 128), Math.ceil(k / 128)] }),
    { block: [128, 128] },
  );
}

/** The CPU twin's output rows {@link groupedCheckRows} (gemm or fp8Gemm of each expert's rows), bf16 values as f32. */
async function groupedReference(inp: GroupedInputs): Promise<Float32Array> {
  const s = inp.shape;
  const rows = groupedCheckRows(s);
  const out = new Float32Array(rows.length * s.n);
  let at = 0;
  for (const e of [0, s.experts - 1]) {
    const mine = rows.filter((r) => Math.floor(r / s.rows) === e);
    const a = await cpuRows(inp.x, s.k, mine);
    const b = await cpuExpert(inp.w, e, s.n, s.k);
    try {
      using c = 'values' in a ? fp8Gemm(a, b as Quantized) : gemm(a, b as Tensor);
      out.set(await c.toArray(), at * s.n);
      at += mine.length;
    } finally {
      dispose(a, b);
    }
  }
  return out;
}

async function pickRows(out: Tensor, n: number, rows: readonly number[]): Promise<Float32Array> {
  const got = new Float32Array(rows.length * n);
  for (const [i, r] of rows.entries()) got.set(await out.toArray({ start: r * n, end: (r + 1) * n }), i * n);
  return got;
}

interface GroupedState {
  readonly inp: GroupedInputs;
  readonly prepared?: baselines.PreparedFp8GroupedGemm;
}

function groupedCases(dev: Device, shapes: readonly GroupedShape[], kinds: readonly WeightKind[], seed: number): BenchCase[] {
  const cuda = dev.kind === 'cuda';
  const status = cuda ? baselines.status(dev) : undefined;
  const versions = cuda ? (kernelVersions()['moe.groupedGemm'] ?? []).map((v) => v.name) : ['cpu'];
  const verified = new Map((kernelVersions()['moe.groupedGemm'] ?? []).map((v) => [v.name, v.verifiedOn.length > 0]));
  const references = new Map<string, Promise<Float32Array>>();
  const out: BenchCase[] = [];
  for (const s of shapes) {
    const rowsPerExpert = new Array<number>(s.experts).fill(s.rows);
    const flops = groupedGemmFlops(rowsPerExpert, s.n, s.k);
    const decode = s.rows <= 16;
    for (const kind of kinds) {
      const name = `${kind}-${groupedName(s)}`;
      const params = { experts: s.experts, rowsPerExpert: s.rows, n: s.n, k: s.k, weights: kind };
      const bytes = kind === 'bf16' ? groupedGemmBytes(rowsPerExpert, s.n, s.k, 2, 2, false) : groupedGemmBytes(rowsPerExpert, s.n, s.k, 1, 2, true);
      const loop = kind === 'bf16' ? status?.gemm.available : status?.fp8Block.available;
      const grouped = kind === 'bf16' && status?.groupedGemm.available;
      // The target's baseline: cuBLAS grouped at 4096 rows per expert, the per-expert loop at decode sizes.
      const baseline = !decode && grouped ? `grouped-cublas-grouped-${name}` : loop ? `grouped-cublas-loop-${name}` : grouped ? `grouped-cublas-grouped-${name}` : undefined;
      const rows = groupedCheckRows(s);
      const reference = (inp: GroupedInputs) => {
        let p = references.get(name);
        if (!p) references.set(name, (p = groupedReference(inp)));
        return p;
      };
      const check = (label: string, tol: number, run: (st: GroupedState) => Tensor) => async (st: GroupedState): Promise<CheckOutcome> => {
        using y = run(st);
        return compareClose(`${label} vs CPU twin (${rows.length} rows of experts 0 and ${s.experts - 1})`, await pickRows(y, s.n, rows), await reference(st.inp), tol);
      };
      const setup = (): GroupedState => ({ inp: groupedInputs(dev, s, kind, seed) });
      const teardown = (st: GroupedState) => disposeGrouped(st.inp);
      for (const v of versions) {
        const run = (st: GroupedState) => moe.groupedGemm(st.inp.x, st.inp.w, st.inp.offsets, { impl: v as 'v1' });
        out.push(
          benchCase<GroupedState>({
            name: `grouped-moekit-${v}-${name}`,
            params: { ...params, impl: v, ...(cuda ? { verified: verified.get(v) ?? false } : {}) },
            flops,
            bytes,
            ...(baseline ? { baseline } : {}),
            setup,
            run,
            // The CPU twin is the reference, so only GPU versions are checked.
            ...(cuda ? { check: check(v, kind === 'bf16' ? 1e-2 : 1e-3, run) } : {}),
            teardown,
          }),
        );
      }
      if (loop && kind === 'bf16') {
        const run = (st: GroupedState) => baselines.groupedGemm(st.inp.x as Tensor, st.inp.w as Tensor, st.inp.segments, { mode: 'loop' });
        out.push(
          benchCase<GroupedState>({
            name: `grouped-cublas-loop-${name}`,
            params: { ...params, impl: 'cuBLASLt per-expert loop' },
            flops,
            bytes,
            setup,
            run,
            check: check('cuBLASLt loop', 1e-2, run),
            teardown,
          }),
        );
      }
      if (loop && kind === 'fp8') {
        const run = (st: GroupedState) => st.prepared!.run({ mode: 'loop' });
        out.push(
          benchCase<GroupedState>({
            name: `grouped-cublas-loop-${name}`,
            params: { ...params, impl: 'cuBLASLt block FP8 per-expert loop' },
            flops,
            bytes,
            setup: () =>
              guarded(groupedInputs(dev, s, kind, seed), disposeGrouped, (inp) => ({
                inp,
                prepared: baselines.prepareFp8GroupedGemm(inp.x as Quantized, inp.w as Quantized, inp.segments),
              })),
            run,
            check: check('cuBLASLt block FP8 loop', 2e-3, run),
            teardown(st) {
              st.prepared?.dispose();
              disposeGrouped(st.inp);
            },
          }),
        );
      }
      if (grouped) {
        const run = (st: GroupedState) => baselines.groupedGemm(st.inp.x as Tensor, st.inp.w as Tensor, st.inp.segments, { mode: 'grouped' });
        out.push(
          benchCase<GroupedState>({
            name: `grouped-cublas-grouped-${name}`,
            params: { ...params, impl: 'cublasGemmGroupedBatchedEx' },
            flops,
            bytes,
            setup,
            run,
            check: check('cuBLAS grouped', 1e-2, run),
            teardown,
          }),
        );
      }
    }
  }
  return out;
}

// ---- the layer ------------------------------------------------------------------

interface LayerShape {
  readonly tokens: number;
  readonly hidden: number;
  readonly inter: number;
  readonly experts: number;
  readonly topK: number;
  readonly sharedInter: number;
}

const V3_LAYER = { hidden: 7168, inter: 2048, experts: 256, topK: 8, sharedInter: 2048 } as const;
const GPU_LAYER_TOKENS = [1, 16, 128, 1024, 4096] as const;
const CPU_LAYER = { hidden: 256, inter: 128, experts: 16, topK: 4, sharedInter: 128 } as const;
const CPU_LAYER_TOKENS = [1, 16, 64] as const;
/** The reduced shape the GPU layer cases are checked on (the CPU twin of the full layer would need its 22 GB of weights on the host). */
export const CHECK_LAYER: LayerShape = { tokens: 64, hidden: 512, inter: 256, experts: 32, topK: 8, sharedInter: 256 };

/** DeepSeek-V3's gate with `topK` picks (8 groups, the best 4, sigmoid + bias, normalized, scale 2.5). */
function gateOf(topK: number) {
  return { ...DEEPSEEK_V3_GATE, topK };
}

/** Random router logits [T, E] and bias [E] on the host (the same for every case of a T). */
function hostLogits(s: LayerShape, seed: number): { logits: Float32Array; bias: Float32Array } {
  return { logits: uniformFloats(seed ^ (s.tokens * 7919), s.tokens * s.experts, 4), bias: uniformFloats(seed ^ 0x5eed, s.experts, 0.1) };
}

interface LayerInputs {
  readonly shape: LayerShape;
  readonly kind: WeightKind;
  readonly x: Tensor<'bf16'>;
  readonly routing: { readonly ids: Tensor<'i32'>; readonly weights: Tensor<'f32'>; readonly counts: Tensor<'i32'>; dispose(): void };
  readonly w13: Operand;
  readonly w2: Operand;
  readonly s13: Operand;
  readonly s2: Operand;
}

/** The layer's inputs on `dev`: tokens, the routing moe.route gives for random logits, routed and shared weights (on the device, see {@link pooledMatrix}). */
function layerInputs(dev: Device, s: LayerShape, kind: WeightKind, seed: number): LayerInputs {
  const made: Array<{ dispose(): void }> = [];
  const keep = <T extends { dispose(): void }>(t: T): T => (made.push(t), t);
  const shared = (rows: number, cols: number, salt: number): Operand => {
    const w = pooledMatrix(dev, rows, cols, seed ^ salt, 0.05);
    if (kind === 'bf16') return w;
    try {
      return quantize(w, { block: [128, 128] });
    } finally {
      w.dispose();
    }
  };
  try {
    const h = hostLogits(s, seed);
    using logits = dev.tensor(h.logits, { shape: [s.tokens, s.experts] });
    using bias = dev.tensor(h.bias, { shape: [s.experts] });
    return {
      shape: s,
      kind,
      routing: keep(moe.route(logits as Tensor<'f32'>, { ...gateOf(s.topK), bias: bias as Tensor<'f32'> })),
      x: keep(pooledMatrix(dev, s.tokens, s.hidden, seed ^ (s.tokens + 1), 1)),
      w13: keep(expertWeights(dev, kind, s.experts, 2 * s.inter, s.hidden, seed ^ 0x13)),
      w2: keep(expertWeights(dev, kind, s.experts, s.hidden, s.inter, seed ^ 0x2)),
      s13: keep(shared(2 * s.sharedInter, s.hidden, 0x513)),
      s2: keep(shared(s.hidden, s.sharedInter, 0x52)),
    };
  } catch (e) {
    dispose(...made);
    throw e;
  }
}

function disposeLayer(inp: LayerInputs): void {
  dispose(inp.x, inp.routing, inp.w13, inp.w2, inp.s13, inp.s2);
}

function forwardWith(inp: LayerInputs, impl: string): Tensor {
  return moe.forward(inp.x, inp.routing, { w13: inp.w13, w2: inp.w2 }, { shared: { w13: inp.s13, w2: inp.s2 }, impl: impl as 'v1' });
}

/** A copy of an operand on the CPU. */
function toCpu(op: Operand): Operand {
  const cpu = getDevice('cpu');
  if (!('values' in op)) return op.to(cpu);
  return asQuantized(op.values.to(cpu), op.scales.to(cpu) as Tensor<'f32'>, { block: op.block });
}

/** The CPU layer (moe.forward's twin) on copies of `inp`. */
async function cpuLayer(inp: LayerInputs): Promise<Float32Array> {
  const cpu = getDevice('cpu');
  const ids = inp.routing.ids.to(cpu) as Tensor<'i32'>;
  const weights = inp.routing.weights.to(cpu) as Tensor<'f32'>;
  const counts = inp.routing.counts.to(cpu) as Tensor<'i32'>;
  const copy: LayerInputs = {
    ...inp,
    x: inp.x.to(cpu) as Tensor<'bf16'>,
    routing: { ids, weights, counts, dispose: () => dispose(ids, weights, counts) },
    w13: toCpu(inp.w13),
    w2: toCpu(inp.w2),
    s13: toCpu(inp.s13),
    s2: toCpu(inp.s2),
  };
  try {
    using y = forwardWith(copy, 'cpu');
    return (await y.toArray()) as Float32Array;
  } finally {
    disposeLayer(copy);
  }
}

/**
 * The layer's baseline: the same routing driving a per-expert cuBLAS loop
 * for both GEMMs. The experts' rows are read back once, in setup (host
 * segments, not timed); the timed run then queues moe.permute, moe.gather
 * (quantized 1x128 for FP8), the W13 loop, moe.swiglu (quantized for FP8),
 * the W2 loop, the shared expert (two cuBLASLt GEMMs around moe.swiglu; for
 * FP8 on the tokens quantized 1x128, each GEMM a one-expert loop) and
 * moe.combine with the routing weights. FP8's loops are prepared in setup
 * (prepareFp8GroupedGemm re-lays the scales per expert) on the operands the timed
 * gather and SwiGLU produce again (the same values, as the inputs are
 * fixed), so the scale re-layout is not timed.
 */
interface LoopLayer {
  readonly inp: LayerInputs;
  readonly segments: { readonly offsets: number[]; readonly counts: number[] };
  readonly fp8?: {
    readonly w13: baselines.PreparedFp8GroupedGemm;
    readonly w2: baselines.PreparedFp8GroupedGemm;
    readonly s13: baselines.PreparedFp8GroupedGemm;
    readonly s2: baselines.PreparedFp8GroupedGemm;
  };
}

/** prepareFp8GroupedGemm with `w` [N, K] (128x128) as the single expert [1, N, K] (views, freed once prepared). */
function prepareOneExpert(x: Quantized, w: Quantized, segments: baselines.Segments): baselines.PreparedFp8GroupedGemm {
  using values = w.values.reshape([1, ...w.values.shape]);
  using scales = w.scales.reshape([1, ...w.scales.shape]);
  return baselines.prepareFp8GroupedGemm(x, { values, scales }, segments);
}

async function prepareLoopLayer(inp: LayerInputs): Promise<LoopLayer> {
  const s = inp.shape;
  using perm = moe.permute(inp.routing.ids, s.experts);
  const segments = { offsets: Array.from(await perm.offsets.toArray()), counts: Array.from(await perm.counts.toArray()) };
  if (inp.kind === 'bf16') return { inp, segments };
  const wq = (w: Operand) => w as Quantized;
  const made: Array<{ dispose(): void }> = [];
  const keep = <T extends { dispose(): void }>(t: T): T => (made.push(t), t);
  try {
    using xs = moe.gather(inp.x, perm.rowIds, s.topK, { quantize: 'e4m3' });
    const w13 = keep(baselines.prepareFp8GroupedGemm(xs, wq(inp.w13), segments));
    using h = w13.run();
    using act = moe.swiglu(h, { quantize: 'e4m3' });
    const w2 = keep(baselines.prepareFp8GroupedGemm(act, wq(inp.w2), segments));
    // The shared expert as a one-expert loop over all T tokens (cuBLASLt's dense FP8 GEMM needs M a multiple of 16; T may be 1).
    const allTokens = { offsets: [0, s.tokens] };
    using xq = quantize(inp.x, { block: [1, 128] });
    const s13 = keep(prepareOneExpert(xq, wq(inp.s13), allTokens));
    using sh = s13.run();
    using sact = moe.swiglu(sh, { quantize: 'e4m3' });
    const s2 = keep(prepareOneExpert(sact, wq(inp.s2), allTokens));
    return { inp, segments, fp8: { w13, w2, s13, s2 } };
  } catch (e) {
    dispose(...made);
    throw e;
  }
}

/** Disposes what {@link prepareLoopLayer} prepared (not the inputs). */
function disposePrepared(st: LoopLayer): void {
  if (st.fp8) dispose(st.fp8.w13, st.fp8.w2, st.fp8.s13, st.fp8.s2);
}

function disposeLoopLayer(st: LoopLayer): void {
  disposePrepared(st);
  disposeLayer(st.inp);
}

/** Queues the baseline layer once (see {@link LoopLayer}); the output is the last element. */
function runLoopLayer(st: LoopLayer): Disposable[] {
  const { inp, segments } = st;
  const s = inp.shape;
  const perm = moe.permute(inp.routing.ids, s.experts);
  const loop = { mode: 'loop' } as const;
  let parts: Disposable[];
  let y: Tensor;
  let shared: Tensor;
  if (st.fp8) {
    const xs = moe.gather(inp.x, perm.rowIds, s.topK, { quantize: 'e4m3' });
    const h = st.fp8.w13.run(loop);
    const act = moe.swiglu(h, { quantize: 'e4m3' });
    y = st.fp8.w2.run(loop);
    const xq = quantize(inp.x, { block: [1, 128] });
    const sh = st.fp8.s13.run(loop);
    const sact = moe.swiglu(sh, { quantize: 'e4m3' });
    shared = st.fp8.s2.run(loop);
    parts = [perm, xs, h, act, y, xq, sh, sact, shared];
  } else {
    const xs = moe.gather(inp.x, perm.rowIds, s.topK);
    const h = baselines.groupedGemm(xs, inp.w13 as Tensor, segments, loop);
    const act = moe.swiglu(h);
    y = baselines.groupedGemm(act, inp.w2 as Tensor, segments, loop);
    const sh = baselines.gemm(inp.x, inp.s13 as Tensor);
    const sact = moe.swiglu(sh);
    shared = baselines.gemm(sact, inp.s2 as Tensor);
    parts = [perm, xs, h, act, y, sh, sact, shared];
  }
  return [...parts, moe.combine(y, perm.inverse, { weights: inp.routing.weights, shared, outDtype: 'bf16' })];
}

/** Runs `run` on the reduced layer {@link CHECK_LAYER} on `dev` and compares with the CPU layer. */
async function checkLayer(dev: Device, kind: WeightKind, seed: number, label: string, run: (inp: LayerInputs) => Promise<Tensor>): Promise<CheckOutcome> {
  const inp = layerInputs(dev, CHECK_LAYER, kind, seed);
  try {
    const want = await cpuLayer(inp);
    using got = await run(inp);
    const s = CHECK_LAYER;
    return compareClose(
      `${label} vs the CPU layer on a reduced shape (T ${s.tokens}, H ${s.hidden}, I ${s.inter}, E ${s.experts}, K ${s.topK}, Is ${s.sharedInter})`,
      await got.toArray(),
      want,
      1e-2,
    );
  } finally {
    disposeLayer(inp);
  }
}

function layerCases(dev: Device, base: Omit<LayerShape, 'tokens'>, tokens: readonly number[], kinds: readonly WeightKind[], seed: number, quick: boolean): BenchCase[] {
  const cuda = dev.kind === 'cuda';
  const status = cuda ? baselines.status(dev) : undefined;
  const impls = cuda ? ['auto', ...(quick ? [] : (kernelVersions()['moe.groupedGemm'] ?? []).map((v) => v.name))] : ['cpu'];
  const out: BenchCase[] = [];
  for (const t of tokens) {
    const s: LayerShape = { ...base, tokens: t };
    const picks = t * s.topK;
    // Experts with at least one pick: known once a setup has routed (every case of T routes the same logits).
    let active: number | undefined;
    const routed = async <S>(st: S, inp: LayerInputs): Promise<S> => {
      active = Array.from(await inp.routing.counts.toArray()).filter((c) => c > 0).length;
      return st;
    };
    for (const kind of kinds) {
      const name = `${kind}-T${t}`;
      const params = { tokens: t, hidden: s.hidden, inter: s.inter, experts: s.experts, topK: s.topK, sharedInter: s.sharedInter, weights: kind };
      const flops = moeLayerFlops(picks, t, s.hidden, s.inter, s.sharedInter);
      // The cases' bytes are getters: the runner reads them after setup and timing, when the routing is known.
      const bytes = () => (active === undefined ? undefined : moeLayerBytes(active, t, s.hidden, s.inter, s.sharedInter, kind === 'bf16' ? 2 : 1, kind === 'fp8'));
      const loop = kind === 'bf16' ? status?.gemm.available : status?.fp8Block.available;
      const baseline = loop ? `layer-cublas-loop-${name}` : undefined;
      for (const impl of impls) {
        out.push(
          benchCase<LayerInputs>({
            name: `layer-moekit-${impl}-${name}`,
            params: { ...params, impl },
            flops,
            get bytes() {
              return bytes();
            },
            ...(baseline ? { baseline } : {}),
            setup: () => guarded(layerInputs(dev, s, kind, seed), disposeLayer, (inp) => routed(inp, inp)),
            run: (inp) => forwardWith(inp, impl),
            ...(cuda ? { check: () => checkLayer(dev, kind, seed, `moe.forward ${impl}`, async (inp) => forwardWith(inp, impl)) } : {}),
            teardown: disposeLayer,
          }),
        );
      }
      if (loop) {
        out.push(
          benchCase<LoopLayer>({
            name: `layer-cublas-loop-${name}`,
            params: { ...params, impl: kind === 'bf16' ? 'moekit steps + cuBLASLt per-expert loops' : 'moekit steps + cuBLASLt block FP8 per-expert loops' },
            flops,
            get bytes() {
              return bytes();
            },
            setup: () =>
              guarded(layerInputs(dev, s, kind, seed), disposeLayer, async (inp) => {
                const st = await prepareLoopLayer(inp);
                return guarded(st, disposePrepared, (x) => routed(x, inp));
              }),
            run: runLoopLayer,
            check: () =>
              checkLayer(dev, kind, seed, 'cuBLAS loop layer', async (inp) => {
                const st = await prepareLoopLayer(inp);
                try {
                  const parts = runLoopLayer(st);
                  const y = parts.pop() as Tensor;
                  for (const p of parts) p[Symbol.dispose]();
                  return y;
                } finally {
                  disposePrepared(st);
                }
              }),
            teardown: disposeLoopLayer,
          }),
        );
      }
    }
  }
  return out;
}

// ---- the suite -------------------------------------------------------------------

function baselineNotes(dev: Device): string[] {
  if (dev.kind !== 'cuda') return [];
  const st = baselines.status(dev);
  const missing: string[] = [];
  if (!st.gemm.available) missing.push(`cuBLASLt bf16 (the bf16 loops): ${st.gemm.reason}`);
  if (!st.groupedGemm.available) missing.push(`cuBLAS grouped: ${st.groupedGemm.reason}`);
  if (!st.fp8Block.available) missing.push(`cuBLASLt block-scaled FP8 (the FP8 loops): ${st.fp8Block.reason}`);
  return missing.map((m) => `Baseline unavailable, its rows and ×baseline left out: ${m}`);
}

/** The MoE suite (see the module comment). */
export const moeSuite: BenchSuite = {
  name: 'moe',
  description: 'MoE at DeepSeek-V3 sizes: routing, the grouped GEMM (bf16, FP8) and the whole layer (moe.forward), vs cuBLAS',
  notes: [
    'Targets (H100): routing ≤ 5 µs up to T = 256; grouped GEMM ≥ 1.2× cuBLAS grouped (cublasGemmGroupedBatchedEx) at 4096 rows per expert, ≥ 3× the per-expert cuBLASLt loop at ≤ 16 rows per expert.',
    '×baseline: grouped GEMM rows against cuBLAS grouped at 4096 rows per expert (bf16), else against the per-expert loop (FP8: cuBLASLt block-scaled, prepared once); the ratio to the other baseline is the quotient of the two medians in the table.',
    'Layer baseline (layer-cublas-loop-*): the same routing, its expert counts read back once in setup (not timed), then timed: moe.permute, moe.gather, cuBLASLt per-expert loop for W13, moe.swiglu, cuBLASLt per-expert loop for W2, the shared expert as cuBLASLt GEMM, moe.swiglu, GEMM, and moe.combine with the routing weights; FP8: gather, the tokens and SwiGLU quantized 1x128, block-scaled FP8 loops (the shared expert as a one-expert loop) prepared in setup.',
    'TFLOP/s counts useful work only: 2·rows·N·K over the rows experts compute; the layer 6·H·(T·K·I + T·Is) (elementwise steps not counted). GB/s: x, the weights of experts with rows, the output once.',
    'Weights are made on the device from 256 random rows (moe.gather); the values do not change the timing. Checks: grouped GEMMs on sampled rows of two experts vs the CPU twin; layers on a reduced shape (T 64, H 512, I 256, E 32, K 8, Is 256) vs the CPU layer.',
    'verified=false: a grouped GEMM version that has not passed the CUDA tests on a GPU (auto does not pick it).',
    'On the CPU device: the CPU twins at reduced sizes (routing T = 1, 16, 64 at E = 256; grouped GEMMs of 4×64 and 16×8 rows; layer H = 256, I = 128, E = 16, K = 4, Is = 128, T = 1, 16, 64).',
  ],
  cases(ctx: SuiteContext): readonly BenchCase[] {
    const dev = ctx.device;
    if (dev.kind === 'cuda') {
      return [
        ...routeCases(dev, ctx.quick ? [1, 256] : [1, 16, 256, 4096], ctx.seed, 'route-'),
        ...groupedCases(dev, ctx.quick ? GPU_GROUPED.slice(0, 2) : GPU_GROUPED, KINDS, ctx.seed),
        ...layerCases(dev, V3_LAYER, ctx.quick ? [1, 128] : GPU_LAYER_TOKENS, KINDS, ctx.seed, ctx.quick),
      ];
    }
    return [
      ...routeCases(dev, ctx.quick ? [1, 16] : [1, 16, 64], ctx.seed, 'route-'),
      ...groupedCases(dev, ctx.quick ? CPU_GROUPED.slice(0, 2) : CPU_GROUPED, KINDS, ctx.seed),
      ...layerCases(dev, CPU_LAYER, ctx.quick ? [1, 16] : CPU_LAYER_TOKENS, KINDS, ctx.seed, ctx.quick),
    ];
  },
};
