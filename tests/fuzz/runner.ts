/**
 * Runs a batch of fuzz calls in a child Node process, so that a crash is a
 * finding rather than the end of the run: the batch is written as a module
 * that imports the built package and driver.mjs, the child logs each call
 * to a file, and when it dies (signal, abort, timeout) the runner reruns the
 * batch with a synchronize after every call to pin the call whose work
 * crashed, then without that call, up to a limit of children.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { REPO_ROOT, builtEntry } from '../helpers/child.js';
import type { Call } from './gen.js';

/** What went wrong. */
export type FindingKind =
  /** A failure that is not a TypeError/RangeError/MoekitError with an ERR_MOEKIT_ code naming the op. */
  | 'bad-error'
  /** A call the generator knows to be valid failed. */
  | 'rejected-valid'
  /** A call the generator knows to be invalid succeeded. */
  | 'accepted-invalid'
  /** A valid call returned something else than it should (its `post` check). */
  | 'bad-result'
  /** A returned promise did not settle. */
  | 'timeout'
  /** An unhandled rejection or uncaught exception. */
  | 'unhandled'
  /** The child died (signal, abort, nonzero exit) during the batch. */
  | 'crash'
  /** The child stopped making progress and was killed. */
  | 'hang'
  /** Memory or tensors left after everything was disposed. */
  | 'leak'
  /** The child did not exit cleanly after the batch. */
  | 'exit';

/** One thing the fuzz test found. */
export interface Finding {
  readonly kind: FindingKind;
  readonly detail: string;
  /** The call; undefined for the batch as a whole (teardown, leaks, exit). */
  readonly call?: Call;
}

/** What running a batch gave. */
export interface BatchOutcome {
  readonly findings: Finding[];
  /** Calls that ran in some child. */
  readonly ran: number;
  /** Child processes started. */
  readonly children: number;
  readonly ms: number;
  /** The last batch module and its log, kept when there were findings (always with MOEKIT_FUZZ_KEEP=1). */
  readonly file?: string;
  readonly log?: string;
}

/** How to run a batch. */
export interface RunOptions {
  /** Synchronize every device after each call (slower; pins asynchronous failures on their call). */
  readonly sync: boolean;
  /** Wall-clock limit of one child. */
  readonly childTimeoutMs: number;
  /** Limit for one returned promise to settle. */
  readonly callTimeoutMs: number;
  /** Children to start at most (each crash costs one or two). */
  readonly maxChildren: number;
}

const VALUES_URL = new URL('./values.mjs', import.meta.url).href;
const DRIVER_URL = new URL('./driver.mjs', import.meta.url).href;
const HELPERS = ['rand', 'randBits', 'rand64', 'ints', 'hideLength', 'sneaky', 'shared', 'offsetView', 'flipping', 'throwing', 'holes', 'same', 'inWorker'];
const DEVICE_LINE = "const dev = m.device(process.env.MOEKIT_FUZZ_DEVICE || 'cpu');";

function callEntry(c: Call): string {
  const parts = [`i: ${c.index}`, `ops: ${JSON.stringify(c.ops)}`, `expect: '${c.expect}'`, `deps: [${c.deps.join(', ')}]`];
  if (c.def !== undefined) parts.push(`def: ${c.def}`);
  if (c.anyOp) parts.push('anyOp: true');
  if (c.lenient) parts.push('lenient: true');
  parts.push(`fn: () => (${c.src})`);
  if (c.post) parts.push(`post: (r) => (${c.post})`);
  return `  { ${parts.join(', ')} },`;
}

/** The module a child runs: the calls, handed to driver.mjs. */
export function batchModule(calls: readonly Call[], sync: boolean, skip: readonly number[], callTimeoutMs: number): string {
  return [
    `import * as m from '${pathToFileURL(builtEntry()).href}';`,
    `import { runBatch } from '${DRIVER_URL}';`,
    `import { ${HELPERS.join(', ')} } from '${VALUES_URL}';`,
    '',
    "const cpu = m.device('cpu');",
    DEVICE_LINE,
    'const v = [];',
    'await runBatch(m, v, [',
    ...calls.map(callEntry),
    `], { log: process.env.MOEKIT_FUZZ_LOG, sync: ${sync}, skip: ${JSON.stringify(skip)}, callTimeoutMs: ${callTimeoutMs} });`,
    '',
  ].join('\n');
}

/**
 * A reproduction of `target`: the calls that define (or dispose) what it
 * reads, then the call itself, as a module to run from the repository root.
 */
