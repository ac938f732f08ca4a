/**
 * Checking a refusal: the error class, the message (exact, or a pattern for
 * the parts that name the machine, such as library paths) and the house
 * error code every moekit error carries.
 * @module
 */
import { expect } from 'vitest';

export type ErrorClass = new (...args: never[]) => Error;

/** Runs `fn`, which must throw a `cls` with `message`; returns the error for further checks. */
export function expectThrow(fn: () => unknown, cls: ErrorClass, message: string | RegExp): Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${cls.name}: ${String(message)}`).toBeInstanceOf(cls);
  const error = caught as Error;
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
  expect((error as { code?: unknown }).code).toMatch(/^ERR_MOEKIT_/);
  return error;
}
