// Runs the host programs built from tests/native/*_check.cc: they exercise
// the kernels' __host__ __device__ logic (tile schedules, index math) on the
// CPU. The FP8 conversion check runs from tests/fp8/codec.test.ts. Those
// that draw random inputs take this run's seed from MOEKIT_TEST_SEED
// (tests/helpers/rng.ts), so a failure reruns with the seed it prints.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { TEST_SEED, seedNote } from '../helpers/rng.js';

const checksDir = join(import.meta.dirname, '..', '..', 'build', 'checks');
const RUN_ELSEWHERE = new Set(['moekit_conversions_check']);
const checks = existsSync(checksDir) ? readdirSync(checksDir).filter((f) => f.startsWith('moekit_') && !RUN_ELSEWHERE.has(f)) : [];
const reason = existsSync(checksDir) ? 'no host checks built' : 'build/checks is missing (host checks are built with the CUDA toolkit)';

describe.skipIf(checks.length === 0)(`host checks of device logic${checks.length ? '' : ` (skipped: ${reason})`}`, () => {
  it.each(checks)('%s', (name) => {
    const r = spawnSync(join(checksDir, name), ['--quick'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, MOEKIT_TEST_SEED: String(TEST_SEED) },
    });
    expect(r.error, r.stderr).toBeUndefined();
    expect(r.status, `${name} failed (${seedNote()}):\n${r.stdout}\n${r.stderr}`).toBe(0);
    // A check that reports a seed used this run's: its random inputs repeat with MOEKIT_TEST_SEED.
    for (const [, seed] of `${r.stdout}\n${r.stderr}`.matchAll(/\bseed (\d+)/g)) {
      expect(Number(seed), `${name} drew its random inputs from seed ${seed}, not from MOEKIT_TEST_SEED`).toBe(TEST_SEED);
    }
  });
});
