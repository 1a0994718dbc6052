/**
 * Security Policy parameters (RFC 3830 §6.10): what the policy param types
 * mean for each protocol type, their validation, and a typed view of the
 * IPsec policy (seed 003 §5.1.2 plus our extensions, docs/PROFILE.md).
 *
 * The SP payload codec (payloads/sp.ts) keeps params as raw type/value pairs
 * and calls `validateSpParams`; mode code uses `ipsecPolicyFromParams` /
 * `ipsecPolicyToParams` to go between the raw list and `IpsecPolicy`.
 */
import { ErrNo, MikeyError } from './errors.js';

/** RFC 3830 §6.10 Prot type; 7 = IPSEC (seed 003 "IPSEC4"), family-neutral here. */
export const SpProtType = { SRTP: 0, IPSEC: 7 } as const;
export type SpProtType = (typeof SpProtType)[keyof typeof SpProtType];

/** RFC 3830 §6.10.1 SRTP policy param types. */
export const SrtpParam = {
  ENCR_ALG: 0,
  SESSION_ENCR_KEY_LEN: 1,
  AUTH_ALG: 2,
  SESSION_AUTH_KEY_LEN: 3,
  SESSION_SALT_KEY_LEN: 4,
  SRTP_PRF: 5,
  KEY_DERIVATION_RATE: 6,
  SRTP_ENCR: 7,
  SRTCP_ENCR: 8,
  FEC_ORDER: 9,
  SRTP_AUTH: 10,
  AUTH_TAG_LEN: 11,
  SRTP_PREFIX_LEN: 12,
} as const;

/**
 * IPsec policy param types: 0-6 from seed 003 §5.1.2 (RFC 2367 values),
 * 20 and up are ours (docs/PROFILE.md).
 */
export const IpsecParam = {
  SATYPE: 0,
  MODE: 1,
  FLAGS: 2,
  EALG: 3,
  EKEYL: 4,
  AALG: 5,
  AKEYL: 6,
  SOFT_LIFETIME_SECONDS: 20,
  HARD_LIFETIME_SECONDS: 21,
  SOFT_LIFETIME_BYTES: 22,
  HARD_LIFETIME_BYTES: 23,
  REPLAY_WINDOW: 24,
  NAT_T: 25,
  TRAFFIC_SELECTOR: 26,
} as const;

export interface SpParam {
  readonly type: number;
  readonly value: Uint8Array;
}

/** Allowed value lengths per IPsec param type (0-6: minisip used 1 byte; up to 4 accepted). */
const IPSEC_LENGTHS: Record<number, readonly number[]> = {
  [IpsecParam.SATYPE]: [1, 2, 4],
  [IpsecParam.MODE]: [1, 2, 4],
  [IpsecParam.FLAGS]: [1, 2, 4],
  [IpsecParam.EALG]: [1, 2, 4],
  [IpsecParam.EKEYL]: [1, 2, 4],
  [IpsecParam.AALG]: [1, 2, 4],
  [IpsecParam.AKEYL]: [1, 2, 4],
  [IpsecParam.SOFT_LIFETIME_SECONDS]: [4],
  [IpsecParam.HARD_LIFETIME_SECONDS]: [4],
  [IpsecParam.SOFT_LIFETIME_BYTES]: [8],
  [IpsecParam.HARD_LIFETIME_BYTES]: [8],
  [IpsecParam.REPLAY_WINDOW]: [4],
  [IpsecParam.NAT_T]: [5],
  [IpsecParam.TRAFFIC_SELECTOR]: [9],
};

const badParam = (detail: string): MikeyError => new MikeyError(ErrNo.INVALID_SPPAR, detail);

/** Unknown prot type → INVALID_SP; unknown, duplicated or mis-sized param → INVALID_SPPAR. */
export function validateSpParams(protType: number, params: readonly SpParam[]): void {
  if (protType !== SpProtType.SRTP && protType !== SpProtType.IPSEC) {
    throw new MikeyError(ErrNo.INVALID_SP, `unknown SP protocol type ${protType}`);
  }
  const seen = new Set<number>();
  for (const p of params) {
    if (seen.has(p.type)) throw badParam(`SP param type ${p.type} repeated`);
    seen.add(p.type);
    if (protType === SpProtType.SRTP) {
      if (p.type > SrtpParam.SRTP_PREFIX_LEN) throw badParam(`unknown SRTP policy param type ${p.type}`);
    } else {
      const lens = IPSEC_LENGTHS[p.type];
      if (!lens) throw badParam(`unknown IPsec policy param type ${p.type}`);
      if (!lens.includes(p.value.length)) throw badParam(`IPsec policy param ${p.type}: bad length ${p.value.length}`);
    }
  }
}

/** Linux UDP_ENCAP_ESPINUDP: RFC 3948 ESP-in-UDP, the one NAT_T encap type we run. */
export const UDP_ENCAP_ESPINUDP = 2;

/** RFC 3948 UDP encapsulation for NAT traversal. */
export interface NatTraversal {
  /** Linux UDP_ENCAP_* value: 1 ESPINUDP_NON_IKE, 2 ESPINUDP (RFC 3948). */
  readonly encapType: number;
  readonly sport: number;
  readonly dport: number;
}

/** Traffic selector; protocol 0 = any, port range 0-65535 = any. */
export interface TrafficSelector {
  readonly protocol: number;
  readonly srcPortLow: number;
  readonly srcPortHigh: number;
  readonly dstPortLow: number;
  readonly dstPortHigh: number;
}

