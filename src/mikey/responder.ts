/**
 * The responder's side of a MIKEY exchange: check an I_MESSAGE and always
 * answer (seed 003): with the R_MESSAGE and the SAs, or with the error
 * message of RFC 3830 §5.1.2 (the SIP layer sends it in a 488).
 *
 * Checks, in this order (RFC 3830 §5.3-5.4, REFERENCE.md §2):
 *   1. decode; data type is the I_MESSAGE of an accepted mode   (INVALID_DT)
 *   2. timestamp skew, then the replay cache (ReplayCache.check) (INVALID_TS)
 *   3. MAC / signature (the mode)                  (AUTH_FAILURE, INVALID_CERT...)
 *   4. only now the message enters the replay cache (ReplayCache.commit)
 *   5. IDi names the SIP identity it came with (From), IDr us   (INVALID_ID)
 *   6. policy: ESP, a known suite at or above the minimum       (INVALID_SP/SPPAR)
 *   7. the map: our address fills the placeholders, our inbound SPI (from
 *      `allocSpi(peerAddr)`, called only when everything else passed) the
 *      zero SPI; an initiator behind a NAT (`natOf`) is named by the address
 *      SIP saw, and with either side behind a NAT the SAs are
 *      UDP-encapsulated; keys derived, response built.
 *
 * The skew window and the clock of step 2 are the injected ReplayCache's;
 * pass the same `now` to both.
 */
import type { SuiteName } from '../kernel/algorithms.js';
import type { IpsecCs } from './csidmap.js';
import type { OakleyGroup } from './dh.js';
import { ErrNo, MikeyError, malformed } from './errors.js';
import { type ErrorVerification, buildErrorResponse } from './error-response.js';
import { deriveDhhmacAuthKey } from './keys.js';
import { type CodecOptions, type DecodedMessage, decodeMessage } from './message.js';
import { checkMinimumStrength, suiteOfPolicy } from './negotiate.js';
import type { TPayload } from './payloads/t.js';
import type { ReplayCache } from './replay.js';
import { type ExchangeResult, type MikeyMode, MIKEY_MODES, type PairEncap, deriveExchangeResult } from './result.js';
import type { IpsecPolicy } from './sp.js';
import { UDP_ENCAP_ESPINUDP } from './sp.js';
import { checkIdentity, familyOf, idText, initiatorIds, ipsecCsOf, isNatPrivateV4, optional, policyOf, required, tValueBytes, unspecifiedOf, withCs } from './modes/common.js';
import { MODE_HANDLERS, modeOfInitDataType } from './modes/registry.js';
import type { AuthenticatedOffer, Credentials } from './modes/types.js';

export const DEFAULT_DH_GROUPS: readonly OakleyGroup[] = [2, 5, 14];

export interface ResponderOptions {
  /** Our SIP URI (IDr) and the initiator's SIP identity (From of the INVITE). */
  readonly localId: string;
  readonly peerId: string;
  /** Our address (fills the 0.0.0.0 / :: placeholders). */
  readonly localAddr: string;
  /** Reserve our inbound SPI for SAs from `peerAddr` (the kernel's ALLOCSPI). */
  readonly allocSpi: (peerAddr: string) => number | Promise<number>;
  readonly credentials: Credentials;
  /** Modes we answer (default all four; a mode without credentials fails its check). */
  readonly modes?: readonly MikeyMode[];
  /** Weakest acceptable suite (algorithms.ts strength). */
  readonly minSuite?: SuiteName;
  readonly dhGroups?: readonly OakleyGroup[];
  readonly replayCache: ReplayCache;
  readonly now?: () => number;
  readonly codec?: CodecOptions;
  /** The initiator's address as SIP saw it (Via received, transport source): docs/PROFILE.md §NAT. */
  readonly observedPeerAddr?: string;
  /** Our ESP-in-UDP port when we do NAT traversal (absent: never encapsulate). */
  readonly natPort?: number;
  /**
   * Our address as the outside sees it (the Via `received` of our REGISTER's
   * response, RFC 3581, or STUN): differing from our private `localAddr`, we
   * are behind a NAT (docs/PROFILE.md §10).
   */
  readonly localPublicAddr?: string;
}

export type RespondOutcome =
  | { readonly ok: true; readonly response: Uint8Array; readonly result: ExchangeResult }
  | { readonly ok: false; readonly errorResponse: Uint8Array; readonly error: MikeyError };

const asMikeyError = (e: unknown): MikeyError =>
  e instanceof MikeyError ? e : new MikeyError(ErrNo.UNSPECIFIED, 'internal error while handling the offer');

/** CSB ID of a message too broken to decode (bytes 4..7 of the HDR), else 0. */
const rawCsbId = (b: Uint8Array): number => (b.length >= 8 ? new DataView(b.buffer, b.byteOffset).getUint32(4) : 0);

