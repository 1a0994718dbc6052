/**
 * The initiator's side of a MIKEY exchange (RFC 3830 §3, seed 003 flow):
 * `createOffer` builds the I_MESSAGE from our identity (SIP URI in IDi), the
 * peer's (IDr), the policy and our kernel-allocated inbound SPI (passed in);
 * `verifyResponse` checks the R_MESSAGE and returns the SAs.
 *
 *   createOffer ──► InitiatorState (in memory; expires; wipe()) ──► verifyResponse ──► ExchangeResult
 *
 * InitiatorState holds the TGK (PSK/PKE) or the DH private value (DH/DHHMAC)
 * and a MAC key: it never prints them (JSON / inspect show facts only), and
 * `serializeState` — for the CLI's 0600 --state file — is the one way out.
 * The state is single-use: `verifyResponse` wipes it, success or failure
 * (`keep` leaves it: a copy of the answer that SIP did not protect, a 1xx's,
 * may be forged, and the 2xx's copy is checked next; another fork's 2xx
 * carries another answer).
 */
import { DhKeyPair, type OakleyGroup } from './dh.js';
import { isIPv4 } from 'node:net';
import { inspect } from 'node:util';
import type { IpsecCs } from './csidmap.js';
import { ErrNo, MikeyError, malformed } from './errors.js';
import { type CodecOptions, decodeMessage } from './message.js';
import { DataType } from './payloads/constants.js';
import { suiteOfPolicy } from './negotiate.js';
import { type ExchangeResult, type MikeyMode, MIKEY_MODES, type PairEncap, deriveExchangeResult } from './result.js';
import type { IpsecPolicy } from './sp.js';
import { ipsecPolicyFromParams, ipsecPolicyToParams } from './sp.js';
import { checkIdentity, familyOf, hdr, idPayload, idText, ipsecCsOf, isNatPrivateV4, offerMap, randomCsbId, randomRand, required, responderId, spPayload, tNow, tValueBytes, unspecifiedOf } from './modes/common.js';
import { MODE_HANDLERS } from './modes/registry.js';
import type { Credentials, OfferFacts, OfferSecrets } from './modes/types.js';

/** How long an offer waits for its answer by default: SIP INVITE timer C is > 3 min. */
export const DEFAULT_STATE_TTL_MS = 5 * 60 * 1000;
/** TGK length (bytes) of PSK/PKE offers; 16 for minisip (its PRF is wrong for 32-byte inkeys, REFERENCE.md §2). */
export const DEFAULT_TGK_BYTES = 32;
export const DEFAULT_DH_GROUP: OakleyGroup = 5;

export interface InitiatorOptions {
  readonly mode: MikeyMode;
  /** Our SIP URI (IDi) and the peer's (IDr). */
  readonly localId: string;
  readonly peerId: string;
  /** Our address: its family picks the map type (7 IPv4, 8 IPv6). */
  readonly localAddr: string;
  /** Our kernel-allocated inbound SPI (CS#1). */
  readonly inboundSpi: number;
  readonly policy: IpsecPolicy;
  readonly credentials: Credentials;
  readonly dhGroup?: OakleyGroup;
  readonly tgkLength?: number;
  readonly csbId?: number;
  readonly now?: () => number;
  readonly stateTtlMs?: number;
  /** e.g. { minisipByteSwap: true } for seed 003 / minisip peers. */
  readonly codec?: CodecOptions;
}

export class InitiatorState {
  readonly #secrets: OfferSecrets;
  constructor(
    readonly mode: MikeyMode,
    readonly facts: OfferFacts,
    readonly localId: string,
    readonly localAddr: string,
    readonly offeredCs: readonly IpsecCs[],
    readonly policy: IpsecPolicy,
    readonly expiresAt: number,
    readonly codec: CodecOptions,
    secrets: OfferSecrets,
  ) {
    this.#secrets = secrets;
  }

  /** @internal the mode's secrets (verifyResponse only). */
  get secrets(): OfferSecrets {
    return this.#secrets;
  }

  expired(nowMs: number): boolean {
    return nowMs > this.expiresAt;
  }

