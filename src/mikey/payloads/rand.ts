/**
 * RFC 3830 §6.11 RAND payload (RAND).
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Next payload  ! RAND len      ! RAND                          ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * (The RFC's "at least 16 bytes" is a policy check for the mode code.)
 */
import { type Reader, type Writer } from '../wire.js';

export interface RandPayload {
  readonly kind: 'rand';
  readonly rand: Uint8Array;
}

export function decodeRand(r: Reader): RandPayload {
  return { kind: 'rand', rand: r.bytes(r.u8('RAND len'), 'RAND') };
}

export function encodeRand(w: Writer, p: RandPayload): void {
  w.u8(p.rand.length, 'RAND len').bytes(p.rand);
}
