/**
 * The fuzz test's registry: one {@link Family} of cases per API family.
 *
 * A case makes one kind of call, valid or invalid in one known way, and says
 * what the call must do (`expect`): `'ok'` (return or resolve, and pass
 * `post` when given), `'error'` (throw or reject) or `'any'`. Whatever it
 * expects, a failing call must fail with a TypeError, RangeError or
 * MoekitError carrying an `ERR_MOEKIT_` code and naming one of its `ops`.
 * Batches pick cases at random by weight; the edge batch runs every case
 * three times with a fixed seed, so every tag is exercised on every run.
 *
 * To cover a new entry point, add a case to its family's file:
 *
 * ```ts
 * {
 *   name: 'combine-bad-weights',           // tag 'moe/combine-bad-weights'
 *   weight: 1,                             // relative frequency (default 1)
 *   run(g) {
 *     const x = g.tensor(['bf16'], [4, 128]);          // operands come from g (setup calls are emitted)
 *     g.emit({ ops: ['moe.combine'], src: `m.moe.combine(${x.ref}, null)`, expect: 'error', deps: [x.root], why: 'no weights' });
 *   },
 * },
 * ```
 *
 * Rules: sources are JavaScript expressions over `m`, `cpu`, `dev`, `v`
 * and the helpers of values.mjs; a tensor a call reads must come from `g`
 * (so it is disposed at the end and reproductions can define it); list the
 * variables read in `deps` and the one defined in `def`, and tell the model
 * what changed (`g.track`, `t.disposed = true`). Keep valid calls small
 * (kilobytes); sizes beyond memory only where the call must fail before
 * allocating, and valid multi-GiB calls only when `g.options.huge`.
 *
 * A new family (MoE, MLA) is a file `families/<family>.ts` exporting a
 * {@link Family}, added to {@link FAMILIES} below.
 * @module
 */
import { Rng } from '../helpers/rng.js';
import { baselines } from './families/baselines.js';
import { fp8 } from './families/fp8.js';
import { gemm } from './families/gemm.js';
import { mla } from './families/mla.js';
import { mlaPrefill } from './families/mla_prefill.js';
import { moe } from './families/moe.js';
import { runtime } from './families/runtime.js';
import { type Call, type Case, type Family, Gen, type GenOptions } from './gen.js';

/** Every family the fuzz test draws from. */
export const FAMILIES: readonly Family[] = [runtime, fp8, gemm, moe, mla, mlaPrefill, baselines];

/** The seed of the edge batch: fixed, so known findings show up on every run. */
export const EDGE_SEED = 0x5eed;

interface Entry {
  readonly tag: string;
  readonly c: Case;
}

function entries(): Entry[] {
  return FAMILIES.flatMap((f) => f.cases.map((c) => ({ tag: `${f.name}/${c.name}`, c })));
}

/** Every tag a case can give its calls. */
export function allTags(): string[] {
  return entries().map((e) => e.tag);
}

function runCase(g: Gen, e: Entry): void {
  g.trim();
  g.setTag(e.tag);
  e.c.run(g);
}

/** The calls of random batch `batch` of `seed`: cases drawn by weight until there are `calls` calls. */
export function generateBatch(seed: number, batch: number, calls: number, options: GenOptions): Call[] {
  const g = new Gen(new Rng(seed, `fuzz batch ${batch}`), options);
  const all = entries();
  const total = all.reduce((s, e) => s + (e.c.weight ?? 1), 0);
  while (g.calls.length < calls) {
    let x = g.rng.uniform(0, total);
    const e = all.find((entry) => (x -= entry.c.weight ?? 1) < 0) ?? all[all.length - 1]!;
    runCase(g, e);
  }
  return g.calls;
}

/** The edge batch: every case `repeats` times, in registry order, from {@link EDGE_SEED}. */
export function generateEdgeBatch(options: GenOptions, repeats = 3): Call[] {
  const g = new Gen(new Rng(EDGE_SEED, 'fuzz edges'), options);
  for (let r = 0; r < repeats; r++) for (const e of entries()) runCase(g, e);
  return g.calls;
}
