/**
 * RFC 3830 §6.15 General Extension payload.
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Next payload  ! Type          ! Length                        !
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Data                                                          ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Types: 0 Vendor ID, 1 SDP IDs; others are rejected.
 */
import { malformed } from '../errors.js';
import { type Reader, type Writer } from '../wire.js';
import { isOneOf } from './constants.js';

export const ExtType = { VENDOR_ID: 0, SDP_IDS: 1 } as const;
export type ExtType = (typeof ExtType)[keyof typeof ExtType];

export interface ExtPayload {
  readonly kind: 'ext';
  readonly extType: ExtType;
  readonly data: Uint8Array;
}

export function decodeExt(r: Reader): ExtPayload {
  const extType = r.u8('General Ext type');
  if (!isOneOf(ExtType, extType)) throw malformed(`unknown General Extension type ${extType}`);
  return { kind: 'ext', extType, data: r.bytes(r.u16('General Ext length'), 'General Ext data') };
}

export function encodeExt(w: Writer, p: ExtPayload): void {
  if (!isOneOf(ExtType, p.extType)) throw malformed(`unknown General Extension type ${p.extType}`);
  w.u8(p.extType, 'type').u16(p.data.length, 'length').bytes(p.data);
}
