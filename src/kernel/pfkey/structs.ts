/**
 * PF_KEY v2 (RFC 2367) base header and extensions <-> plain values.  Pure:
 * bytes in, values out; every length is checked.  Offsets come from
 * ./layout.ts (checked against gcc).  Integers are host order (little-endian
 * on x86_64) except those RFC 2367 puts in network order: sadb_sa_spi, the
 * ports inside sockaddrs and sadb_x_nat_t_port_port.  Lengths in sadb_msg_len
 * and every sadb_*_len count 64-bit words (§2.2); every extension is padded to
 * a multiple of 8 bytes.
 */
import { LAYOUT as L } from './layout.js';

export const PF_KEY_V2 = 2;

/** Message types (RFC 2367 §2.1 / <linux/pfkeyv2.h>). */
export const SADB = {
  GETSPI: 1,
  UPDATE: 2,
  ADD: 3,
  DELETE: 4,
  GET: 5,
  ACQUIRE: 6,
  REGISTER: 7,
  EXPIRE: 8,
  DUMP: 10,
  X_SPDUPDATE: 13,
  X_SPDADD: 14,
  X_SPDDELETE: 15,
  X_SPDGET: 16,
  X_SPDDUMP: 18,
  X_SPDDELETE2: 22,
} as const;

/** Extension types (RFC 2367 §2.3 + KAME/Linux SADB_X_EXT_*). */
export const SADB_EXT = {
  SA: 1,
  LIFETIME_CURRENT: 2,
  LIFETIME_HARD: 3,
  LIFETIME_SOFT: 4,
  ADDRESS_SRC: 5,
  ADDRESS_DST: 6,
  KEY_AUTH: 8,
  KEY_ENCRYPT: 9,
  PROPOSAL: 13,
  SPIRANGE: 16,
  X_POLICY: 18,
  X_SA2: 19,
  X_NAT_T_TYPE: 20,
  X_NAT_T_SPORT: 21,
  X_NAT_T_DPORT: 22,
  X_NAT_T_OA: 23,
} as const;
export const SADB_EXT_MAX = 26;

export const SADB_SATYPE_UNSPEC = 0;
export const SADB_SATYPE_ESP = 3;
export const SADB_SASTATE_MATURE = 1;
/** <linux/ipsec.h> */
export const IPSEC_MODE = { ANY: 0, TRANSPORT: 1, TUNNEL: 2 } as const;
export const IPSEC_DIR = { INBOUND: 1, OUTBOUND: 2, FWD: 3 } as const;
export const IPSEC_POLICY = { DISCARD: 0, NONE: 1, IPSEC: 2 } as const;
export const IPSEC_LEVEL = { DEFAULT: 0, USE: 1, REQUIRE: 2, UNIQUE: 3 } as const;
/** sadb_address_proto "any upper-layer protocol" (KAME). */
export const IPSEC_PROTO_ANY = 255;
/** Largest reqid Linux af_key takes from an ipsecrequest (larger ones are replaced by a generated one). */
export const IPSEC_MANUAL_REQID_MAX = 0x3fff;
export const IPPROTO_ESP = 50;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const UDP_ENCAP_ESPINUDP = 2;

/** A PF_KEY message or extension we could not decode (truncated or inconsistent). */
export class PfkeyDecodeError extends Error {
  override readonly name = 'PfkeyDecodeError';
  constructor(readonly detail: string) {
    super(`malformed PF_KEY message: ${detail}`);
  }
}

const pad8 = (n: number): number => (n + 7) & ~7;

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function need(b: Uint8Array, size: number, what: string): void {
  if (b.length < size) throw new PfkeyDecodeError(`${what}: ${b.length} bytes, need ${size}`);
}

/** A zeroed extension of `bytes` (rounded up to 8) with sadb_ext_len / sadb_ext_type set. */
function extension(type: number, bytes: number): { b: Uint8Array; dv: DataView } {
  const b = new Uint8Array(pad8(bytes));
  const dv = view(b);
  dv.setUint16(L.sadb_ext.sadb_ext_len, b.length / 8, true);
  dv.setUint16(L.sadb_ext.sadb_ext_type, type, true);
  return { b, dv };
}

