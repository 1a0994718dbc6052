/**
 * XFRM UAPI structs (<linux/xfrm.h>) <-> plain values.  Pure.  Offsets come
 * from ./layout.ts (checked against gcc).  Integers are host order
 * (little-endian) except fields the header types __be16/__be32 (SPI, ports)
 * and addresses, which are network order.
 *
 *  xfrm_address_t: 16 bytes; an IPv4 address fills the first 4.
 *
 *  xfrm_selector (56)                   xfrm_id (24)
 *  +0  daddr[16]   +16 saddr[16]        +0  daddr[16]
 *  +32 dport  +34 dport_mask (be16)     +16 spi (be32)
 *  +36 sport  +38 sport_mask (be16)     +20 proto (u8)
 *  +40 family(u16) +42 prefixlen_d +43 prefixlen_s +44 proto
 *  +48 ifindex(int) +52 user(uid)
 *
 *  xfrm_usersa_info (224): +0 sel, +56 id, +80 saddr, +96 lft (8 × u64),
 *  +160 curlft (4 × u64), +192 stats (3 × u32), +204 seq, +208 reqid,
 *  +212 family(u16), +214 mode, +215 replay_window, +216 flags
 *
 *  xfrm_userpolicy_info (168): +0 sel, +56 lft, +120 curlft, +152 priority,
 *  +156 index, +160 dir, +161 action, +162 flags, +163 share
 *
 *  xfrm_user_tmpl (64): +0 id, +24 family, +28 saddr, +44 reqid, +48 mode,
 *  +49 share, +50 optional, +52 aalgos, +56 ealgos, +60 calgos
 *
 *  xfrm_user_mapping (64, XFRM_MSG_MAPPING): +0 id (xfrm_usersa_id),
 *  +24 reqid, +28 old_saddr[16], +44 new_saddr[16], +60 old_sport (be16),
 *  +62 new_sport (be16)
 *
 *  xfrm_algo (68 + key): alg_name[64], alg_key_len (bits), key
 *  xfrm_algo_auth / xfrm_algo_aead (72 + key): name[64], key_len (bits),
 *  trunc_len / icv_len (bits), key
 */
import { NetlinkDecodeError } from '../errors.js';
import { cString } from './netlink.js';
import { LAYOUT as L } from './layout.js';

export const XFRM_MSG = {
  NEWSA: 16,
  DELSA: 17,
  GETSA: 18,
  NEWPOLICY: 19,
  DELPOLICY: 20,
  GETPOLICY: 21,
  ALLOCSPI: 22,
  ACQUIRE: 23,
  EXPIRE: 24,
  UPDPOLICY: 25,
  UPDSA: 26,
  POLEXPIRE: 27,
  FLUSHSA: 28,
  FLUSHPOLICY: 29,
  MAPPING: 38,
} as const;

export const XFRMA = {
  ALG_AUTH: 1,
  ALG_CRYPT: 2,
  ENCAP: 4,
  TMPL: 5,
  LTIME_VAL: 9,
  ALG_AEAD: 18,
  ALG_AUTH_TRUNC: 20,
  MARK: 21,
} as const;

export const XFRMNLGRP = { ACQUIRE: 1, EXPIRE: 2, MAPPING: 8 } as const;
export const XFRM_MODE = { TRANSPORT: 0, TUNNEL: 1 } as const;
export const XFRM_POLICY_DIR = { IN: 0, OUT: 1, FWD: 2 } as const;
export const XFRM_POLICY_ACTION = { ALLOW: 0, BLOCK: 1 } as const;
export const IPPROTO_ESP = 50;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const UDP_ENCAP_ESPINUDP = 2;
/** XFRM_INF: "no limit" in xfrm_lifetime_cfg. */
export const XFRM_INF = 0xffffffffffffffffn;

export interface XfrmSelector {
  daddr: Uint8Array;
  saddr: Uint8Array;
  dport: number;
  dportMask: number;
  sport: number;
  sportMask: number;
  family: number;
  prefixlenD: number;
  prefixlenS: number;
  proto: number;
  ifindex: number;
  user: number;
}

export interface XfrmId {
  daddr: Uint8Array;
  spi: number;
  proto: number;
}

