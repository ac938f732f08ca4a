/**
 * Fuzz cases of MoE: `moe.route` (the DeepSeek-V3 gate), `moe.updateBias`,
 * `moe.permute` and `moe.groupedGemm` (arbitrary offsets and counts: the
 * call runs and stays inside its buffers). A valid permutation, of routed ids or of arbitrary i32
 * ids (out of range ones included), is read back and checked: every pick in
 * range exactly once, in its expert's aligned segment, padding -1. `moe.gather`,
 * `moe.swiglu` and `moe.combine` take arbitrary i32 row ids and inverses (out
 * of range ones are padding or skipped picks, never read) and give tensors or
 * 1x128 Quantized of the documented shapes. A valid route is read back and checked for what holds
 * whatever the logits (NaN and infinities included): every id in [0, E),
 * K distinct ids per token, counts that tally the ids.
 * @module
 */
import { type Case, type Family, type Gen, NOT_OPTIONS, ODD_VALUES, type QuantVal, badTensor, isTensorPost, lit, withStrayKey } from '../gen.js';

const EXPERTS = [1, 2, 3, 8, 16, 20, 64, 160, 256, 512] as const;
const BAD_IMPLS: readonly string[] = ["'v'", "'V1'", "'gpu'", "'v1.5'", '7', "'v99'", "'cuda'", "'auto '"];

function divisors(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);
}

interface Gate {
  experts: number;
  opts: Record<string, unknown>;
  topK: number;
}

/** A valid gate configuration for E experts (without bias and impl). */
function gate(g: Gen, experts = g.pick(EXPERTS)): Gate {
  const opts: Record<string, unknown> = {};
  let groups = 1;
  if (g.chance(0.6)) {
    groups = g.pick(divisors(experts));
    opts.groups = groups;
  }
  let topGroups = groups;
  if (groups > 1 && g.chance(0.8)) {
    topGroups = g.int(1, groups);
    opts.topGroups = topGroups;
  }
  const kept = topGroups * (experts / groups);
  const topK = g.int(1, Math.min(16, kept));
  opts.topK = topK;
  if (g.chance(0.4)) opts.scoring = g.pick(['sigmoid', 'softmax']);
  if (g.chance(0.3)) opts.normalize = g.chance(0.5);
  if (g.chance(0.3)) opts.scale = g.pick([1, 2.5, 16, 0, -1, 1e-30]);
  return { experts, opts, topK };
}

/** Source of an async check of a routing made by `call`: ids in range and distinct per token, counts that tally them; disposes it. */
function checkedRoute(call: string, tokens: number, k: number, experts: number): string {
  return (
    `(async () => { const r = ${call}; try {` +
    ` const [ids, w, c] = await Promise.all([r.ids.toArray(), r.weights.toArray(), r.counts.toArray()]);` +
    ` if (ids.length !== ${tokens * k} || w.length !== ${tokens * k} || c.length !== ${experts}) return 'wrong sizes';` +
    ` const tally = new Int32Array(${experts});` +
    ` for (let t = 0; t < ${tokens}; t++) { const row = new Set();` +
    ` for (let j = 0; j < ${k}; j++) { const e = ids[t * ${k} + j]; if (!(e >= 0 && e < ${experts})) return 'id ' + e + ' out of range'; row.add(e); tally[e]++; }` +
    ` if (row.size !== ${k}) return 'token ' + t + ' picks an expert twice'; }` +
    ` for (let e = 0; e < ${experts}; e++) if (c[e] !== tally[e]) return 'counts[' + e + '] is ' + c[e] + ', the ids give ' + tally[e];` +
    ` return true; } finally { r.dispose(); } })()`
  );
}

/** Source of an async check of a permutation made by `call` of `ids` [tokens, k]: layout, stability, padding, inverse; disposes it. */
function checkedPermute(call: string, idsRef: string, tokens: number, k: number, experts: number, align: number): string {
  const picks = tokens * k;
  const rows = picks + Math.min(experts, picks) * (align - 1);
  return (
    `(async () => { const p = ${call}; try {` +
    ` const [ids, rows, off, c, inv] = await Promise.all([${idsRef}.toArray(), p.rowIds.toArray(), p.offsets.toArray(), p.counts.toArray(), p.inverse.toArray()]);` +
    ` if (rows.length !== ${rows} || off.length !== ${experts + 1} || c.length !== ${experts} || inv.length !== ${picks}) return 'wrong sizes';` +
    ` if (off[0] !== 0) return 'offsets[0] is ' + off[0];` +
    ` const seen = new Int32Array(${picks});` +
    ` for (let e = 0; e < ${experts}; e++) { if (off[e] % ${align} !== 0 || off[e + 1] - off[e] !== Math.ceil(c[e] / ${align}) * ${align}) return 'segment ' + e;` +
    ` let prev = -1; for (let r = off[e]; r < off[e + 1]; r++) { const i = rows[r];` +
    ` if (r < off[e] + c[e]) { if (ids[i] !== e || i <= prev) return 'row ' + r; prev = i; seen[i]++; } else if (i !== -1) return 'padding row ' + r; } }` +
    ` for (let r = off[${experts}]; r < rows.length; r++) if (rows[r] !== -1) return 'unused row ' + r;` +
    ` for (let i = 0; i < ${picks}; i++) { const ok = ids[i] >= 0 && ids[i] < ${experts};` +
    ` if (ok ? seen[i] !== 1 || rows[inv[i]] !== i : seen[i] !== 0 || inv[i] !== -1) return 'pick ' + i; }` +
    ` return true; } finally { p.dispose(); } })()`
  );
}