// ---------------------------------------------------------------- sadb_msg

/**
 * RFC 2367 §2.1 base message header (16 bytes), then extensions.
 *
 *  0               1               2               3
 *  +---------------+---------------+---------------+---------------+
 *  | sadb_msg_vers | sadb_msg_type | sadb_msg_errno| sadb_msg_satyp|
 *  +---------------+---------------+---------------+---------------+
 *  |          sadb_msg_len         |       sadb_msg_reserved       |
 *  +---------------+---------------+---------------+---------------+
 *  |                          sadb_msg_seq                         |
 *  +---------------+---------------+---------------+---------------+
 *  |                          sadb_msg_pid                         |
 *  +---------------+---------------+---------------+---------------+
 */
export interface SadbMsg {
  type: number;
  errno: number;
  satype: number;
  seq: number;
  pid: number;
}

/** The whole message: header + extensions (each already padded).  The caller wipes it. */
export function encodeMessage(h: SadbMsg, exts: readonly Uint8Array[]): Uint8Array {
  const len = L.sadb_msg.size + exts.reduce((n, e) => n + e.length, 0);
  const b = new Uint8Array(len);
  const dv = view(b);
  const M = L.sadb_msg;
  b[M.sadb_msg_version] = PF_KEY_V2;
  b[M.sadb_msg_type] = h.type;
  b[M.sadb_msg_errno] = h.errno;
  b[M.sadb_msg_satype] = h.satype;
  dv.setUint16(M.sadb_msg_len, len / 8, true);
  dv.setUint32(M.sadb_msg_seq, h.seq >>> 0, true);
  dv.setUint32(M.sadb_msg_pid, h.pid >>> 0, true);
  let off = M.size;
  for (const e of exts) {
    b.set(e, off);
    off += e.length;
  }
  return b;
}

export interface ParsedMessage extends SadbMsg {
  /** Extensions by type (each a view into the input, header included). */
  exts: Map<number, Uint8Array>;
}

/** Header and extensions of one message (one datagram); every length is checked. */
export function decodeMessage(buf: Uint8Array): ParsedMessage {
  need(buf, L.sadb_msg.size, 'sadb_msg');
  const dv = view(buf);
  const M = L.sadb_msg;
  if (buf[M.sadb_msg_version] !== PF_KEY_V2) throw new PfkeyDecodeError(`version ${buf[M.sadb_msg_version]}`);
  const len = dv.getUint16(M.sadb_msg_len, true) * 8;
  if (len < M.size || len > buf.length) throw new PfkeyDecodeError(`sadb_msg_len ${len} bytes, datagram ${buf.length}`);
  const exts = new Map<number, Uint8Array>();
  let off = M.size;
  while (off < len) {
    if (len - off < L.sadb_ext.size) throw new PfkeyDecodeError(`truncated extension header at ${off}`);
    const elen = dv.getUint16(off + L.sadb_ext.sadb_ext_len, true) * 8;
    const etype = dv.getUint16(off + L.sadb_ext.sadb_ext_type, true);
    if (elen === 0 || elen > len - off) throw new PfkeyDecodeError(`bad sadb_ext_len ${elen} at ${off}`);
    if (etype > 0 && etype <= SADB_EXT_MAX) exts.set(etype, buf.subarray(off, off + elen));
    off += elen;
  }
  return {
    type: buf[M.sadb_msg_type]!,
    errno: buf[M.sadb_msg_errno]!,
    satype: buf[M.sadb_msg_satype]!,
    seq: dv.getUint32(M.sadb_msg_seq, true),
    pid: dv.getUint32(M.sadb_msg_pid, true),
    exts,
  };
}

// ---------------------------------------------------------------- sadb_sa

