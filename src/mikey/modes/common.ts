/**
 * Message-building blocks shared by the four MIKEY modes (RFC 3830 §3,
 * RFC 4650): the HDR and the IPsec CS ID map of seed 003's flow, the T, RAND,
 * ID and SP payloads, MAC/signature sealing, the V payload's input (§5.2)
 * and typed look-ups of received payloads.
 *
 * Seed 003 flow (REFERENCE.md §2), initiator I at address A_i, responder R
 * at A_r, map type 7 (IPSEC4-ID) or 8 (IPSEC6-ID, '::' placeholders):
 *
 *   offer:    CS#1 = (SPI_i, 0.0.0.0, A_i)   CS#2 = (0,     A_i, 0.0.0.0)
 *   response: CS#1 = (SPI_i, A_r,     A_i)   CS#2 = (SPI_r, A_i, A_r)
 *
 * CS#1 is I's inbound SA, CS#2 I's outbound SA (= R's inbound, with R's SPI).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { type CsIdMap, CsIdMapType, type IpsecCs, UNSPECIFIED_V4, UNSPECIFIED_V6 } from '../csidmap.js';
import { ErrNo, MikeyError, malformed } from '../errors.js';
import { type CodecOptions, type DecodedMessage, type MikeyMessage, type MikeyPayload, encodeMessageWithSpans } from '../message.js';
import { DataType, PrfFunc } from '../payloads/constants.js';
import { type HdrPayload, MIKEY_VERSION } from '../payloads/hdr.js';
import { type IdPayload, IdType } from '../payloads/id.js';
import { type TPayload, TsType } from '../payloads/t.js';
import { type SpPayload } from '../payloads/sp.js';
import { type IpsecPolicy, SpProtType, ipsecPolicyFromParams, ipsecPolicyToParams } from '../sp.js';
import { msToNtp } from '../timestamp.js';
import { Reader, Writer } from '../wire.js';
import { normalizeSipUri } from '../pke.js';
import { randomBytes, randomUint32 } from '../random.js';

/** RAND length we send (RFC 3830 §6.11: at least 16 bytes). */
export const RAND_BYTES = 16;
/** The SP payload's policy number used by every CS (one policy per exchange). */
export const POLICY_NO = 0;

export const randomCsbId = (): number => randomUint32();
export const randomRand = (): Uint8Array => randomBytes(RAND_BYTES);

export function familyOf(addr: string): 4 | 6 {
  if (isIPv4(addr)) return 4;
  if (isIPv6(addr)) return 6;
  throw malformed(`not an IP address: ${JSON.stringify(addr)}`);
}

/**
 * An IPv4 address a NAT hides: RFC 1918 private (10/8, 172.16/12,
 * 192.168/16) or RFC 6598 shared (100.64/10, carrier-grade NAT).  The rule
 * for a responder behind a NAT (docs/PROFILE.md §10) applies only to these.
 */
export function isNatPrivateV4(addr: string): boolean {
  if (!isIPv4(addr)) return false;
  const [a, b] = addr.split('.').map(Number) as [number, number];
  return a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128);
}

export const unspecifiedOf = (family: 4 | 6): string => (family === 4 ? UNSPECIFIED_V4 : UNSPECIFIED_V6);

/** The initiator's two-CS map of the seed 003 flow. */
export function offerMap(localAddr: string, inboundSpi: number): CsIdMap {
  const family = familyOf(localAddr);
  const any = unspecifiedOf(family);
  const cs: IpsecCs[] = [
    { policyNo: POLICY_NO, spi: inboundSpi, spiSrcaddr: any, spiDstaddr: localAddr },
    { policyNo: POLICY_NO, spi: 0, spiSrcaddr: localAddr, spiDstaddr: any },
  ];
  return family === 4 ? { type: CsIdMapType.IPSEC4_ID, cs } : { type: CsIdMapType.IPSEC6_ID, cs };
}

/** The IPsec CS list of a map, and its family; other map types are INVALID_SP. */
export function ipsecCsOf(map: CsIdMap): { cs: readonly IpsecCs[]; family: 4 | 6 } {
  if (map.type === CsIdMapType.IPSEC4_ID) return { cs: map.cs, family: 4 };
  if (map.type === CsIdMapType.IPSEC6_ID) return { cs: map.cs, family: 6 };
  throw new MikeyError(ErrNo.INVALID_SP, `CS ID map type ${map.type} is not an IPsec map`);
}

export function withCs(map: CsIdMap, cs: readonly IpsecCs[]): CsIdMap {
  const { family } = ipsecCsOf(map);
  return family === 4 ? { type: CsIdMapType.IPSEC4_ID, cs } : { type: CsIdMapType.IPSEC6_ID, cs };
}

export function hdr(dataType: DataType, csbId: number, csIdMap: CsIdMap, v = false): HdrPayload {
  return { kind: 'hdr', version: MIKEY_VERSION, dataType, v, prfFunc: PrfFunc.MIKEY_1, csbId, csIdMap };
}

/** A T payload of type NTP-UTC for Unix time `nowMs`. */
export function tNow(nowMs: number): TPayload {
  return { kind: 't', tsType: TsType.NTP_UTC, tsValue: new Reader(msToNtp(nowMs)).u64('NTP time') };
}

