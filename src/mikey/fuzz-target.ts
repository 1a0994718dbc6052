/**
 * Fuzz entry point for the MIKEY codec: decode, re-encode, decode again.
 * Throws only when the codec misbehaves: a non-MikeyError escaped, or
 * decode(encode(decode(x))) differs from decode(x).  A MikeyError on bad
 * input is the expected outcome and is swallowed.  Both byte orders of the
 * IPSEC4 map (minisipByteSwap off/on) are exercised.
 */
import { isDeepStrictEqual } from 'node:util';
import { MikeyError } from './errors.js';
import { decodeMessage, encodeMessage, type MikeyMessage } from './message.js';

const strip = (m: MikeyMessage): MikeyMessage => ({ hdr: m.hdr, payloads: m.payloads });

export function fuzzOne(data: Uint8Array): void {
  for (const minisipByteSwap of [false, true]) {
    let first: MikeyMessage;
    try {
      first = strip(decodeMessage(data, { minisipByteSwap }));
    } catch (e) {
      if (e instanceof MikeyError) continue;
      throw e;
    }
    let again: MikeyMessage;
    try {
      again = strip(decodeMessage(encodeMessage(first, { minisipByteSwap }), { minisipByteSwap }));
    } catch (e) {
      throw new Error(`MIKEY codec cannot re-encode what it decoded: ${String(e)}`);
    }
    if (!isDeepStrictEqual(first, again)) throw new Error('MIKEY codec round trip changed the decoded value');
  }
}