/**
 * RFC 2367 §2.3.1 Association extension (16 bytes).
 *
 *  +---------------+---------------+---------------+---------------+
 *  |          sadb_sa_len          |        sadb_sa_exttype        |
 *  +---------------+---------------+---------------+---------------+
 *  |                      sadb_sa_spi (network order)              |
 *  +---------------+---------------+---------------+---------------+
 *  |  sadb_sa_replay | sadb_sa_state | sadb_sa_auth  |sadb_sa_encrypt|
 *  +---------------+---------------+---------------+---------------+
 *  |                         sadb_sa_flags                         |
 *  +---------------+---------------+---------------+---------------+
 */
export interface SadbSa {
  spi: number;
  /** Replay window in packets: a u8 (Linux caps it at 32). */
  replay: number;
  state: number;
  auth: number;
  encrypt: number;
  flags: number;
}

export function encodeSa(s: SadbSa): Uint8Array {
  const { b, dv } = extension(SADB_EXT.SA, L.sadb_sa.size);
  dv.setUint32(L.sadb_sa.sadb_sa_spi, s.spi >>> 0, false);
  b[L.sadb_sa.sadb_sa_replay] = s.replay;
  b[L.sadb_sa.sadb_sa_state] = s.state;
  b[L.sadb_sa.sadb_sa_auth] = s.auth;
  b[L.sadb_sa.sadb_sa_encrypt] = s.encrypt;
  dv.setUint32(L.sadb_sa.sadb_sa_flags, s.flags >>> 0, true);
  return b;
}

export function decodeSa(e: Uint8Array): SadbSa {
  need(e, L.sadb_sa.size, 'sadb_sa');
  const dv = view(e);
  return {
    spi: dv.getUint32(L.sadb_sa.sadb_sa_spi, false),
    replay: e[L.sadb_sa.sadb_sa_replay]!,
    state: e[L.sadb_sa.sadb_sa_state]!,
    auth: e[L.sadb_sa.sadb_sa_auth]!,
    encrypt: e[L.sadb_sa.sadb_sa_encrypt]!,
    flags: dv.getUint32(L.sadb_sa.sadb_sa_flags, true),
  };
}

// ---------------------------------------------------------------- sadb_lifetime

/**
 * RFC 2367 §2.3.2 Lifetime extension (32 bytes); CURRENT, HARD or SOFT by
 * exttype.  0 means "no limit" in HARD/SOFT.  Linux puts the packet count in
 * allocations.
 *
 *  +---------------+---------------+---------------+---------------+
 *  |       sadb_lifetime_len       |     sadb_lifetime_exttype     |
 *  +---------------+---------------+---------------+---------------+
 *  |                   sadb_lifetime_allocations                   |
 *  +---------------+---------------+---------------+---------------+
 *  |                   sadb_lifetime_bytes (64 bits)               |
 *  +---------------+---------------+---------------+---------------+
 *  |                  sadb_lifetime_addtime (64 bits)              |
 *  +---------------+---------------+---------------+---------------+
 *  |                  sadb_lifetime_usetime (64 bits)              |
 *  +---------------+---------------+---------------+---------------+
 */
export interface SadbLifetime {
  allocations: number;
  bytes: bigint;
  addtime: bigint;
  usetime: bigint;
}

export function encodeLifetime(exttype: number, l: SadbLifetime): Uint8Array {
  const { dv, b } = extension(exttype, L.sadb_lifetime.size);
  dv.setUint32(L.sadb_lifetime.sadb_lifetime_allocations, l.allocations >>> 0, true);
  dv.setBigUint64(L.sadb_lifetime.sadb_lifetime_bytes, l.bytes, true);
  dv.setBigUint64(L.sadb_lifetime.sadb_lifetime_addtime, l.addtime, true);
  dv.setBigUint64(L.sadb_lifetime.sadb_lifetime_usetime, l.usetime, true);
  return b;
}

