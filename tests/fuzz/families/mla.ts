/**
 * Fuzz cases of MLA: the paged latent cache (`mla.createCache`,
 * `KvCache.append`, `KvCache.toTensor`) and `mla.decode`. Valid calls use
 * block tables drawn over the cache's pages and lengths the tables cover,
 * and are read back (shapes, lse +inf exactly for rows that see no key).
 * Arbitrary i32 tables and lengths (out of range ones included) may fail
 * the queued work on the CPU (named) and are masked on CUDA: either way
 * nothing is read or written outside the cache. Bad arguments: wrong head
 * sizes, dtypes, shapes, scales, disposed caches, writes past a sequence's
 * pages, stray keys.
 * @module
 */
import { type Case, type Family, type Gen, badTensor, isTensorPost, lit, withStrayKey } from '../gen.js';

const PAGE_SIZES = [1, 3, 16, 32, 64] as const;

/** Defines an i32 tensor of `values` (valid data the case chose) and returns its variable. */
function ints(g: Gen, values: readonly number[], shape: readonly number[]): { ref: string; root: number } {
  const def = g.newVar();
  g.emit({ ops: ['tensor'], src: `dev.tensor(new Int32Array(${lit([...values])}), ${lit({ shape: [...shape] })})`, expect: 'ok', def, post: isTensorPost('i32', shape) });
  const t = g.track(def, 'i32', shape);
  return { ref: t.ref, root: t.root };
}

interface Layout {
  batch: number;
  blocks: number;
  pageSize: number;
  maxPages: number;
  table: number[];
  lens: number[];
}

/** Lengths and a block table over a cache of `blocks` pages (pages may be shared, as with prefix caching). */
function layout(g: Gen): Layout {
  const batch = g.int(1, 4);
  const pageSize = g.pick(PAGE_SIZES);
  const maxPages = g.int(1, 4);
  const blocks = g.int(1, 6);
  const table = Array.from({ length: batch * maxPages }, () => g.int(0, blocks - 1));
  const lens = Array.from({ length: batch }, () => g.int(0, maxPages * pageSize));
  return { batch, blocks, pageSize, maxPages, table, lens };
}

