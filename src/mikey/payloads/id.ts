/**
 * RFC 3830 §6.7 ID payload (ID) and Certificate payload (CERT), and §6.8
 * Cert hash payload (CHASH): three "type + data" payloads.
 *
 *  ID / CERT:
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  !  Next Payload ! ID/Cert Type  ! ID/Cert len                   !
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  !                       ID/Certificate Data                     ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *  CHASH (hash length from the hash function: SHA-1 20, MD5 16):
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  !  Next Payload ! Hash func     ! Hash                          ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { ErrNo, MikeyError } from '../errors.js';
import { type Reader, type Writer } from '../wire.js';
import { isOneOf } from './constants.js';

export const IdType = { NAI: 0, URI: 1 } as const;
export type IdType = (typeof IdType)[keyof typeof IdType];

export const CertType = { X509V3: 0, X509V3_URL: 1, X509V3_SIGN: 2, X509V3_ENCR: 3 } as const;
export type CertType = (typeof CertType)[keyof typeof CertType];

export const HashFunc = { SHA1: 0, MD5: 1 } as const;
export type HashFunc = (typeof HashFunc)[keyof typeof HashFunc];

export interface IdPayload {
  readonly kind: 'id';
  readonly idType: IdType;
  readonly id: Uint8Array;
}

export interface CertPayload {
  readonly kind: 'cert';
  readonly certType: CertType;
  readonly cert: Uint8Array;
}

export interface ChashPayload {
  readonly kind: 'chash';
  readonly hashFunc: HashFunc;
  readonly hash: Uint8Array;
}

function checkIdType(t: number): asserts t is IdType {
  if (!isOneOf(IdType, t)) throw new MikeyError(ErrNo.INVALID_ID, `unknown ID type ${t}`);
}
function checkCertType(t: number): asserts t is CertType {
  if (!isOneOf(CertType, t)) throw new MikeyError(ErrNo.INVALID_CERT, `unknown certificate type ${t}`);
}
function hashLength(f: number): number {
  if (f === HashFunc.SHA1) return 20;
  if (f === HashFunc.MD5) return 16;
  throw new MikeyError(ErrNo.INVALID_HA, `unknown hash function ${f}`);
}

export function decodeId(r: Reader): IdPayload {
  const idType = r.u8('ID type');
  checkIdType(idType);
  return { kind: 'id', idType, id: r.bytes(r.u16('ID len'), 'ID data') };
}

export function encodeId(w: Writer, p: IdPayload): void {
  checkIdType(p.idType);
  w.u8(p.idType, 'ID type').u16(p.id.length, 'ID len').bytes(p.id);
}

export function decodeCert(r: Reader): CertPayload {
  const certType = r.u8('Cert type');
  checkCertType(certType);
  return { kind: 'cert', certType, cert: r.bytes(r.u16('Cert len'), 'Cert data') };
}

export function encodeCert(w: Writer, p: CertPayload): void {
  checkCertType(p.certType);
  w.u8(p.certType, 'Cert type').u16(p.cert.length, 'Cert len').bytes(p.cert);
}

export function decodeChash(r: Reader): ChashPayload {
  const hashFunc = r.u8('Hash func') as HashFunc;
  return { kind: 'chash', hashFunc, hash: r.bytes(hashLength(hashFunc), 'Hash') };
}

export function encodeChash(w: Writer, p: ChashPayload): void {
  if (p.hash.length !== hashLength(p.hashFunc)) throw new MikeyError(ErrNo.INVALID_HA, 'CHASH length does not match hash function');
  w.u8(p.hashFunc, 'Hash func').bytes(p.hash);
}
