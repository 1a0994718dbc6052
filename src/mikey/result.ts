/**
 * The outcome of a completed MIKEY exchange: a plain description of the ESP
 * SAs (and so the SPD policies) the kernel interface installs, with their
 * keys derived per crypto session (seed 003 §5.1, REFERENCE.md §2):
 *
 *   encr key = PRF(TGK, 0x15798CEF || cs_id || CSB_ID || RAND, EKEYL)
 *   auth key = PRF(TGK, 0x1B5C7973 || cs_id || CSB_ID || RAND, AKEYL)
 *   AEAD (AES-GCM, RFC 4106 §8.1): encr key = key || 4-byte salt, the key
 *     from the encr constant (EKEYL - 4 bytes), the salt from the §4.1.3
 *     salting constant 0x39A2C14B (4 bytes): docs/PROFILE.md.
 *
 * cs_id is the 1-based index of the CS in the HDR's IPSEC4-ID/IPSEC6-ID map;
 * each CS is one SA: 'in' when its destination is the local address, 'out'
 * when its source is.
 *
 * Secrets: `encKey`/`authKey` are the caller's to use and then wipe with
 * `result.wipe()` (after the SAs are installed).  JSON.stringify and
 * util.inspect of a result or an SA show "<n bytes redacted>" instead.
 */
import { inspect } from 'node:util';
import type { AlgorithmSuite, SuiteName } from '../kernel/algorithms.js';
import type { IpsecMode, SaLifetimes } from '../kernel/types.js';
import { type IpsecCs } from './csidmap.js';
import { malformed } from './errors.js';
import { KeyConst, deriveEspKeys, deriveFromTgk, type Inkey } from './keys.js';
import { PrfKey } from './prf.js';
import type { NegotiatedPolicy } from './negotiate.js';
import type { IpsecPolicy, NatTraversal, TrafficSelector } from './sp.js';

export type MikeyMode = 'psk' | 'pke' | 'dh' | 'dhhmac';
export const MIKEY_MODES: readonly MikeyMode[] = ['psk', 'pke', 'dh', 'dhhmac'];

/** Replay window (packets) when the policy names none. */
export const DEFAULT_REPLAY_WINDOW = 32;
/** RFC 4106 §8.1: the AES-GCM key is followed by a 4-byte salt. */
const GCM_SALT_BYTES = 4;

export interface SaDescription {
  /** 1-based index in the CS ID map. */
  readonly csId: number;
  readonly direction: 'in' | 'out';
  readonly spi: number;
  readonly src: string;
  readonly dst: string;
  readonly suite: SuiteName;
  /** EKEYL bytes; for AEAD suites key || 4-byte salt. */
  readonly encKey: Uint8Array;
  /** AKEYL bytes; empty for AEAD suites. */
  readonly authKey: Uint8Array;
  readonly mode: IpsecMode;
  readonly lifetimes: SaLifetimes;
  readonly replayWindow: number;
  readonly encap?: NatTraversal;
  readonly selectors?: TrafficSelector;
}

export interface ExchangeResult {
  readonly mikeyMode: MikeyMode;
  readonly csbId: number;
  readonly localId: string;
  readonly peerId: string;
  readonly family: 4 | 6;
  readonly localAddr: string;
  readonly peerAddr: string;
  readonly policy: IpsecPolicy;
  readonly sas: readonly SaDescription[];
  /** The SAs are UDP-encapsulated and we are behind the NAT: keep its mapping open (docs/PROFILE.md §10). */
  readonly natKeepalives: boolean;
  /** Zero every key buffer of every SA. */
  wipe(): void;
}

export interface ResultInput {
  readonly mikeyMode: MikeyMode;
  readonly tgk: Uint8Array;
  readonly csbId: number;
  readonly rand: Uint8Array;
  /** The completed map (no placeholders left). */
  readonly cs: readonly IpsecCs[];
  readonly family: 4 | 6;
  readonly localAddr: string;
  readonly localId: string;
  readonly peerId: string;
  readonly policy: IpsecPolicy;
  readonly negotiated: NegotiatedPolicy;
  /**
   * UDP encapsulation (RFC 3948) of both SAs, decided by the NAT rule of
   * docs/PROFILE.md §NAT (not by the mere presence of NAT_T in the policy):
   * our port and the peer's.
   */
  readonly encap?: PairEncap;
}

/** ESP-in-UDP ports of a pair seen from us; each SA's `encap` is oriented from them. */
export interface PairEncap {
  readonly encapType: number;
  readonly localPort: number;
  readonly peerPort: number;
  /** We are behind the NAT: we send the RFC 3948 keepalives that keep its mapping open. */
  readonly keepalives: boolean;
}

/** The kernel's encap template of one SA: sport is where its packets come from. */
function orientEncap(e: PairEncap, direction: 'in' | 'out'): NatTraversal {
  return direction === 'out'
    ? { encapType: e.encapType, sport: e.localPort, dport: e.peerPort }
    : { encapType: e.encapType, sport: e.peerPort, dport: e.localPort };
}