/** Fill the seed 003 placeholders: our address, and our SPI where we are the destination. */
function completeMap(cs: readonly IpsecCs[], family: 4 | 6, localAddr: string, localSpi: number): IpsecCs[] {
  const any = unspecifiedOf(family);
  return cs.map((c, i) => {
    const src = c.spiSrcaddr === any ? localAddr : c.spiSrcaddr;
    const dst = c.spiDstaddr === any ? localAddr : c.spiDstaddr;
    const spi = c.spi === 0 && dst === localAddr ? localSpi : c.spi;
    if (spi === 0) throw malformed(`CS #${i + 1} has no SPI`);
    return { policyNo: c.policyNo, spi, spiSrcaddr: src, spiDstaddr: dst };
  });
}

/**
 * NAT rule (docs/PROFILE.md §10): the offer asks for NAT-T, we do NAT-T, the
 * map is IPv4, and a NAT is in the way:
 * - SIP saw the initiator at another address than its map names: the map's
 *   initiator address becomes the observed one (`observed`);
 * - or we are behind one (our private address is not our public one): we
 *   keep our address in the map, the initiator sees the difference from its
 *   side, and we send the keepalives.
 * Either way both SAs are UDP-encapsulated (our port = the offer's dport,
 * which must be ours; the initiator's = its sport).
 */
function natOf(policy: IpsecPolicy, mapPeer: string, family: 4 | 6, opts: ResponderOptions): { observed?: string; encap: PairEncap } | undefined {
  if (!policy.natT || opts.natPort === undefined || family !== 4) return undefined;
  const observed = opts.observedPeerAddr;
  // The initiator is behind a NAT: SIP saw it elsewhere than its map address.
  const peerNated = observed !== undefined && observed !== mapPeer && familyOf(observed) === 4;
  // We are: our (private) address is not the one the outside sees.
  const pub = opts.localPublicAddr;
  const selfNated = pub !== undefined && pub !== opts.localAddr && isNatPrivateV4(opts.localAddr);
  if (!peerNated && !selfNated) return undefined;
  const n = policy.natT;
  if (n.encapType !== UDP_ENCAP_ESPINUDP) throw new MikeyError(ErrNo.INVALID_SPPAR, `NAT-T encapsulation type ${n.encapType} not supported (ESP-in-UDP = ${UDP_ENCAP_ESPINUDP})`);
  if (n.dport !== opts.natPort) throw new MikeyError(ErrNo.INVALID_SPPAR, `NAT-T port ${n.dport} is not ours (${opts.natPort})`);
  return { ...(peerNated ? { observed } : {}), encap: { encapType: n.encapType, localPort: n.dport, peerPort: n.sport, keepalives: selfNated } };
}

/** Every occurrence of `from` in the map becomes `to`. */
function renameAddr(cs: readonly IpsecCs[], from: string, to: string): IpsecCs[] {
  const r = (a: string) => (a === from ? to : a);
  return cs.map((c) => ({ ...c, spiSrcaddr: r(c.spiSrcaddr), spiDstaddr: r(c.spiDstaddr) }));
}

/** The initiator's address: the first map address that is neither ours nor a placeholder. */
function peerAddrOf(cs: readonly IpsecCs[], family: 4 | 6, localAddr: string): string {
  const any = unspecifiedOf(family);
  const addr = cs.flatMap((c) => [c.spiSrcaddr, c.spiDstaddr]).find((a) => a !== any && a !== localAddr);
  if (!addr) throw malformed('CS ID map names no initiator address');
  return addr;
}

