/**
 * Fuzz cases of the prefill side of MLA: `mla.prefill` with valid packed
 * sequences (zero-length and length-1 ones among them) read back and checked
 * for the documented shapes, with arbitrary i32 cuSeqLens (the CPU fails
 * the call when it runs; a GPU clamps them and stays inside its buffers),
 * and with bad head sizes, dtypes, scales and keys; `mla.absorbQuery` and
 * `mla.projectOutput` valid and invalid.
 * @module
 */
import { type Family, type Gen, NOT_OPTIONS, badTensor, isTensorPost, lit, withStrayKey } from '../gen.js';

const H_CHOICES = [1, 2, 3] as const;

/** Emits a valid cuSeqLens of `lens`; returns its variable. */
function cuSeqLens(g: Gen, lens: readonly number[]): ReturnType<Gen['track']> {
  const cu = [0];
  for (const l of lens) cu.push(cu[cu.length - 1]! + l);
  const def = g.newVar();
  g.emit({ ops: ['tensor'], src: `dev.tensor(Int32Array.of(${cu.join(', ')}), { shape: [${cu.length}], dtype: 'i32' })`, expect: 'ok', def, post: isTensorPost('i32', [cu.length]) });
  return g.track(def, 'i32', [cu.length]);
}


/** Source of an async check of a prefill made by `call`: out [T, H, 128] bf16 and lse [H, T] f32 read back; disposes it. */
function checkedPrefill(call: string, tokens: number, heads: number, settle = false): string {
  return (
    `(async () => { const r = ${call}; try {` +
    ` if (r.out.dtype !== 'bf16' || r.lse.dtype !== 'f32') return 'wrong dtypes';` +
    ` const [o, l] = await Promise.all([r.out.toArray(), r.lse.toArray()]);` +
    ` if (o.length !== ${tokens * heads * 128} || l.length !== ${heads * tokens}) return 'wrong sizes';` +
    ` return true; } finally { r[Symbol.dispose]();${settle ? ' await dev.synchronize().catch(() => undefined);' : ''} } })()`
  );
}

interface Operands {
  parts: string[];
  deps: number[];
}

function operands(g: Gen, tokens: number, heads: number): Operands {
  const q = g.tensor(['bf16'], [tokens, heads, 192]);
  const latent = g.tensor(['bf16'], [tokens, 512]);
  const kRope = g.tensor(['bf16'], [tokens, 64]);
  const wkvB = g.tensor(['bf16'], [heads * 256, 512]);
  return { parts: [`q: ${q.ref}`, `latent: ${latent.ref}`, `kRope: ${kRope.ref}`, `wkvB: ${wkvB.ref}`], deps: [q.root, latent.root, kRope.root, wkvB.root] };
}