const cases: Case[] = [
  {
    name: 'route',
    weight: 4,
    run(g) {
      const gt = gate(g);
      const tokens = g.pick([0, 1, 2, 5, 17, 64]);
      const x = g.tensor(['f32'], [tokens, gt.experts]);
      const deps = [x.root];
      const opts: Record<string, unknown> = { ...gt.opts };
      let biasRef = '';
      if (g.chance(0.5)) {
        const b = g.tensor(['f32'], [gt.experts]);
        deps.push(b.root);
        biasRef = `, bias: ${b.ref}`;
      }
      const impl = g.validImpl();
      if (impl !== undefined) opts.impl = impl;
      const optsSrc = biasRef ? `${lit(opts).slice(0, -2)}${biasRef} }` : lit(opts);
      g.emit({
        ops: ['moe.route'],
        src: checkedRoute(`m.moe.route(${x.ref}, ${optsSrc})`, tokens, gt.topK, gt.experts),
        expect: 'ok',
        deps,
        anyOp: true,
        post: 'r === true || r',
      });
    },
  },
  {
    name: 'route-bad-sizes',
    weight: 2,
    run(g) {
      const experts = g.pick(EXPERTS);
      const x = g.tensor(['f32'], [g.int(0, 3), experts]);
      const nonDivisors = Array.from({ length: Math.min(experts + 3, 40) }, (_, i) => i + 1).filter((d) => experts % d !== 0);
      const options: [Record<string, unknown>, string][] = [
        [{ topK: experts + g.int(1, 3) }, 'topK above E'],
        [{ topK: g.pick([0, 17, 100, -1, 2 ** 31]) }, 'topK outside [1, 16]'],
        [{ topK: 1, topGroups: 2 }, 'topGroups above groups (1)'],
        [{ topK: 1, groups: g.pick([0, 513, -2, 2 ** 32]) }, 'groups outside [1, 512]'],
      ];
      if (nonDivisors.length > 0) options.push([{ topK: 1, groups: g.pick(nonDivisors) }, 'groups not dividing E']);
      const proper = divisors(experts).filter((d) => d > 1 && d < experts);
      if (proper.length > 0) {
        const groups = g.pick(proper);
        {
          options.push([{ topK: 1, groups, topGroups: groups + g.int(1, 3) }, 'topGroups above groups']);
          const perGroup = experts / groups;
          if (perGroup < 16) options.push([{ topK: perGroup + 1, groups, topGroups: 1 }, 'topK above the experts of the kept groups']);
        }
      }
      const [opts, why] = g.pick(options);
      g.emit({ ops: ['moe.route'], src: `m.moe.route(${x.ref}, ${lit(opts)})`, expect: 'error', deps: [x.root], why });
    },
  },
  {
    name: 'route-bad-logits',
    run(g) {
      const choice = g.int(0, 2);
      if (choice === 0) {
        const x = g.tensor(['bf16', 'f16', 'i32', 'u8', 'e4m3'], [2, 8]);
        g.emit({ ops: ['moe.route'], src: `m.moe.route(${x.ref}, { topK: 2 })`, expect: 'error', deps: [x.root], why: `logits of dtype ${x.dtype}` });
      } else if (choice === 1) {
        const shape = g.pick([[8], [2, 2, 8], [], [2, 0], [1, 513], [0, 600]]);
        const x = g.tensor(['f32'], shape);
        g.emit({ ops: ['moe.route'], src: `m.moe.route(${x.ref}, { topK: 1 })`, expect: 'error', deps: [x.root], why: `logits of shape [${shape.join(', ')}]` });
      } else {
        const bad = badTensor(g, ['f32'], [2, 8]);
        g.emit({ ops: ['moe.route'], src: `m.moe.route(${bad.src}, { topK: 2 })`, expect: bad.expect, deps: bad.deps, variant: bad.variant, why: bad.why });
      }
    },
  },
  {
    name: 'route-bad-bias',
    run(g) {
      const tokens = g.int(0, 3);
      const x = g.tensor(['f32'], [tokens, 16]);
      const choice = g.int(0, 2);
      if (choice === 0) {
        const b = g.tensor(['bf16', 'i32', 'f16'], [16]);
        g.emit({ ops: ['moe.route'], src: `m.moe.route(${x.ref}, { topK: 2, bias: ${b.ref} })`, expect: 'error', deps: [x.root, b.root], why: `bias of dtype ${b.dtype}` });
      } else if (choice === 1) {
        const shape = g.pick([[15], [17], [1, 16], [], [0]]);
        const b = g.tensor(['f32'], shape);
        g.emit({ ops: ['moe.route'], src: `m.moe.route(${x.ref}, { topK: 2, bias: ${b.ref} })`, expect: 'error', deps: [x.root, b.root], why: `bias of shape [${shape.join(', ')}]` });
      } else {
        const bad = badTensor(g, ['f32'], [16]);
        const call = `m.moe.route(${x.ref}, { topK: 2, bias: ${bad.src} })`;
        if (bad.src === 'undefined' || bad.src === 'null') {
          // No bias: a valid call (read back, checked and disposed).
          g.emit({ ops: ['moe.route'], src: checkedRoute(call, tokens, 2, 16), expect: 'ok', deps: [x.root], anyOp: true, post: 'r === true || r' });
        } else {
          g.emit({ ops: ['moe.route'], src: call, expect: bad.expect, deps: [x.root, ...bad.deps], variant: bad.variant, why: bad.why });
        }
      }
    },
  },
  {
    name: 'route-bad-options',
    run(g) {
      const x = g.tensor(['f32'], [2, 16]);
      const choice = g.int(0, 6);
      const [opts, variant, why] =
        choice === 0
          ? [`{ topK: 2, scoring: ${g.pick(["'Sigmoid'", "'tanh'", "'softmax '", '1', 'true'])} }`, undefined, 'bad scoring']
          : choice === 1
            ? [`{ topK: 2, normalize: ${g.pick(['1', "'true'", '{}', '0'])} }`, undefined, 'normalize not a boolean']
            : choice === 2
              ? [`{ topK: 2, scale: ${g.pick(['Infinity', '-Infinity', 'NaN', "'2.5'", '[]', '10n'])} }`, undefined, 'scale not a finite number']
              : choice === 3
                ? [`{ topK: 2, impl: ${g.pick(BAD_IMPLS)} }`, undefined, 'bad impl']
                : choice === 4
                  ? [g.pick([...NOT_OPTIONS, 'undefined', 'null', '{}']), undefined, 'no topK']
                  : choice === 5
                    ? [`{ topK: ${g.pick(ODD_VALUES.filter((s) => s !== '1'))} }`, undefined, 'topK not an integer in range']
                    : [lit(withStrayKey(g, { topK: 2 }, ['topK', 'scoring', 'bias', 'groups', 'topGroups', 'normalize', 'scale', 'impl'])), 'unknown-option', 'an unknown option'];
      g.emit({ ops: ['moe.route'], src: `m.moe.route(${x.ref}, ${opts})`, expect: 'error', deps: [x.root], ...(variant ? { variant } : {}), why });
    },
  },
  {
    name: 'update-bias',
    weight: 2,
    run(g) {
      const experts = g.pick([0, 1, 8, 64, 256, 300]);
      const b = g.tensor(['f32'], [experts]);
      const c = g.tensor(['i32'], [experts]);
      const opts: Record<string, unknown> = { rate: g.pick([1e-3, 0, -0.5, 1, 1e30]) };
      const impl = g.validImpl();
      if (impl !== undefined) opts.impl = impl;
      const def = g.newVar();
      g.emit({ ops: ['moe.updateBias'], src: `m.moe.updateBias(${b.ref}, ${c.ref}, ${lit(opts)})`, expect: 'ok', deps: [b.root, c.root], def, post: isTensorPost('f32', [experts]) });
      g.track(def, 'f32', [experts]);
    },
  },
  {
    name: 'update-bias-bad',
    weight: 2,
    run(g) {
      const choice = g.int(0, 4);
      if (choice === 0) {
        const b = g.tensor(['f32'], [8]);
        const c = g.tensor(['i32'], g.pick([[7], [9], [1, 8], []]));
        g.emit({ ops: ['moe.updateBias'], src: `m.moe.updateBias(${b.ref}, ${c.ref}, { rate: 1 })`, expect: 'error', deps: [b.root, c.root], why: 'counts of another shape' });
      } else if (choice === 1) {
        const b = g.tensor(['f32', 'bf16', 'i32'], [8]);
        const c = g.tensor(b.dtype === 'f32' ? ['f32', 'u8', 'bf16'] : ['i32'], [8]);
        g.emit({ ops: ['moe.updateBias'], src: `m.moe.updateBias(${b.ref}, ${c.ref}, { rate: 1 })`, expect: 'error', deps: [b.root, c.root], why: `dtypes ${b.dtype} and ${c.dtype}` });
      } else if (choice === 2) {
        const b = g.tensor(['f32'], [8]);
        const c = g.tensor(['i32'], [8]);
        const opts = g.pick([
          '{ rate: NaN }', '{ rate: Infinity }', "{ rate: '1' }", '{}', 'undefined', 'null', '{ rate: 1, impl: 7 }', ...NOT_OPTIONS,
          lit(withStrayKey(g, { rate: 1 }, ['rate', 'impl'])),
        ]);
        g.emit({ ops: ['moe.updateBias'], src: `m.moe.updateBias(${b.ref}, ${c.ref}, ${opts})`, expect: 'error', deps: [b.root, c.root], why: 'bad options' });
      } else if (choice === 3) {
        const b = g.tensor(['f32'], g.pick([[2, 4], []]));
        const c = g.tensor(['i32'], [8]);
        g.emit({ ops: ['moe.updateBias'], src: `m.moe.updateBias(${b.ref}, ${c.ref}, { rate: 1 })`, expect: 'error', deps: [b.root, c.root], why: 'bias not of rank 1' });
      } else {
        const good = g.tensor(['f32'], [8]);
        const bad = badTensor(g, ['i32'], [8]);
        g.emit({ ops: ['moe.updateBias'], src: `m.moe.updateBias(${good.ref}, ${bad.src}, { rate: 1 })`, expect: bad.expect, deps: [good.root, ...bad.deps], variant: bad.variant, why: bad.why });
      }
    },
  },
  {
    name: 'permute',
    weight: 3,
    run(g) {
      const experts = g.pick(EXPERTS);
      const tokens = g.pick([0, 1, 2, 5, 17, 64]);
      const align = g.pick([1, 1, 2, 8, 128, 1024]);
      const opts: Record<string, unknown> = {};
      if (align !== 1 || g.chance(0.5)) opts.align = align;
      const impl = g.validImpl();
      if (impl !== undefined) opts.impl = impl;
      if (g.chance(0.5)) {
        // Arbitrary i32 ids: out of range ones are skipped.
        const k = g.int(1, 16);
        const ids = g.tensor(['i32'], [tokens, k]);
        g.emit({
          ops: ['moe.permute'],
          src: checkedPermute(`m.moe.permute(${ids.ref}, ${experts}, ${lit(opts)})`, ids.ref, tokens, k, experts, align),
          expect: 'ok',
          deps: [ids.root],
          anyOp: true,
          post: 'r === true || r',
        });
      } else {
        // The ids of a route, permuted on its device.
        const gt = gate(g, experts);
        const x = g.tensor(['f32'], [tokens, experts]);
        const call = `m.moe.permute(r.ids, ${experts}, ${lit(opts)})`;
        g.emit({
          ops: ['moe.route', 'moe.permute'],
          src: `(async () => { const r = m.moe.route(${x.ref}, ${lit(gt.opts)}); try { return await ${checkedPermute(call, 'r.ids', tokens, gt.topK, experts, align)}; } finally { r.dispose(); } })()`,
          expect: 'ok',
          deps: [x.root],
          anyOp: true,
          post: 'r === true || r',
        });
      }
    },
  },
  {
    name: 'permute-bad',
    weight: 2,
    run(g) {
      const choice = g.int(0, 4);
      if (choice === 0) {
        const ids = g.tensor(['f32', 'u8', 'bf16', 'e4m3'], [2, 4]);
        g.emit({ ops: ['moe.permute'], src: `m.moe.permute(${ids.ref}, 8)`, expect: 'error', deps: [ids.root], why: `ids of dtype ${ids.dtype}` });
      } else if (choice === 1) {
        const shape = g.pick([[8], [2, 2, 4], [], [2, 0], [1, 17], [0, 40]]);
        const ids = g.tensor(['i32'], shape);
        g.emit({ ops: ['moe.permute'], src: `m.moe.permute(${ids.ref}, 8)`, expect: 'error', deps: [ids.root], why: `ids of shape [${shape.join(', ')}]` });
      } else if (choice === 2) {
        const ids = g.tensor(['i32'], [2, 4]);
        const e = g.pick(['0', '513', '-1', '2.5', 'NaN', "'8'", 'undefined', 'null', '2 ** 32', '8n']);
        g.emit({ ops: ['moe.permute'], src: `m.moe.permute(${ids.ref}, ${e})`, expect: 'error', deps: [ids.root], why: `numExperts ${e}` });
      } else if (choice === 3) {
        const ids = g.tensor(['i32'], [2, 4]);
        const opts = g.pick([
          '{ align: 0 }', '{ align: 3 }', '{ align: 2048 }', '{ align: -4 }', '{ align: 1.5 }', "{ align: '4' }", '{ align: NaN }',
          ...BAD_IMPLS.map((i) => `{ impl: ${i} }`), ...NOT_OPTIONS, lit(withStrayKey(g, { align: 4 }, ['align', 'impl'])),
        ]);
        g.emit({ ops: ['moe.permute'], src: `m.moe.permute(${ids.ref}, 8, ${opts})`, expect: 'error', deps: [ids.root], why: 'bad options' });
      } else {
        const bad = badTensor(g, ['i32'], [2, 4]);
        g.emit({ ops: ['moe.permute'], src: `m.moe.permute(${bad.src}, 8)`, expect: bad.expect, deps: bad.deps, variant: bad.variant, why: bad.why });
      }
    },
  },
];

