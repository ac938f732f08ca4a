// The emulated GPU's checks (docs/emulation.md, "Checks") are code like any
// other: each is run here on a kernel with one planted bug
// (cuda/emulation/selftest/faults.cu), and the error and the report it
// produces are checked: the CUDA error a real GPU would give, the kernel,
// block and thread, what went wrong, and where in the source. Two correct
// twins of the buggy kernels must run clean. Only the emulation build has
// the kernels (npm run emulate runs this file under every profile).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { REPO_ROOT, builtEntry, runModule } from '../helpers/child.js';
import { emulatedProfile } from '../helpers/devices.js';

const profile = emulatedProfile();
const SKIP_REASON = 'the loaded addon is not the emulation build, the only one with the planted-bug kernels; npm run emulate runs this file';

const FAULTS_SOURCE = 'cuda/emulation/selftest/faults.cu';
const KERNELS_MODULE = /libmoekit_kernels\.so\+(0x[0-9a-f]+) \(addr2line -Cfe (\S+) 0x[0-9a-f]+\)/;

/**
 * The `index`th line of faults.cu marked `planted bug: <name>`, as reports
 * cite source lines (`cuda/emulation/selftest/faults.cu:71`).
 */
function plantedSite(name: string, index = 0): string {
  const lines = readFileSync(join(REPO_ROOT, FAULTS_SOURCE), 'utf8').split('\n');
  const sites = lines.flatMap((line, i) => (line.endsWith(`// planted bug: ${name}`) ? [`${FAULTS_SOURCE}:${i + 1}`] : []));
  const site = sites[index];
  if (site === undefined) throw new Error(`${FAULTS_SOURCE} marks ${sites.length} lines 'planted bug: ${name}', not ${index + 1}`);
  return site;
}

/** `text` as a regular expression matching it literally. */
const literally = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface SelfTestRun {
  readonly error: string;
  readonly message: string;
  readonly stderr: string;
}

/**
 * Runs kernel `name` through the emulationSelfTest hook in a child process:
 * a fault is sticky and loses the device for the rest of the process.
 */
function runInChild(name: string): SelfTestRun {
  const bindingModule = join(dirname(builtEntry()), 'binding.js');
  const source = [
    `const { binding } = await import(${JSON.stringify(bindingModule)});`,
    `process.stdout.write(JSON.stringify(binding().emulationSelfTest(${JSON.stringify(name)})));`,
  ].join('\n');
  // The same addon as this process (npm run emulate names it), and the
  // threads in their default order: the reports name the thread that ran
  // into the bug first, which a seeded order (MOEKIT_EMU_SEED) would change.
  const r = runModule(source, { MOEKIT_BINDING_PATH: process.env.MOEKIT_BINDING_PATH, MOEKIT_EMU_SEED: undefined });
  if (r.status !== 0) throw new Error(`the child process running ${name} exited with ${r.status}:\n${r.stderr}`);
  const out = JSON.parse(r.stdout) as { error: string; message: string };
  return { ...out, stderr: r.stderr };
}

/** addr2line's answer for `offset` in `module`: the function, then file:line; undefined without addr2line. */
function addr2line(module: string, offset: string): string | undefined {
  const r = spawnSync('addr2line', ['-Cfe', module, offset], { encoding: 'utf8', timeout: 30_000 });
  return r.error || r.status !== 0 ? undefined : r.stdout;
}

/** What a faulting kernel's run must report. */
interface FaultCase {
  readonly name: string;
  readonly title: string;
  readonly error: string;
  /** The fault's place, as the report's trailer names it (the deadlock report names warps and lanes instead). */
  readonly where?: string;
  /** Text the report must contain. */
  readonly report: readonly (string | RegExp)[];
  /** A load or store in the kernel's code: the report gives its code offset, which must resolve to the planted line. */
  readonly access?: boolean;
  /** Further checks of the message. */
  readonly check?: (message: string) => void;
}

const thread = (kernel: string, block: string, t: string, warp: number, lane: number): string =>
  `[kernel fault_${kernel}, block (${block}), thread (${t}) (warp ${warp}, lane ${lane})]`;