export interface XfrmLifetimeCfg {
  softByteLimit: bigint;
  hardByteLimit: bigint;
  softPacketLimit: bigint;
  hardPacketLimit: bigint;
  softAddExpiresSeconds: bigint;
  hardAddExpiresSeconds: bigint;
  softUseExpiresSeconds: bigint;
  hardUseExpiresSeconds: bigint;
}

export interface XfrmLifetimeCur {
  bytes: bigint;
  packets: bigint;
  addTime: bigint;
  useTime: bigint;
}

export interface XfrmStats {
  replayWindow: number;
  replay: number;
  integrityFailed: number;
}

export interface XfrmUsersaInfo {
  sel: XfrmSelector;
  id: XfrmId;
  saddr: Uint8Array;
  lft: XfrmLifetimeCfg;
  curlft: XfrmLifetimeCur;
  stats: XfrmStats;
  seq: number;
  reqid: number;
  family: number;
  mode: number;
  replayWindow: number;
  flags: number;
}

export interface XfrmUsersaId {
  daddr: Uint8Array;
  spi: number;
  family: number;
  proto: number;
}

export interface XfrmUserpolicyInfo {
  sel: XfrmSelector;
  lft: XfrmLifetimeCfg;
  curlft: XfrmLifetimeCur;
  priority: number;
  index: number;
  dir: number;
  action: number;
  flags: number;
  share: number;
}

export interface XfrmUserpolicyId {
  sel: XfrmSelector;
  index: number;
  dir: number;
}

export interface XfrmUserTmpl {
  id: XfrmId;
  family: number;
  saddr: Uint8Array;
  reqid: number;
  mode: number;
  share: number;
  optional: number;
  aalgos: number;
  ealgos: number;
  calgos: number;
}

/** xfrm_algo / xfrm_algo_auth (extra = trunc_len) / xfrm_algo_aead (extra = icv_len). */
export interface XfrmAlgo {
  name: string;
  keyBits: number;
  key: Uint8Array;
}
export interface XfrmAlgoExtra extends XfrmAlgo {
  /** trunc_len (auth) or icv_len (aead), in bits. */
  extraBits: number;
}

export interface XfrmEncapTmpl {
  encapType: number;
  sport: number;
  dport: number;
  oa: Uint8Array;
}

export interface XfrmMarkRaw {
  v: number;
  m: number;
}

/** XFRM_MSG_MAPPING: the peer of an inbound UDP-encapsulated SA now sends from new_saddr:new_sport. */
export interface XfrmUserMapping {
  id: XfrmUsersaId;
  reqid: number;
  oldSaddr: Uint8Array;
  newSaddr: Uint8Array;
  oldSport: number;
  newSport: number;
}

export interface XfrmUserExpire {
  state: XfrmUsersaInfo;
  hard: boolean;
}

export interface XfrmUserAcquire {
  id: XfrmId;
  saddr: Uint8Array;
  sel: XfrmSelector;
  policy: XfrmUserpolicyInfo;
  aalgos: number;
  ealgos: number;
  calgos: number;
  seq: number;
}

// ---------------------------------------------------------------- helpers

// The encoders write one struct through several helpers into one buffer: keep its DataView.
let lastView: { b: Uint8Array; dv: DataView } | undefined;

function view(b: Uint8Array): DataView {
  if (lastView?.b !== b) lastView = { b, dv: new DataView(b.buffer, b.byteOffset, b.byteLength) };
  return lastView.dv;
}

function need(b: Uint8Array, size: number, what: string): void {
  if (b.length < size) throw new NetlinkDecodeError(`${what}: ${b.length} bytes, need ${size}`);
}

function addr(b: Uint8Array, off: number): Uint8Array {
  return b.slice(off, off + 16);
}

function putAddr(b: Uint8Array, off: number, a: Uint8Array): void {
  if (a.length > 16) throw new NetlinkDecodeError('address longer than 16 bytes');
  b.set(a, off);
}

// ---------------------------------------------------------------- selector

