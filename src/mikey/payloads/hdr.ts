/**
 * RFC 3830 §6.1 Common Header payload (HDR).
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  !  version      !  data type    ! next payload  !V! PRF func    !
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  !                         CSB ID                                !
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! #CS           ! CS ID map type! CS ID map info                ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The next-payload byte is read/written by message.ts; this module handles
 * the rest.  #CS is the length of `csIdMap.cs`.
 */
import { ErrNo, MikeyError, malformed } from '../errors.js';
import { type CsIdMap, type CsIdMapOptions, decodeCsIdMap, encodeCsIdMap } from '../csidmap.js';
import { type Reader, type Writer } from '../wire.js';
import { DataType, PrfFunc, isOneOf } from './constants.js';

export const MIKEY_VERSION = 1;

export interface HdrPayload {
  readonly kind: 'hdr';
  readonly version: number;
  readonly dataType: DataType;
  /** V flag: the initiator asks for a verification message. */
  readonly v: boolean;
  readonly prfFunc: PrfFunc;
  readonly csbId: number;
  readonly csIdMap: CsIdMap;
}

/** Reads version and data type (before the next-payload byte). */
export function decodeHdrStart(r: Reader): { version: number; dataType: DataType } {
  const version = r.u8('HDR version');
  if (version !== MIKEY_VERSION) throw malformed(`unsupported MIKEY version ${version}`);
  const dataType = r.u8('HDR data type');
  if (!isOneOf(DataType, dataType)) throw new MikeyError(ErrNo.INVALID_DT, `unknown data type ${dataType}`);
  return { version, dataType };
}

/** Reads V/PRF, CSB ID, #CS, map type and map (after the next-payload byte). */
export function decodeHdrRest(r: Reader, start: { version: number; dataType: DataType }, opts: CsIdMapOptions): HdrPayload {
  const vPrf = r.u8('HDR V/PRF');
  const prfFunc = vPrf & 0x7f;
  if (!isOneOf(PrfFunc, prfFunc)) throw new MikeyError(ErrNo.INVALID_PRF, `unknown PRF func ${prfFunc}`);
  const csbId = r.u32('CSB ID');
  const nCs = r.u8('#CS');
  const csIdMap = decodeCsIdMap(r, r.u8('CS ID map type'), nCs, opts);
  return { kind: 'hdr', ...start, v: (vPrf & 0x80) !== 0, prfFunc, csbId, csIdMap };
}

export function encodeHdr(w: Writer, h: HdrPayload, next: number, opts: CsIdMapOptions): void {
  if (h.version !== MIKEY_VERSION) throw malformed(`unsupported MIKEY version ${h.version}`);
  if (!isOneOf(DataType, h.dataType)) throw new MikeyError(ErrNo.INVALID_DT, `unknown data type ${h.dataType}`);
  if (!isOneOf(PrfFunc, h.prfFunc)) throw new MikeyError(ErrNo.INVALID_PRF, `unknown PRF func ${h.prfFunc}`);
  w.u8(h.version, 'version').u8(h.dataType, 'data type').u8(next, 'next payload');
  w.u8((h.v ? 0x80 : 0) | h.prfFunc, 'V/PRF').u32(h.csbId, 'CSB ID');
  w.u8(h.csIdMap.cs.length, '#CS').u8(h.csIdMap.type, 'CS ID map type');
  encodeCsIdMap(w, h.csIdMap, opts);
}
