// Work whose environment ends before it runs: a terminated Worker's queued
// ops and reads are skipped (the device queues are shared by the whole
// process), and a process that exits with work queued stops its queues
// first and exits cleanly.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { device } from '../../lib/index.js';
import { builtEntry, runModule } from '../helpers/child.js';

const cpu = device('cpu');

/** A Worker that runs `body` (with `m`, the built package, and `cpu`), then posts 'queued'. */
function workerRunning(body: string): Worker {
  return new Worker(
    `const { parentPort } = require('node:worker_threads');
     import(${JSON.stringify(builtEntry())}).then((m) => {
       const cpu = m.device('cpu');
       ${body}
       parentPort.postMessage('queued');
     });`,
    { eval: true },
  );
}

// Tens of milliseconds of CPU work per gemm on two cores.
const SLOW_GEMMS = `
  const x = cpu.tensor(new Float32Array(512 * 512).fill(0.5), { shape: [512, 512] });
  for (let i = 0; i < 20; i++) m.gemm(x, x);`;

describe('a Worker that ends with work queued', () => {
  it('has its queued ops skipped, not run', async () => {
    await cpu.synchronize();
    const before = binding().queueStats('cpu').skipped;
    // Nothing the Worker queues can start before it ends.
    const release = binding().holdQueue('cpu');
    const worker = workerRunning(SLOW_GEMMS);
    await once(worker, 'message');
    await worker.terminate();
    release();
    await cpu.synchronize();
    // The upload of x and the 20 gemms.
    expect(binding().queueStats('cpu').skipped - before).toBe(21);
  });

  it('has its reads skipped, and no read buffer is left behind', async () => {
    await cpu.synchronize();
    const release = binding().holdQueue('cpu');
    const worker = workerRunning(`${SLOW_GEMMS}
      const big = cpu.zeros([8 * 2 ** 20]);
      big.toArray();
      big.bytes();`);
    await once(worker, 'message');
    await worker.terminate();
    release();
    await cpu.synchronize();
    expect(binding().queueStats('cpu').pendingReadBytes).toBe(0);
  });

  it('leaves the main thread and its own work unaffected', async () => {
    const worker = workerRunning(SLOW_GEMMS);
    await once(worker, 'message');
    using mine = cpu.tensor([1, 2, 3]).cast('bf16');
    await worker.terminate();
    expect(Array.from(await mine.toArray())).toEqual([1, 2, 3]);
  });
});

describe('a process that exits with work queued', () => {
  const program = (ending: string) => `
    const m = await import(${JSON.stringify(builtEntry())});
    const cpu = m.device('cpu');
    ${SLOW_GEMMS}
    ${ending}`;

  it.each([
    ['returns from its script', ''],
    ['calls process.exit()', 'process.exit(0);'],
  ])('stops the queues and exits cleanly when it %s', (_, ending) => {
    const r = runModule(program(ending), { MOEKIT_DEBUG_EXIT: '1' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^moekit: queues stopped at exit; \d+ queued ops were skipped in all$/m);
    const skipped = Number(/(\d+) queued ops were skipped/.exec(r.stderr)![1]);
    expect(skipped).toBeGreaterThanOrEqual(15);
  });
});
