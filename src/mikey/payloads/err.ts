/**
 * RFC 3830 §6.12 Error payload (ERR).
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Next payload  ! Err no        ! Reserved                      !
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Reserved is written as 0 and ignored on input.
 */
import { ErrNo, malformed } from '../errors.js';
import { type Reader, type Writer } from '../wire.js';
import { isOneOf } from './constants.js';

export interface ErrPayload {
  readonly kind: 'err';
  readonly errNo: ErrNo;
}

export function decodeErr(r: Reader): ErrPayload {
  const errNo = r.u8('Err no');
  if (!isOneOf(ErrNo, errNo)) throw malformed(`unknown Err no ${errNo}`);
  r.u16('ERR reserved');
  return { kind: 'err', errNo };
}

export function encodeErr(w: Writer, p: ErrPayload): void {
  if (!isOneOf(ErrNo, p.errNo)) throw malformed(`unknown Err no ${p.errNo}`);
  w.u8(p.errNo, 'Err no').u16(0, 'reserved');
}