/** Source of an async check of a grouped GEMM output made by `call`: its shape, and that it reads back whole; disposes it. */
function checkedGrouped(call: string, shape: readonly number[]): string {
  const size = shape.reduce((a, b) => a * b, 1);
  return (
    `(async () => { const y = ${call}; try {` +
    ` if (JSON.stringify(y.shape) !== ${JSON.stringify(JSON.stringify(shape))}) return 'shape ' + JSON.stringify(y.shape);` +
    ` const out = await y.toArray(); return out.length === ${size} || 'read back ' + out.length + ' elements';` +
    ` } finally { y.dispose(); } })()`
  );
}

cases.push(
  {
    name: 'groupedGemm',
    weight: 3,
    run(g) {
      // Arbitrary operands, offsets and counts: whatever the layout says,
      // the call runs and stays inside its buffers.
      const experts = g.int(1, 9);
      const n = g.pick([1, 8, 16, 33, 128]);
      const k = g.pick([8, 16, 64, 128, 136]);
      const masked = g.chance(0.3);
      const rows = masked ? g.int(0, 9) : g.int(0, 70);
      const x = g.tensor(['bf16'], masked ? [experts, rows, k] : [rows, k]);
      const w = g.tensor(['bf16'], [experts, n, k]);
      const opts: Record<string, unknown> = {};
      const impl = g.validImpl();
      if (impl !== undefined) opts.impl = impl;
      const deps = [x.root, w.root];
      const outShape = masked ? [experts, rows, n] : [rows, n];
      if (masked) {
        const counts = g.tensor(['i32'], [experts]);
        deps.push(counts.root);
        g.emit({ ops: ['moe.groupedGemm'], src: checkedGrouped(`m.moe.groupedGemmMasked(${x.ref}, ${w.ref}, ${counts.ref}, ${lit(opts)})`, outShape), expect: 'ok', deps, anyOp: true, post: 'r === true || r' });
        return;
      }
      const offsets = g.tensor(['i32'], [experts + 1]);
      deps.push(offsets.root);
      let countsRef = '';
      if (g.chance(0.5)) {
        const counts = g.tensor(['i32'], [experts]);
        deps.push(counts.root);
        countsRef = `counts: ${counts.ref}, `;
      }
      const src = `m.moe.groupedGemm(${x.ref}, ${w.ref}, ${offsets.ref}, { ${countsRef}...${lit(opts)} })`;
      g.emit({ ops: ['moe.groupedGemm'], src: checkedGrouped(src, outShape), expect: 'ok', deps, anyOp: true, post: 'r === true || r' });
    },
  },
  {
    name: 'groupedGemm-bad',
    weight: 2,
    run(g) {
      const choice = g.int(0, 3);
      const x = g.tensor(['bf16'], [6, 32]);
      const offsets = g.tensor(['i32'], [4]);
      if (choice === 0) {
        const shape = g.pick([[2, 16, 32], [3, 16, 16], [3, 16], [16, 32], [3, 16, 32, 1]]);
        const w = g.tensor(['bf16'], shape);
        g.emit({ ops: ['moe.groupedGemm'], src: `m.moe.groupedGemm(${x.ref}, ${w.ref}, ${offsets.ref})`, expect: 'error', deps: [x.root, w.root, offsets.root], why: `w of shape [${shape.join(', ')}]` });
      } else if (choice === 1) {
        const w = g.tensor(['f32', 'f16', 'u8', 'i32'], [3, 16, 32]);
        g.emit({ ops: ['moe.groupedGemm'], src: `m.moe.groupedGemm(${x.ref}, ${w.ref}, ${offsets.ref})`, expect: 'error', deps: [x.root, w.root, offsets.root], why: `w of dtype ${w.dtype}` });
      } else if (choice === 2) {
        const w = g.tensor(['bf16'], [3, 16, 32]);
        const opts = g.pick(["{ outDtype: 'e4m3' }", "{ outDtype: 'i32' }", ...BAD_IMPLS.map((i) => `{ impl: ${i} }`), ...NOT_OPTIONS, lit(withStrayKey(g, {}, ['counts', 'rowScale', 'outDtype', 'impl']))]);
        g.emit({ ops: ['moe.groupedGemm'], src: `m.moe.groupedGemm(${x.ref}, ${w.ref}, ${offsets.ref}, ${opts})`, expect: 'error', deps: [x.root, w.root, offsets.root], why: 'bad options' });
      } else {
        const w = g.tensor(['bf16'], [3, 16, 32]);
        const bad = badTensor(g, ['i32'], [4]);
        g.emit({ ops: ['moe.groupedGemm'], src: `m.moe.groupedGemm(${x.ref}, ${w.ref}, ${bad.src})`, expect: bad.expect, deps: [x.root, w.root, ...bad.deps], variant: bad.variant, why: bad.why });
      }
    },
  },
);