function redactedSa(sa: SaDescription): object {
  const lifetimes = Object.fromEntries(Object.entries(sa.lifetimes).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]));
  return { ...sa, lifetimes, encKey: `<${sa.encKey.length} bytes redacted>`, authKey: `<${sa.authKey.length} bytes redacted>` };
}

function protect<T extends object>(obj: T, view: () => object): T {
  Object.defineProperty(obj, 'toJSON', { value: view, enumerable: false });
  Object.defineProperty(obj, inspect.custom, { value: view, enumerable: false });
  return obj;
}

/** The ESP keys of crypto session `csId` for `suite` lengths (AEAD: key || salt). */
/**
 * The ESP keys of crypto session `csId` for `suite` (docs/PROFILE.md §6, §9):
 * for AES-GCM the RFC 4106 key ‖ salt, the salt from the salting constant;
 * otherwise the encryption and authentication keys of seed 003.
 */
export function deriveSuiteKeys(
  suite: Pick<AlgorithmSuite, 'aead' | 'encKeyBytes' | 'authKeyBytes'>,
  tgk: Inkey,
  csId: number,
  csbId: number,
  rand: Uint8Array,
): { encKey: Uint8Array; authKey: Uint8Array } {
  if (!suite.aead) {
    const k = deriveEspKeys(tgk, csId, csbId, rand, suite.encKeyBytes, suite.authKeyBytes);
    return { encKey: k.encrKey, authKey: k.authKey };
  }
  const key = deriveFromTgk(tgk, KeyConst.TEK_ENCR, csId, csbId, rand, suite.encKeyBytes - GCM_SALT_BYTES);
  const salt = deriveFromTgk(tgk, KeyConst.TEK_SALT, csId, csbId, rand, GCM_SALT_BYTES);
  const encKey = new Uint8Array(suite.encKeyBytes);
  encKey.set(key);
  encKey.set(salt, key.length);
  key.fill(0);
  salt.fill(0);
  return { encKey, authKey: new Uint8Array(0) };
}

function lifetimesOf(p: IpsecPolicy): SaLifetimes {
  return {
    ...(p.softLifetimeSeconds !== undefined ? { softSeconds: p.softLifetimeSeconds } : {}),
    ...(p.hardLifetimeSeconds !== undefined ? { hardSeconds: p.hardLifetimeSeconds } : {}),
    ...(p.softLifetimeBytes !== undefined ? { softBytes: p.softLifetimeBytes } : {}),
    ...(p.hardLifetimeBytes !== undefined ? { hardBytes: p.hardLifetimeBytes } : {}),
  };
}

/** One SA per CS of the completed map, keys derived from the TGK.  The caller still owns (and wipes) `tgk`. */
export function deriveExchangeResult(input: ResultInput): ExchangeResult {
  const tgk = new PrfKey(input.tgk);
  try {
    return describeSas(input, tgk);
  } finally {
    tgk.wipe();
  }
}

function describeSas(input: ResultInput, tgk: PrfKey): ExchangeResult {
  let peerAddr: string | undefined;
  const sas = input.cs.map((cs, i): SaDescription => {
    const csId = i + 1;
    const isIn = cs.spiDstaddr === input.localAddr;
    const isOut = cs.spiSrcaddr === input.localAddr;
    if (isIn === isOut) throw malformed(`CS #${csId}: exactly one of its addresses must be the local address ${input.localAddr}`);
    peerAddr ??= isIn ? cs.spiSrcaddr : cs.spiDstaddr;
    const p = input.policy;
    const sa: SaDescription = {
      csId,
      direction: isIn ? 'in' : 'out',
      spi: cs.spi,
      src: cs.spiSrcaddr,
      dst: cs.spiDstaddr,
      suite: input.negotiated.suite.name,
      ...deriveSuiteKeys(input.negotiated.suite, tgk, csId, input.csbId, input.rand),
      mode: input.negotiated.mode,
      lifetimes: lifetimesOf(p),
      replayWindow: p.replayWindow ?? DEFAULT_REPLAY_WINDOW,
      ...(input.encap ? { encap: orientEncap(input.encap, isIn ? 'in' : 'out') } : {}),
      ...(p.trafficSelector ? { selectors: p.trafficSelector } : {}),
    };
    return protect(sa, () => redactedSa(sa));
  });
  if (peerAddr === undefined) throw malformed('CS ID map has no crypto session');
  const result: ExchangeResult = {
    mikeyMode: input.mikeyMode,
    csbId: input.csbId,
    localId: input.localId,
    peerId: input.peerId,
    family: input.family,
    localAddr: input.localAddr,
    peerAddr,
    policy: input.policy,
    sas,
    natKeepalives: input.encap?.keepalives ?? false,
    wipe(): void {
      for (const sa of sas) {
        sa.encKey.fill(0);
        sa.authKey.fill(0);
      }
    },
  };
  const policyView = Object.fromEntries(Object.entries(input.policy).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]));
  return protect(result, () => ({ ...result, policy: policyView, sas: sas.map(redactedSa) }));
}
