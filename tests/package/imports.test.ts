// lib/'s modules import one another without a cycle. In a cycle, which
// module's body runs first depends on which one was imported first, and the
// other sees the first's exports undefined until it has run: a class used
// before its definition, a constant read as undefined. So the graph of
// runtime imports must be acyclic; type-only imports do not count, since
// they are erased.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

import ts from 'typescript';
import { describe, expect, it } from 'vitest';

import { REPO_ROOT } from '../helpers/child.js';

const LIB = join(REPO_ROOT, 'lib');

/**
 * The relative modules `source` imports at run time. `import type` and
 * `export type` are erased. An import whose specifiers are all inline
 * `type` ones (`import { type A } from`) is not: under verbatimModuleSyntax
 * tsc emits it as `import {} from`, which still loads, and orders, the
 * module. Dynamic `import()` loads later, at its call, and is not an edge.
 */
function runtimeImports(fileName: string, source: string): string[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  for (const statement of file.statements) {
    let specifier: ts.Expression | undefined;
    if (ts.isImportDeclaration(statement)) {
      if (statement.importClause?.isTypeOnly) continue;
      specifier = statement.moduleSpecifier;
    } else if (ts.isExportDeclaration(statement)) {
      if (statement.isTypeOnly) continue;
      specifier = statement.moduleSpecifier;
    }
    if (specifier && ts.isStringLiteral(specifier) && specifier.text.startsWith('.')) out.push(specifier.text);
  }
  return out;
}

/** Every .ts file under `dir`, as absolute paths. */
function tsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => join(dir, f))
    .sort();
}

/** lib/'s runtime import graph: module path (relative to the repo) -> the modules it imports. */
function libGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(LIB)) {
    const name = relative(REPO_ROOT, file);
    const targets = runtimeImports(file, readFileSync(file, 'utf8')).map((spec) => {
      // Sources import each other by their emitted names: './tensor.js' is tensor.ts.
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      return relative(REPO_ROOT, target);
    });
    graph.set(name, targets);
  }
  return graph;
}

/**
 * Cycles of `graph`, each as the path that closes it (`['a', 'b', 'a']`),
 * from its smallest module name. A graph has a cycle exactly when a
 * depth-first search meets an edge back to a module still on its path; each
 * such edge is reported, so every tangle is named by at least one cycle
 * through it (not necessarily by all of them).
 */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const done = new Set<string>();
  const path: string[] = [];
  const found = new Map<string, string[]>();
  const visit = (node: string): void => {
    if (done.has(node)) return;
    const at = path.indexOf(node);
    if (at >= 0) {
      const cycle = path.slice(at);
      const start = cycle.indexOf([...cycle].sort()[0]!);
      const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
      found.set(rotated.join(' -> '), [...rotated, rotated[0]!]);
      return;
    }
    path.push(node);
    for (const next of graph.get(node) ?? []) visit(next);
    path.pop();
    done.add(node);
  };
  for (const node of [...graph.keys()].sort()) visit(node);
  return [...found.values()];
}

describe('import cycles', () => {
  it('the parser counts what loads at run time and skips what is erased', () => {
    const source = [
      "import type { A } from './erased.js';",
      "import { type B } from './empty_import.js';",
      "import { c, type C } from './value.js';",
      "import './side_effect.js';",
      "import * as ns from './namespace.js';",
      "export type { D } from './erased_export.js';",
      "export { e } from './reexport.js';",
      "export * as f from './star.js';",
      "import { g } from 'node:fs';",
      "const later = () => import('./dynamic.js');",
    ].join('\n');
    expect(runtimeImports('x.ts', source)).toEqual([
      './empty_import.js', './value.js', './side_effect.js', './namespace.js', './reexport.js', './star.js',
    ]);
  });

  it('the search names each cycle once, from its smallest module', () => {
    const graph = new Map([
      ['c', ['a']],
      ['a', ['b', 'd']],
      ['b', ['c']],
      ['d', ['d']],
      ['e', ['a']],
    ]);
    expect(findCycles(graph)).toEqual([['a', 'b', 'c', 'a'], ['d', 'd']]);
    expect(findCycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]]))).toEqual([]);
  });

  it('lib/ imports no module that (directly or not) imports it back', () => {
    const graph = libGraph();
    // Not vacuous: the entry point is there and reaches the modules it re-exports.
    expect(graph.get(join('lib', 'index.ts'))).toEqual(expect.arrayContaining([join('lib', 'device.ts'), join('lib', 'tensor.ts')]));
    for (const [from, targets] of graph) {
      for (const to of targets) expect(graph.has(to), `${from} imports ${to}, which is not a module of lib/`).toBe(true);
    }
    const cycles = findCycles(graph).map((c) => c.join(' -> '));
    expect(cycles, `import cycles in lib/:\n  ${cycles.join('\n  ')}`).toEqual([]);
  });
});
