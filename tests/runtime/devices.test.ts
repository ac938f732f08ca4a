// What devices(), cudaStatus() and buildInfo() report.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { Device, buildInfo, cudaStatus, device, devices } from '../../lib/index.js';
import { REPO_ROOT, evalInChild } from '../helpers/child.js';
import { cudaDevice, cudaSkipReason } from '../helpers/devices.js';

const gpu = cudaDevice();

/** The nvcc a build would find (scripts/build-native.mjs looks at CUDACXX, then PATH). */
function nvccOnPath(): string | undefined {
  if (process.env.CUDACXX) return process.env.CUDACXX;
  const r = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

describe('devices()', () => {
  it('lists the CPU first, with name, totalMemory and threads', () => {
    const list = devices();
    expect(list.length).toBeGreaterThanOrEqual(1);
    const cpu = list[0]!;
    expect(cpu.id).toBe('cpu');
    expect(cpu.kind).toBe('cpu');
    expect(typeof cpu.name).toBe('string');
    expect(cpu.name.length).toBeGreaterThan(0);
    expect(cpu.totalMemory).toBe(totalmem());
    expect(Number.isInteger(cpu.threads)).toBe(true);
    expect(cpu.threads).toBeGreaterThanOrEqual(1);
    expect(cpu.computeCapability).toBeUndefined();
    expect(cpu.smCount).toBeUndefined();
    expect(list.filter((d) => d.kind === 'cpu')).toHaveLength(1);
  });

  it('MOEKIT_CPU_THREADS sets the CPU thread count', () => {
    expect(evalInChild<number>('return m.devices()[0].threads;', { MOEKIT_CPU_THREADS: '3' })).toBe(3);
    expect(evalInChild<number>('return m.devices()[0].threads;', { MOEKIT_CPU_THREADS: '1' })).toBe(1);
  });

  it('the Device objects carry the same facts and are cached', () => {
    const cpu = device('cpu');
    expect(cpu).toBeInstanceOf(Device);
    expect(cpu).toBe(device('cpu'));
    expect(cpu.id).toBe('cpu');
    expect(cpu.kind).toBe('cpu');
    expect(cpu.name).toBe(devices()[0]!.name);
    expect(cpu.info).toEqual(devices()[0]);
    expect(Object.isFrozen(cpu.info)).toBe(true);
    expect(String(cpu)).toBe(`Device(cpu: ${cpu.name})`);
  });

  it('cudaStatus() agrees with devices()', () => {
    const status = cudaStatus();
    const gpus = devices().filter((d) => d.kind === 'cuda');
    expect(status.built).toBe(buildInfo().cuda);
    expect(status.available).toBe(gpus.length > 0);
    if (status.available) {
      expect(status.reason).toBe('');
      expect(status.driverVersion).toBeGreaterThan(0);
    } else {
      expect(status.reason.length).toBeGreaterThan(0);
    }
    if (status.built) expect(status.runtimeVersion).toBeGreaterThanOrEqual(12000);
    expect(Array.isArray(status.skipped)).toBe(true);
  });

  it.skipIf(!gpu)(`CUDA devices report their properties${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
    const gpus = devices().filter((d) => d.kind === 'cuda');
    gpus.forEach((d, i) => {
      expect(d.id).toBe(`cuda:${i}`);
      expect(d.name.length).toBeGreaterThan(0);
      expect(d.totalMemory).toBeGreaterThan(2 ** 30);
      const [major, minor] = d.computeCapability!;
      expect(major).toBeGreaterThanOrEqual(8);
      expect(minor).toBeGreaterThanOrEqual(0);
      expect(d.smCount).toBeGreaterThan(0);
      expect(d.l2Bytes).toBeGreaterThan(0);
      expect(d.sharedMemoryPerBlockOptin).toBeGreaterThanOrEqual(48 * 1024);
      expect(d.sharedMemoryPerSm).toBeGreaterThanOrEqual(d.sharedMemoryPerBlockOptin!);
      expect(d.clockKhz).toBeGreaterThan(0);
      expect(d.memoryClockKhz).toBeGreaterThan(0);
      expect(d.memoryBusWidth).toBeGreaterThan(0);
      expect(d.driverVersion).toBe(cudaStatus().driverVersion);
      expect(d.runtimeVersion).toBe(cudaStatus().runtimeVersion);
      expect(d.threads).toBeUndefined();
      expect(device(d.id as `cuda:${number}`).kind).toBe('cuda');
    });
    expect(device('cuda')).toBe(device('cuda:0'));
  });
});

describe('buildInfo()', () => {
  it('reports CUDA compiled in exactly when nvcc was there to build it', () => {
    const info = buildInfo();
    expect(info.napiVersion).toBe(8);
    const nvcc = nvccOnPath();
    // A build asked for the CPU backend only (MOEKIT_CUDA=OFF) has no CUDA even with nvcc about.
    const cache = join(REPO_ROOT, 'build', 'CMakeCache.txt');
    const cpuOnly = existsSync(cache) && /^MOEKIT_CUDA:STRING=OFF$/m.test(readFileSync(cache, 'utf8'));
    if (nvcc && !cpuOnly) {
      expect(info.cuda, `nvcc is at ${nvcc}, so the addon should carry CUDA`).toBe(true);
      const release = /release (\d+\.\d+)/.exec(spawnSync(nvcc, ['--version'], { encoding: 'utf8' }).stdout)?.[1];
      expect(release, 'nvcc --version names a release').toBeDefined();
      // The emulated GPU's kernels are compiled by the host compiler, not nvcc.
      if (info.emulated) expect(info.cudaCompilerVersion).toBe('emulated');
      else expect(info.cudaCompilerVersion.startsWith(`${release}.`)).toBe(true);
    }
    if (info.cuda) {
      expect(info.cudaArchitectures).toMatch(/^\d+[a-z]?(-real|-virtual)?(,\d+[a-z]?(-real|-virtual)?)*$/);
      expect(cudaStatus().built).toBe(true);
    } else {
      expect(info.cudaArchitectures).toBe('');
      expect(info.cudaCompilerVersion).toBe('');
    }
  });
});