export function encodeSelectorInto(b: Uint8Array, base: number, s: XfrmSelector): void {
  const dv = view(b);
  const S = L.xfrm_selector;
  putAddr(b, base + S.daddr, s.daddr);
  putAddr(b, base + S.saddr, s.saddr);
  dv.setUint16(base + S.dport, s.dport, false);
  dv.setUint16(base + S.dport_mask, s.dportMask, false);
  dv.setUint16(base + S.sport, s.sport, false);
  dv.setUint16(base + S.sport_mask, s.sportMask, false);
  dv.setUint16(base + S.family, s.family, true);
  dv.setUint8(base + S.prefixlen_d, s.prefixlenD);
  dv.setUint8(base + S.prefixlen_s, s.prefixlenS);
  dv.setUint8(base + S.proto, s.proto);
  dv.setInt32(base + S.ifindex, s.ifindex, true);
  dv.setUint32(base + S.user, s.user, true);
}

export function decodeSelectorAt(b: Uint8Array, base: number): XfrmSelector {
  need(b, base + L.xfrm_selector.size, 'xfrm_selector');
  const dv = view(b);
  const S = L.xfrm_selector;
  return {
    daddr: addr(b, base + S.daddr),
    saddr: addr(b, base + S.saddr),
    dport: dv.getUint16(base + S.dport, false),
    dportMask: dv.getUint16(base + S.dport_mask, false),
    sport: dv.getUint16(base + S.sport, false),
    sportMask: dv.getUint16(base + S.sport_mask, false),
    family: dv.getUint16(base + S.family, true),
    prefixlenD: dv.getUint8(base + S.prefixlen_d),
    prefixlenS: dv.getUint8(base + S.prefixlen_s),
    proto: dv.getUint8(base + S.proto),
    ifindex: dv.getInt32(base + S.ifindex, true),
    user: dv.getUint32(base + S.user, true),
  };
}

// ---------------------------------------------------------------- xfrm_id

function encodeIdInto(b: Uint8Array, base: number, id: XfrmId): void {
  putAddr(b, base + L.xfrm_id.daddr, id.daddr);
  view(b).setUint32(base + L.xfrm_id.spi, id.spi, false);
  b[base + L.xfrm_id.proto] = id.proto;
}

function decodeIdAt(b: Uint8Array, base: number): XfrmId {
  return {
    daddr: addr(b, base + L.xfrm_id.daddr),
    spi: view(b).getUint32(base + L.xfrm_id.spi, false),
    proto: b[base + L.xfrm_id.proto]!,
  };
}

// ---------------------------------------------------------------- lifetimes

const LFT_FIELDS = [
  ['softByteLimit', L.xfrm_lifetime_cfg.soft_byte_limit],
  ['hardByteLimit', L.xfrm_lifetime_cfg.hard_byte_limit],
  ['softPacketLimit', L.xfrm_lifetime_cfg.soft_packet_limit],
  ['hardPacketLimit', L.xfrm_lifetime_cfg.hard_packet_limit],
  ['softAddExpiresSeconds', L.xfrm_lifetime_cfg.soft_add_expires_seconds],
  ['hardAddExpiresSeconds', L.xfrm_lifetime_cfg.hard_add_expires_seconds],
  ['softUseExpiresSeconds', L.xfrm_lifetime_cfg.soft_use_expires_seconds],
  ['hardUseExpiresSeconds', L.xfrm_lifetime_cfg.hard_use_expires_seconds],
] as const;

const CUR_FIELDS = [
  ['bytes', L.xfrm_lifetime_cur.bytes],
  ['packets', L.xfrm_lifetime_cur.packets],
  ['addTime', L.xfrm_lifetime_cur.add_time],
  ['useTime', L.xfrm_lifetime_cur.use_time],
] as const;

/** No limits at all (what `ip xfrm` sends by default). */
export function infiniteLifetime(): XfrmLifetimeCfg {
  return {
    softByteLimit: XFRM_INF,
    hardByteLimit: XFRM_INF,
    softPacketLimit: XFRM_INF,
    hardPacketLimit: XFRM_INF,
    softAddExpiresSeconds: 0n,
    hardAddExpiresSeconds: 0n,
    softUseExpiresSeconds: 0n,
    hardUseExpiresSeconds: 0n,
  };
}

export function zeroCur(): XfrmLifetimeCur {
  return { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n };
}

function encodeLftInto(b: Uint8Array, base: number, l: XfrmLifetimeCfg): void {
  const dv = view(b);
  for (const [k, off] of LFT_FIELDS) dv.setBigUint64(base + off, l[k], true);
}

