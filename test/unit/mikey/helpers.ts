/** Small helpers shared by the MIKEY unit tests. */
import { MikeyError } from '../../../src/mikey/errors.js';

/** Lower-case hex text of `b`. */
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The bytes of hex text `s` (whitespace ignored). */
export const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/** `n` bytes counting up from `from` (mod 256). */
export const seq = (n: number, from = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

/** The errNo of the MikeyError that `f` throws, undefined if it returns; any other exception propagates. */
export function errNoOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof MikeyError) return e.errNo;
    throw e;
  }
  return undefined;
}
