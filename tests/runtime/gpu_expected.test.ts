// Skipped GPU tests are right only where there is no GPU. Where one is
// visible (or MOEKIT_EXPECT_GPU=1) and CUDA is not usable, e.g. a CPU-only
// addon or a broken driver, this file fails with the reason instead of the
// run staying green with every GPU test skipped (tests/helpers/devices.ts).
import { describe, expect, it } from 'vitest';

import { type GpuExpectation, type GpuProbes, expectGpuSetting, gpuExpectationHere, missingGpuFailure, visibleGpu } from '../helpers/devices.js';

const here = gpuExpectationHere();
const situation = [
  here.status.available ? 'CUDA usable' : 'CUDA not usable',
  here.gpuVisible ?? 'no GPU visible',
  `MOEKIT_EXPECT_GPU ${here.expectGpu === undefined ? 'unset' : here.expectGpu ? '1' : '0'}`,
].join('; ');

describe('GPU tests are not skipped where a GPU is expected', () => {
  it(`CUDA is usable wherever a GPU is visible or expected (here: ${situation})`, () => {
    const failure = missingGpuFailure(here);
    if (failure) expect.fail(failure);
  });
});

describe('the decision, on made-up machines', () => {
  const broken = { built: true, available: false, reason: 'cudaErrorInsufficientDriver: CUDA driver version is insufficient' };
  const cpuOnly = { built: false, available: false, reason: 'this build of moekit has no CUDA support' };
  const working = { built: true, available: true, reason: '' };
  const decide = (e: Partial<GpuExpectation>) => missingGpuFailure({ expectGpu: undefined, gpuVisible: undefined, status: broken, ...e });

  it('no GPU visible, nothing expected: skipping is right, whatever the addon', () => {
    expect(decide({})).toBeUndefined();
    expect(decide({ status: cpuOnly })).toBeUndefined();
  });

  it('a visible GPU with a broken driver or a CPU-only addon fails, naming what was seen, the reason and the fix', () => {
    expect(decide({ gpuVisible: '/dev/nvidia0 exists' })).toBe(
      'a GPU is visible (/dev/nvidia0 exists) but the GPU tests cannot run: cudaErrorInsufficientDriver: CUDA driver version is insufficient. ' +
        'Every GPU test would be skipped: fix that, or set MOEKIT_EXPECT_GPU=0 to run CPU-only on purpose.',
    );
    expect(decide({ gpuVisible: '/dev/nvidia0 exists', status: cpuOnly })).toMatch(
      /^a GPU is visible \(\/dev\/nvidia0 exists\) but the GPU tests cannot run: this build of moekit has no CUDA support\. Every GPU test would be skipped/,
    );
  });

  it('MOEKIT_EXPECT_GPU=1 fails without a usable GPU even when none is visible; =0 never fails', () => {
    expect(decide({ expectGpu: true })).toMatch(/^MOEKIT_EXPECT_GPU=1 but the GPU tests cannot run: cudaErrorInsufficientDriver/);
    expect(decide({ expectGpu: true, status: cpuOnly })).toMatch(/^MOEKIT_EXPECT_GPU=1 but the GPU tests cannot run: this build of moekit has no CUDA support/);
    expect(decide({ expectGpu: false, gpuVisible: '/dev/nvidia0 exists' })).toBeUndefined();
  });

  it('a usable GPU never fails', () => {
    for (const expectGpu of [undefined, true, false]) {
      for (const gpuVisible of [undefined, '/dev/nvidia0 exists']) expect(decide({ expectGpu, gpuVisible, status: working })).toBeUndefined();
    }
  });

  it('MOEKIT_EXPECT_GPU takes 1, 0 or nothing', () => {
    expect(expectGpuSetting(undefined)).toBeUndefined();
    expect(expectGpuSetting('')).toBeUndefined();
    expect(expectGpuSetting('1')).toBe(true);
    expect(expectGpuSetting('0')).toBe(false);
    expect(() => expectGpuSetting('yes')).toThrow("MOEKIT_EXPECT_GPU must be 1 (a GPU must be usable) or 0 (run CPU-only on purpose), got 'yes'");
  });

  it('a GPU shows as a /dev/nvidiaN node, a /proc/driver/nvidia/gpus entry or a line of nvidia-smi -L', () => {
    const machine = (dev: string[], procGpus: string[], smi?: string): GpuProbes => ({
      list: (path) => (path === '/dev' ? dev : path === '/proc/driver/nvidia/gpus' ? procGpus : []),
      nvidiaSmi: () => smi,
    });
    expect(visibleGpu(machine(['null', 'nvidiactl', 'nvidia-uvm'], []))).toBeUndefined();
    expect(visibleGpu(machine(['null', 'nvidiactl', 'nvidia1'], []))).toBe('/dev/nvidia1 exists');
    expect(visibleGpu(machine([], ['0000:17:00.0']))).toBe('/proc/driver/nvidia/gpus lists 0000:17:00.0');
    expect(visibleGpu(machine([], [], 'GPU 0: NVIDIA H200 (UUID: GPU-0d9f)\n'))).toBe("nvidia-smi -L lists 'GPU 0: NVIDIA H200 (UUID: GPU-0d9f)'");
    expect(visibleGpu(machine([], [], 'No devices were found\n'))).toBeUndefined();
    expect(visibleGpu(machine([], [], undefined))).toBeUndefined();
  });
});
