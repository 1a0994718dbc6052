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
import { isIPv4, isIPv6 } from 'node:net';
import { malformed } from './errors.js';
import { type Reader, type Writer } from './wire.js';

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
    const spiBytes = m.bytes(4, 'SPI');
    const src = m.bytes(addrLen, 'spiSrcaddr');
    const dst = m.bytes(addrLen, 'spiDstaddr');
    if (swap) [spiBytes, src, dst].forEach((b) => b.reverse());
    const spi = new DataView(spiBytes.buffer).getUint32(0);
    cs.push({ policyNo, spi, spiSrcaddr: formatAddress(src), spiDstaddr: formatAddress(dst) });
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
    const spi = new Uint8Array(4);
    if (!Number.isInteger(c.spi) || c.spi < 0 || c.spi > 0xffffffff) throw malformed(`SPI ${c.spi} out of range`);
    new DataView(spi.buffer).setUint32(0, c.spi);
    const src = parseAddress(c.spiSrcaddr, family);
    const dst = parseAddress(c.spiDstaddr, family);
    if (swap) [spi, src, dst].forEach((b) => b.reverse());
    w.u8(c.policyNo, 'Policy_no').bytes(spi).bytes(src).bytes(dst);
  }
}

/** IP address text → network-order bytes; the family must match the map type. */
export function parseAddress(text: string, family: 4 | 6): Uint8Array {
  if (family === 4) {
    if (!isIPv4(text)) throw malformed(`not an IPv4 address: ${JSON.stringify(text)}`);
    return Uint8Array.from(text.split('.').map(Number));
  }
  if (!isIPv6(text) || text.includes('%')) throw malformed(`not an IPv6 address: ${JSON.stringify(text)}`);
  // An embedded IPv4 tail ("::ffff:192.0.2.1") becomes two hex groups first.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  const v4 = tail.includes('.') ? parseAddress(tail, 4) : undefined;
  const s = v4
    ? `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`
    : text;
  const parseGroups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const dbl = s.indexOf('::');
  const groups =
    dbl < 0
      ? parseGroups(s)
      : (() => {
          const head = parseGroups(s.slice(0, dbl));
          const rest = parseGroups(s.slice(dbl + 2));
          return [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
        })();
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >>> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Network-order bytes (4 or 16) → dotted quad or RFC 5952 canonical IPv6 text. */
export function formatAddress(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952 §4.2: compress the longest run (≥ 2) of zero groups, the first on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}
