#!/usr/bin/env node
// Reads a vitest JSON report (scripts/gpu-verify.sh writes one) and prints,
// per op and CUDA kernel version, how many of its GPU tests passed, failed
// and were skipped. A version may get this GPU's architecture in its
// verified_on (the version table beside the op's binding, native/ops/<family>/<op>.cc)
// only when its tests all passed and none was skipped for lack of a GPU.
//
// The ops and versions come from the addon's registry (kernelVersions()),
// so every registered version is listed, including one no test named:
// that one is reported as untested, never silently left out.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { reportTests, versionClassifier } from './kernel-tests.mjs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/kernel-test-summary.mjs <vitest.json>');
  process.exit(2);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const load = createRequire(import.meta.url)('node-gyp-build');
const registry = load(root).kernelVersions();
const versions = Object.entries(registry).flatMap(([op, list]) => list.map((v) => [op, v.name]));
if (versions.length === 0) {
  console.log('this build has no CUDA kernel versions');
  process.exit(1);
}
const classify = versionClassifier(registry);
const counts = new Map(versions.map(([op, name]) => [`${op} ${name}`, { passed: 0, failed: 0, skipped: 0, failures: [] }]));
for (const t of reportTests(report)) {
  const v = classify(t.name);
  if (!v) continue;
  const c = counts.get(`${v.op} ${v.version}`);
  if (t.status === 'passed') c.passed++;
  else if (t.status === 'failed') {
    c.failed++;
    c.failures.push(t.name);
  } else c.skipped++;
}
let bad = false;
for (const [key, c] of [...counts].sort()) {
  const verdict =
    c.failed === 0 && c.skipped === 0 && c.passed > 0 ? 'all passed' : c.failed ? 'FAILED' : c.passed + c.skipped === 0 ? 'untested' : 'incomplete';
  if (verdict !== 'all passed') bad = true;
  console.log(`${key.padEnd(14)} passed ${String(c.passed).padStart(4)}  failed ${String(c.failed).padStart(4)}  skipped ${String(c.skipped).padStart(4)}  ${verdict}`);
  for (const f of c.failures.slice(0, 5)) console.log(`    failed: ${f}`);
}
process.exit(bad ? 1 : 0);
