#!/usr/bin/env node
/**
 * The `moekit` command: `moekit info` describes this installation (build,
 * CUDA, devices, kernel versions and where each is verified); `moekit bench`
 * runs the benchmarks (same as `npm run bench`).
 * @internal
 * @module
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { packageRoot } from './binding.js';
import { cudaStatus, devices } from './device.js';
import { buildInfo, kernelVersions } from './info.js';

const HELP = `usage: moekit <command> [options]

commands:
  info            build, CUDA status, devices and kernel versions
  bench [args]    run the benchmarks (moekit bench --help)
  help            this text
  version         the package version`;

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function info(): void {
  const build = buildInfo();
  const cuda = cudaStatus();
  const list = devices();
  const version = (v: number) => (v ? `${Math.floor(v / 1000)}.${(v % 1000) / 10}` : 'none');
  console.log(`moekit ${packageVersion()}`);
  const kernels = build.emulated
    ? `built for the emulated GPU (profile ${build.emulated}: the kernels run on the CPU)`
    : build.cuda
      ? `built (nvcc ${build.cudaCompilerVersion}, ${build.cudaArchitectures})`
      : 'not built';
  console.log(`  native addon: Node-API ${build.napiVersion}, CUDA kernels ${kernels}`);
  console.log(`  CUDA: runtime ${version(cuda.runtimeVersion)}, driver ${version(cuda.driverVersion)}, ${cuda.available ? 'available' : `unavailable: ${cuda.reason}`}`);
  for (const s of cuda.skipped) console.log(`  skipped GPU: ${s}`);
  console.log('devices:');
  for (const d of list) {
    const extra = d.kind === 'cuda' ? `sm_${d.computeCapability!.join('')}, ${d.smCount} SMs, ${gib(d.totalMemory)}` : `${d.threads} threads, ${gib(d.totalMemory)}`;
    console.log(`  ${d.id.padEnd(7)} ${d.name} (${extra})${d.lost ? ` LOST: ${d.lost}` : ''}`);
  }
  const gpus = list.filter((d) => d.kind === 'cuda');
  console.log('kernel versions (auto picks the highest version verified on the GPU, else v1):');
  for (const [op, versions] of Object.entries(kernelVersions())) {
    for (const v of versions) {
      const arch = `sm_${v.minSm}${v.maxSm ? (v.maxSm === v.minSm ? ' only' : `..sm_${v.maxSm}`) : '+'}`;
      const verified = v.absent ? `absent from this build (${v.absent})` : v.verifiedOn.length ? `verified on ${v.verifiedOn.join(', ')}` : 'never run on a GPU';
      const emulated = v.emulatedOn.length ? `; passed emulated on ${v.emulatedOn.join(', ')}` : '; not passed in emulation';
      const here = gpus.map((g) => `${g.id}: ${v.verifiedOn.includes(`sm_${g.computeCapability!.join('')}`) ? 'verified' : 'unverified'}`);
      console.log(`  ${op.padEnd(10)} ${v.name.padEnd(3)} ${arch.padEnd(13)} ${verified}${here.length ? ` (${here.join(', ')})` : ''}${emulated} - ${v.idea}`);
    }
  }
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

function main(argv: string[]): number {
  const [command = 'help', ...rest] = argv;
  switch (command) {
    case 'info':
      info();
      return 0;
    case 'bench': {
      const r = spawnSync(process.execPath, [join(packageRoot(), 'dist', 'bench', 'run.js'), ...rest], { stdio: 'inherit' });
      return r.status ?? 1;
    }
    case 'version':
    case '--version':
      console.log(packageVersion());
      return 0;
    case 'help':
    case '--help':
    case '-h':
      console.log(HELP);
      return 0;
    default:
      console.error(`moekit: unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}

process.exitCode = main(process.argv.slice(2));