export function decodeLifetime(e: Uint8Array): SadbLifetime {
  need(e, L.sadb_lifetime.size, 'sadb_lifetime');
  const dv = view(e);
  return {
    allocations: dv.getUint32(L.sadb_lifetime.sadb_lifetime_allocations, true),
    bytes: dv.getBigUint64(L.sadb_lifetime.sadb_lifetime_bytes, true),
    addtime: dv.getBigUint64(L.sadb_lifetime.sadb_lifetime_addtime, true),
    usetime: dv.getBigUint64(L.sadb_lifetime.sadb_lifetime_usetime, true),
  };
}

// ---------------------------------------------------------------- sockaddr

/**
 * sockaddr_in (16 bytes) / sockaddr_in6 (28 bytes), as carried after
 * sadb_address and inside tunnel-mode ipsecrequests.
 *
 *  sockaddr_in:  +0 sin_family (u16 host) +2 sin_port (be16) +4 sin_addr[4] +8 zero[8]
 *  sockaddr_in6: +0 sin6_family +2 sin6_port (be16) +4 sin6_flowinfo
 *                +8 sin6_addr[16] +24 sin6_scope_id
 */
export interface SockAddr {
  family: typeof AF_INET | typeof AF_INET6;
  /** 4 or 16 bytes, network order. */
  addr: Uint8Array;
  port: number;
}

export function sockaddrSize(family: number): number {
  return family === AF_INET6 ? L.sockaddr_in6.size : L.sockaddr_in.size;
}

export function encodeSockaddrInto(b: Uint8Array, off: number, s: SockAddr): void {
  const dv = view(b);
  if (s.family === AF_INET6) {
    dv.setUint16(off + L.sockaddr_in6.sin6_family, AF_INET6, true);
    dv.setUint16(off + L.sockaddr_in6.sin6_port, s.port, false);
    b.set(s.addr.subarray(0, 16), off + L.sockaddr_in6.sin6_addr);
  } else {
    dv.setUint16(off + L.sockaddr_in.sin_family, AF_INET, true);
    dv.setUint16(off + L.sockaddr_in.sin_port, s.port, false);
    b.set(s.addr.subarray(0, 4), off + L.sockaddr_in.sin_addr);
  }
}

export function decodeSockaddrAt(b: Uint8Array, off: number): SockAddr {
  need(b, off + 2, 'sockaddr');
  const dv = view(b);
  const family = dv.getUint16(off, true);
  if (family === AF_INET6) {
    need(b, off + L.sockaddr_in6.size, 'sockaddr_in6');
    const a = off + L.sockaddr_in6.sin6_addr;
    return { family: AF_INET6, addr: b.slice(a, a + 16), port: dv.getUint16(off + L.sockaddr_in6.sin6_port, false) };
  }
  if (family === AF_INET) {
    need(b, off + L.sockaddr_in.size, 'sockaddr_in');
    const a = off + L.sockaddr_in.sin_addr;
    return { family: AF_INET, addr: b.slice(a, a + 4), port: dv.getUint16(off + L.sockaddr_in.sin_port, false) };
  }
  throw new PfkeyDecodeError(`sockaddr family ${family}`);
}

// ---------------------------------------------------------------- sadb_address

/**
 * RFC 2367 §2.3.3 Address extension (8 bytes + sockaddr, padded to 8): SRC,
 * DST, PROXY, and Linux's NAT_T_OA.  For SPD entries prefixlen and proto (255 =
 * any) and the sockaddr's port form the selector.
 *
 *  +---------------+---------------+---------------+---------------+
 *  |        sadb_address_len       |      sadb_address_exttype     |
 *  +---------------+---------------+---------------+---------------+
 *  | _address_proto| _address_pref.|     sadb_address_reserved     |
 *  +---------------+---------------+---------------+---------------+
 *  |     sockaddr_in (16) or sockaddr_in6 (28 + 4 padding)         |
 *  +---------------+---------------+---------------+---------------+
 */
export interface SadbAddress extends SockAddr {
  proto: number;
  prefixlen: number;
}

export function encodeAddress(exttype: number, a: SadbAddress): Uint8Array {
  const { b } = extension(exttype, L.sadb_address.size + sockaddrSize(a.family));
  b[L.sadb_address.sadb_address_proto] = a.proto;
  b[L.sadb_address.sadb_address_prefixlen] = a.prefixlen;
  encodeSockaddrInto(b, L.sadb_address.size, a);
  return b;
}

