/**
 * RFC 3830 §6.9 Verification message payload (V).
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Next Payload  ! MAC alg       ! Verification MAC              ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { ErrNo, MikeyError } from '../errors.js';
import { type Reader, type Writer } from '../wire.js';
import { type MacAlg, macLength } from './constants.js';

export interface VPayload {
  readonly kind: 'v';
  readonly macAlg: MacAlg;
  readonly mac: Uint8Array;
}

export function decodeV(r: Reader): VPayload {
  const macAlg = r.u8('V mac alg') as MacAlg;
  return { kind: 'v', macAlg, mac: r.bytes(macLength(macAlg), 'V MAC') };
}

export function encodeV(w: Writer, p: VPayload): void {
  if (p.mac.length !== macLength(p.macAlg)) throw new MikeyError(ErrNo.INVALID_MAC, `V MAC must be ${macLength(p.macAlg)} bytes`);
  w.u8(p.macAlg, 'mac alg').bytes(p.mac);
}