export function reproduction(calls: readonly Call[], target: Call): string {
  const vars = new Set(target.deps);
  const needed: Call[] = [];
  for (let i = target.index - 1; i >= 0; i--) {
    const c = calls[i]!;
    const defines = c.def !== undefined && vars.has(c.def);
    const mutates = c.mutates?.some((d) => vars.has(d)) ?? false;
    if (!defines && !mutates) continue;
    needed.unshift(c);
    for (const d of c.deps) vars.add(d);
  }
  const lines = needed.map((c) => (c.def !== undefined ? `v[${c.def}] = ${c.src};` : `${c.src};`));
  const want = target.expect === 'ok' ? 'succeed' : target.expect === 'error' ? `fail with a proper error${target.why ? ` (${target.why})` : ''}` : 'succeed or fail with a proper error';
  if (target.post && target.expect !== 'error') {
    lines.push(`const r = await (${target.src}); // must ${want}`, `console.log(${target.post}); // must be true`);
  } else {
    lines.push(`console.log(await (${target.src})); // must ${want}`);
  }
  const body = lines.join('\n');
  const used = HELPERS.filter((h) => new RegExp(`\\b${h}\\(`).test(body));
  return [
    "import * as m from './dist/lib/index.js';",
    ...(used.length > 0 ? [`import { ${used.join(', ')} } from './tests/fuzz/values.mjs';`] : []),
    "const cpu = m.device('cpu');",
    DEVICE_LINE,
    'const v = [];',
    body,
  ].join('\n');
}

interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly stderr: string;
  readonly stdout: string;
}

const TAIL = 4000;

function runChild(file: string, log: string, timeoutMs: number): Promise<ChildExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: REPO_ROOT, env: { ...process.env, MOEKIT_FUZZ_LOG: log }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout = (stdout + d.toString()).slice(-TAIL);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-TAIL);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stderr, stdout });
    });
  });
}

interface LogEvent {
  readonly event: 'begin' | 'start' | 'done' | 'skip' | 'finding' | 'end';
  readonly i?: number;
  readonly kind?: FindingKind;
  readonly detail?: string;
}

function readLog(log: string): LogEvent[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LogEvent];
      } catch {
        return []; // a line cut short by a crash
      }
    });
}

function exitText(r: ChildExit, timeoutMs: number): string {
  const how = r.timedOut ? `was killed after ${timeoutMs} ms without finishing` : r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`;
  const tail = `${r.stderr}${r.stdout ? `\n(stdout) ${r.stdout}` : ''}`.trim().slice(-1500);
  return `the child process ${how}${tail ? `; its output ends:\n${tail}` : ' (no output)'}`;
}

/**
 * Runs `calls` in child processes until every call that does not crash has
 * run; returns the findings. The batch module is kept (and named in the
 * outcome) when there are findings.
 */
export async function runCalls(calls: readonly Call[], options: RunOptions): Promise<BatchOutcome> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'moekit-fuzz-'));
  const findings = new Map<string, Finding>();
  const add = (f: Finding): void => {
    const key = `${f.kind}|${f.call?.index ?? -1}|${f.kind === 'leak' || f.kind === 'crash' || f.kind === 'hang' ? '' : f.detail}`;
    if (!findings.has(key)) findings.set(key, f);
  };
  const skip = new Set<number>();
  const ran = new Set<number>();
  let sync = options.sync;
  let unconfirmed: Finding | undefined; // a crash seen without sync, pending its rerun with sync
  let children = 0;
  let file = '';
  let log = '';
  for (;;) {
    children++;
    file = join(dir, `batch-${children}.mjs`);
    log = join(dir, `log-${children}.jsonl`);
    writeFileSync(file, batchModule(calls, sync, [...skip], options.callTimeoutMs));
    const r = await runChild(file, log, options.childTimeoutMs);
    const events = readLog(log);
    let last: number | undefined;
    for (const e of events) {
      if (e.event === 'start' && e.i !== undefined) last = e.i;
      if (e.event === 'done' && e.i !== undefined) ran.add(e.i);
      if (e.event === 'finding' && e.kind && e.detail !== undefined) {
        add({ kind: e.kind, detail: e.detail, ...(e.i !== undefined && e.i >= 0 ? { call: calls[e.i]! } : {}) });
      }
    }
    const ended = events.some((e) => e.event === 'end');
    if (ended) {
      if (r.code !== 0 || r.signal || r.timedOut) add({ kind: 'exit', detail: `after the batch ${exitText(r, options.childTimeoutMs)}` });
      if (unconfirmed) add(unconfirmed);
      break;
    }
    const crash: Finding = {
      kind: r.timedOut ? 'hang' : 'crash',
      detail: last === undefined ? `before the first call ${exitText(r, options.childTimeoutMs)}` : exitText(r, options.childTimeoutMs),
      ...(last !== undefined ? { call: calls[last]! } : {}),
    };
    if (last === undefined) {
      add(crash);
      break;
    }
    if (!sync) {
      // Work runs asynchronously: the call running at the crash may not be the one whose work crashed.
      unconfirmed = { ...crash, detail: `${crash.detail}\n(the last call started; not reproduced with a synchronize after each call)` };
      sync = true;
      continue;
    }
    unconfirmed = undefined;
    add(crash);
    skip.add(last);
    if (children >= options.maxChildren) {
      add({ kind: crash.kind, detail: `gave up after ${children} child processes; ${calls.length - ran.size} calls did not run` });
      break;
    }
  }
  const list = [...findings.values()];
  const keep = list.length > 0 || process.env.MOEKIT_FUZZ_KEEP === '1';
  if (!keep) rmSync(dir, { recursive: true, force: true });
  return { findings: list, ran: ran.size, children, ms: Date.now() - started, ...(keep ? { file, log } : {}) };
}