/** Typed IPsec policy (RFC 2367 numbers kept as numbers). Absent fields were not sent. */
export interface IpsecPolicy {
  readonly satype?: number;
  readonly mode?: number;
  readonly flags?: number;
  readonly ealg?: number;
  /** Encryption key length in bytes. */
  readonly ekeyl?: number;
  readonly aalg?: number;
  /** Authentication key length in bytes. */
  readonly akeyl?: number;
  readonly softLifetimeSeconds?: number;
  readonly hardLifetimeSeconds?: number;
  readonly softLifetimeBytes?: bigint;
  readonly hardLifetimeBytes?: bigint;
  readonly replayWindow?: number;
  readonly natT?: NatTraversal;
  readonly trafficSelector?: TrafficSelector;
}

const NUMERIC: ReadonlyArray<readonly [keyof IpsecPolicy, number]> = [
  ['satype', IpsecParam.SATYPE],
  ['mode', IpsecParam.MODE],
  ['flags', IpsecParam.FLAGS],
  ['ealg', IpsecParam.EALG],
  ['ekeyl', IpsecParam.EKEYL],
  ['aalg', IpsecParam.AALG],
  ['akeyl', IpsecParam.AKEYL],
  ['softLifetimeSeconds', IpsecParam.SOFT_LIFETIME_SECONDS],
  ['hardLifetimeSeconds', IpsecParam.HARD_LIFETIME_SECONDS],
  ['replayWindow', IpsecParam.REPLAY_WINDOW],
];

const be = (v: Uint8Array): bigint => v.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
const toBe = (v: bigint, len: number): Uint8Array => {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
};
const u16At = (v: Uint8Array, i: number): number => (v[i]! << 8) | v[i + 1]!;

/** Raw IPsec SP params → typed policy (validates first). */
export function ipsecPolicyFromParams(params: readonly SpParam[]): IpsecPolicy {
  validateSpParams(SpProtType.IPSEC, params);
  const out: Record<string, unknown> = {};
  for (const p of params) {
    const numeric = NUMERIC.find(([, t]) => t === p.type);
    if (numeric) out[numeric[0]] = Number(be(p.value));
    else if (p.type === IpsecParam.SOFT_LIFETIME_BYTES) out.softLifetimeBytes = be(p.value);
    else if (p.type === IpsecParam.HARD_LIFETIME_BYTES) out.hardLifetimeBytes = be(p.value);
    else if (p.type === IpsecParam.NAT_T) out.natT = { encapType: p.value[0]!, sport: u16At(p.value, 1), dport: u16At(p.value, 3) };
    else if (p.type === IpsecParam.TRAFFIC_SELECTOR) {
      const v = p.value;
      out.trafficSelector = { protocol: v[0]!, srcPortLow: u16At(v, 1), srcPortHigh: u16At(v, 3), dstPortLow: u16At(v, 5), dstPortHigh: u16At(v, 7) };
    }
  }
  return out as IpsecPolicy;
}

/** Typed policy → raw params, in type order; 0-6 as 1 byte when < 256 (as minisip), else 2 or 4. */
export function ipsecPolicyToParams(policy: IpsecPolicy): SpParam[] {
  const out: SpParam[] = [];
  const u = (v: number, what: string, max: number): bigint => {
    if (!Number.isInteger(v) || v < 0 || v > max) throw badParam(`${what} ${v} out of range`);
    return BigInt(v);
  };
  for (const v of [policy.softLifetimeBytes, policy.hardLifetimeBytes]) {
    if (v !== undefined && (v < 0n || v > 0xffffffffffffffffn)) throw badParam('lifetime bytes out of 64-bit range');
  }
  for (const [key, type] of NUMERIC) {
    const v = policy[key] as number | undefined;
    if (v === undefined) continue;
    const n = u(v, key, 0xffffffff);
    const len = type >= 20 ? 4 : n < 0x100n ? 1 : n < 0x10000n ? 2 : 4;
    out.push({ type, value: toBe(n, len) });
  }
  if (policy.softLifetimeBytes !== undefined) out.push({ type: IpsecParam.SOFT_LIFETIME_BYTES, value: toBe(policy.softLifetimeBytes, 8) });
  if (policy.hardLifetimeBytes !== undefined) out.push({ type: IpsecParam.HARD_LIFETIME_BYTES, value: toBe(policy.hardLifetimeBytes, 8) });
  if (policy.natT) {
    const n = policy.natT;
    const v = new Uint8Array(5);
    v[0] = Number(u(n.encapType, 'encapType', 0xff));
    v.set(toBe(u(n.sport, 'sport', 0xffff), 2), 1);
    v.set(toBe(u(n.dport, 'dport', 0xffff), 2), 3);
    out.push({ type: IpsecParam.NAT_T, value: v });
  }
  if (policy.trafficSelector) {
    const t = policy.trafficSelector;
    const v = new Uint8Array(9);
    v[0] = Number(u(t.protocol, 'protocol', 0xff));
    [t.srcPortLow, t.srcPortHigh, t.dstPortLow, t.dstPortHigh].forEach((p, i) => v.set(toBe(u(p, 'port', 0xffff), 2), 1 + 2 * i));
    out.push({ type: IpsecParam.TRAFFIC_SELECTOR, value: v });
  }
  return out.sort((a, b) => a.type - b.type);
}
