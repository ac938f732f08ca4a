// The fuzz test: seeded batches of valid and invalid calls to the public
// API, each batch in a child process (runner.ts), so that a crash fails the
// batch instead of ending the run. Cases live in families/, registered in
// registry.ts; findings expected today are listed in known.ts.
//
// Environment:
//   MOEKIT_FUZZ_SEED      the seed (else MOEKIT_TEST_SEED, else a fresh one)
//   MOEKIT_FUZZ_BATCHES   random batches (default 48), e.g. 500 for a long local run
//   MOEKIT_FUZZ_CALLS     calls per random batch (default 300)
//   MOEKIT_FUZZ_BATCH     run only this batch: a number, or 'edges'
//   MOEKIT_FUZZ_HUGE=1    also valid multi-GiB calls (reads of more than 4 GiB; needs ~16 GiB free)
//   MOEKIT_FUZZ_DEVICE    the device under test (default cpu)
//   MOEKIT_FUZZ_KEEP=1    keep every batch module and its log (in the OS temp folder), not only failing ones
import { availableParallelism } from 'node:os';

import { afterAll, describe, expect, it } from 'vitest';

import { devices } from '../../lib/index.js';
import { TEST_SEED } from '../helpers/rng.js';
import { type Call, type GenOptions } from './gen.js';
import { KNOWN_FINDINGS, type KnownFinding, knownBatch, knownEntry } from './known.js';
import { generateBatch, generateEdgeBatch } from './registry.js';
import { type BatchOutcome, type Finding, type RunOptions, reproduction, runCalls } from './runner.js';