  wipe(): void {
    this.#secrets.tgk?.fill(0);
    this.#secrets.authKey?.fill(0);
    this.#secrets.dh?.wipe();
    delete this.#secrets.tgk;
    delete this.#secrets.authKey;
    delete this.#secrets.dh;
  }

  toJSON(): object {
    return { mode: this.mode, csbId: this.facts.csbId, localId: this.localId, peerId: this.facts.peerId, localAddr: this.localAddr, expiresAt: this.expiresAt };
  }

  [inspect.custom](): string {
    return `InitiatorState ${JSON.stringify(this.toJSON())}`;
  }
}

export function createOffer(opts: InitiatorOptions): { message: Uint8Array; state: InitiatorState } {
  const handler = MODE_HANDLERS[opts.mode];
  if (!handler) throw malformed(`unknown MIKEY mode ${String(opts.mode)}`);
  const nowMs = (opts.now ?? Date.now)();
  const csbId = opts.csbId ?? randomCsbId();
  const map = offerMap(opts.localAddr, opts.inboundSpi);
  const head = {
    hdr: hdr(handler.initDataType, csbId, map, true),
    t: tNow(nowMs),
    rand: { kind: 'rand' as const, rand: randomRand() },
    idi: idPayload(opts.localId),
    idr: idPayload(opts.peerId),
    sp: spPayload(opts.policy),
  };
  suiteOfPolicy(opts.policy);
  const codec = opts.codec ?? {};
  const { bytes, secrets } = handler.offer(head, opts.credentials, {
    codec,
    dhGroup: opts.dhGroup ?? DEFAULT_DH_GROUP,
    tgkLength: opts.tgkLength ?? DEFAULT_TGK_BYTES,
  });
  const facts: OfferFacts = { csbId, rand: head.rand.rand, idi: head.idi.id, idr: head.idr.id, tI: tValueBytes(head.t), peerId: opts.peerId };
  const state = new InitiatorState(opts.mode, facts, opts.localId, opts.localAddr, ipsecCsOf(map).cs, opts.policy, nowMs + (opts.stateTtlMs ?? DEFAULT_STATE_TTL_MS), codec, secrets);
  return { message: bytes, state };
}

export interface VerifyOptions {
  readonly credentials: Credentials;
  /** The responder's address as SIP saw it (its answer's source / SDP): docs/PROFILE.md §10. */
  readonly observedPeerAddr?: string;
  readonly now?: () => number;
  /**
   * Keep the state instead of wiping it: `on-failure`, a response that fails
   * leaves it as it was (the response came in a SIP 1xx, RFC 3261 §13.2.1,
   * which the 2xx repeats, and a forged 1xx must not spend the offer);
   * `always`, after success too (a 2xx from another fork than the 1xx's,
   * §13.2.2.4, carries another answer to the same offer): the caller wipes it.
   */
  readonly keep?: 'on-failure' | 'always';
}

/** The response's map must keep every field we sent and fill every placeholder. */
function checkCompletedMap(offered: readonly IpsecCs[], got: readonly IpsecCs[], family: 4 | 6): void {
  const any = unspecifiedOf(family);
  if (got.length !== offered.length) throw malformed(`response map has ${got.length} CS, we offered ${offered.length}`);
  offered.forEach((o, i) => {
    const g = got[i]!;
    const keep = (a: string | number, b: string | number, placeholder: string | number): boolean => (a === placeholder ? b !== placeholder : a === b);
    if (!keep(o.spi, g.spi, 0) || !keep(o.spiSrcaddr, g.spiSrcaddr, any) || !keep(o.spiDstaddr, g.spiDstaddr, any) || g.policyNo !== o.policyNo) {
      throw malformed(`response CS #${i + 1} does not complete the offered one`);
    }
  });
}

/**
 * docs/PROFILE.md §10, the initiator's NAT rule.
 * - We are behind a NAT: a responder that saw us elsewhere writes the
 *   address it saw where we wrote ours.  Allowed only when we offered NAT_T,
 *   and only as one consistent address; our own is put back (our kernel knows
 *   us by it) and we send the keepalives.
 * - The responder is behind one: its map address is a private one (RFC 1918
 *   / 6598) and SIP sees it at another (`observedPeer`, where its answer
 *   comes from / its SDP points): our SAs name it by the observed address
 *   (the NAT's), as the responder, told its public address, also
 *   encapsulates.
 * Either way both SAs get ESP-in-UDP with the offered ports.
 */
