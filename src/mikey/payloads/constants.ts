/**
 * RFC 3830 §6 name spaces used by the payload codecs (values as in the IANA
 * "MIKEY Payload Name Spaces" registry; names as in Wireshark's packet-mikey.c
 * where it has them).
 */
import { ErrNo, MikeyError } from '../errors.js';

/** RFC 3830 §6, table "Next payload". SIGN is always last and has no next field. */
export const PayloadType = {
  LAST: 0,
  KEMAC: 1,
  PKE: 2,
  DH: 3,
  SIGN: 4,
  T: 5,
  ID: 6,
  CERT: 7,
  CHASH: 8,
  V: 9,
  SP: 10,
  RAND: 11,
  ERR: 12,
  KEY_DATA: 20,
  GENERAL_EXT: 21,
} as const;
export type PayloadType = (typeof PayloadType)[keyof typeof PayloadType];

/** RFC 3830 §6.1 data types, RFC 4650 DHHMAC (7/8), RFC 4738 RSA-R (9/10). */
export const DataType = {
  PSK_INIT: 0,
  PSK_RESP: 1,
  PK_INIT: 2,
  PK_RESP: 3,
  DH_INIT: 4,
  DH_RESP: 5,
  ERROR: 6,
  DHHMAC_INIT: 7,
  DHHMAC_RESP: 8,
  RSA_R_INIT: 9,
  RSA_R_RESP: 10,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/** RFC 3830 §6.1 PRF func. */
export const PrfFunc = { MIKEY_1: 0 } as const;
export type PrfFunc = (typeof PrfFunc)[keyof typeof PrfFunc];

/** RFC 3830 §6.2 Encr alg. */
export const EncrAlg = { NULL: 0, AES_CM_128: 1, AES_KW_128: 2 } as const;
export type EncrAlg = (typeof EncrAlg)[keyof typeof EncrAlg];

/** RFC 3830 §6.2 MAC alg (also used by V, §6.9). */
export const MacAlg = { NULL: 0, HMAC_SHA_1_160: 1 } as const;
export type MacAlg = (typeof MacAlg)[keyof typeof MacAlg];

/** MAC length in bytes for a MAC alg; unknown → INVALID_MAC. */
export function macLength(alg: number): number {
  switch (alg) {
    case MacAlg.NULL:
      return 0;
    case MacAlg.HMAC_SHA_1_160:
      return 20;
    default:
      throw new MikeyError(ErrNo.INVALID_MAC, `unknown MAC alg ${alg}`);
  }
}

/** RFC 3830 §6.13 / §6.14 KV (key validity) types. */
export const KvType = { NULL: 0, SPI: 1, INTERVAL: 2 } as const;
export type KvType = (typeof KvType)[keyof typeof KvType];

/** True when `v` is one of the values of the constant table `t`. */
export function isOneOf<T extends Record<string, number>>(t: T, v: number): v is T[keyof T] {
  return Object.values(t).includes(v);
}