const cases: Case[] = [
  {
    name: 'decode',
    weight: 3,
    run(g) {
      const l = layout(g);
      const sq = g.int(1, 3);
      const heads = g.int(1, 5);
      const q = g.tensor(['bf16'], [l.batch, sq, heads, 576]);
      const cache = g.tensor(['bf16'], [l.blocks, l.pageSize, 576]);
      const table = ints(g, l.table, [l.batch, l.maxPages]);
      const lens = ints(g, l.lens, [l.batch]);
      const causal = g.chance(0.5);
      const impl = g.validImpl();
      const call = `m.mla.decode({ q: ${q.ref}, kvCache: ${cache.ref}, blockTable: ${table.ref}, seqLens: ${lens.ref}, softmaxScale: 0.1352, causal: ${causal}${impl === undefined ? '' : `, impl: ${lit(impl)}`} })`;
      // Rows that see no key give lse +inf exactly (the others may overflow: q and the cache hold any bits now and then).
      const empty = Array.from({ length: l.batch * heads * sq }, (_, i) => {
        const b = Math.floor(i / (heads * sq));
        const s = i % sq;
        const L = l.lens[b]!;
        return (causal ? Math.min(L, L - sq + s + 1) : L) <= 0;
      });
      g.emit({
        ops: ['mla.decode'],
        src:
          `(async () => { const r = ${call}; try { const [o, s] = await Promise.all([r.out.toArray(), r.lse.toArray()]);` +
          ` if (o.length !== ${l.batch * sq * heads * 512} || s.length !== ${l.batch * heads * sq}) return 'wrong sizes';` +
          ` const empty = ${lit(empty)}; for (let i = 0; i < s.length; i++) if (empty[i] && s[i] !== Infinity) return 'lse[' + i + '] of a row that sees no key is ' + s[i];` +
          ` return true; } finally { r.dispose(); } })()`,
        expect: 'ok',
        deps: [q.root, cache.root, table.root, lens.root],
        post: 'r === true || r',
      });
    },
  },
  {
    name: 'decode-arbitrary-tables',
    weight: 2,
    run(g) {
      const batch = g.int(1, 3);
      const q = g.tensor(['bf16'], [batch, 1, 2, 576]);
      const cache = g.tensor(['bf16'], [g.int(1, 3), g.pick(PAGE_SIZES), 576]);
      const table = g.tensor(['i32'], [batch, g.int(1, 3)]);
      const lens = g.tensor(['i32'], [batch]);
      g.emit({
        ops: ['mla.decode'],
        src: `(async () => { const r = m.mla.decode({ q: ${q.ref}, kvCache: ${cache.ref}, blockTable: ${table.ref}, seqLens: ${lens.ref}, softmaxScale: 1 }); try { await r.lse.toArray(); return true; }` +
          // A failed read leaves the device's report of the failure: take it, so later calls do not see it.
          ` catch (e) { await dev.synchronize().catch(() => undefined); throw e; } finally { r.dispose(); } })()`,
        expect: 'any',
        deps: [q.root, cache.root, table.root, lens.root],
        why: 'lengths and page ids from -1000 to 1000',
      });
    },
  },
  {
    name: 'decode-bad-args',
    weight: 2,
    run(g) {
      const q = g.tensor(['bf16'], [2, 1, 3, 576]);
      const cache = g.tensor(['bf16'], [2, 16, 576]);
      const table = ints(g, [0, 1, 1, 0], [2, 2]);
      const lens = ints(g, [3, 17], [2]);
      const args: Record<string, string> = { q: q.ref, kvCache: cache.ref, blockTable: table.ref, seqLens: lens.ref, softmaxScale: '0.1' };
      const deps = [q.root, cache.root, table.root, lens.root];
      let why: string;
      switch (g.int(0, 6)) {
        case 0: {
          const bad = g.tensor(['bf16', 'f32'], [2, 1, 3, g.pick([512, 192, 577])]);
          args.q = bad.ref;
          deps.push(bad.root);
          why = 'q of the wrong head size';
          break;
        }
        case 1: {
          const bad = g.tensor(['f32', 'f16', 'e4m3'], [2, 16, 576]);
          args.kvCache = bad.ref;
          deps.push(bad.root);
          why = 'a cache that is not bf16';
          break;
        }
        case 2: {
          const bad = g.tensor(['i32'], [g.pick([1, 3]), 2]);
          args.blockTable = bad.ref;
          deps.push(bad.root);
          why = 'a block table of the wrong batch';
          break;
        }
        case 3:
          args.softmaxScale = g.pick(['0', '-1', 'NaN', 'Infinity', "'0.1'", 'undefined']);
          why = 'a bad softmax scale';
          break;
        case 4: {
          const bad = badTensor(g, ['bf16'], [2, 1, 3, 576]);
          args.q = bad.src;
          deps.push(...bad.deps);
          why = bad.why;
          break;
        }
        case 5: {
          const bad = g.tensor(['f32', 'bf16'], [2]);
          args.seqLens = bad.ref;
          deps.push(bad.root);
          why = 'lengths that are not i32';
          break;
        }
        default: {
          const stray = withStrayKey(g, {}, ['q', 'kvCache', 'blockTable', 'seqLens', 'softmaxScale', 'causal', 'impl']);
          const [key, value] = Object.entries(stray)[0]!;
          args[key] = lit(value);
          why = `a stray key '${key}'`;
        }
      }
      const src = `m.mla.decode({ ${Object.entries(args).map(([k, v]) => `${k}: ${v}`).join(', ')} })`;
      g.emit({ ops: ['mla.decode'], src, expect: 'error', deps, why });
    },
  },
  {
    name: 'cache-append',
    weight: 2,
    run(g) {
      const l = layout(g);
      const tokens = g.int(1, 5);
      const dtype = g.pick(['bf16', 'e4m3'] as const);
      const latent = g.tensor(['bf16'], [l.batch, tokens, 512]);
      const rope = g.tensor(['bf16'], [l.batch, tokens, 64]);
      const table = ints(g, l.table, [l.batch, l.maxPages]);
      const capacity = l.maxPages * l.pageSize;
      const lengths = Array.from({ length: l.batch }, () => g.int(0, Math.min(tokens, capacity)));
      const positions = lengths.map((n) => g.int(0, capacity - n));
      const impl = g.validImpl();
      const call =
        `const c = m.mla.createCache(dev, { blocks: ${l.blocks}, pageSize: ${l.pageSize}, dtype: '${dtype}' });` +
        ` try { c.append({ latent: ${latent.ref}, kRope: ${rope.ref}, blockTable: ${table.ref}, positions: ${lit(positions)}, lengths: ${lit(lengths)}${impl === undefined ? '' : `, impl: ${lit(impl)}`} });` +
        ` const t = c.toTensor(); try { const b = await t.bytes(); return b.length === ${l.blocks * l.pageSize * (dtype === 'bf16' ? 1152 : 656)} || 'wrong size ' + b.length; } finally { t.dispose(); } } finally { c.dispose(); }`;
      g.emit({ ops: ['mla.createCache', 'mla.append'], src: `(async () => { ${call} })()`, expect: 'ok', deps: [latent.root, rope.root, table.root], post: 'r === true || r' });
    },
  },
  {
    name: 'cache-bad-append',
    weight: 2,
    run(g) {
      const latent = g.tensor(['bf16'], [1, 4, 512]);
      const rope = g.tensor(['bf16'], [1, 4, 64]);
      const table = ints(g, [0, 1], [1, 2]);
      const deps = [latent.root, rope.root, table.root];
      let args = `latent: ${latent.ref}, kRope: ${rope.ref}, blockTable: ${table.ref}, positions: [0]`;
      let why: string;
      switch (g.int(0, 4)) {
        case 0:
          args = args.replace('positions: [0]', `positions: [${g.int(29, 100)}]`);
          why = 'a write past the sequence pages';
          break;
        case 1:
          args = args.replace('positions: [0]', `positions: ${g.pick(['[-1]', '[0.5]', '[0, 0]', "['0']", '7', 'undefined'])}`);
          why = 'bad positions';
          break;
        case 2:
          args += `, lengths: ${g.pick(['[5]', '[-1]', '[1, 1]', '[0.5]'])}`;
          why = 'bad lengths';
          break;
        case 3: {
          const bad = g.tensor(['f32', 'f16'], [1, 4, 512]);
          args = args.replace(`latent: ${latent.ref}`, `latent: ${bad.ref}`);
          deps.push(bad.root);
          why = 'a latent that is not bf16';
          break;
        }
        default:
          args = args.replace(`kRope: ${rope.ref}`, `kRope: ${latent.ref}`);
          why = 'kRope of the wrong width';
      }
      g.emit({
        ops: ['mla.append'],
        src: `(() => { const c = m.mla.createCache(dev, { blocks: 2, pageSize: 16 }); try { c.append({ ${args} }); } finally { c.dispose(); } })()`,
        expect: 'error',
        deps,
        why,
      });
    },
  },
  {
    name: 'cache-bad-options',
    run(g) {
      const opts = g.pick(['{ blocks: 0, pageSize: 16 }', '{ blocks: 1, pageSize: 0 }', '{ blocks: 1, pageSize: 4097 }', "{ blocks: 1, pageSize: 16, dtype: 'f32' }", '{ blocks: 1.5, pageSize: 16 }', 'undefined', '{ pageSize: 16 }']);
      g.emit({ ops: ['mla.createCache'], src: `m.mla.createCache(dev, ${opts})`, expect: 'error', deps: [], why: `options ${opts}` });
    },
  },
];

export const mla: Family = { name: 'mla', covers: ['mla.createCache', 'mla.decode', 'KvCache.append', 'KvCache.toTensor'], cases };
