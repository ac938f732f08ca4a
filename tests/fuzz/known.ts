/**
 * KNOWN FINDINGS: what the fuzz test finds today and is being fixed.
 *
 * A finding that matches an entry (its kind, and its call's variant or tag)
 * does not fail its batch; it is counted in a note printed at the end. For
 * each entry an `it.fails` test checks that the edge batch (fixed seed,
 * every case) still shows it, so the day the fix lands that test fails:
 * delete the entry then, and the generators enforce the fix from there on.
 * Keep this list short; an empty list is the goal.
 * @module
 */
import type { Finding, FindingKind } from './runner.js';

/** A finding expected today. */
export interface KnownFinding {
  /** Short name, shown in the `it.fails` test. */
  readonly name: string;
  /** What happens, with a one-line reproduction. */
  readonly note: string;
  readonly kinds: readonly FindingKind[];
  /** Call variants it shows up in (`Call.variant`). */
  readonly variants?: readonly string[];
  /** Call tags it shows up in (`<family>/<case>`). */
  readonly tags?: readonly string[];
  /** Only generated with MOEKIT_FUZZ_HUGE=1. */
  readonly huge?: boolean;
}

export const KNOWN_FINDINGS: readonly KnownFinding[] = [
  {
    name: 'methods called on a non-instance throw engine errors',
    note:
      "m.Tensor.prototype.toArray.call({}) throws 'this.handle is not a function', m.Quantized.prototype.dispose.call({}) and " +
      "String(Object.create(m.Quantized.prototype)) 'Cannot read properties of undefined', m.baselines.PreparedFp8Gemm.prototype.run.call({}) " +
      "'Receiver must be an instance of class PreparedFp8Gemm', m.Device.prototype.zeros.call(null, [2]) 'Cannot read properties of null': TypeErrors without a code",
    kinds: ['bad-error'],
    variants: ['foreign-this'],
  },
  {
    name: 'a look-alike Device is accepted by baselines.status',
    note: 'm.baselines.status(Object.create(m.Device.prototype)) returns a status (for an undefined device id) instead of rejecting the object',
    kinds: ['accepted-invalid'],
    variants: ['fake-device'],
  },
  {
    name: 'dtypeSize and isFloatDType take anything',
    note: "m.dtypeSize('toString') returns a function, m.dtypeSize('f64') undefined, m.isFloatDType({}) and m.isFloatDType('f64') true",
    kinds: ['accepted-invalid'],
    variants: ['not-a-dtype'],
  },
];

/** The entry `f` matches, if any. */
export function knownEntry(f: Finding): KnownFinding | undefined {
  const call = f.call;
  if (!call) return undefined;
  return KNOWN_FINDINGS.find(
    (k) => k.kinds.includes(f.kind) && ((call.variant !== undefined && (k.variants ?? []).includes(call.variant)) || (k.tags ?? []).includes(call.tag)),
  );
}
