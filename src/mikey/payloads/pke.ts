/**
 * RFC 3830 §6.3 Envelope data payload (PKE).
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Next payload  ! C ! Data len                  ! Data          ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * C (2 bits): 0 no cache, 1 cache, 2 cache for CSB; Data len 14 bits.
 */
import { malformed } from '../errors.js';
import { type Reader, type Writer } from '../wire.js';

export const PkeCache = { NO_CACHE: 0, CACHE: 1, CACHE_CSB: 2 } as const;
export type PkeCache = (typeof PkeCache)[keyof typeof PkeCache];

export interface PkePayload {
  readonly kind: 'pke';
  readonly c: PkeCache;
  readonly data: Uint8Array;
}

export function decodePke(r: Reader): PkePayload {
  const cLen = r.u16('PKE C/data len');
  const c = cLen >>> 14;
  if (c > PkeCache.CACHE_CSB) throw malformed(`PKE: unknown C value ${c}`);
  return { kind: 'pke', c: c as PkeCache, data: r.bytes(cLen & 0x3fff, 'PKE data') };
}

export function encodePke(w: Writer, p: PkePayload): void {
  if (p.c > PkeCache.CACHE_CSB || p.c < 0) throw malformed(`PKE: unknown C value ${p.c}`);
  if (p.data.length > 0x3fff) throw malformed('PKE data longer than 14-bit length');
  w.u16((p.c << 14) | p.data.length, 'C/data len').bytes(p.data);
}