const FAULTS: readonly FaultCase[] = [
  {
    name: 'oob_global_store',
    title: 'a global store one past the end of its allocation',
    error: 'cudaErrorIllegalAddress',
    where: thread('oob_global_store', '2,0,0', '0,0,0', 0, 0),
    report: ['out-of-bounds global-memory store of 4 bytes at 0x', 'is 0 bytes past the end of a 256-byte device allocation on cuda:0'],
    access: true,
  },
  {
    name: 'oob_dynamic_shared_store',
    title: 'a dynamic shared-memory store one past the launch\'s dynamic bytes',
    error: 'cudaErrorIllegalAddress',
    where: thread('oob_dynamic_shared_store', '0,0,0', '64,0,0', 2, 0),
    report: ['out-of-bounds shared-memory access: a store of 4 bytes at shared address 0x', 'the block has 256 bytes of dynamic shared memory at 0x'],
    access: true,
    check: (message) => {
      // The store lands exactly at the end of the dynamic bytes.
      const store = /a store of 4 bytes at shared address (0x[0-9a-f]+)/.exec(message);
      const start = /256 bytes of dynamic shared memory at (0x[0-9a-f]+)/.exec(message);
      expect(Number(store?.[1]) - Number(start?.[1])).toBe(256);
    },
  },
  {
    name: 'shared_race',
    title: 'thread 1 reading what thread 0 wrote to shared memory, with no barrier between',
    error: 'cudaErrorLaunchFailure',
    where: thread('shared_race', '0,0,0', '1,0,0', 0, 1),
    report: [
      'shared-memory race (read after write): thread (1,0,0) (warp 0, lane 1) reads shared address 0x',
      'last written by thread (0,0,0) (warp 0, lane 0) with no barrier or completed wait between them',
    ],
    access: true,
  },
  {
    name: 'cp_async_no_wait',
    title: 'a cp.async destination read by its own thread before cp.async.wait_group',
    error: 'cudaErrorLaunchFailure',
    where: thread('cp_async_no_wait', '0,0,0', '0,0,0', 0, 0),
    report: ['thread (0,0,0) (warp 0, lane 0) reads shared address 0x', 'while an asynchronous copy (cp.async or TMA) into it is still in flight: a wait is missing'],
    access: true,
  },
  {
    name: 'deadlock',
    title: 'half a warp in a whole-warp shuffle while the other half waits at __syncthreads',
    error: 'cudaErrorLaunchTimeout',
    report: [
      'deadlock in kernel fault_deadlock, block (0,0,0): no thread can make progress.',
      `warp 0 lanes 0-15: waits in __shfl_sync (${plantedSite('deadlock', 0)}) for the other lanes`,
      // The count after "of" is left open: for __syncthreads the report
      // gives the bar.sync thread count, 0 (the whole block), not 32.
      new RegExp(`${literally(`warp 0 lanes 16-31: waits at __syncthreads (${plantedSite('deadlock', 1)}), barrier 0: 16 of `)}\\d+ arrived`),
    ],
  },
  {
    name: 'divergent_shuffle',
    title: 'lanes calling one __shfl_sync with different masks',
    error: 'cudaErrorLaunchFailure',
    where: thread('divergent_shuffle', '0,0,0', '1,0,0', 0, 1),
    report: [
      `divergent warp collective: this lane calls __shfl_sync with mask 0xfffffffe (${plantedSite('divergent_shuffle')})`,
      `__shfl_sync with mask 0xffffffff (${plantedSite('divergent_shuffle')})`,
    ],
  },
  {
    name: 'trap',
    title: '__trap() in one thread of the second block',
    error: 'cudaErrorLaunchFailure',
    where: thread('trap', '1,0,0', '37,0,0', 1, 5),
    report: [`__trap() at ${plantedSite('trap')}`],
  },
  {
    name: 'misaligned_load',
    title: 'a 4-byte global load from an address 2 bytes into a buffer',
    error: 'cudaErrorMisalignedAddress',
    where: thread('misaligned_load', '0,0,0', '0,0,0', 0, 0),
    report: ['misaligned global-memory load of 4 bytes at 0x'],
    access: true,
    check: (message) => {
      const address = /load of 4 bytes at (0x[0-9a-f]+)/.exec(message)?.[1];
      expect(address && BigInt(address) % 4n).toBe(2n);
    },
  },
];

/** The correct twins: the same code with the bug fixed. */
const CLEAN = [
  { name: 'shared_race_synced', title: 'thread 1 reading what thread 0 wrote, after __syncthreads' },
  { name: 'cp_async_waited', title: 'a cp.async destination read after cp.async.wait_group 0' },
] as const;

describe.skipIf(profile === '')(`emulated GPU checks${profile ? ` on ${profile}` : ` (skipped: ${SKIP_REASON})`}`, () => {
  it('emulationSelfTest refuses an unknown kernel, listing exactly the kernels tested here', () => {
    let message = '';
    try {
      binding().emulationSelfTest?.('no_such_kernel');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^emulationSelfTest: name must be one of .*, got 'no_such_kernel'$/);
    const listed = [...(/one of (.*), got/.exec(message)?.[1] ?? '').matchAll(/'(\w+)'/g)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...FAULTS.map((f) => f.name), ...CLEAN.map((c) => c.name)].sort());
  });

  for (const c of FAULTS) {
    it(`${c.name}: ${c.title} fails with ${c.error} and says where and why`, () => {
      const run = runInChild(c.name);
      expect(run.error).toBe(c.error);
      if (c.where) expect(run.message).toContain(c.where);
      for (const text of c.report) {
        if (typeof text === 'string') expect(run.message).toContain(text);
        else expect(run.message).toMatch(text);
      }
      c.check?.(run.message);
      // The runtime prints the report once on stderr as the device faults.
      expect(run.stderr).toContain(`cuda:0 faulted with ${c.error}: `);
      if (c.access) {
        // The code offset the report gives resolves to the planted line.
        const [, offset = '', module = ''] = KERNELS_MODULE.exec(run.message) ?? [];
        expect(offset, 'the report gives the access\'s offset in libmoekit_kernels.so').not.toBe('');
        const resolved = addr2line(module, offset);
        if (resolved === undefined) console.log(`${c.name}: addr2line is not available; the offset ${offset} was not resolved`);
        else expect(resolved).toMatch(new RegExp(`${literally(plantedSite(c.name))}(?!\\d)`));
      }
    });
  }

  for (const c of CLEAN) {
    it(`${c.name}: ${c.title} runs clean`, () => {
      const run = runInChild(c.name);
      expect({ error: run.error, message: run.message }).toEqual({ error: 'cudaSuccess', message: 'no error' });
      expect(run.stderr).not.toContain('faulted');
    });
  }
});
