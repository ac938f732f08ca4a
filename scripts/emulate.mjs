#!/usr/bin/env node
// npm run emulate: builds the emulated GPU (CMake MOEKIT_EMULATION=ON, into
// build-emulation/) and runs the project's GPU test files, unchanged,
// against it under each architecture profile: sm80 (A100: the bf16 mma.sync
// paths), sm89 (L40: FP8 mma.sync) and sm90a (H100: wgmma + TMA). Every
// version of every op in kernelVersions() thereby runs on each of its
// architecture paths. Prints a table op x version x profile and ends with
// "emulated: N passed, M failed" (tests; a file that fails to load counts
// as one failure). Exits non-zero on any failure.
//
// The GPU test files are found, not listed: every tests/**/*.test.ts that
// mentions CUDA, outside tests/package/ (which tests the published package).
//
// Options: --profile sm90a (repeatable), --no-build, --build-dir DIR (an
// emulation build elsewhere; default build-emulation/), and test-file
// filters as for vitest (e.g. `npm run emulate -- gemm_v2`).
// Environment: MOEKIT_EMU_SEED=N varies the order in which each block's
// threads are interleaved (default: thread order), to shake out races.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { reportTests, versionClassifier } from './kernel-tests.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const PROFILES = ['sm80', 'sm89', 'sm90a'];
let buildDir = join(root, 'build-emulation');

function parseArgs(argv) {
  const opts = { profiles: [], build: true, filters: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--profile') {
      const p = argv[++i];
      if (!PROFILES.includes(p)) throw new Error(`--profile must be one of ${PROFILES.join(', ')}, got '${p}'`);
      opts.profiles.push(p);
    } else if (a === '--no-build') opts.build = false;
    else if (a === '--build-dir') buildDir = argv[++i];
    else if (a.startsWith('--')) throw new Error(`unknown option '${a}' (known: --profile <${PROFILES.join('|')}>, --no-build, --build-dir <dir>)`);
    else opts.filters.push(a);
  }
  if (opts.profiles.length === 0) opts.profiles = PROFILES;
  return opts;
}

// The emulation build compiles against the CUDA toolkit's headers (not nvcc, not a driver).
function cudaHeaders() {
  const roots = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'].filter(Boolean);
  const nvcc = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' });
  if (nvcc.status === 0 && nvcc.stdout.trim()) roots.push(join(dirname(nvcc.stdout.trim()), '..'));
  return roots.find((r) => existsSync(join(r, 'include', 'cuda_runtime_api.h')));
}

function build() {
  if (!cudaHeaders()) {
    console.error('npm run emulate needs the CUDA toolkit headers (cuda_runtime_api.h): install the CUDA toolkit, ' +
      'or set CUDA_HOME to its folder. No GPU or driver is needed.');
    return false;
  }
  const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const common = ['--directory', root, '--out', buildDir, '--config', 'Release', '--CDMOEKIT_EMULATION=ON', '--log-level', 'warn',
    '--parallel', String(Number(process.env.MOEKIT_BUILD_JOBS) || availableParallelism())];
  for (const step of ['configure', 'build']) {
    const r = spawnSync(process.execPath, [cmakeJs, step, ...common], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) return false;
  }
  return true;
}

function gpuTestFiles(filters) {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (relative(root, path) !== join('tests', 'package')) walk(path);
      } else if (name.endsWith('.test.ts') && /cuda/i.test(readFileSync(path, 'utf8'))) {
        out.push(relative(root, path));
      }
    }
  };
  walk(join(root, 'tests'));
  return out.filter((f) => filters.length === 0 || filters.some((p) => f.includes(p))).sort();
}

