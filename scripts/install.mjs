#!/usr/bin/env node
// npm install step. A prebuilt binary for this platform (prebuilds/<platform>-<arch>/)
// is used when it loads; otherwise the addon is built from source with
// cmake-js (incremental in a checkout). Set MOEKIT_BUILD_FROM_SOURCE=1 to
// always build, MOEKIT_CUDA=OFF to build without CUDA.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildNative } from './build-native.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// Loads the binary in a child process, so a broken one cannot take npm down.
function prebuiltLoads() {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  if (!existsSync(dir) || !readdirSync(dir).some((f) => f.endsWith('.node'))) return false;
  const probe = `const b = require('node-gyp-build')(${JSON.stringify(root)}); b.devices();`;
  const r = spawnSync(process.execPath, ['-e', probe], { cwd: root, stdio: 'ignore' });
  return r.status === 0;
}

if (process.env.MOEKIT_BUILD_FROM_SOURCE !== '1' && prebuiltLoads()) {
  console.log(`moekit: using the prebuilt binary for ${process.platform}-${process.arch}`);
  process.exit(0);
}

console.log('moekit: building the native addon from source (cmake-js)');
const status = buildNative();
if (status !== 0) {
  console.error(
    [
      'moekit: building the native addon failed.',
      '  - it needs cmake >= 3.24, a C++17 compiler (g++ 9+ or clang 10+) and, for GPU support, the CUDA toolkit (nvcc 12.3+)',
      '  - to build the CPU backend only: MOEKIT_CUDA=OFF npm rebuild moekit',
      '  - to build for your GPU only (faster): MOEKIT_CUDA_ARCHITECTURES=native npm rebuild moekit',
    ].join('\n'),
  );
}
process.exit(status);