function decodeLftAt(b: Uint8Array, base: number): XfrmLifetimeCfg {
  const dv = view(b);
  const out = {} as XfrmLifetimeCfg;
  for (const [k, off] of LFT_FIELDS) out[k] = dv.getBigUint64(base + off, true);
  return out;
}

function encodeCurInto(b: Uint8Array, base: number, c: XfrmLifetimeCur): void {
  const dv = view(b);
  for (const [k, off] of CUR_FIELDS) dv.setBigUint64(base + off, c[k], true);
}

function decodeCurAt(b: Uint8Array, base: number): XfrmLifetimeCur {
  const dv = view(b);
  const out = {} as XfrmLifetimeCur;
  for (const [k, off] of CUR_FIELDS) out[k] = dv.getBigUint64(base + off, true);
  return out;
}

// ---------------------------------------------------------------- usersa_info

export function encodeUsersaInfoInto(b: Uint8Array, base: number, s: XfrmUsersaInfo): void {
  const I = L.xfrm_usersa_info;
  const dv = view(b);
  encodeSelectorInto(b, base + I.sel, s.sel);
  encodeIdInto(b, base + I.id, s.id);
  putAddr(b, base + I.saddr, s.saddr);
  encodeLftInto(b, base + I.lft, s.lft);
  encodeCurInto(b, base + I.curlft, s.curlft);
  dv.setUint32(base + I.stats + L.xfrm_stats.replay_window, s.stats.replayWindow, true);
  dv.setUint32(base + I.stats + L.xfrm_stats.replay, s.stats.replay, true);
  dv.setUint32(base + I.stats + L.xfrm_stats.integrity_failed, s.stats.integrityFailed, true);
  dv.setUint32(base + I.seq, s.seq, true);
  dv.setUint32(base + I.reqid, s.reqid, true);
  dv.setUint16(base + I.family, s.family, true);
  dv.setUint8(base + I.mode, s.mode);
  dv.setUint8(base + I.replay_window, s.replayWindow);
  dv.setUint8(base + I.flags, s.flags);
}

export function encodeUsersaInfo(s: XfrmUsersaInfo): Uint8Array {
  const b = new Uint8Array(L.xfrm_usersa_info.size);
  encodeUsersaInfoInto(b, 0, s);
  return b;
}

export function decodeUsersaInfoAt(b: Uint8Array, base: number): XfrmUsersaInfo {
  const I = L.xfrm_usersa_info;
  need(b, base + I.size, 'xfrm_usersa_info');
  const dv = view(b);
  return {
    sel: decodeSelectorAt(b, base + I.sel),
    id: decodeIdAt(b, base + I.id),
    saddr: addr(b, base + I.saddr),
    lft: decodeLftAt(b, base + I.lft),
    curlft: decodeCurAt(b, base + I.curlft),
    stats: {
      replayWindow: dv.getUint32(base + I.stats + L.xfrm_stats.replay_window, true),
      replay: dv.getUint32(base + I.stats + L.xfrm_stats.replay, true),
      integrityFailed: dv.getUint32(base + I.stats + L.xfrm_stats.integrity_failed, true),
    },
    seq: dv.getUint32(base + I.seq, true),
    reqid: dv.getUint32(base + I.reqid, true),
    family: dv.getUint16(base + I.family, true),
    mode: dv.getUint8(base + I.mode),
    replayWindow: dv.getUint8(base + I.replay_window),
    flags: dv.getUint8(base + I.flags),
  };
}

// ---------------------------------------------------------------- usersa_id, userspi_info

export function encodeUsersaId(s: XfrmUsersaId): Uint8Array {
  const I = L.xfrm_usersa_id;
  const b = new Uint8Array(I.size);
  const dv = view(b);
  putAddr(b, I.daddr, s.daddr);
  dv.setUint32(I.spi, s.spi, false);
  dv.setUint16(I.family, s.family, true);
  dv.setUint8(I.proto, s.proto);
  return b;
}

export function decodeUsersaId(b: Uint8Array): XfrmUsersaId {
  const I = L.xfrm_usersa_id;
  need(b, I.size, 'xfrm_usersa_id');
  const dv = view(b);
  return {
    daddr: addr(b, I.daddr),
    spi: dv.getUint32(I.spi, false),
    family: dv.getUint16(I.family, true),
    proto: dv.getUint8(I.proto),
  };
}

