/**
 * The kernel IPsec interface: the only way the rest of sipsec touches the
 * kernel's SAD/SPD.  One narrow interface (after the idea of strongSwan's
 * kernel_ipsec.h) so that the XFRM netlink backend, a PF_KEY backend or a test
 * double can stand behind it.
 *
 * Addresses are strings ('10.0.0.1', 'fd00::1'); prefixes are 'addr/len' (a
 * bare address means a host prefix).  SPIs are host numbers (1..2^32-1, >= 256).
 * Every entry sipsec creates carries a reqid in the owned range
 * (OWNED_REQID_BASE..OWNED_REQID_BASE+0xffffff); `flushOwned` removes exactly
 * those.
 */
import type { SuiteName } from './algorithms.js';

export const OWNED_REQID_BASE = 0x5e000000;
export const OWNED_REQID_MASK = 0xff000000;

/** The reqid numbered `n` (0..0xffffff) in the owned range. */
export function ownedReqid(n: number): number {
  return (OWNED_REQID_BASE | (n & 0xffffff)) >>> 0;
}

export function isOwnedReqid(reqid: number): boolean {
  return ((reqid & OWNED_REQID_MASK) >>> 0) === OWNED_REQID_BASE;
}

export type IpsecProto = 'esp';
export type IpsecMode = 'transport' | 'tunnel';
export type PolicyDir = 'in' | 'out' | 'fwd';
export type PolicyAction = 'allow' | 'block';
/** Upper-layer protocol of a selector: a name or an IP protocol number. */
export type UpperProto = 'any' | 'icmp' | 'tcp' | 'udp' | 'icmpv6' | number;

/** Key material.  For AEAD suites `encKey` is key ‖ 4-byte salt. */
export interface SaKeys {
  encKey: Uint8Array;
  /** Absent (or empty) for AEAD suites. */
  authKey?: Uint8Array;
}

/** Lifetimes; omitted fields mean "no limit".  Seconds count from add time. */
export interface SaLifetimes {
  softSeconds?: number;
  hardSeconds?: number;
  softBytes?: bigint;
  hardBytes?: bigint;
  softPackets?: bigint;
  hardPackets?: bigint;
}

/** UDP encapsulation of ESP, RFC 3948. */
export interface UdpEncap {
  sport: number;
  dport: number;
  /** Original (pre-NAT) peer address, for transport-mode checksum fix-up. */
  originalAddress?: string;
}

export interface XfrmMark {
  value: number;
  mask: number;
}

/** Identity of an SA: (destination, SPI, protocol) [+ mark]. */
export interface SaId {
  dst: string;
  spi: number;
  proto: IpsecProto;
  mark?: XfrmMark;
}

export interface SaSpec extends SaId {
  src: string;
  mode: IpsecMode;
  reqid: number;
  suite: SuiteName;
  keys: SaKeys;
  /** Anti-replay window in packets (0..255 here; default 32). */
  replayWindow?: number;
  lifetimes?: SaLifetimes;
  encap?: UdpEncap;
}

export interface SaCounters {
  bytes: bigint;
  packets: bigint;
  /** Seconds since the epoch. */
  addTime: number;
  /** Seconds since the epoch; 0 if never used. */
  useTime: number;
}

/** An SA as read back from the kernel.  `keys` only when asked for. */
export interface SaInfo {
  id: SaId;
  src: string;
  mode: IpsecMode;
  reqid: number;
  /** undefined when the kernel SA uses algorithms outside our table. */
  suite: SuiteName | undefined;
  algorithms: { aead?: string; crypt?: string; auth?: string };
  replayWindow: number;
  lifetimes: SaLifetimes;
  counters: SaCounters;
  stats: { replay: number; replayWindow: number; integrityFailed: number };
  encap?: UdpEncap;
  owned: boolean;
  /** Only with getSa(..., { withKeys: true }); non-enumerable (never in JSON/inspect). */
  keys?: SaKeys;
}

export interface Selector {
  src: string;
  dst: string;
  proto?: UpperProto;
  srcPort?: number;
  dstPort?: number;
}

export interface PolicyTemplate {
  proto: IpsecProto;
  mode: IpsecMode;
  /** SA endpoints: required in tunnel mode, optional in transport mode. */
  src?: string;
  dst?: string;
  /** Pin the SA: put the SPI in OUT templates (or the kernel picks the newest SA). */
  spi?: number;
  /** Optional templates (level "use") do not drop packets lacking them. */
  optional?: boolean;
}

