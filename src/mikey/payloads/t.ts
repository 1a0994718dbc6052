/**
 * RFC 3830 §6.6 Timestamp payload (T).
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Next Payload  !   TS type     ! TS value                      ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   TS type  | Value | TS value length
 *   ---------+-------+----------------
 *   NTP-UTC  |     0 | 64 bits
 *   NTP      |     1 | 64 bits
 *   COUNTER  |     2 | 32 bits
 *
 * The value is kept as a bigint in all three cases (timestamp.ts converts
 * and checks it).
 */
import { ErrNo, MikeyError } from '../errors.js';
import { type Reader, type Writer } from '../wire.js';

export const TsType = { NTP_UTC: 0, NTP: 1, COUNTER: 2 } as const;
export type TsType = (typeof TsType)[keyof typeof TsType];

/** Length in bytes of the TS value field for `type`; MikeyError(INVALID_TS) if unknown. */
export function tsValueLength(type: number): number {
  switch (type) {
    case TsType.NTP_UTC:
    case TsType.NTP:
      return 8;
    case TsType.COUNTER:
      return 4;
    default:
      throw new MikeyError(ErrNo.INVALID_TS, `TS type ${type} is not supported`);
  }
}

export interface TPayload {
  readonly kind: 't';
  readonly tsType: TsType;
  readonly tsValue: bigint;
}

export function decodeT(r: Reader): TPayload {
  const tsType = r.u8('TS type');
  const tsValue = tsValueLength(tsType) === 8 ? r.u64('TS value') : BigInt(r.u32('TS value'));
  return { kind: 't', tsType: tsType as TsType, tsValue }; // tsValueLength has checked the type
}

export function encodeT(w: Writer, p: TPayload): void {
  const len = tsValueLength(p.tsType);
  w.u8(p.tsType, 'TS type');
  if (len === 8) {
    w.u64(p.tsValue, 'TS value');
  } else {
    if (p.tsValue < 0n || p.tsValue > 0xffffffffn) throw new MikeyError(ErrNo.INVALID_TS, 'COUNTER out of 32-bit range');
    w.u32(Number(p.tsValue), 'TS value');
  }
}