export function encodeUserspiInfo(info: XfrmUsersaInfo, min: number, max: number): Uint8Array {
  const I = L.xfrm_userspi_info;
  const b = new Uint8Array(I.size);
  encodeUsersaInfoInto(b, I.info, info);
  view(b).setUint32(I.min, min, true);
  view(b).setUint32(I.max, max, true);
  return b;
}

// ---------------------------------------------------------------- userpolicy_info / _id

export function encodeUserpolicyInfo(p: XfrmUserpolicyInfo): Uint8Array {
  const P = L.xfrm_userpolicy_info;
  const b = new Uint8Array(P.size);
  encodeUserpolicyInfoInto(b, 0, p);
  return b;
}

function encodeUserpolicyInfoInto(b: Uint8Array, base: number, p: XfrmUserpolicyInfo): void {
  const P = L.xfrm_userpolicy_info;
  const dv = view(b);
  encodeSelectorInto(b, base + P.sel, p.sel);
  encodeLftInto(b, base + P.lft, p.lft);
  encodeCurInto(b, base + P.curlft, p.curlft);
  dv.setUint32(base + P.priority, p.priority, true);
  dv.setUint32(base + P.index, p.index, true);
  dv.setUint8(base + P.dir, p.dir);
  dv.setUint8(base + P.action, p.action);
  dv.setUint8(base + P.flags, p.flags);
  dv.setUint8(base + P.share, p.share);
}

export function decodeUserpolicyInfoAt(b: Uint8Array, base: number): XfrmUserpolicyInfo {
  const P = L.xfrm_userpolicy_info;
  need(b, base + P.size, 'xfrm_userpolicy_info');
  const dv = view(b);
  return {
    sel: decodeSelectorAt(b, base + P.sel),
    lft: decodeLftAt(b, base + P.lft),
    curlft: decodeCurAt(b, base + P.curlft),
    priority: dv.getUint32(base + P.priority, true),
    index: dv.getUint32(base + P.index, true),
    dir: dv.getUint8(base + P.dir),
    action: dv.getUint8(base + P.action),
    flags: dv.getUint8(base + P.flags),
    share: dv.getUint8(base + P.share),
  };
}

export function encodeUserpolicyId(p: XfrmUserpolicyId): Uint8Array {
  const P = L.xfrm_userpolicy_id;
  const b = new Uint8Array(P.size);
  encodeSelectorInto(b, P.sel, p.sel);
  view(b).setUint32(P.index, p.index, true);
  b[P.dir] = p.dir;
  return b;
}

// ---------------------------------------------------------------- user_tmpl

export function encodeUserTmpl(t: XfrmUserTmpl): Uint8Array {
  const T = L.xfrm_user_tmpl;
  const b = new Uint8Array(T.size);
  const dv = view(b);
  encodeIdInto(b, T.id, t.id);
  dv.setUint16(T.family, t.family, true);
  putAddr(b, T.saddr, t.saddr);
  dv.setUint32(T.reqid, t.reqid, true);
  dv.setUint8(T.mode, t.mode);
  dv.setUint8(T.share, t.share);
  dv.setUint8(T.optional, t.optional);
  dv.setUint32(T.aalgos, t.aalgos, true);
  dv.setUint32(T.ealgos, t.ealgos, true);
  dv.setUint32(T.calgos, t.calgos, true);
  return b;
}

/** XFRMA_TMPL holds an array of xfrm_user_tmpl. */
export function decodeUserTmpls(b: Uint8Array): XfrmUserTmpl[] {
  const T = L.xfrm_user_tmpl;
  if (b.length % T.size !== 0) throw new NetlinkDecodeError(`XFRMA_TMPL length ${b.length} not a multiple of ${T.size}`);
  const out: XfrmUserTmpl[] = [];
  for (let base = 0; base < b.length; base += T.size) {
    const dv = view(b);
    out.push({
      id: decodeIdAt(b, base + T.id),
      family: dv.getUint16(base + T.family, true),
      saddr: addr(b, base + T.saddr),
      reqid: dv.getUint32(base + T.reqid, true),
      mode: dv.getUint8(base + T.mode),
      share: dv.getUint8(base + T.share),
      optional: dv.getUint8(base + T.optional),
      aalgos: dv.getUint32(base + T.aalgos, true),
      ealgos: dv.getUint32(base + T.ealgos, true),
      calgos: dv.getUint32(base + T.calgos, true),
    });
  }
  return out;
}