export const mlaPrefill: Family = {
  name: 'mla_prefill',
  covers: ['mla.prefill', 'mla.absorbQuery', 'mla.projectOutput'],
  cases: [
    {
      name: 'prefill',
      weight: 3,
      run(g) {
        const lens = Array.from({ length: g.int(1, 4) }, () => g.pick([0, 1, 2, 5, 17]));
        const tokens = lens.reduce((a, b) => a + b, 0);
        const heads = g.pick(H_CHOICES);
        const ops = operands(g, tokens, heads);
        const cu = cuSeqLens(g, lens);
        const args: string[] = [...ops.parts, `cuSeqLens: ${cu.ref}`, `softmaxScale: ${g.pick(['0.135234', '1', '0', '-2.5', '1e-30'])}`];
        if (g.chance(0.6)) args.push(`causal: ${g.chance(0.5)}`);
        const impl = g.validImpl();
        if (impl !== undefined) args.push(`impl: ${lit(impl)}`);
        g.emit({ ops: ['mla.prefill'], src: checkedPrefill(`m.mla.prefill({ ${args.join(', ')} })`, tokens, heads), expect: 'ok', deps: [...ops.deps, cu.root], anyOp: true, post: 'r === true || r' });
        // Disposed at once: other cases write into live i32 tensors, and these lengths must stay valid.
        g.dispose(cu);
      },
    },
    {
      name: 'prefill-arbitrary-lens',
      weight: 2,
      run(g) {
        const tokens = g.pick([0, 1, 7, 40]);
        const heads = g.pick(H_CHOICES);
        const ops = operands(g, tokens, heads);
        // Arbitrary i32 lengths: the CPU fails the call when it runs (naming cuSeqLens), a GPU clamps them.
        const cu = g.tensor(['i32'], [g.pick([1, 2, 4])]);
        g.emit({
          ops: ['mla.prefill'],
          // The CPU's failure is taken by a synchronize, so it is not reported by a later call's read.
          src: checkedPrefill(`m.mla.prefill({ ${ops.parts.join(', ')}, cuSeqLens: ${cu.ref}, softmaxScale: 0.5 })`, tokens, heads, true),
          expect: 'any',
          deps: [...ops.deps, cu.root],
          anyOp: true,
          why: 'cuSeqLens of arbitrary values',
        });
      },
    },
    {
      name: 'prefill-bad',
      weight: 2,
      run(g) {
        const tokens = g.pick([1, 3]);
        const heads = g.pick(H_CHOICES);
        const ops = operands(g, tokens, heads);
        const cu = cuSeqLens(g, [tokens]);
        const ok: Record<string, string> = Object.fromEntries(ops.parts.map((p) => p.split(': ') as [string, string]));
        ok.cuSeqLens = cu.ref;
        ok.softmaxScale = '0.1';
        const deps = [...ops.deps, cu.root];
        const choice = g.int(0, 5);
        let why: string;
        if (choice === 0) {
          const q = g.tensor(['bf16'], [tokens, heads, g.pick([128, 576, 191])]);
          ok.q = q.ref;
          deps.push(q.root);
          why = 'q of a head size other than 192';
        } else if (choice === 1) {
          const w = g.tensor(['bf16'], g.pick([[(heads + 1) * 256, 512], [heads * 256, 576], [heads * 192, 512]]));
          ok.wkvB = w.ref;
          deps.push(w.root);
          why = 'wkvB not [H * 256, 512]';
        } else if (choice === 2) {
          const l = g.tensor(['f32', 'f16'], [tokens, 512]);
          ok.latent = l.ref;
          deps.push(l.root);
          why = 'latent not bf16';
        } else if (choice === 3) {
          const c = g.tensor(['f32', 'i32'], g.pick([[2, 1], [0]]));
          ok.cuSeqLens = c.ref;
          deps.push(c.root);
          why = 'cuSeqLens of a wrong dtype or shape';
        } else if (choice === 4) {
          ok.softmaxScale = g.pick(['NaN', 'Infinity', "'0.1'", 'undefined', '1n']);
          why = 'a bad softmaxScale';
        } else {
          const bad = badTensor(g, ['bf16'], [tokens, heads, 192]);
          ok.q = bad.src;
          deps.push(...bad.deps);
          why = bad.why;
          g.emit({ ops: ['mla.prefill'], src: `m.mla.prefill({ ${Object.entries(ok).map(([k, v]) => `${k}: ${v}`).join(', ')} })`, expect: bad.expect, deps, variant: bad.variant, why });
          return;
        }
        const extra = g.chance(0.2) ? lit(withStrayKey(g, {}, ['q', 'latent', 'kRope', 'wkvB', 'cuSeqLens', 'softmaxScale', 'causal', 'impl'])).slice(1, -1).trim() : '';
        const body = Object.entries(ok).map(([k, v]) => `${k}: ${v}`).join(', ') + (extra ? `, ${extra}` : '');
        g.emit({ ops: ['mla.prefill'], src: `m.mla.prefill({ ${body} })`, expect: 'error', deps, why });
        g.dispose(cu);
      },
    },
    {
      name: 'absorb',
      weight: 2,
      run(g) {
        const project = g.chance(0.5);
        const tokens = g.pick([0, 1, 3, 65]);
        const heads = g.pick(H_CHOICES);
        const x = g.tensor(['bf16'], [tokens, heads, project ? 512 : 128]);
        const w = g.tensor(['bf16'], [heads * 256, 512]);
        const opts: Record<string, unknown> = {};
        const impl = g.validImpl();
        if (impl !== undefined) opts.impl = impl;
        const def = g.newVar();
        const op = project ? 'mla.projectOutput' : 'mla.absorbQuery';
        const shape = [tokens, heads, project ? 128 : 512];
        g.emit({ ops: [op], src: `m.${op}(${x.ref}, ${w.ref}, ${lit(opts)})`, expect: 'ok', deps: [x.root, w.root], def, post: isTensorPost('bf16', shape) });
        g.track(def, 'bf16', shape);
      },
    },
    {
      name: 'absorb-bad',
      weight: 1,
      run(g) {
        const project = g.chance(0.5);
        const op = project ? 'mla.projectOutput' : 'mla.absorbQuery';
        const choice = g.int(0, 3);
        if (choice === 0) {
          const x = g.tensor(['bf16', 'f32'], [2, 1, g.pick([128, 192, 512, 576])]);
          const w = g.tensor(['bf16'], [256, 512]);
          g.emit({ ops: [op], src: `m.${op}(${x.ref}, ${w.ref})`, expect: 'any', deps: [x.root, w.root], anyOp: true, why: 'x of another head size or dtype (some valid)' });
        } else if (choice === 1) {
          const x = g.tensor(['bf16'], [2, 2, project ? 512 : 128]);
          const w = g.tensor(['bf16', 'f16'], g.pick([[256, 512], [512, 576], [768, 512]]));
          g.emit({ ops: [op], src: `m.${op}(${x.ref}, ${w.ref})`, expect: 'error', deps: [x.root, w.root], why: 'wkvB not [H * 256, 512] bf16' });
        } else if (choice === 2) {
          const x = g.tensor(['bf16'], [1, 1, project ? 512 : 128]);
          const w = g.tensor(['bf16'], [256, 512]);
          g.emit({ ops: [op], src: `m.${op}(${x.ref}, ${w.ref}, ${g.pick([...NOT_OPTIONS, "{ impl: 'gpu' }", "{ imp: 'cpu' }"])})`, expect: 'error', deps: [x.root, w.root], why: 'bad options' });
        } else {
          const bad = badTensor(g, ['bf16'], [1, 1, 128]);
          const w = g.tensor(['bf16'], [256, 512]);
          g.emit({ ops: [op], src: `m.${op}(${bad.src}, ${w.ref})`, expect: bad.expect, deps: [w.root, ...bad.deps], variant: bad.variant, why: bad.why });
        }
      },
    },
  ],
};