export function decodeAddress(e: Uint8Array): SadbAddress {
  need(e, L.sadb_address.size, 'sadb_address');
  return {
    ...decodeSockaddrAt(e, L.sadb_address.size),
    proto: e[L.sadb_address.sadb_address_proto]!,
    prefixlen: e[L.sadb_address.sadb_address_prefixlen]!,
  };
}

// ---------------------------------------------------------------- sadb_key

/**
 * RFC 2367 §2.3.4 Key extension (8 bytes + key, padded to 8): KEY_AUTH or
 * KEY_ENCRYPT.  Holds a secret: the caller wipes every buffer it went into.
 *
 *  +---------------+---------------+---------------+---------------+
 *  |          sadb_key_len         |         sadb_key_exttype      |
 *  +---------------+---------------+---------------+---------------+
 *  |          sadb_key_bits        |        sadb_key_reserved      |
 *  +---------------+---------------+---------------+---------------+
 *  >    key bits, padded to 64 bits                                <
 *  +---------------+---------------+---------------+---------------+
 */
export function encodeKey(exttype: number, key: Uint8Array): Uint8Array {
  const { b, dv } = extension(exttype, L.sadb_key.size + key.length);
  dv.setUint16(L.sadb_key.sadb_key_bits, key.length * 8, true);
  b.set(key, L.sadb_key.size);
  return b;
}

/** The key bytes (a copy: the caller owns it). */
export function decodeKey(e: Uint8Array): Uint8Array {
  need(e, L.sadb_key.size, 'sadb_key');
  const bits = view(e).getUint16(L.sadb_key.sadb_key_bits, true);
  const bytes = (bits + 7) >> 3;
  need(e, L.sadb_key.size + bytes, 'sadb_key bits');
  return e.slice(L.sadb_key.size, L.sadb_key.size + bytes);
}

/** sadb_key_bits without touching the key. */
export function keyBits(e: Uint8Array): number {
  need(e, L.sadb_key.size, 'sadb_key');
  return view(e).getUint16(L.sadb_key.sadb_key_bits, true);
}

// ---------------------------------------------------------------- sadb_spirange

/**
 * RFC 2367 §2.3.10 SPI Range extension (16 bytes), for SADB_GETSPI; min and
 * max in host order.
 *
 *  +---------------+---------------+---------------+---------------+
 *  |       sadb_spirange_len       |     sadb_spirange_exttype     |
 *  +---------------+---------------+---------------+---------------+
 *  |                       sadb_spirange_min                       |
 *  +---------------+---------------+---------------+---------------+
 *  |                       sadb_spirange_max                       |
 *  +---------------+---------------+---------------+---------------+
 *  |                     sadb_spirange_reserved                    |
 *  +---------------+---------------+---------------+---------------+
 */
export function encodeSpirange(min: number, max: number): Uint8Array {
  const { b, dv } = extension(SADB_EXT.SPIRANGE, L.sadb_spirange.size);
  dv.setUint32(L.sadb_spirange.sadb_spirange_min, min >>> 0, true);
  dv.setUint32(L.sadb_spirange.sadb_spirange_max, max >>> 0, true);
  return b;
}

// ---------------------------------------------------------------- sadb_x_sa2

/**
 * KAME/Linux SA2 extension (16 bytes, SADB_X_EXT_SA2): the SA's mode
 * (IPSEC_MODE_*) and its u32 reqid.
 *
 *  +---------------+---------------+---------------+---------------+
 *  |        sadb_x_sa2_len         |       sadb_x_sa2_exttype      |
 *  +---------------+---------------+---------------+---------------+
 *  | sadb_x_sa2_mode| _reserved1   |      sadb_x_sa2_reserved2     |
 *  +---------------+---------------+---------------+---------------+
 *  |                      sadb_x_sa2_sequence                      |
 *  +---------------+---------------+---------------+---------------+
 *  |                       sadb_x_sa2_reqid                        |
 *  +---------------+---------------+---------------+---------------+
 */