function natOfResponse(state: InitiatorState, got: readonly IpsecCs[], family: 4 | 6, observedPeer: string | undefined): { cs: readonly IpsecCs[]; encap?: PairEncap } {
  const seen = new Set<string>();
  const back = (offered: string | undefined, now: string): string => {
    if (offered !== state.localAddr || now === offered) return now;
    seen.add(now);
    return offered;
  };
  let cs: IpsecCs[] = got.map((g, i) => ({
    ...g,
    spiSrcaddr: back(state.offeredCs[i]?.spiSrcaddr, g.spiSrcaddr),
    spiDstaddr: back(state.offeredCs[i]?.spiDstaddr, g.spiDstaddr),
  }));
  const natT = state.policy.natT;
  if (seen.size > 0) {
    if (!natT) throw malformed('response replaces our address but we offered no NAT traversal');
    if (seen.size > 1 || seen.has(unspecifiedOf(family))) throw malformed('response replaces our address inconsistently');
  }
  const mapPeer = cs.flatMap((c) => [c.spiSrcaddr, c.spiDstaddr]).find((a) => a !== state.localAddr);
  const peerNated = natT !== undefined && family === 4 && observedPeer !== undefined && mapPeer !== undefined && observedPeer !== mapPeer && isIPv4(observedPeer) && isNatPrivateV4(mapPeer);
  if (peerNated) {
    const r = (a: string) => (a === mapPeer ? observedPeer : a);
    cs = cs.map((c) => ({ ...c, spiSrcaddr: r(c.spiSrcaddr), spiDstaddr: r(c.spiDstaddr) }));
  }
  if (!natT || (seen.size === 0 && !peerNated)) return { cs: got };
  return { cs, encap: { encapType: natT.encapType, localPort: natT.sport, peerPort: natT.dport, keepalives: seen.size > 0 } };
}

/**
 * Check the R_MESSAGE and derive the SAs.  An Error message from the peer
 * throws MikeyError with the peer's first Err no.  The state is wiped
 * (on failure too), unless `keep` says otherwise.
 */
export function verifyResponse(state: InitiatorState, response: Uint8Array, opts: VerifyOptions): ExchangeResult {
  let verified = false;
  try {
    const nowMs = (opts.now ?? Date.now)();
    if (state.expired(nowMs)) throw new MikeyError(ErrNo.UNSPECIFIED, 'offer state expired');
    const msg = decodeMessage(response, state.codec);
    const handler = MODE_HANDLERS[state.mode];
    if (msg.hdr.dataType === DataType.ERROR) {
      const err = msg.payloads.find((p) => p.kind === 'err');
      throw new MikeyError(err?.kind === 'err' ? err.errNo : ErrNo.UNSPECIFIED, 'the responder answered with a MIKEY error message');
    }
    if (msg.hdr.dataType !== handler.respDataType) throw new MikeyError(ErrNo.INVALID_DT, `data type ${msg.hdr.dataType} is not a ${state.mode} response`);
    if (msg.hdr.csbId !== state.facts.csbId) throw malformed('response CSB ID differs from the offer');
    // RFC 3830 §5.2: "The Responder does not create a new timestamp, but uses the timestamp used by the Initiator."
    if (Buffer.compare(tValueBytes(required(msg, 't')), state.facts.tI) !== 0) {
      throw new MikeyError(ErrNo.INVALID_TS, "response T is not our offer's timestamp");
    }
    const { cs, family } = ipsecCsOf(msg.hdr.csIdMap);
    if (family !== familyOf(state.localAddr)) throw malformed('response map family differs from the offer');
    const tgk = handler.verify(response, msg, state.facts, state.secrets, opts.credentials, nowMs);
    try {
      checkIdentity(idText(responderId(msg)), state.facts.peerId, 'IDr');
      const nat = natOfResponse(state, cs, family, opts.observedPeerAddr);
      checkCompletedMap(state.offeredCs, nat.cs, family);
      const result = deriveExchangeResult({
        mikeyMode: state.mode,
        tgk,
        csbId: state.facts.csbId,
        rand: state.facts.rand,
        cs: nat.cs,
        family,
        localAddr: state.localAddr,
        localId: state.localId,
        peerId: state.facts.peerId,
        policy: state.policy,
        negotiated: suiteOfPolicy(state.policy),
        ...(nat.encap ? { encap: nat.encap } : {}),
      });
      verified = true;
      return result;
    } finally {
      tgk.fill(0);
    }
  } finally {
    if (opts.keep !== 'always' && (verified || opts.keep !== 'on-failure')) state.wipe();
  }
}

