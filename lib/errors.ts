/**
 * Errors moekit throws besides `TypeError`/`RangeError` for bad arguments.
 * Every one has a stable `code`.
 * @module
 */

/** Base class of moekit's own errors. */
export class MoekitError extends Error {
  /** Stable machine-readable code, e.g. `ERR_MOEKIT_CUDA`. */
  readonly code: string;

  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A tensor was used after `dispose()`. */
export class DisposedError extends MoekitError {
  constructor(message: string) {
    super(message, 'ERR_MOEKIT_DISPOSED');
  }
}

/** A valid request that this build, device or GPU cannot serve (no CUDA device, an architecture limit). */
export class UnsupportedError extends MoekitError {
  constructor(message: string) {
    super(message, 'ERR_MOEKIT_UNSUPPORTED');
  }
}

/** An allocation failed. The device stays usable: dispose tensors and retry. */
export class OutOfMemoryError extends MoekitError {
  constructor(message: string) {
    super(message, 'ERR_MOEKIT_OUT_OF_MEMORY');
  }
}

/**
 * Queued work failed: a CUDA call (`code` `ERR_MOEKIT_CUDA`, with
 * {@link KernelError.cudaError} set) or another failure (`ERR_MOEKIT_KERNEL`).
 * Its stack is the one of the call that observed the failure.
 */
export class KernelError extends MoekitError {
  /** The CUDA error name, e.g. `cudaErrorIllegalAddress`, when a CUDA call failed. */
  readonly cudaError: string | undefined;

  constructor(message: string, code: 'ERR_MOEKIT_CUDA' | 'ERR_MOEKIT_KERNEL' | 'ERR_MOEKIT_DEVICE_LOST') {
    super(message, code);
    this.cudaError = /CUDA error (cuda\w+)/.exec(message)?.[1];
  }
}

/**
 * A fatal fault (an illegal address, a misaligned access, a kernel trap)
 * made the device unusable: the CUDA context is broken for the rest of the
 * process. The message says which op faulted, or which ops were in flight
 * when the fault surfaced. Every later op on the device throws this at
 * once; restart the process to use the GPU again.
 */
export class DeviceLostError extends KernelError {
  constructor(message: string) {
    super(message, 'ERR_MOEKIT_DEVICE_LOST');
  }
}

/** The native addon could not be loaded; the message lists how to fix it. */
export class BindingLoadError extends MoekitError {
  constructor(message: string, cause?: unknown) {
    super(message, 'ERR_MOEKIT_BINDING', { cause });
  }
}

/**
 * Maps an error thrown by the native binding to moekit's classes. Argument
 * errors (TypeError/RangeError) pass through. `callSite`, when given,
 * supplies the stack of the JS call that started the failed work.
 * @internal
 */
export function fromNativeError(e: unknown, callSite?: Error): unknown {
  if (!(e instanceof Error) || e instanceof MoekitError) return e;
  const code = (e as { code?: unknown }).code;
  let out: MoekitError | undefined;
  switch (code) {
    case 'ERR_MOEKIT_DISPOSED': out = new DisposedError(e.message); break;
    case 'ERR_MOEKIT_UNSUPPORTED': out = new UnsupportedError(e.message); break;
    case 'ERR_MOEKIT_OUT_OF_MEMORY': out = new OutOfMemoryError(e.message); break;
    case 'ERR_MOEKIT_CUDA':
    case 'ERR_MOEKIT_KERNEL': out = new KernelError(e.message, code); break;
    case 'ERR_MOEKIT_DEVICE_LOST': out = new DeviceLostError(e.message); break;
    default: return e;
  }
  const stack = (callSite ?? e).stack;
  if (stack) out.stack = `${out.name}: ${out.message}\n${stack.split('\n').slice(1).join('\n')}`;
  return out;
}