export interface SadbSa2 {
  mode: number;
  reqid: number;
}

export function encodeSa2(s: SadbSa2): Uint8Array {
  const { b, dv } = extension(SADB_EXT.X_SA2, L.sadb_x_sa2.size);
  b[L.sadb_x_sa2.sadb_x_sa2_mode] = s.mode;
  dv.setUint32(L.sadb_x_sa2.sadb_x_sa2_reqid, s.reqid >>> 0, true);
  return b;
}

export function decodeSa2(e: Uint8Array): SadbSa2 {
  need(e, L.sadb_x_sa2.size, 'sadb_x_sa2');
  return { mode: e[L.sadb_x_sa2.sadb_x_sa2_mode]!, reqid: view(e).getUint32(L.sadb_x_sa2.sadb_x_sa2_reqid, true) };
}

// ---------------------------------------------------------------- sadb_x_policy

/**
 * KAME/Linux Policy extension (SADB_X_EXT_POLICY): 16 bytes, then, for
 * IPSEC_POLICY_IPSEC, one sadb_x_ipsecrequest per template (16 bytes, then in
 * tunnel mode the src and dst sockaddrs).  id = the kernel's policy index.
 *
 *  sadb_x_policy
 *  +---------------+---------------+---------------+---------------+
 *  |      sadb_x_policy_len        |     sadb_x_policy_exttype     |
 *  +---------------+---------------+---------------+---------------+
 *  |      sadb_x_policy_type       | _policy_dir   | _reserved     |
 *  +---------------+---------------+---------------+---------------+
 *  |                        sadb_x_policy_id                       |
 *  +---------------+---------------+---------------+---------------+
 *  |                     sadb_x_policy_priority                    |
 *  +---------------+---------------+---------------+---------------+
 *
 *  sadb_x_ipsecrequest (length in BYTES, not 64-bit words)
 *  +---------------+---------------+---------------+---------------+
 *  |   sadb_x_ipsecrequest_len     |   sadb_x_ipsecrequest_proto   |
 *  +---------------+---------------+---------------+---------------+
 *  | _mode         | _level        |  sadb_x_ipsecrequest_reserved1|
 *  +---------------+---------------+---------------+---------------+
 *  |                   sadb_x_ipsecrequest_reqid                   |
 *  +---------------+---------------+---------------+---------------+
 *  |                 sadb_x_ipsecrequest_reserved2                 |
 *  +---------------+---------------+---------------+---------------+
 *  | [tunnel mode: sockaddr src, sockaddr dst]                     |
 */
export interface SadbIpsecRequest {
  proto: number;
  mode: number;
  level: number;
  reqid: number;
  /** Tunnel endpoints. */
  tunnel?: { src: SockAddr; dst: SockAddr };
}

export interface SadbPolicy {
  type: number;
  dir: number;
  id: number;
  priority: number;
  requests: SadbIpsecRequest[];
}

function requestSize(r: SadbIpsecRequest): number {
  return L.sadb_x_ipsecrequest.size + (r.tunnel ? sockaddrSize(r.tunnel.src.family) + sockaddrSize(r.tunnel.dst.family) : 0);
}

export function encodePolicy(p: SadbPolicy): Uint8Array {
  const total = L.sadb_x_policy.size + p.requests.reduce((n, r) => n + requestSize(r), 0);
  const { b, dv } = extension(SADB_EXT.X_POLICY, total);
  const P = L.sadb_x_policy;
  dv.setUint16(P.sadb_x_policy_type, p.type, true);
  b[P.sadb_x_policy_dir] = p.dir;
  dv.setUint32(P.sadb_x_policy_id, p.id >>> 0, true);
  dv.setUint32(P.sadb_x_policy_priority, p.priority >>> 0, true);
  const R = L.sadb_x_ipsecrequest;
  let off = P.size;
  for (const r of p.requests) {
    const size = requestSize(r);
    dv.setUint16(off + R.sadb_x_ipsecrequest_len, size, true);
    dv.setUint16(off + R.sadb_x_ipsecrequest_proto, r.proto, true);
    b[off + R.sadb_x_ipsecrequest_mode] = r.mode;
    b[off + R.sadb_x_ipsecrequest_level] = r.level;
    dv.setUint32(off + R.sadb_x_ipsecrequest_reqid, r.reqid >>> 0, true);
    if (r.tunnel) {
      encodeSockaddrInto(b, off + R.size, r.tunnel.src);
      encodeSockaddrInto(b, off + R.size + sockaddrSize(r.tunnel.src.family), r.tunnel.dst);
    }
    off += size;
  }
  return b;
}