// --- the CLI's state file ----------------------------------------------------

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: unknown): Uint8Array => {
  if (typeof s !== 'string' || !/^([0-9a-f]{2})*$/.test(s)) throw malformed('state file: bad hex field');
  return new Uint8Array(Buffer.from(s, 'hex'));
};

/**
 * JSON of the whole state INCLUDING its secrets (TGK or DH private value,
 * MAC key): write it only to a file created with mode 0600, delete it after
 * use.  The daemon keeps states in memory and never calls this.
 */
export function serializeState(state: InitiatorState): string {
  const s = state.secrets;
  return JSON.stringify({
    v: 1,
    mode: state.mode,
    localId: state.localId,
    localAddr: state.localAddr,
    peerId: state.facts.peerId,
    csbId: state.facts.csbId,
    rand: hex(state.facts.rand),
    idi: hex(state.facts.idi),
    idr: hex(state.facts.idr),
    tI: hex(state.facts.tI),
    offeredCs: state.offeredCs,
    policy: hex(Uint8Array.from(ipsecPolicyToParams(state.policy).flatMap((p) => [p.type, p.value.length, ...p.value]))),
    expiresAt: state.expiresAt,
    codec: state.codec,
    secrets: {
      ...(s.tgk ? { tgk: hex(s.tgk) } : {}),
      ...(s.authKey ? { authKey: hex(s.authKey) } : {}),
      ...(s.dh ? { dhGroup: s.dh.group, dhPrivate: hex(s.dh.exportPrivateKey()), dhPublic: hex(s.dh.publicValue) } : {}),
    },
  });
}

export function restoreState(json: string): InitiatorState {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw malformed('state file is not JSON');
  }
  if (o.v !== 1 || !MIKEY_MODES.includes(o.mode as MikeyMode)) throw malformed('state file has an unknown shape');
  const str = (k: string): string => {
    if (typeof o[k] !== 'string') throw malformed(`state file: ${k} missing`);
    return o[k] as string;
  };
  const num = (k: string): number => {
    if (typeof o[k] !== 'number') throw malformed(`state file: ${k} missing`);
    return o[k] as number;
  };
  const raw = unhex(o.policy);
  const params = [];
  for (let i = 0; i + 2 <= raw.length; i += 2 + raw[i + 1]!) params.push({ type: raw[i]!, value: raw.slice(i + 2, i + 2 + raw[i + 1]!) });
  const sec = (o.secrets ?? {}) as Record<string, unknown>;
  const secrets: OfferSecrets = {
    ...(sec.tgk !== undefined ? { tgk: unhex(sec.tgk) } : {}),
    ...(sec.authKey !== undefined ? { authKey: unhex(sec.authKey) } : {}),
    ...(sec.dhPrivate !== undefined
      ? { dh: new DhKeyPair(sec.dhGroup as OakleyGroup, { privateKey: unhex(sec.dhPrivate), publicValue: unhex(sec.dhPublic) }) }
      : {}),
  };
  const facts: OfferFacts = { csbId: num('csbId'), rand: unhex(o.rand), idi: unhex(o.idi), idr: unhex(o.idr), tI: unhex(o.tI), peerId: str('peerId') };
  if (!Array.isArray(o.offeredCs)) throw malformed('state file: offeredCs missing');
  return new InitiatorState(o.mode as MikeyMode, facts, str('localId'), str('localAddr'), o.offeredCs as IpsecCs[], ipsecPolicyFromParams(params), num('expiresAt'), (o.codec ?? {}) as CodecOptions, secrets);
}