function envInt(name: string, fallback: number, min: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${name} must be an integer >= ${min}, got '${text}'`);
  return n;
}

const SEED = process.env.MOEKIT_FUZZ_SEED ? envInt('MOEKIT_FUZZ_SEED', 0, 0) : TEST_SEED;
const BATCHES = envInt('MOEKIT_FUZZ_BATCHES', 48, 0);
const CALLS = envInt('MOEKIT_FUZZ_CALLS', 300, 1);
const ONLY = process.env.MOEKIT_FUZZ_BATCH ?? '';
const HUGE = process.env.MOEKIT_FUZZ_HUGE === '1';
const DEVICE = process.env.MOEKIT_FUZZ_DEVICE || 'cpu';

const GEN: GenOptions = { huge: HUGE, maxLive: 40, deviceKind: DEVICE.startsWith('cuda') ? 'cuda' : 'cpu' };
const RUN: RunOptions = { sync: false, childTimeoutMs: HUGE ? 300_000 : 60_000, callTimeoutMs: HUGE ? 120_000 : 10_000, maxChildren: 12 };

// Children at once: the machine's cores, at most 2 (other test files run beside this one).
const slots = { free: Math.max(1, Math.min(2, availableParallelism())), waiting: [] as Array<() => void> };

async function inSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (slots.free === 0) await new Promise<void>((resolve) => slots.waiting.push(resolve));
  else slots.free--;
  try {
    return await fn();
  } finally {
    const next = slots.waiting.shift();
    if (next) next();
    else slots.free++;
  }
}

const rerunHint = (batch: string) => `MOEKIT_FUZZ_SEED=${SEED} MOEKIT_FUZZ_BATCH=${batch}${HUGE ? ' MOEKIT_FUZZ_HUGE=1' : ''} npx vitest run tests/fuzz`;

function describeFinding(calls: readonly Call[], f: Finding): string {
  const c = f.call;
  const where = c ? `call ${c.index} ${c.tag}${c.variant ? ` (${c.variant})` : ''}` : 'the batch';
  const lines = [`[${f.kind}] ${where}: ${f.detail}`];
  if (c) {
    lines.push(`  call: ${c.src}`, `  expected: ${c.expect}${c.why ? ` (${c.why})` : ''}`);
    lines.push('  reproduction (save as repro.mjs in the repository root; node repro.mjs):');
    lines.push(...reproduction(calls, c).split('\n').map((l) => `    ${l}`));
  }
  return lines.join('\n');
}

function report(label: string, batch: string, calls: readonly Call[], outcome: BatchOutcome, findings: readonly Finding[]): string {
  const shown = findings.slice(0, 6);
  return [
    `fuzz ${label}, seed ${SEED}: ${findings.length} finding(s) in ${calls.length} calls. Rerun: ${rerunHint(batch)}`,
    ...shown.map((f) => describeFinding(calls, f)),
    ...(findings.length > shown.length ? [`... and ${findings.length - shown.length} more`] : []),
    `batch module: ${outcome.file} (MOEKIT_FUZZ_LOG=/tmp/fuzz.jsonl node ${outcome.file})`,
  ].join('\n\n');
}

// Known findings seen, for the note at the end.
const knownSeen = new Map<KnownFinding, number>();
let totalCalls = 0;

async function runBatch(label: string, batch: string, calls: readonly Call[], sync: boolean): Promise<BatchOutcome> {
  const outcome = await inSlot(() => runCalls(calls, { ...RUN, sync }));
  totalCalls += outcome.ran;
  const unknown: Finding[] = [];
  for (const f of outcome.findings) {
    const k = knownEntry(f);
    if (k) knownSeen.set(k, (knownSeen.get(k) ?? 0) + 1);
    else unknown.push(f);
  }
  expect(unknown.length, unknown.length > 0 ? report(label, batch, calls, outcome, unknown) : '').toBe(0);
  return outcome;
}

let edges: Promise<BatchOutcome> | undefined;
function edgeBatch(): Promise<BatchOutcome> {
  edges ??= runBatch('edge batch', 'edges', generateEdgeBatch(GEN), true);
  return edges;
}

// The reproductions of the known findings, run once in a child of their own.
let known: Promise<{ outcome: BatchOutcome; owner: KnownFinding[] }> | undefined;
function knownRepros(): Promise<{ outcome: BatchOutcome; owner: KnownFinding[] }> {
  known ??= (async () => {
    const { calls, owner } = knownBatch();
    return { outcome: await inSlot(() => runCalls(calls, { ...RUN, sync: true })), owner };
  })();
  return known;
}

const runEdges = ONLY === '' || ONLY === 'edges';
const randomBatches = ONLY === '' ? Array.from({ length: BATCHES }, (_, i) => i) : ONLY === 'edges' ? [] : [envInt('MOEKIT_FUZZ_BATCH', 0, 0)];

describe(`fuzz (seed ${SEED}, rerun with MOEKIT_FUZZ_SEED=${SEED})`, () => {
  it.skipIf(!runEdges)('edge batch: every case three times, fixed seed', async () => {
    await edgeBatch();
  });

  it.concurrent.each(randomBatches)(`random batch %i of ${CALLS} calls`, async (b) => {
    // Every other batch synchronizes after each call: failures of queued work are then pinned on their call.
    await runBatch(`batch ${b}`, String(b), generateBatch(SEED, b, CALLS, GEN), b % 2 === 1);
  });

  for (const k of KNOWN_FINDINGS) {
    it.skipIf(ONLY !== '').fails(`known finding still occurs (delete it from known.ts once fixed): ${k.name}`, async () => {
      const { outcome, owner } = await knownRepros();
      const seen = outcome.findings.filter((f) => f.call !== undefined && owner[f.call.index] === k && k.kinds.includes(f.kind));
      expect(seen.length, k.note).toBe(0);
    });
  }

  afterAll(() => {
    const gpu = devices().some((d) => d.kind === 'cuda');
    const lines = [...knownSeen].map(([k, n]) => `  ${n} x ${k.name}: ${k.note}`);
    console.log(
      [
        `fuzz: seed ${SEED}, ${totalCalls} calls on ${DEVICE}${gpu ? ' (a GPU is present)' : ''}`,
        ...(lines.length > 0 ? ['known findings seen (known.ts):', ...lines] : []),
      ].join('\n'),
    );
  });
});
