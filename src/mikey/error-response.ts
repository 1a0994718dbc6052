/**
 * The MIKEY error message, RFC 3830 §5.1.2: the responder's answer to an
 * I_MESSAGE it refuses.  §5.1.2: "The error message is formed as:
 * HDR, T, {ERR}, {SP}, [V|SIGNr]" — no ID payload.  We send
 *
 *   HDR(data type Error), T, ERR..., [V]
 *
 * (no SP: we offer no alternative policy).  T is the offer's T when it could
 * be read (§5.2: "The Responder does not create a new timestamp, but uses the
 * timestamp used by the Initiator"), else the current time.  HDR keeps the
 * offer's CSB ID (and its CS ID map when it could be read, an empty
 * IPSEC4-ID map otherwise).  V authenticates the error with the PSK (§4.1.4
 * auth_key of the offer's CSB ID and RAND, input as for §5.2: message up to
 * the MAC || IDi || IDr || T_i) — only when the failure is not an
 * authentication failure: §5.1.2 "if failure is due to the inability to
 * authenticate the peer, the error message is OPTIONAL, and does not need to
 * be authenticated".  Error answers in the signed modes (DH, PKE) are not
 * signed (the SIGNr is optional; docs/PROFILE.md).
 */
import { type CsIdMap, CsIdMapType } from './csidmap.js';
import { ErrNo } from './errors.js';
import { macCompute } from './mac.js';
import { type CodecOptions, encodeMessage } from './message.js';
import { DataType, MacAlg } from './payloads/constants.js';
import type { ErrPayload } from './payloads/err.js';
import type { TPayload } from './payloads/t.js';
import { encodeSealed, hdr, tNow, vInput } from './modes/common.js';

export interface ErrorVerification {
  /** §4.1.4 auth_key from the PSK and the offer's CSB ID / RAND. */
  readonly authKey: Uint8Array;
  /** ID data of the offer's IDi and IDr (empty if absent) and its TS value bytes. */
  readonly idi: Uint8Array;
  readonly idr: Uint8Array;
  readonly tI: Uint8Array;
}

export interface ErrorResponseInput {
  readonly csbId: number;
  readonly csIdMap?: CsIdMap;
  readonly errors: readonly ErrNo[];
  /** The offer's T payload, if it could be read; else T is taken from `nowMs`. */
  readonly t?: TPayload;
  readonly nowMs: number;
  /** Adds a V payload, unless one of `errors` is AUTH_FAILURE. */
  readonly verification?: ErrorVerification;
  readonly codec?: CodecOptions;
}

export function buildErrorResponse(input: ErrorResponseInput): Uint8Array {
  const map: CsIdMap = input.csIdMap ?? { type: CsIdMapType.IPSEC4_ID, cs: [] };
  const errs: ErrPayload[] = (input.errors.length ? input.errors : [ErrNo.UNSPECIFIED]).map((errNo) => ({ kind: 'err', errNo }));
  const payloads = [input.t ?? tNow(input.nowMs), ...errs];
  const h = hdr(DataType.ERROR, input.csbId >>> 0, map);
  const codec = input.codec ?? {};
  const v = input.verification;
  if (!v || input.errors.includes(ErrNo.AUTH_FAILURE)) return encodeMessage({ hdr: h, payloads }, codec);
  const withV = { hdr: h, payloads: [...payloads, { kind: 'v' as const, macAlg: MacAlg.HMAC_SHA_1_160, mac: new Uint8Array(20) }] };
  return encodeSealed(withV, codec, (covered) => macCompute(MacAlg.HMAC_SHA_1_160, v.authKey, ...vInput(covered, v.idi, v.idr, v.tI)));
}
