/**
 * RFC 3830 §6.6 Timestamp payload (T).
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Next Payload  !   TS type     ! TS value                      ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * TS type: 0 NTP-UTC (64 bits), 1 NTP (64 bits), 2 COUNTER (32 bits).
 * The value is kept as a bigint in all three cases.
 */
import { ErrNo, MikeyError } from '../errors.js';
import { type Reader, type Writer } from '../wire.js';

export const TsType = { NTP_UTC: 0, NTP: 1, COUNTER: 2 } as const;
export type TsType = (typeof TsType)[keyof typeof TsType];

export interface TPayload {
  readonly kind: 't';
  readonly tsType: TsType;
  readonly tsValue: bigint;
}

export function decodeT(r: Reader): TPayload {
  const tsType = r.u8('TS type');
  switch (tsType) {
    case TsType.NTP_UTC:
    case TsType.NTP:
      return { kind: 't', tsType, tsValue: r.u64('TS value') };
    case TsType.COUNTER:
      return { kind: 't', tsType, tsValue: BigInt(r.u32('TS value')) };
    default:
      throw new MikeyError(ErrNo.INVALID_TS, `unknown TS type ${tsType}`);
  }
}

export function encodeT(w: Writer, p: TPayload): void {
  w.u8(p.tsType, 'TS type');
  if (p.tsType === TsType.COUNTER) {
    if (p.tsValue < 0n || p.tsValue > 0xffffffffn) throw new MikeyError(ErrNo.INVALID_TS, 'COUNTER out of 32-bit range');
    w.u32(Number(p.tsValue), 'TS value');
  } else if (p.tsType === TsType.NTP_UTC || p.tsType === TsType.NTP) {
    w.u64(p.tsValue, 'TS value');
  } else {
    throw new MikeyError(ErrNo.INVALID_TS, `unknown TS type ${p.tsType}`);
  }
}
