// Finding cuBLASLt and cuBLAS (native/baselines/cublaslt_loader.cc, cublas_loader.cc) with stand-in
// libraries built here from C stubs: one lacking an entry point, one
// complete but too old for block scaling. A loaded library stays for the
// life of the process, so this file has its own (vitest runs each file in a
// process of its own) and loads the stand-in before anything else can.
// The stubs answer CUBLAS_STATUS_NOT_SUPPORTED to every call, and no test
// here lets a call reach them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { UnsupportedError, baselines, cudaStatus, device } from '../../lib/index.js';
import { emulatedProfile } from '../helpers/devices.js';

const CC = process.env.CC || 'cc';
const haveCc = spawnSync(CC, ['--version'], { stdio: 'ignore' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'moekit-cublaslt-stub-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// No real libcublas may be loaded (and kept) before the stand-in cuBLAS below: status() looks for it too.
process.env.MOEKIT_CUBLAS_PATH = join(dir, 'no-cublas-yet.so');

const ENTRY_POINTS = [
  'cublasLtCreate',
  'cublasLtMatmulDescCreate',
  'cublasLtMatmulDescDestroy',
  'cublasLtMatmulDescSetAttribute',
  'cublasLtMatrixLayoutCreate',
  'cublasLtMatrixLayoutDestroy',
  'cublasLtMatmulPreferenceCreate',
  'cublasLtMatmulPreferenceDestroy',
  'cublasLtMatmulPreferenceSetAttribute',
  'cublasLtMatmulAlgoGetHeuristic',
  'cublasLtMatmul',
];

/** Builds a shared library exporting cublasLtGetVersion() = `version` and every entry point but `omit`. */
function buildStub(name: string, version: number, omit?: string): string {
  const source = [
    '#include <stddef.h>',
    `size_t cublasLtGetVersion(void) { return ${version}; }`,
    ...ENTRY_POINTS.filter((f) => f !== omit).map((f) => `int ${f}(void) { return 15; /* CUBLAS_STATUS_NOT_SUPPORTED */ }`),
  ].join('\n');
  const c = join(dir, `${name}.c`);
  const so = join(dir, `lib${name}.so`);
  writeFileSync(c, source);
  const r = spawnSync(CC, ['-shared', '-fPIC', '-o', so, c], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building ${so} failed: ${r.stderr}`);
  return so;
}

const cpu = device('cpu');

// The emulation build's loader refuses cuBLASLt without opening anything
// (docs/emulation.md): the loading itself is tested by the other builds.
const standInSkip = !haveCc
  ? `no C compiler '${CC}' to build one; set CC`
  : emulatedProfile()
    ? 'the emulation build refuses cuBLASLt without loading it'
    : '';
describe.skipIf(standInSkip !== '')(`a stand-in cuBLASLt${standInSkip ? ` (skipped: ${standInSkip})` : ''}`, () => {
  it('one lacking an entry point is refused, naming the symbol', () => {
    const path = buildStub('partial', 120901, 'cublasLtMatmul');
    process.env.MOEKIT_CUBLASLT_PATH = path;
    const s = baselines.status();
    expect(s.available).toBe(false);
    expect(s.reason).toBe(
      `cuBLASLt could not be loaded from MOEKIT_CUBLASLT_PATH=${path}: not a usable cuBLASLt: symbol cublasLtMatmul is missing; ` +
        'point it at a libcublasLt.so.12 or .so.13, or unset it to search libcublasLt.so.13, libcublasLt.so.12 and libcublasLt.so',
    );
  });

  it('a complete one is loaded and kept; its version rules out block scaling', () => {
    const path = buildStub('complete', 120405);
    process.env.MOEKIT_CUBLASLT_PATH = path;
    const s = baselines.status();
    expect(s.available).toBe(true);
    expect(s.reason).toBe('');
    expect(s.library).toBe(path);
    expect(s.version).toBe(120405);
    expect(s.versionText).toBe('12.4.5');
    const tooOld = `1x128/128x128 block-scaled FP8 needs cuBLAS 12.9 or newer; the loaded cuBLASLt is 12.4.5 (${path})`;
    expect(s.fp8Block).toEqual({ available: false, reason: tooOld });
    if (cudaStatus().available) {
      expect(s.device).toMatch(/^cuda:\d+$/);
      expect(s.gemm.available).toBe(true);
    } else {
      expect(s.device).toBe(null);
      expect(s.gemm).toEqual({ available: false, reason: `no CUDA device: ${cudaStatus().reason}` });
      expect(s.fp8Tensor).toEqual(s.gemm);
    }
    const onCpu = baselines.status('cpu');
    expect(onCpu.device).toBe(null);
    expect(onCpu.gemm.reason).toBe("the cuBLAS baselines run on CUDA devices, not on cpu; move the tensors with .to('cuda')");

    // Errors come before anything reaches the library.
    const a = cpu.zeros([32, 64], 'bf16');
    expect(() => baselines.gemm(a, a)).toThrow(
      new UnsupportedError("baselines.gemm: the cuBLAS baselines run on CUDA devices, not on cpu; move the tensors with .to('cuda')"),
    );
    const q = { values: cpu.zeros([32, 256], 'e4m3'), scales: cpu.zeros([32, 2], 'f32') };
    const w = { values: cpu.zeros([16, 256], 'e4m3'), scales: cpu.zeros([1, 2], 'f32') };
    expect(() => baselines.fp8Gemm(q, w, { mode: 'block' })).toThrow(new UnsupportedError(`baselines.fp8Gemm: ${tooOld}`));

    // Kept for the life of the process: another path changes nothing.
    process.env.MOEKIT_CUBLASLT_PATH = join(dir, 'elsewhere.so');
    expect(baselines.status().library).toBe(path);
  });
});

// libcublas (the grouped GEMM's and MLA baselines' library), the same way: a
// stand-in that lacks an entry point is refused, and one from before cuBLAS
// 12.5 loads but has no cublasGemmGroupedBatchedEx (nor, being a stand-in,
// cublasGemmStridedBatchedEx), which status() and the call report.
const CUBLAS_ENTRY_POINTS = ['cublasCreate_v2', 'cublasSetStream_v2', 'cublasSetWorkspace_v2'];

function buildCublasStub(name: string, omit?: string): string {
  const source = [
    '/* cublasGetProperty: major 12, minor 4, patch 1 */',
    'int cublasGetProperty(int type, int* value) { *value = type == 0 ? 12 : type == 1 ? 4 : 1; return 0; }',
    ...CUBLAS_ENTRY_POINTS.filter((f) => f !== omit).map((f) => `int ${f}(void) { return 15; /* CUBLAS_STATUS_NOT_SUPPORTED */ }`),
  ].join('\n');
  const c = join(dir, `${name}.c`);
  const so = join(dir, `lib${name}.so`);
  writeFileSync(c, source);
  const r = spawnSync(CC, ['-shared', '-fPIC', '-o', so, c], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building ${so} failed: ${r.stderr}`);
  return so;
}

describe.skipIf(standInSkip !== '')(`a stand-in cuBLAS${standInSkip ? ` (skipped: ${standInSkip})` : ''}`, () => {
  it('one lacking an entry point is refused; one before 12.5 loads without the grouped GEMM', () => {
    const partial = buildCublasStub('cublas_partial', 'cublasSetStream_v2');
    process.env.MOEKIT_CUBLAS_PATH = partial;
    expect(baselines.status().cublas.reason).toBe(
      `cuBLAS could not be loaded from MOEKIT_CUBLAS_PATH=${partial}: not a usable cuBLAS: symbol cublasSetStream_v2 is missing; ` +
        'point it at a libcublas.so.12 or .so.13, or unset it to search libcublas.so.13, libcublas.so.12 and libcublas.so',
    );

    const old = buildCublasStub('cublas_old');
    process.env.MOEKIT_CUBLAS_PATH = old;
    const s = baselines.status();
    expect(s.cublas).toEqual({ available: true, library: old, version: 120401, versionText: '12.4.1', reason: '', groupedGemmEx: false, stridedBatchedEx: false });
    // The MLA baselines need cublasGemmStridedBatchedEx, which the stand-in lacks too (once a cuBLASLt is loaded).
    if (s.available) expect(s.mla).toEqual({ available: false, reason: `the loaded cuBLAS 12.4.1 (${old}) lacks cublasGemmStridedBatchedEx` });
    const lacks = `cublasGemmGroupedBatchedEx needs cuBLAS 12.5 or newer; the loaded cuBLAS is 12.4.1 (${old}) and lacks it`;
    expect(s.groupedGemm).toEqual({ available: false, reason: lacks });
    expect(baselines.status('cpu').groupedGemm.reason).toBe(lacks);
    const x = cpu.zeros([8, 32], 'bf16');
    const w = cpu.zeros([2, 16, 32], 'bf16');
    expect(() => baselines.groupedGemm(x, w, { offsets: [0, 3, 8] }, { mode: 'grouped' })).toThrow(
      new UnsupportedError(`baselines.groupedGemm: ${lacks}`),
    );
    delete process.env.MOEKIT_CUBLAS_PATH;
  });
});
