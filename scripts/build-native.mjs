#!/usr/bin/env node
// Builds the addon from source with cmake-js into build/Release/moekit.node.
//
// Environment:
//   MOEKIT_CUDA=AUTO|ON|OFF          CUDA kernels (default AUTO: when nvcc is found)
//   MOEKIT_CUDA_ARCHITECTURES=...    e.g. "90a-real" or "native" (default: sm_80, sm_89, sm_90a + PTX)
//   MOEKIT_PTXAS_VERBOSE=1           print per-kernel register/spill reports
//   MOEKIT_BUILD_JOBS=N              parallel compile jobs (default: CPU count)
//   MOEKIT_BUILD_TYPE=Release|Debug|RelWithDebInfo
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function findNvcc() {
  if (process.env.CUDACXX && existsSync(process.env.CUDACXX)) return process.env.CUDACXX;
  const which = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  for (const p of ['/usr/local/cuda/bin/nvcc', '/usr/local/cuda-13.0/bin/nvcc']) if (existsSync(p)) return p;
  return undefined;
}

export function buildNative({ quiet = false } = {}) {
  const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const cudaMode = (process.env.MOEKIT_CUDA ?? 'AUTO').toUpperCase();
  // configure every time, so option changes (MOEKIT_CUDA, architectures)
  // take effect; unchanged objects are not rebuilt.
  const args = [cmakeJs, 'configure', '--directory', root, '--out', join(root, 'build'),
    '--config', process.env.MOEKIT_BUILD_TYPE ?? 'Release',
    '--parallel', String(Number(process.env.MOEKIT_BUILD_JOBS) || availableParallelism()),
    `--CDMOEKIT_CUDA=${cudaMode}`];
  const env = { ...process.env };
  if (cudaMode !== 'OFF') {
    const nvcc = findNvcc();
    if (nvcc) env.CUDACXX = nvcc;
  }
  if (process.env.MOEKIT_CUDA_ARCHITECTURES) args.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.MOEKIT_CUDA_ARCHITECTURES}`);
  args.push(`--CDMOEKIT_PTXAS_VERBOSE=${process.env.MOEKIT_PTXAS_VERBOSE === '1' ? 'ON' : 'OFF'}`);
  if (quiet) args.push('--log-level', 'warn');
  const configured = spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
  if (configured.status !== 0) return configured.status ?? 1;
  const buildArgs = [cmakeJs, 'build', ...args.slice(2)];
  const built = spawnSync(process.execPath, buildArgs, { cwd: root, env, stdio: 'inherit' });
  return built.status ?? 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exit(buildNative());
}