export interface PolicySpec {
  selector: Selector;
  dir: PolicyDir;
  action: PolicyAction;
  /** Required when action is 'allow'. */
  template?: PolicyTemplate;
  /** Kernel order: the lower value wins.  Default 1000. */
  priority?: number;
  /** Owned-range reqid, carried by the template (tags the policy as ours). */
  reqid: number;
  mark?: XfrmMark;
}

export interface PolicyInfo {
  selector: Selector;
  dir: PolicyDir;
  action: PolicyAction;
  priority: number;
  index: number;
  templates: (PolicyTemplate & { reqid: number })[];
  mark?: XfrmMark;
  owned: boolean;
}

export interface AllocSpiRequest {
  src: string;
  dst: string;
  proto: IpsecProto;
  reqid?: number;
  /** Range to pick from; default 0x100..0xffffffff. */
  min?: number;
  max?: number;
  mark?: XfrmMark;
}

/** A peer's whole set: its SA pair and the policies that use it. */
export interface PeerInstall {
  out: SaSpec;
  in: SaSpec;
  /** The inbound SPI came from allocSpi: complete it (update) rather than add it. */
  inViaUpdate?: boolean;
  policies: readonly PolicySpec[];
}

/** What the kernel tells us without being asked. */
export type KernelEvent =
  | { type: 'expire'; hard: boolean; sa: SaId; src: string; reqid: number; owned: boolean }
  | {
      type: 'acquire';
      /** Kernel's acquire sequence number. */
      seq: number;
      src: string;
      dst: string;
      selector: Selector;
      dir: PolicyDir;
      reqid: number;
      owned: boolean;
    }
  /**
   * XFRM_MSG_MAPPING (docs/PROFILE.md §10): an ESP-in-UDP packet decrypted by
   * the inbound SA `sa` came from `newSrc`:`newPort`, not from the SA's
   * `oldSrc`:`oldPort` (its saddr and encap sport): the NAT in front of the
   * peer rebound.  The kernel accepted the packet; it sends one such event per
   * packet until the SA is updated.
   */
  | { type: 'mapping'; sa: SaId; reqid: number; owned: boolean; oldSrc: string; newSrc: string; oldPort: number; newPort: number }
  /** Events were lost (ENOBUFS): re-read state with listSas/listPolicies. */
  | { type: 'resync' };

export interface KernelIpsec {
  /** Reserve an SPI for an inbound SA (a larval SA the kernel drops after ~30 s). */
  allocSpi(req: AllocSpiRequest): Promise<number>;
  addSa(spec: SaSpec): Promise<void>;
  /** Complete an SA whose SPI came from allocSpi; falls back to add on ESRCH. */
  updateSa(spec: SaSpec): Promise<void>;
  deleteSa(id: SaId): Promise<void>;
  getSa(id: SaId, opts?: { withKeys?: boolean }): Promise<SaInfo>;
  /** All SAs of the namespace (ours and others'), never with keys. */
  listSas(): Promise<SaInfo[]>;
  addPolicy(spec: PolicySpec): Promise<void>;
  /** Replace the policy of the same selector and direction (e.g. point OUT at a new SPI: rekey). */
  updatePolicy(spec: PolicySpec): Promise<void>;
  deletePolicy(selector: Selector, dir: PolicyDir, mark?: XfrmMark): Promise<void>;
  listPolicies(): Promise<PolicyInfo[]>;
  /**
   * Install an SA pair: the inbound SA first (with `updateSa` when its SPI came
   * from allocSpi: `inViaUpdate`), then the outbound one; if the outbound SA
   * fails the inbound one is deleted again and the error rethrown.
   */
  installPair(out: SaSpec, inb: SaSpec, opts?: { inViaUpdate?: boolean }): Promise<void>;
  /**
   * Install a peer's whole set in one go: the inbound SA (updated when
   * `inViaUpdate`), the outbound SA, then the policies.  All or nothing: on
   * any refusal the parts that went in are removed again (with the reserved
   * inbound SPI), so the kernel keeps no half-installed pair and no orphan
   * policy, and others' entries are never touched.  The error names every
   * refused part (KernelBatchError when several), with the kernel's text.
   */
  installPeer(set: PeerInstall): Promise<void>;
  /** Delete every SA and policy tagged as ours; never others'. */
  flushOwned(): Promise<{ sas: number; policies: number }>;
  /** Expire / acquire / mapping / resync events; one subscriber stream per call. */
  events(): AsyncIterableIterator<KernelEvent>;
  close(): Promise<void>;
}
