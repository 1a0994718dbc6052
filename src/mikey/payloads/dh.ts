/**
 * RFC 3830 §6.4 DH data payload (DH).
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Next payload  ! DH-Group      !  DH-value                     ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Reserv! KV    ! KV data (optional, §6.14)                     ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The DH-value has no length field: its length is the group's modulus size.
 */
import { ErrNo, MikeyError } from '../errors.js';
import { type Reader, type Writer } from '../wire.js';
import { type KeyValidity, decodeKv, encodeKv } from './kv.js';

/**
 * RFC 3830 DH-Group values 0-2; 14 (MODP-2048, RFC 3526 group 14) is our
 * extension, unassigned in the IANA registry (docs/PROFILE.md).
 */
export const DhGroup = { OAKLEY_5: 0, OAKLEY_1: 1, OAKLEY_2: 2, MODP_2048: 14 } as const;
export type DhGroup = (typeof DhGroup)[keyof typeof DhGroup];

/** DH-value length in bytes per group; unknown → INVALID_DH. */
export function dhValueLength(group: number): number {
  switch (group) {
    case DhGroup.OAKLEY_1:
      return 96;
    case DhGroup.OAKLEY_2:
      return 128;
    case DhGroup.OAKLEY_5:
      return 192;
    case DhGroup.MODP_2048:
      return 256;
    default:
      throw new MikeyError(ErrNo.INVALID_DH, `unknown DH group ${group}`);
  }
}

export interface DhPayload {
  readonly kind: 'dh';
  readonly group: DhGroup;
  readonly value: Uint8Array;
  readonly kv: KeyValidity;
}

export function decodeDh(r: Reader): DhPayload {
  const group = r.u8('DH group') as DhGroup;
  const value = r.bytes(dhValueLength(group), 'DH value');
  const kv = decodeKv(r, r.u8('DH reserved/KV') & 0x0f);
  return { kind: 'dh', group, value, kv };
}

export function encodeDh(w: Writer, p: DhPayload): void {
  if (p.value.length !== dhValueLength(p.group)) throw new MikeyError(ErrNo.INVALID_DH, `DH value must be ${dhValueLength(p.group)} bytes`);
  w.u8(p.group, 'DH group').bytes(p.value).u8(p.kv.kvType, 'KV');
  encodeKv(w, p.kv);
}
