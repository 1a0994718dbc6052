/**
 * RFC 3830 §6.5 Signature payload (SIGN).  Always the last payload; it has
 * no next-payload field.
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! S type| Signature len         ! Signature                     ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * S type (4 bits): 0 RSA/PKCS#1/1.5, 1 RSA/PSS; Signature len 12 bits (bytes).
 */
import { malformed } from '../errors.js';
import { type Reader, type Writer } from '../wire.js';
import { isOneOf } from './constants.js';

export const SignType = { RSA_PKCS1_1_5: 0, RSA_PSS: 1 } as const;
export type SignType = (typeof SignType)[keyof typeof SignType];

export interface SignPayload {
  readonly kind: 'sign';
  readonly sType: SignType;
  readonly signature: Uint8Array;
}

export function decodeSign(r: Reader): SignPayload {
  const tl = r.u16('SIGN type/len');
  const sType = tl >>> 12;
  if (!isOneOf(SignType, sType)) throw malformed(`unknown signature type ${sType}`);
  return { kind: 'sign', sType, signature: r.bytes(tl & 0x0fff, 'signature') };
}

export function encodeSign(w: Writer, p: SignPayload): void {
  if (!isOneOf(SignType, p.sType)) throw malformed(`unknown signature type ${p.sType}`);
  if (p.signature.length > 0x0fff) throw malformed('signature longer than 12-bit length');
  w.u16((p.sType << 12) | p.signature.length, 'S type/len').bytes(p.signature);
}