/** The TS value field's bytes (8, or 4 for COUNTER), as used by the AES-CM IV and §5.2. */
export function tValueBytes(t: TPayload): Uint8Array {
  const w = new Writer(8);
  if (t.tsType === TsType.COUNTER) w.u32(Number(t.tsValue), 'COUNTER');
  else w.u64(t.tsValue, 'TS value');
  return w.finish();
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

export const idPayload = (uri: string): IdPayload => ({ kind: 'id', idType: IdType.URI, id: utf8.encode(uri) });

export function idText(p: IdPayload): string {
  try {
    return utf8d.decode(p.id);
  } catch {
    throw new MikeyError(ErrNo.INVALID_ID, 'ID is not UTF-8');
  }
}

export function spPayload(policy: IpsecPolicy): SpPayload {
  return { kind: 'sp', policyNo: POLICY_NO, protType: SpProtType.IPSEC, params: ipsecPolicyToParams(policy) };
}

/** The IPsec policy of the message (exactly one SP payload of prot type IPSEC). */
export function policyOf(msg: MikeyMessage): IpsecPolicy {
  const sps = all(msg, 'sp');
  if (sps.length !== 1) throw new MikeyError(ErrNo.INVALID_SP, `expected one SP payload, found ${sps.length}`);
  const sp = sps[0]!;
  if (sp.protType !== SpProtType.IPSEC) throw new MikeyError(ErrNo.INVALID_SP, `SP prot type ${sp.protType} is not IPsec`);
  return ipsecPolicyFromParams(sp.params);
}

type Kind = MikeyPayload['kind'];
type PayloadOf<K extends Kind> = Extract<MikeyPayload, { kind: K }>;

export function all<K extends Kind>(msg: MikeyMessage, kind: K): PayloadOf<K>[] {
  return msg.payloads.filter((p): p is PayloadOf<K> => p.kind === kind);
}

export function optional<K extends Kind>(msg: MikeyMessage, kind: K): PayloadOf<K> | undefined {
  const found = all(msg, kind);
  if (found.length > 1) throw malformed(`more than one ${kind.toUpperCase()} payload`);
  return found[0];
}

export function required<K extends Kind>(msg: MikeyMessage, kind: K): PayloadOf<K> {
  const p = optional(msg, kind);
  if (!p) throw malformed(`${kind.toUpperCase()} payload missing`);
  return p;
}

/** The two ID payloads of an initiator's message, IDi then IDr (RFC 3830 §3). */
export function initiatorIds(msg: MikeyMessage): { idi: IdPayload; idr: IdPayload | undefined } {
  const ids = all(msg, 'id');
  if (ids.length === 0 || ids.length > 2) throw new MikeyError(ErrNo.INVALID_ID, `expected IDi [IDr], found ${ids.length} ID payloads`);
  return { idi: ids[0]!, idr: ids[1] };
}

/**
 * Encode `msg`, whose last MAC- or signature-bearing payload holds zeros of
 * the right length, then fill that field with `seal(bytes up to the field)`.
 */
export function encodeSealed(msg: MikeyMessage, codec: CodecOptions, seal: (covered: Uint8Array) => Uint8Array): Uint8Array {
  const { bytes, spans } = encodeMessageWithSpans(msg, codec);
  const span = [...spans].reverse().find((s) => s.macStart !== undefined);
  if (!span || span.macStart === undefined) throw malformed('message has no MAC or signature field');
  const mac = seal(bytes.subarray(0, span.macStart));
  if (mac.length !== span.end - span.macStart) throw malformed('MAC/signature length does not match its field');
  bytes.set(mac, span.macStart);
  return bytes;
}

/** Bytes covered by the received message's last MAC/signature (RFC 3830 §5.2). */
export function coveredBytes(bytes: Uint8Array, msg: DecodedMessage): Uint8Array {
  if (msg.macInputLength === undefined) throw new MikeyError(ErrNo.AUTH_FAILURE, 'message carries no MAC or signature');
  return bytes.subarray(0, msg.macInputLength);
}

/**
 * RFC 3830 §5.2 V payload input: "Calculate the MAC/signature over the
 * entire MIKEY message, except the MAC/Signature field ... In the case of
 * the verification message, the Identity_i || Identity_r || Timestamp MUST
 * directly follow the MIKEY message in the Verification MAC calculation.
 * Note that the added identities and timestamp are identical to those
 * transported in the ID and T payloads."  So: the response up to the V MAC,
 * then the ID data fields of the offer's IDi and IDr (the URIs; empty when
 * an ID was not sent) and the TS value field of the initiator's T (which the
 * response's T repeats, §5.2), not the whole payloads.  Returned as the
 * list of parts whose concatenation is the input.
 */
export function vInput(responseCovered: Uint8Array, idi: Uint8Array, idr: Uint8Array, tI: Uint8Array): readonly Uint8Array[] {
  return [responseCovered, idi, idr, tI]; // MAC'd in this order (mac.ts): their concatenation, never copied
}

/**
 * The ID received must name the SIP identity the message came with (From of
 * the INVITE, To of the answer): compared as pke.ts `normalizeSipUri` does,
 * scheme and host case-insensitive, URI parameters ignored.  Else INVALID_ID.
 */
export function checkIdentity(received: string, expected: string, what: string): void {
  const a = normalizeSipUri(received);
  if (a === undefined || a !== normalizeSipUri(expected)) {
    throw new MikeyError(ErrNo.INVALID_ID, `${what} ${JSON.stringify(received)} does not match the SIP identity ${JSON.stringify(expected)}`);
  }
}

/** IDr: the first ID payload of a response (DH/DHHMAC responses then echo IDi). */
export function responderId(msg: MikeyMessage): IdPayload {
  const id = all(msg, 'id')[0];
  if (!id) throw new MikeyError(ErrNo.INVALID_ID, 'response carries no IDr');
  return id;
}