// ---------------------------------------------------------------- algorithms

const UTF8 = new TextEncoder();

function encodeAlgoCommonInto(b: Uint8Array, base: number, keyOff: number, a: XfrmAlgo): void {
  // alg_name is char[64], NUL-terminated: at most 63 bytes.
  const { read } = UTF8.encodeInto(a.name, b.subarray(base, base + 63));
  if (read !== a.name.length) throw new NetlinkDecodeError(`algorithm name "${a.name}" too long`);
  view(b).setUint32(base + L.xfrm_algo.alg_key_len, a.keyBits, true);
  b.set(a.key, base + keyOff);
}

/** Bytes of the xfrm_algo carrying `key`. */
export const algoSize = (key: Uint8Array): number => L.xfrm_algo.size + key.length;
/** Bytes of the xfrm_algo_auth / xfrm_algo_aead carrying `key`. */
export const algoExtraSize = (key: Uint8Array): number => L.xfrm_algo_auth.size + key.length;

/** xfrm_algo (XFRMA_ALG_CRYPT) at `base` of zeroed `b` (algoSize bytes); holds the key. */
export function encodeAlgoInto(b: Uint8Array, base: number, a: XfrmAlgo): void {
  encodeAlgoCommonInto(b, base, L.xfrm_algo.alg_key, a);
}

/** xfrm_algo_auth (XFRMA_ALG_AUTH_TRUNC) / xfrm_algo_aead (XFRMA_ALG_AEAD) at `base` of zeroed `b` (algoExtraSize bytes); holds the key. */
export function encodeAlgoExtraInto(b: Uint8Array, base: number, a: XfrmAlgoExtra): void {
  encodeAlgoCommonInto(b, base, L.xfrm_algo_auth.alg_key, a);
  view(b).setUint32(base + L.xfrm_algo_auth.alg_trunc_len, a.extraBits, true);
}

function keyBytes(bits: number): number {
  return (bits + 7) >> 3;
}

/** Decode xfrm_algo; the key is copied only when `withKey`. */
export function decodeAlgo(b: Uint8Array, withKey: boolean): XfrmAlgo {
  need(b, L.xfrm_algo.size, 'xfrm_algo');
  const keyBits = view(b).getUint32(L.xfrm_algo.alg_key_len, true);
  need(b, L.xfrm_algo.size + keyBytes(keyBits), 'xfrm_algo key');
  return {
    name: cString(b.subarray(0, 64)),
    keyBits,
    key: withKey ? b.slice(L.xfrm_algo.alg_key, L.xfrm_algo.alg_key + keyBytes(keyBits)) : new Uint8Array(0),
  };
}

export function decodeAlgoExtra(b: Uint8Array, withKey: boolean): XfrmAlgoExtra {
  need(b, L.xfrm_algo_auth.size, 'xfrm_algo_auth/aead');
  const dv = view(b);
  const keyBits = dv.getUint32(L.xfrm_algo_auth.alg_key_len, true);
  need(b, L.xfrm_algo_auth.size + keyBytes(keyBits), 'xfrm_algo_auth/aead key');
  const k = L.xfrm_algo_auth.alg_key;
  return {
    name: cString(b.subarray(0, 64)),
    keyBits,
    extraBits: dv.getUint32(L.xfrm_algo_auth.alg_trunc_len, true),
    key: withKey ? b.slice(k, k + keyBytes(keyBits)) : new Uint8Array(0),
  };
}

// ---------------------------------------------------------------- encap, mark

export function encodeEncapTmpl(e: XfrmEncapTmpl): Uint8Array {
  const E = L.xfrm_encap_tmpl;
  const b = new Uint8Array(E.size);
  const dv = view(b);
  dv.setUint16(E.encap_type, e.encapType, true);
  dv.setUint16(E.encap_sport, e.sport, false);
  dv.setUint16(E.encap_dport, e.dport, false);
  putAddr(b, E.encap_oa, e.oa);
  return b;
}

