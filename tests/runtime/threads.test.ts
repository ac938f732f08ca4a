// The CPU backend's threads: MOEKIT_CPU_THREADS is checked, and a process
// limit on threads (ulimit -u, a cgroup's pids.max) never aborts the
// process. The limit is simulated with a preloaded shim that makes
// std::thread creation fail after a set count, as such a limit does.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { REPO_ROOT, builtEntry, evalInChild, runModule } from '../helpers/child.js';

const SHIM = join(REPO_ROOT, 'build', 'checks', 'libmoekit_thread_limit_shim.so');

function threadsWith(value: string): string {
  return evalInChild<string>(`try { return String(m.device('cpu').info.threads); } catch (e) { return e.name + ' ' + e.code + ': ' + e.message; }`, {
    MOEKIT_CPU_THREADS: value,
  });
}

describe('MOEKIT_CPU_THREADS', () => {
  it('takes a whole number from 1 to 256', () => {
    expect(threadsWith('3')).toBe('3');
    expect(threadsWith('1')).toBe('1');
  });

  it.each(['abc', '0', '-1', '1e3', '2abc', '1000', '257', ' 4', '4.0'])('%j is an error naming the variable', (value) => {
    expect(threadsWith(value)).toMatch(
      new RegExp(`^(TypeError ERR_MOEKIT_INVALID_ARG|RangeError ERR_MOEKIT_OUT_OF_RANGE): MOEKIT_CPU_THREADS must be a whole number from 1 to 256, got '${value.replace('.', '\\.')}'; unset it to use every core$`),
    );
  });
});

describe.skipIf(!existsSync(SHIM))(`a process limit on threads${existsSync(SHIM) ? '' : ` (skipped: ${SHIM} was not built)`}`, () => {
  const program = `
    const m = await import(${JSON.stringify(builtEntry())});
    try {
      const cpu = m.device('cpu');
      const x = cpu.tensor(new Float32Array(300 * 300).fill(1), { shape: [300, 300] });
      const y = m.gemm(x, x);
      const v = await y.toArray();
      x.dispose();
      y.dispose();
      process.stdout.write('threads ' + cpu.info.threads + ', gemm ' + v[0] + ', ' + v[v.length - 1]);
    } catch (e) {
      process.stdout.write(e.name + ' ' + e.code + ': ' + e.message);
    }`;
  const run = (allowed: number) =>
    runModule(program, { LD_PRELOAD: SHIM, MOEKIT_SHIM_STD_THREADS: String(allowed), MOEKIT_CPU_THREADS: '4' });

  it('runs with the helpers that started and says so once on stderr', () => {
    for (const allowed of [1, 2, 3]) {
      const r = run(allowed);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`threads ${allowed}, gemm 300, 300`);
      const warnings = r.stderr.split('\n').filter((l) => l.startsWith('moekit:'));
      expect(warnings).toEqual([
        `moekit: the CPU backend started ${allowed} of 4 threads (Resource temporarily unavailable); running with ${allowed}. Lower MOEKIT_CPU_THREADS or raise the process limit.`,
      ]);
    }
  });

  it('all four threads start when the limit allows', () => {
    const r = run(4);
    expect(r.stdout).toBe('threads 4, gemm 300, 300');
    expect(r.stderr).not.toContain('moekit:');
  });

  it('throws a clear error at first use when not even the queue thread starts', () => {
    const r = run(0);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      "UnsupportedError ERR_MOEKIT_UNSUPPORTED: cpu: could not start the device's queue thread (Resource temporarily unavailable); raise the process's thread limit (ulimit -u, the container's pids limit)",
    );
  });
});
