/**
 * CS ID maps carried at the end of the Common Header (RFC 3830 §6.1).
 *
 * Type 0, SRTP-ID (RFC 3830 §6.1.1), 9 bytes per CS:
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Policy_no_i   ! SSRC_i (32 bits)                              !
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! ROC_i (32 bits)                                               !
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Type 7, IPSEC4-ID (seed 003 §5.1.1), 13 bytes per CS:
 *  ! Policy_no_i (8) ! SPI_i (32) ! spiSrcaddr_i (32) ! spiDstaddr_i (32) !
 *
 * Type 8, IPSEC6-ID (ours, docs/PROFILE.md), 37 bytes per CS:
 *  ! Policy_no_i (8) ! SPI_i (32) ! spiSrcaddr_i (128) ! spiDstaddr_i (128) !
 *
 * All fields in network byte order.  minisip wrote the IPSEC4 SPI and both
 * addresses byte-swapped (host order on x86); `minisipByteSwap` reads and
 * writes that layout for type 7 only.  The address "0.0.0.0" / "::" means
 * "to be filled in by the responder" (seed 003 flow).
 */
import { isIP } from 'node:net';
import { formatAddress as formatIpAddress, parseAddress as parseIpAddress } from '../kernel/address.js';
import { malformed } from './errors.js';
import { Reader, Writer } from './wire.js';

export const CsIdMapType = { SRTP_ID: 0, IPSEC4_ID: 7, IPSEC6_ID: 8 } as const;
export type CsIdMapType = (typeof CsIdMapType)[keyof typeof CsIdMapType];

export interface SrtpCs {
  readonly policyNo: number;
  readonly ssrc: number;
  readonly roc: number;
}

export interface IpsecCs {
  readonly policyNo: number;
  readonly spi: number;
  /** Dotted quad for IPSEC4-ID, RFC 5952 text for IPSEC6-ID. */
  readonly spiSrcaddr: string;
  readonly spiDstaddr: string;
}

export type CsIdMap =
  | { readonly type: typeof CsIdMapType.SRTP_ID; readonly cs: readonly SrtpCs[] }
  | { readonly type: typeof CsIdMapType.IPSEC4_ID; readonly cs: readonly IpsecCs[] }
  | { readonly type: typeof CsIdMapType.IPSEC6_ID; readonly cs: readonly IpsecCs[] };

export interface CsIdMapOptions {
  /** Read/write IPSEC4-ID SPI and addresses byte-swapped, as minisip did on x86. Off by default. */
  readonly minisipByteSwap?: boolean;
}

/** Bytes per CS entry for each map type. */
export function csEntrySize(type: CsIdMapType): number {
  return type === CsIdMapType.SRTP_ID ? 9 : type === CsIdMapType.IPSEC4_ID ? 13 : 37;
}

/** Unspecified address meaning "filled by the responder", per family. */
export const UNSPECIFIED_V4 = '0.0.0.0';
export const UNSPECIFIED_V6 = '::';

/** Decodes `nCs` entries of map `type` from the whole rest of `r` (the HDR ends with the map). */
export function decodeCsIdMap(r: Reader, type: number, nCs: number, opts: CsIdMapOptions = {}): CsIdMap {
  if (type !== CsIdMapType.SRTP_ID && type !== CsIdMapType.IPSEC4_ID && type !== CsIdMapType.IPSEC6_ID) {
    throw malformed(`unknown CS ID map type ${type}`);
  }
  const size = csEntrySize(type);
  if (r.remaining < nCs * size) {
    throw malformed(`CS ID map type ${type}: ${r.remaining} bytes left, ${nCs} CS need ${nCs * size}`);
  }
  const m = r.sub(nCs * size, 'CS ID map info');
  if (type === CsIdMapType.SRTP_ID) {
    const cs: SrtpCs[] = [];
    for (let i = 0; i < nCs; i++) cs.push({ policyNo: m.u8('Policy_no'), ssrc: m.u32('SSRC'), roc: m.u32('ROC') });
    return { type, cs };
  }
  const swap = type === CsIdMapType.IPSEC4_ID && opts.minisipByteSwap === true;
  const addrLen = type === CsIdMapType.IPSEC4_ID ? 4 : 16;
  const cs: IpsecCs[] = [];
  for (let i = 0; i < nCs; i++) {
    const policyNo = m.u8('Policy_no');
    if (swap) {
      const [spiBytes, src, dst] = [m.bytes(4, 'SPI'), m.bytes(addrLen, 'spiSrcaddr'), m.bytes(addrLen, 'spiDstaddr')].map((b) => b.reverse());
      const spi = new Reader(spiBytes!).u32('SPI');
      cs.push({ policyNo, spi, spiSrcaddr: formatAddress(src!), spiDstaddr: formatAddress(dst!) });
    } else {
      const spi = m.u32('SPI');
      cs.push({ policyNo, spi, spiSrcaddr: formatAddress(m.view(addrLen, 'spiSrcaddr')), spiDstaddr: formatAddress(m.view(addrLen, 'spiDstaddr')) });
    }
  }
  return { type, cs };
}

export function encodeCsIdMap(w: Writer, map: CsIdMap, opts: CsIdMapOptions = {}): void {
  if (map.type === CsIdMapType.SRTP_ID) {
    for (const c of map.cs) w.u8(c.policyNo, 'Policy_no').u32(c.ssrc, 'SSRC').u32(c.roc, 'ROC');
    return;
  }
  if (map.type !== CsIdMapType.IPSEC4_ID && map.type !== CsIdMapType.IPSEC6_ID) {
    throw malformed(`unknown CS ID map type ${(map as { type: number }).type}`);
  }
  const family = map.type === CsIdMapType.IPSEC4_ID ? 4 : 6;
  const swap = family === 4 && opts.minisipByteSwap === true;
  for (const c of map.cs) {
    if (!Number.isInteger(c.spi) || c.spi < 0 || c.spi > 0xffffffff) throw malformed(`SPI ${c.spi} out of range`);
    const src = parseAddress(c.spiSrcaddr, family);
    const dst = parseAddress(c.spiDstaddr, family);
    w.u8(c.policyNo, 'Policy_no');
    if (swap) w.bytes(new Writer(4).u32(c.spi, 'SPI').finish().reverse()).bytes(src.reverse()).bytes(dst.reverse());
    else w.u32(c.spi, 'SPI').bytes(src).bytes(dst);
  }
}

/**
 * IP address text → network-order bytes (the converter of kernel/address.ts);
 * the family must match the map type, and a scope ("%eth0") has no place on
 * the wire: MikeyError otherwise.
 */
export function parseAddress(text: string, family: 4 | 6): Uint8Array {
  if (isIP(text) !== family || text.includes('%')) throw malformed(`not an IPv${family} address: ${JSON.stringify(text)}`);
  return parseIpAddress(text, 'CS ID map address').bytes;
}

/** Network-order bytes (4 or 16) → dotted quad or RFC 5952 canonical IPv6 text. */
export function formatAddress(b: Uint8Array): string {
  return formatIpAddress(b, b.length === 4 ? 4 : 6);
}