export function decodeEncapTmpl(b: Uint8Array): XfrmEncapTmpl {
  const E = L.xfrm_encap_tmpl;
  need(b, E.size, 'xfrm_encap_tmpl');
  const dv = view(b);
  return {
    encapType: dv.getUint16(E.encap_type, true),
    sport: dv.getUint16(E.encap_sport, false),
    dport: dv.getUint16(E.encap_dport, false),
    oa: addr(b, E.encap_oa),
  };
}

export function encodeMark(m: XfrmMarkRaw): Uint8Array {
  const b = new Uint8Array(L.xfrm_mark.size);
  view(b).setUint32(L.xfrm_mark.v, m.v, true);
  view(b).setUint32(L.xfrm_mark.m, m.m, true);
  return b;
}

export function decodeMark(b: Uint8Array): XfrmMarkRaw {
  need(b, L.xfrm_mark.size, 'xfrm_mark');
  return { v: view(b).getUint32(L.xfrm_mark.v, true), m: view(b).getUint32(L.xfrm_mark.m, true) };
}

// ---------------------------------------------------------------- events

export function decodeUserExpire(b: Uint8Array): XfrmUserExpire {
  need(b, L.xfrm_user_expire.size, 'xfrm_user_expire');
  return { state: decodeUsersaInfoAt(b, L.xfrm_user_expire.state), hard: b[L.xfrm_user_expire.hard] !== 0 };
}

export function decodeUserAcquire(b: Uint8Array): XfrmUserAcquire {
  const A = L.xfrm_user_acquire;
  need(b, A.size, 'xfrm_user_acquire');
  const dv = view(b);
  return {
    id: decodeIdAt(b, A.id),
    saddr: addr(b, A.saddr),
    sel: decodeSelectorAt(b, A.sel),
    policy: decodeUserpolicyInfoAt(b, A.policy),
    aalgos: dv.getUint32(A.aalgos, true),
    ealgos: dv.getUint32(A.ealgos, true),
    calgos: dv.getUint32(A.calgos, true),
    seq: dv.getUint32(A.seq, true),
  };
}

export function decodeUserMapping(b: Uint8Array): XfrmUserMapping {
  const M = L.xfrm_user_mapping;
  need(b, M.size, 'xfrm_user_mapping');
  const dv = view(b);
  return {
    id: decodeUsersaId(b.subarray(M.id, M.id + L.xfrm_usersa_id.size)),
    reqid: dv.getUint32(M.reqid, true),
    oldSaddr: addr(b, M.old_saddr),
    newSaddr: addr(b, M.new_saddr),
    oldSport: dv.getUint16(M.old_sport, false),
    newSport: dv.getUint16(M.new_sport, false),
  };
}

/** Encoders of kernel-to-user event payloads (the kernel sends these; tests build fixtures with them). */
export function encodeUserExpire(e: XfrmUserExpire): Uint8Array {
  const b = new Uint8Array(L.xfrm_user_expire.size);
  encodeUsersaInfoInto(b, L.xfrm_user_expire.state, e.state);
  b[L.xfrm_user_expire.hard] = e.hard ? 1 : 0;
  return b;
}

export function encodeUserAcquire(a: XfrmUserAcquire): Uint8Array {
  const A = L.xfrm_user_acquire;
  const b = new Uint8Array(A.size);
  const dv = view(b);
  encodeIdInto(b, A.id, a.id);
  putAddr(b, A.saddr, a.saddr);
  encodeSelectorInto(b, A.sel, a.sel);
  encodeUserpolicyInfoInto(b, A.policy, a.policy);
  dv.setUint32(A.aalgos, a.aalgos, true);
  dv.setUint32(A.ealgos, a.ealgos, true);
  dv.setUint32(A.calgos, a.calgos, true);
  dv.setUint32(A.seq, a.seq, true);
  return b;
}

export function encodeUserMapping(m: XfrmUserMapping): Uint8Array {
  const M = L.xfrm_user_mapping;
  const b = new Uint8Array(M.size);
  const dv = view(b);
  b.set(encodeUsersaId(m.id), M.id);
  dv.setUint32(M.reqid, m.reqid, true);
  putAddr(b, M.old_saddr, m.oldSaddr);
  putAddr(b, M.new_saddr, m.newSaddr);
  dv.setUint16(M.old_sport, m.oldSport, false);
  dv.setUint16(M.new_sport, m.newSport, false);
  return b;
}