/** Emits a valid gather or swiglu call whose result is plain `[rows, cols]` of `dtype` or, with `format`, a 1x128 Quantized. */
function emitRows(g: Gen, op: string, src: string, deps: number[], rows: number, cols: number, dtype: 'f32' | 'bf16' | 'f16', format: 'e4m3' | 'e5m2' | undefined): void {
  const def = g.newVar();
  if (!format) {
    g.emit({ ops: [op], src, expect: 'ok', deps, def, post: isTensorPost(dtype, [rows, cols]) });
    g.track(def, dtype, [rows, cols]);
    return;
  }
  const scales = [rows, Math.ceil(cols / 128)];
  g.emit({
    ops: [op],
    src,
    expect: 'ok',
    deps,
    def,
    post: `r instanceof m.Quantized && r.format === '${format}' && r.values.shape.join() === '${rows},${cols}' && r.scales.shape.join() === '${scales.join()}'`,
  });
  const q: QuantVal = {
    ref: `v[${def}]`,
    root: def,
    values: g.track(def, format, [rows, cols], { ref: `v[${def}].values` }),
    scales: g.track(def, 'f32', scales, { ref: `v[${def}].scales` }),
    block: [1, 128],
    format,
  };
  g.quants.push(q);
}

/** Random `quantize` / `scaleFormat` options (about half the time none). */
function quantOptions(g: Gen, opts: Record<string, unknown>): 'e4m3' | 'e5m2' | undefined {
  if (!g.chance(0.5)) return undefined;
  const format = g.pick(['e4m3', 'e5m2'] as const);
  opts.quantize = format;
  if (g.chance(0.5)) opts.scaleFormat = g.pick(['f32', 'ue8m0']);
  return format;
}