export function decodePolicy(e: Uint8Array): SadbPolicy {
  const P = L.sadb_x_policy;
  const R = L.sadb_x_ipsecrequest;
  need(e, P.size, 'sadb_x_policy');
  const dv = view(e);
  const out: SadbPolicy = {
    type: dv.getUint16(P.sadb_x_policy_type, true),
    dir: e[P.sadb_x_policy_dir]!,
    id: dv.getUint32(P.sadb_x_policy_id, true),
    priority: dv.getUint32(P.sadb_x_policy_priority, true),
    requests: [],
  };
  let off = P.size;
  while (e.length - off >= R.size) {
    const len = dv.getUint16(off + R.sadb_x_ipsecrequest_len, true);
    if (len < R.size || len > e.length - off) throw new PfkeyDecodeError(`bad sadb_x_ipsecrequest_len ${len} at ${off}`);
    const r: SadbIpsecRequest = {
      proto: dv.getUint16(off + R.sadb_x_ipsecrequest_proto, true),
      mode: e[off + R.sadb_x_ipsecrequest_mode]!,
      level: e[off + R.sadb_x_ipsecrequest_level]!,
      reqid: dv.getUint32(off + R.sadb_x_ipsecrequest_reqid, true),
    };
    if (len > R.size) {
      const body = e.subarray(off, off + len);
      const src = decodeSockaddrAt(body, R.size);
      const dst = decodeSockaddrAt(body, R.size + sockaddrSize(src.family));
      r.tunnel = { src, dst };
    }
    out.requests.push(r);
    off += len;
  }
  return out;
}

// ---------------------------------------------------------------- NAT-T

/**
 * Linux NAT-T extensions (RFC 3948 UDP encapsulation through PF_KEY).
 *
 *  sadb_x_nat_t_type (8)                  sadb_x_nat_t_port (8): SPORT / DPORT
 *  +-------+-------+-------+-------+      +-------+-------+-------+-------+
 *  |  len          |  exttype      |      |  len          |  exttype      |
 *  +-------+-------+-------+-------+      +-------+-------+-------+-------+
 *  | type  |    reserved[3]        |      |  port (be16)  |  reserved     |
 *  +-------+-------+-------+-------+      +-------+-------+-------+-------+
 */
export function encodeNatTType(type: number): Uint8Array {
  const { b } = extension(SADB_EXT.X_NAT_T_TYPE, L.sadb_x_nat_t_type.size);
  b[L.sadb_x_nat_t_type.sadb_x_nat_t_type_type] = type;
  return b;
}

export function decodeNatTType(e: Uint8Array): number {
  need(e, L.sadb_x_nat_t_type.size, 'sadb_x_nat_t_type');
  return e[L.sadb_x_nat_t_type.sadb_x_nat_t_type_type]!;
}

export function encodeNatTPort(exttype: number, port: number): Uint8Array {
  const { b, dv } = extension(exttype, L.sadb_x_nat_t_port.size);
  dv.setUint16(L.sadb_x_nat_t_port.sadb_x_nat_t_port_port, port, false);
  return b;
}

export function decodeNatTPort(e: Uint8Array): number {
  need(e, L.sadb_x_nat_t_port.size, 'sadb_x_nat_t_port');
  return view(e).getUint16(L.sadb_x_nat_t_port.sadb_x_nat_t_port_port, false);
}
