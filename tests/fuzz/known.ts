/**
 * KNOWN FINDINGS: what the fuzz test finds today and is waiting for a fix.
 *
 * A finding that matches an entry (its kind, and its call's variant or tag)
 * does not fail its batch; it is counted in a note printed at the end. Each
 * entry carries calls that reproduce it, and an `it.fails` test runs them:
 * the day the fix lands that test fails, saying to delete the entry, and
 * the generators enforce the fix from then on. Keep this list short; an
 * empty list is the goal.
 * @module
 */
import type { Call, Expect } from './gen.js';
import type { Finding, FindingKind } from './runner.js';

/** A finding expected today. */
export interface KnownFinding {
  /** Short name, shown in the `it.fails` test. */
  readonly name: string;
  /** What happens. */
  readonly note: string;
  readonly kinds: readonly FindingKind[];
  /** Call variants it shows up in (`Call.variant`). */
  readonly variants?: readonly string[];
  /** Call tags it shows up in (`<family>/<case>`). */
  readonly tags?: readonly string[];
  /** Calls (sources over `m`, `cpu` and `dev` alone) that show it today. */
  readonly repro: readonly { readonly src: string; readonly ops: readonly string[]; readonly expect: Expect }[];
}

export const KNOWN_FINDINGS: readonly KnownFinding[] = [];

/** The entry `f` matches, if any. */
export function knownEntry(f: Finding): KnownFinding | undefined {
  const call = f.call;
  if (!call) return undefined;
  return KNOWN_FINDINGS.find(
    (k) => k.kinds.includes(f.kind) && ((call.variant !== undefined && (k.variants ?? []).includes(call.variant)) || (k.tags ?? []).includes(call.tag)),
  );
}

/** The reproductions of every entry as one batch; `owner[i]` is the entry of call `i`. */
export function knownBatch(): { calls: Call[]; owner: KnownFinding[] } {
  const calls: Call[] = [];
  const owner: KnownFinding[] = [];
  for (const k of KNOWN_FINDINGS) {
    for (const r of k.repro) {
      calls.push({ index: calls.length, tag: 'known/repro', ops: r.ops, src: r.src, expect: r.expect, deps: [], ...(k.variants?.[0] ? { variant: k.variants[0] } : {}) });
      owner.push(k);
    }
  }
  return { calls, owner };
}