const moreCases: Case[] = [
  {
    name: 'gather',
    weight: 3,
    run(g) {
      const tokens = g.pick([0, 1, 2, 5, 17]);
      const hidden = g.pick([0, 1, 7, 128, 129, 300]);
      const topK = g.pick([1, 2, 8, 16]);
      const rows = g.pick([0, 1, 3, 40, 130]);
      const x = g.tensor(['f32', 'bf16', 'f16'], [tokens, hidden]);
      // Arbitrary i32 ids: those outside [0, T·K) are padding rows.
      const ids = g.tensor(['i32'], [rows]);
      const opts: Record<string, unknown> = {};
      const format = quantOptions(g, opts);
      const impl = g.validImpl();
      if (impl !== undefined) opts.impl = impl;
      emitRows(g, 'moe.gather', `m.moe.gather(${x.ref}, ${ids.ref}, ${topK}, ${lit(opts)})`, [x.root, ids.root], rows, hidden, x.dtype as 'f32', format);
    },
  },
  {
    name: 'gather-bad',
    weight: 2,
    run(g) {
      const choice = g.int(0, 4);
      if (choice === 0) {
        const x = g.tensor(['i32', 'u8', 'e4m3', 'e5m2'], [2, 4]);
        const ids = g.tensor(['i32'], [3]);
        g.emit({ ops: ['moe.gather'], src: `m.moe.gather(${x.ref}, ${ids.ref}, 2)`, expect: 'error', deps: [x.root, ids.root], why: `x of dtype ${x.dtype}` });
      } else if (choice === 1) {
        const x = g.tensor(['f32'], g.pick([[8], [2, 2, 4], []]));
        const ids = g.tensor(['i32', 'f32'], g.pick([[3], [3, 1]]));
        g.emit({ ops: ['moe.gather'], src: `m.moe.gather(${x.ref}, ${ids.ref}, 2)`, expect: 'error', deps: [x.root, ids.root], why: 'x or rowIds of a wrong rank or dtype' });
      } else if (choice === 2) {
        const x = g.tensor(['bf16'], [2, 4]);
        const ids = g.tensor(['i32'], [3]);
        const k = g.pick(['0', '-1', '1.5', 'NaN', "'2'", 'undefined', 'null', '2 ** 31', '2n']);
        g.emit({ ops: ['moe.gather'], src: `m.moe.gather(${x.ref}, ${ids.ref}, ${k})`, expect: 'error', deps: [x.root, ids.root], why: `topK ${k}` });
      } else if (choice === 3) {
        const x = g.tensor(['bf16'], [2, 4]);
        const ids = g.tensor(['i32'], [3]);
        const opts = g.pick([
          "{ quantize: 'e4m2' }", "{ quantize: 'bf16' }", '{ quantize: 1 }', "{ scaleFormat: 'ue8m0' }", "{ quantize: 'e4m3', scaleFormat: 'e8m0' }",
          ...BAD_IMPLS.map((i) => `{ impl: ${i} }`), ...NOT_OPTIONS, lit(withStrayKey(g, { quantize: 'e4m3' }, ['quantize', 'scaleFormat', 'impl'])),
        ]);
        g.emit({ ops: ['moe.gather'], src: `m.moe.gather(${x.ref}, ${ids.ref}, 2, ${opts})`, expect: 'error', deps: [x.root, ids.root], why: 'bad options' });
      } else {
        const ids = g.tensor(['i32'], [3]);
        const bad = badTensor(g, ['bf16'], [2, 4]);
        g.emit({ ops: ['moe.gather'], src: `m.moe.gather(${bad.src}, ${ids.ref}, 2)`, expect: bad.expect, deps: [ids.root, ...bad.deps], variant: bad.variant, why: bad.why });
      }
    },
  },
  {
    name: 'swiglu',
    weight: 3,
    run(g) {
      const rows = g.pick([0, 1, 3, 40]);
      const inter = g.pick([0, 1, 7, 128, 129, 300]);
      const h = g.tensor(['f32', 'bf16', 'f16'], [rows, 2 * inter]);
      const opts: Record<string, unknown> = {};
      const format = quantOptions(g, opts);
      let outDtype = h.dtype as 'f32' | 'bf16' | 'f16';
      if (!format && g.chance(0.4)) {
        outDtype = g.pick(['f32', 'bf16', 'f16'] as const);
        opts.outDtype = outDtype;
      }
      const impl = g.validImpl();
      if (impl !== undefined) opts.impl = impl;
      emitRows(g, 'moe.swiglu', `m.moe.swiglu(${h.ref}, ${lit(opts)})`, [h.root], rows, inter, outDtype, format);
    },
  },
  {
    name: 'swiglu-bad',
    weight: 2,
    run(g) {
      const choice = g.int(0, 3);
      if (choice === 0) {
        const h = g.tensor(['f32', 'bf16'], g.pick([[2, 3], [1, 129], [4, 1]]));
        g.emit({ ops: ['moe.swiglu'], src: `m.moe.swiglu(${h.ref})`, expect: 'error', deps: [h.root], why: `h of odd last dimension [${h.shape.join(', ')}]` });
      } else if (choice === 1) {
        const h = g.tensor(['i32', 'u8', 'e4m3'], [2, 4]);
        const h2 = g.tensor(['f32'], g.pick([[8], [2, 2, 4], []]));
        const which = g.chance(0.5) ? h : h2;
        g.emit({ ops: ['moe.swiglu'], src: `m.moe.swiglu(${which.ref})`, expect: 'error', deps: [which.root], why: 'h of a wrong dtype or rank' });
      } else if (choice === 2) {
        const h = g.tensor(['bf16'], [2, 4]);
        const opts = g.pick([
          "{ outDtype: 'e4m3' }", "{ outDtype: 'i32' }", "{ quantize: 'e4m3', outDtype: 'f32' }", "{ scaleFormat: 'ue8m0' }", "{ quantize: 'f32' }",
          ...BAD_IMPLS.map((i) => `{ impl: ${i} }`), ...NOT_OPTIONS, lit(withStrayKey(g, { outDtype: 'f32' }, ['outDtype', 'quantize', 'scaleFormat', 'impl'])),
        ]);
        g.emit({ ops: ['moe.swiglu'], src: `m.moe.swiglu(${h.ref}, ${opts})`, expect: 'error', deps: [h.root], why: 'bad options' });
      } else {
        const bad = badTensor(g, ['bf16'], [2, 4]);
        g.emit({ ops: ['moe.swiglu'], src: `m.moe.swiglu(${bad.src})`, expect: bad.expect, deps: bad.deps, variant: bad.variant, why: bad.why });
      }
    },
  },
  {
    name: 'combine',
    weight: 3,
    run(g) {
      const tokens = g.pick([0, 1, 2, 5, 17]);
      const topK = g.pick([1, 2, 8]);
      const hidden = g.pick([0, 1, 7, 128, 129]);
      const rows = g.pick([0, 1, 3, 40]);
      const y = g.tensor(['f32', 'bf16', 'f16'], [rows, hidden]);
      // Arbitrary i32 rows: those outside [0, P) are skipped picks.
      const inv = g.tensor(['i32'], [tokens, topK]);
      const deps = [y.root, inv.root];
      const parts: string[] = [];
      if (g.chance(0.5)) {
        const w = g.tensor(['f32'], [tokens, topK]);
        deps.push(w.root);
        parts.push(`weights: ${w.ref}`);
      }
      if (g.chance(0.5)) {
        const sh = g.tensor(['f32', 'bf16', 'f16'], [tokens, hidden]);
        deps.push(sh.root);
        parts.push(`shared: ${sh.ref}`);
      }
      let outDtype = y.dtype as 'f32' | 'bf16' | 'f16';
      if (g.chance(0.4)) {
        outDtype = g.pick(['f32', 'bf16', 'f16'] as const);
        parts.push(`outDtype: '${outDtype}'`);
      }
      const impl = g.validImpl();
      if (impl !== undefined) parts.push(`impl: ${lit(impl)}`);
      const def = g.newVar();
      g.emit({ ops: ['moe.combine'], src: `m.moe.combine(${y.ref}, ${inv.ref}, { ${parts.join(', ')} })`, expect: 'ok', deps, def, post: isTensorPost(outDtype, [tokens, hidden]) });
      g.track(def, outDtype, [tokens, hidden]);
    },
  },
  {
    name: 'combine-bad',
    weight: 2,
    run(g) {
      const choice = g.int(0, 4);
      const y = g.tensor(['bf16'], [6, 4]);
      const inv = g.tensor(['i32'], [3, 2]);
      if (choice === 0) {
        const w = g.tensor(['f32', 'bf16'], g.pick([[3, 1], [2, 3], [6], [3, 2]]));
        const ok = w.dtype === 'f32' && w.shape.join() === '3,2';
        if (ok) return;
        g.emit({ ops: ['moe.combine'], src: `m.moe.combine(${y.ref}, ${inv.ref}, { weights: ${w.ref} })`, expect: 'error', deps: [y.root, inv.root, w.root], why: 'weights of a wrong shape or dtype' });
      } else if (choice === 1) {
        const sh = g.tensor(['f32', 'i32', 'e4m3'], g.pick([[3, 5], [3, 4], [4, 4], [12]]));
        if (sh.dtype === 'f32' && sh.shape.join() === '3,4') return;
        g.emit({ ops: ['moe.combine'], src: `m.moe.combine(${y.ref}, ${inv.ref}, { shared: ${sh.ref} })`, expect: 'error', deps: [y.root, inv.root, sh.root], why: 'shared of a wrong shape or dtype' });
      } else if (choice === 2) {
        const badInv = g.tensor(['f32', 'i32'], g.pick([[6], [3, 2, 1], [3, 2]]));
        if (badInv.dtype === 'i32' && badInv.shape.length === 2) return;
        g.emit({ ops: ['moe.combine'], src: `m.moe.combine(${y.ref}, ${badInv.ref})`, expect: 'error', deps: [y.root, badInv.root], why: 'inverse of a wrong dtype or rank' });
      } else if (choice === 3) {
        const opts = g.pick([
          "{ outDtype: 'e4m3' }", "{ outDtype: 'i32' }", '{ weights: 1 }', "{ shared: 'x' }",
          ...BAD_IMPLS.map((i) => `{ impl: ${i} }`), ...NOT_OPTIONS, lit(withStrayKey(g, { outDtype: 'f32' }, ['weights', 'shared', 'outDtype', 'impl'])),
        ]);
        g.emit({ ops: ['moe.combine'], src: `m.moe.combine(${y.ref}, ${inv.ref}, ${opts})`, expect: 'error', deps: [y.root, inv.root], why: 'bad options' });
      } else {
        const bad = badTensor(g, ['bf16'], [6, 4]);
        g.emit({ ops: ['moe.combine'], src: `m.moe.combine(${bad.src}, ${inv.ref})`, expect: bad.expect, deps: [inv.root, ...bad.deps], variant: bad.variant, why: bad.why });
      }
    },
  },
];

/** Routing, the balancing bias update, the permutation, the gather, the activation, the grouped GEMM and the combine. */
export const moe: Family = {
  name: 'moe',
  covers: ['moe.route', 'moe.updateBias', 'moe.permute', 'moe.gather', 'moe.swiglu', 'moe.combine', 'moe.groupedGemm'],
  cases: [...cases, ...moreCases],
};