function runProfile(profile, files) {
  const addon = join(buildDir, profile, 'moekit.node');
  const output = join(buildDir, profile, 'vitest.json');
  const vitest = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
  // Two emulated GPUs, so the cross-device paths (peer copies, a queue per
  // device) run too; a CUDA call on a thread that selected no device is an
  // error rather than a silent use of device 0.
  const env = {
    MOEKIT_EMU_DEVICES: '2',
    MOEKIT_EMU_STRICT_DEVICE: '1',
    ...process.env,
    MOEKIT_BINDING_PATH: addon,
    MOEKIT_EXPECT_GPU: '1',
  };
  const started = Date.now();
  spawnSync(process.execPath, [vitest, 'run', '--reporter=dot', '--reporter=json', `--outputFile.json=${output}`, ...files], {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  if (!existsSync(output)) return { tests: [{ file: '', name: `vitest wrote no report for ${profile}`, status: 'failed', failureMessages: [] }], seconds };
  return { tests: reportTests(JSON.parse(readFileSync(output, 'utf8'))), seconds };
}

function cell(c) {
  if (!c) return '-';
  if (c.failed > 0) return `FAILED ${c.failed}/${c.passed + c.failed}`;
  if (c.passed > 0) return `passed ${c.passed}${c.skipped ? ` (+${c.skipped} skipped)` : ''}`;
  return c.skipped ? `skipped ${c.skipped}` : '-';
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.build && !build()) {
    console.log('emulated: 0 passed, 1 failed (the emulation build failed)');
    process.exit(1);
  }
  const files = gpuTestFiles(opts.filters);
  const results = new Map();  // profile -> tests
  let registry;
  for (const profile of opts.profiles) {
    console.log(`\n== emulated ${profile}: ${files.length} test files ==`);
    const r = runProfile(profile, files);
    console.log(`   (${r.seconds} s)`);
    results.set(profile, r.tests);
    registry ??= require(join(buildDir, profile, 'moekit.node')).kernelVersions();
  }

  const classify = versionClassifier(registry);
  const rows = new Map();  // "op version" -> profile -> counts
  for (const [op, list] of Object.entries(registry)) for (const v of list) rows.set(`${op} ${v.name}`, new Map());
  rows.set('(other GPU tests)', new Map());
  let passed = 0;
  let failed = 0;
  const failures = [];
  for (const [profile, tests] of results) {
    for (const t of tests) {
      const v = classify(t.name);
      const key = v ? `${v.op} ${v.version}` : '(other GPU tests)';
      const c = rows.get(key).get(profile) ?? { passed: 0, failed: 0, skipped: 0 };
      if (t.status === 'passed') c.passed++, passed++;
      else if (t.status === 'failed') {
        c.failed++, failed++;
        failures.push(`${profile}: ${t.name}\n      ${(t.failureMessages[0] ?? '').split('\n').slice(0, 3).join('\n      ')}`);
      } else c.skipped++;
      rows.get(key).set(profile, c);
    }
  }
  const width = Math.max(...[...rows.keys()].map((k) => k.length)) + 2;
  console.log(`\n${'op version'.padEnd(width)}${opts.profiles.map((p) => p.padEnd(26)).join('')}`);
  for (const [key, byProfile] of rows) {
    console.log(`${key.padEnd(width)}${opts.profiles.map((p) => cell(byProfile.get(p)).padEnd(26)).join('')}`);
  }
  if (failures.length > 0) {
    console.log('\nfailures:');
    for (const f of failures.slice(0, 40)) console.log(`  ${f}`);
    if (failures.length > 40) console.log(`  ... and ${failures.length - 40} more`);
  }
  // A version's emulated_on (its version table) should list the profiles,
  // among those its architecture range admits, on which all its tests passed.
  const SM = { sm80: 80, sm89: 89, sm90a: 90 };
  const stale = [];
  // Only a run of every GPU test file says what a version passed.
  for (const [op, list] of opts.filters.length === 0 ? Object.entries(registry) : []) {
    for (const v of list) {
      const recorded = v.emulatedOn ? v.emulatedOn.split(',') : [];
      for (const profile of opts.profiles) {
        const sm = SM[profile];
        const runs = sm >= v.minSm && (v.maxSm === 0 || sm <= v.maxSm);
        const c = rows.get(`${op} ${v.name}`).get(profile);
        const clean = runs && c !== undefined && c.failed === 0 && c.passed > 0;
        if (clean && !recorded.includes(profile)) stale.push(`${op} ${v.name}: passed on ${profile}; add it to emulated_on`);
        if (!clean && recorded.includes(profile)) stale.push(`${op} ${v.name}: emulated_on lists ${profile}, which it did not pass`);
      }
    }
  }
  if (stale.length > 0) {
    console.log('\nversion tables to update (native/ops/<family>/<op>.cc):');
    for (const line of stale) console.log(`  ${line}`);
  }
  console.log(`emulated: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

main();
