/**
 * RFC 3830 §6.2 Key data transport payload (KEMAC).
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Next payload  ! Encr alg      ! Encr data len                 !
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  !                        Encr data                              ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Mac alg       !        MAC                                    ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Encr data is opaque here (its plaintext is a Key Data chain: keydata.ts).
 * The MAC length follows from Mac alg (NULL 0, HMAC-SHA-1-160 20).
 */
import { ErrNo, MikeyError } from '../errors.js';
import { type Reader, type Writer } from '../wire.js';
import { EncrAlg, type MacAlg, isOneOf, macLength } from './constants.js';

export interface KemacPayload {
  readonly kind: 'kemac';
  readonly encrAlg: EncrAlg;
  readonly encrData: Uint8Array;
  readonly macAlg: MacAlg;
  /** Exactly macLength(macAlg) bytes; zeros until the mode code fills it in. */
  readonly mac: Uint8Array;
}

function checkEncrAlg(a: number): asserts a is EncrAlg {
  if (!isOneOf(EncrAlg, a)) throw new MikeyError(ErrNo.INVALID_EA, `unknown encryption alg ${a}`);
}

export function decodeKemac(r: Reader): KemacPayload {
  const encrAlg = r.u8('KEMAC encr alg');
  checkEncrAlg(encrAlg);
  const encrData = r.bytes(r.u16('KEMAC encr data len'), 'KEMAC encr data');
  const macAlg = r.u8('KEMAC mac alg') as MacAlg;
  const mac = r.bytes(macLength(macAlg), 'KEMAC MAC');
  return { kind: 'kemac', encrAlg, encrData, macAlg, mac };
}

export function encodeKemac(w: Writer, p: KemacPayload): void {
  checkEncrAlg(p.encrAlg);
  if (p.mac.length !== macLength(p.macAlg)) throw new MikeyError(ErrNo.INVALID_MAC, `KEMAC MAC must be ${macLength(p.macAlg)} bytes`);
  w.u8(p.encrAlg, 'encr alg').u16(p.encrData.length, 'encr data len').bytes(p.encrData);
  w.u8(p.macAlg, 'mac alg').bytes(p.mac);
}