export async function respond(offer: Uint8Array, opts: ResponderOptions): Promise<RespondOutcome> {
  const nowMs = (opts.now ?? Date.now)();
  const codec = opts.codec ?? {};
  let msg: DecodedMessage | undefined;
  let mode: MikeyMode | undefined;
  let auth: AuthenticatedOffer | undefined;
  try {
    msg = decodeMessage(offer, codec);
    mode = modeOfInitDataType(msg.hdr.dataType);
    if (!mode || !(opts.modes ?? MIKEY_MODES).includes(mode)) {
      throw new MikeyError(ErrNo.INVALID_DT, `data type ${msg.hdr.dataType} is not an offer we accept`);
    }
    const handler = MODE_HANDLERS[mode];
    const t = required(msg, 't');
    const entry = { initiatorId: opts.peerId, csbId: msg.hdr.csbId, tsType: t.tsType, tsValue: tValueBytes(t) };
    opts.replayCache.check(entry);
    auth = handler.authenticate(offer, msg, opts.credentials, { nowMs, dhGroups: opts.dhGroups ?? DEFAULT_DH_GROUPS });
    opts.replayCache.commit(entry);
    const { idi, idr } = initiatorIds(msg);
    checkIdentity(idText(idi), opts.peerId, 'IDi');
    if (idr) checkIdentity(idText(idr), opts.localId, 'IDr');
    const policy = policyOf(msg);
    const negotiated = suiteOfPolicy(policy);
    checkMinimumStrength(negotiated.suite, opts.minSuite);
    const { cs, family } = ipsecCsOf(msg.hdr.csIdMap);
    if (cs.length === 0) throw malformed('CS ID map is empty');
    if (family !== familyOf(opts.localAddr)) throw malformed(`IPv${family} map, but our address is IPv${familyOf(opts.localAddr)}`);
    const mapPeer = peerAddrOf(cs, family, opts.localAddr);
    const nat = natOf(policy, mapPeer, family, opts);
    const peerAddr = nat?.observed ?? mapPeer;
    const completed = completeMap(nat?.observed ? renameAddr(cs, mapPeer, peerAddr) : cs, family, opts.localAddr, await opts.allocSpi(peerAddr));
    const map = withCs(msg.hdr.csIdMap, completed);
    const result = deriveExchangeResult({
      mikeyMode: mode,
      tgk: auth.tgk,
      csbId: msg.hdr.csbId,
      rand: required(msg, 'rand').rand,
      cs: completed,
      family,
      localAddr: opts.localAddr,
      localId: opts.localId,
      peerId: opts.peerId,
      policy,
      negotiated,
      ...(nat ? { encap: nat.encap } : {}),
    });
    const response = handler.respond(
      { offer: msg, map, t: required(msg, 't'), localId: opts.localId, codec },
      auth,
      opts.credentials,
    );
    return { ok: true, response, result };
  } catch (e) {
    const error = asMikeyError(e);
    const errorResponse = refuseOffer(offer, error.errNo, { credentials: opts.credentials, nowMs, codec }, { msg, mode });
    return { ok: false, errorResponse, error };
  } finally {
    auth?.tgk.fill(0);
    auth?.authKey?.fill(0);
    auth?.dh?.wipe();
  }
}

/**
 * The MIKEY error message (RFC 3830 §5.2, Err payload §6.12) refusing `offer`
 * with `errNo`: what `respond` sends for an offer it rejects, and what a
 * responder sends for an offer it accepted but cannot carry out (e.g. its
 * kernel cannot install the negotiated suite: Err 10, SP parameter not
 * supported).  `known` spares decoding the offer again.
 */
export function refuseOffer(
  offer: Uint8Array,
  errNo: ErrNo,
  o: { credentials: Credentials; nowMs: number; codec?: CodecOptions },
  known?: { msg: DecodedMessage | undefined; mode: MikeyMode | undefined },
): Uint8Array {
  const codec = o.codec ?? {};
  let { msg, mode } = known ?? { msg: undefined, mode: undefined };
  if (!known) {
    try {
      msg = decodeMessage(offer, codec);
      mode = modeOfInitDataType(msg.hdr.dataType);
    } catch {
      msg = undefined;
    }
  }
  const v = errorVerification(msg, mode, o.credentials);
  try {
    return buildErrorResponse({
      csbId: msg?.hdr.csbId ?? rawCsbId(offer),
      ...(msg ? { csIdMap: msg.hdr.csIdMap } : {}),
      ...offerT(msg),
      errors: [errNo],
      nowMs: o.nowMs,
      ...v,
      codec,
    });
  } finally {
    v.verification?.authKey.fill(0);
  }
}

/** The offer's T for the error message (§5.2: the responder reuses the initiator's timestamp), if readable. */
function offerT(msg: DecodedMessage | undefined): { t?: TPayload } {
  try {
    const t = msg && optional(msg, 't');
    return t ? { t } : {};
  } catch {
    return {};
  }
}

/** PSK and DHHMAC errors carry a V keyed with the PSK (when the offer's RAND could be read). */
function errorVerification(msg: DecodedMessage | undefined, mode: MikeyMode | undefined, creds: Credentials): { verification?: ErrorVerification } {
  if (!msg || (mode !== 'psk' && mode !== 'dhhmac') || !creds.psk) return {};
  try {
    const rand = optional(msg, 'rand');
    const t = optional(msg, 't');
    if (!rand || !t) return {};
    const { idi, idr } = initiatorIds(msg);
    const authKey = deriveDhhmacAuthKey(creds.psk, msg.hdr.csbId, rand.rand); // the §4.1.4 auth_key (PSK and DHHMAC alike)
    return { verification: { authKey, idi: idi.id, idr: idr?.id ?? new Uint8Array(0), tI: tValueBytes(t) } };
  } catch {
    return {};
  }
}
