/**
 * RFC 3830 §6.14 Key validity data, used by the DH payload (§6.4) and the
 * Key Data sub-payload (§6.13).  Which layout follows is given by the KV
 * type field of the carrying payload.
 *
 *  KV = SPI/MKI (1):
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! SPI Length    ! SPI                                           ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  KV = Interval (2):
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! VF Length     ! Valid From                                    ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! VT Length     ! Valid To (expires)                            ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  KV = NULL (0): no data.
 */
import { malformed } from '../errors.js';
import { type Reader, type Writer } from '../wire.js';
import { KvType } from './constants.js';

export type KeyValidity =
  | { readonly kvType: typeof KvType.NULL }
  | { readonly kvType: typeof KvType.SPI; readonly spi: Uint8Array }
  | { readonly kvType: typeof KvType.INTERVAL; readonly validFrom: Uint8Array; readonly validTo: Uint8Array };

export function decodeKv(r: Reader, kvType: number): KeyValidity {
  switch (kvType) {
    case KvType.NULL:
      return { kvType };
    case KvType.SPI:
      return { kvType, spi: r.bytes(r.u8('SPI length'), 'SPI') };
    case KvType.INTERVAL: {
      const validFrom = r.bytes(r.u8('VF length'), 'Valid From');
      const validTo = r.bytes(r.u8('VT length'), 'Valid To');
      return { kvType, validFrom, validTo };
    }
    default:
      throw malformed(`unknown KV type ${kvType}`);
  }
}

export function encodeKv(w: Writer, kv: KeyValidity): void {
  switch (kv.kvType) {
    case KvType.NULL:
      return;
    case KvType.SPI:
      w.u8(kv.spi.length, 'SPI length').bytes(kv.spi);
      return;
    case KvType.INTERVAL:
      w.u8(kv.validFrom.length, 'VF length').bytes(kv.validFrom);
      w.u8(kv.validTo.length, 'VT length').bytes(kv.validTo);
      return;
    default:
      throw malformed(`unknown KV type ${(kv as { kvType: number }).kvType}`);
  }
}
