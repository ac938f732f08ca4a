#!/usr/bin/env node
// Reads a vitest JSON report (scripts/gpu-verify.sh writes one) and prints,
// per op and CUDA kernel version, how many of its GPU tests passed, failed
// and were skipped. A version may get this GPU's architecture in its
// verified_on (native/ops/kernel_tables.cc) only when its tests all passed
// and none was skipped for lack of a GPU.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/kernel-test-summary.mjs <vitest.json>');
  process.exit(2);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const counts = new Map();
for (const suite of report.testResults ?? []) {
  for (const t of suite.assertionResults ?? []) {
    const name = t.fullName ?? [...(t.ancestorTitles ?? []), t.title].join(' ');
    const m = /^(quantize|gemm|fp8Gemm)\b.*?\b(v\d+)\b/.exec(name);
    if (!m) continue;
    const key = `${m[1]} ${m[2]}`;
    const c = counts.get(key) ?? { passed: 0, failed: 0, skipped: 0, failures: [] };
    if (t.status === 'passed') c.passed++;
    else if (t.status === 'failed') {
      c.failed++;
      c.failures.push(name);
    } else c.skipped++;
    counts.set(key, c);
  }
}
if (counts.size === 0) {
  console.log('no kernel-version tests in the report');
  process.exit(1);
}
let bad = false;
for (const [key, c] of [...counts].sort()) {
  const verdict = c.failed === 0 && c.skipped === 0 && c.passed > 0 ? 'all passed' : c.failed ? 'FAILED' : 'incomplete';
  if (verdict !== 'all passed') bad = true;
  console.log(`${key.padEnd(12)} passed ${String(c.passed).padStart(4)}  failed ${String(c.failed).padStart(4)}  skipped ${String(c.skipped).padStart(4)}  ${verdict}`);
  for (const f of c.failures.slice(0, 5)) console.log(`    failed: ${f}`);
}
process.exit(bad ? 1 : 0);
