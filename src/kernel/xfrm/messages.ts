/**
 * XFRM netlink requests and replies <-> the types of ../types.ts.  Pure:
 * validation happens here, before any syscall; the socket code only moves
 * the bytes.  Every message returned holds key material when it is an SA
 * request: the caller wipes it after sending.
 *
 * NEWSA / UPDSA:  nlmsghdr | xfrm_usersa_info | XFRMA_ALG_AEAD or
 *                 (XFRMA_ALG_CRYPT + XFRMA_ALG_AUTH_TRUNC) [| XFRMA_ENCAP] [| XFRMA_MARK]
 * ALLOCSPI:       nlmsghdr | xfrm_userspi_info [| XFRMA_MARK]   -> NEWSA reply
 * DELSA / GETSA:  nlmsghdr | xfrm_usersa_id [| XFRMA_MARK]
 * NEWPOLICY:      nlmsghdr | xfrm_userpolicy_info | XFRMA_TMPL [| XFRMA_MARK]
 * DELPOLICY:      nlmsghdr | xfrm_userpolicy_id [| XFRMA_MARK]
 * EXPIRE event:   nlmsghdr | xfrm_user_expire [| XFRMA_MARK]
 * ACQUIRE event:  nlmsghdr | xfrm_user_acquire | XFRMA_TMPL
 */
import { parseAddress, parsePrefix, formatAddress, type AddressFamily } from '../address.js';
import { suiteByName, suiteFromXfrm } from '../algorithms.js';
import { KernelValidationError } from '../errors.js';
import {
  isOwnedReqid,
  type AllocSpiRequest,
  type IpsecMode,
  type KernelEvent,
  type PolicyDir,
  type PolicyInfo,
  type PolicySpec,
  type SaId,
  type SaInfo,
  type SaLifetimes,
  type SaSpec,
  type Selector,
  type UpperProto,
  type XfrmMark,
} from '../types.js';
import { align4, buildMessage, MessageBuilder, NLM_F, parseAttrs, type NlAttr, type NlMessage } from './netlink.js';
import { LAYOUT } from './layout.js';
import {
  AF_INET,
  AF_INET6,
  IPPROTO_ESP,
  UDP_ENCAP_ESPINUDP,
  XFRM_INF,
  XFRM_MODE,
  XFRM_MSG,
  XFRM_POLICY_ACTION,
  XFRM_POLICY_DIR,
  XFRMA,
  decodeAlgo,
  decodeAlgoExtra,
  decodeEncapTmpl,
  decodeMark,
  decodeUserAcquire,
  decodeUserExpire,
  decodeUserMapping,
  decodeUserTmpls,
  decodeUserpolicyInfoAt,
  decodeUsersaInfoAt,
  algoExtraSize,
  algoSize,
  encodeAlgoExtraInto,
  encodeAlgoInto,
  encodeEncapTmpl,
  encodeMark,
  encodeUserTmpl,
  encodeUserpolicyId,
  encodeUserpolicyInfo,
  encodeUsersaId,
  encodeUsersaInfoInto,
  encodeUserspiInfo,
  infiniteLifetime,
  zeroCur,
  type XfrmLifetimeCfg,
  type XfrmSelector,
  type XfrmUsersaInfo,
} from './structs.js';

export const DEFAULT_REPLAY_WINDOW = 32;
export const DEFAULT_POLICY_PRIORITY = 1000;
const REQ = NLM_F.REQUEST | NLM_F.ACK;

// ---------------------------------------------------------------- small conversions

const toAf = (f: AddressFamily): number => (f === 4 ? AF_INET : AF_INET6);
const fromAf = (af: number): AddressFamily => (af === AF_INET6 ? 6 : 4);
const MODES: Record<IpsecMode, number> = { transport: XFRM_MODE.TRANSPORT, tunnel: XFRM_MODE.TUNNEL };
const modeName = (m: number): IpsecMode => (m === XFRM_MODE.TUNNEL ? 'tunnel' : 'transport');
const DIRS: Record<PolicyDir, number> = { in: XFRM_POLICY_DIR.IN, out: XFRM_POLICY_DIR.OUT, fwd: XFRM_POLICY_DIR.FWD };
const dirName = (d: number): PolicyDir => (d === XFRM_POLICY_DIR.OUT ? 'out' : d === XFRM_POLICY_DIR.FWD ? 'fwd' : 'in');
export const PROTOS: Record<string, number> = { any: 0, icmp: 1, tcp: 6, udp: 17, icmpv6: 58 };

export function u32(v: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new KernelValidationError(field, `${v} is not a 32-bit unsigned integer`);
  return v;
}

export function port(v: number | undefined, field: string): number {
  if (v === undefined) return 0;
  if (!Number.isInteger(v) || v < 1 || v > 65535) throw new KernelValidationError(field, `${v} is not a port number`);
  return v;
}

export function upperProto(p: UpperProto | undefined): number {
  if (p === undefined) return 0;
  if (typeof p === 'number') {
    if (!Number.isInteger(p) || p < 0 || p > 255) throw new KernelValidationError('selector.proto', `${p} is not an IP protocol number`);
    return p;
  }
  const n = PROTOS[p];
  if (n === undefined) throw new KernelValidationError('selector.proto', `unknown protocol "${p}"`);
  return n;
}

export function checkSpi(spi: number, field = 'spi'): number {
  u32(spi, field);
  if (spi < 256) throw new KernelValidationError(field, `SPI ${spi} is reserved (must be >= 256)`);
  return spi;
}

export function checkOwnedReqid(reqid: number, field = 'reqid'): number {
  u32(reqid, field);
  if (!isOwnedReqid(reqid)) throw new KernelValidationError(field, `reqid 0x${reqid.toString(16)} is outside sipsec's owned range 0x5e000000-0x5effffff`);
  return reqid;
}

export function pair(src: string, dst: string, field: string): { src: ReturnType<typeof parseAddress>; dst: ReturnType<typeof parseAddress> } {
  const s = parseAddress(src, `${field}.src`);
  const d = parseAddress(dst, `${field}.dst`);
  if (s.family !== d.family) throw new KernelValidationError(field, `address family mismatch: ${src} vs ${dst}`);
  return { src: s, dst: d };
}

function markAttrs(mark: XfrmMark | undefined): NlAttr[] {
  if (!mark) return [];
  return [{ type: XFRMA.MARK, data: encodeMark({ v: u32(mark.value, 'mark.value'), m: u32(mark.mask, 'mark.mask') }) }];
}

function hostSelector(src: Uint8Array, dst: Uint8Array, family: AddressFamily): XfrmSelector {
  const bits = family === 4 ? 32 : 128;
  return { daddr: dst, saddr: src, dport: 0, dportMask: 0, sport: 0, sportMask: 0, family: toAf(family), prefixlenD: bits, prefixlenS: bits, proto: 0, ifindex: 0, user: 0 };
}

export function encodeSelector(s: Selector): XfrmSelector {
  const src = parsePrefix(s.src, 'selector.src');
  const dst = parsePrefix(s.dst, 'selector.dst');
  if (src.family !== dst.family) throw new KernelValidationError('selector', `address family mismatch: ${s.src} vs ${s.dst}`);
  const sport = port(s.srcPort, 'selector.srcPort');
  const dport = port(s.dstPort, 'selector.dstPort');
  return {
    daddr: dst.bytes,
    saddr: src.bytes,
    dport,
    dportMask: dport ? 0xffff : 0,
    sport,
    sportMask: sport ? 0xffff : 0,
    family: toAf(src.family),
    prefixlenD: dst.prefixLen,
    prefixlenS: src.prefixLen,
    proto: upperProto(s.proto),
    ifindex: 0,
    user: 0,
  };
}

function decodeSelector(s: XfrmSelector): Selector {
  const f = fromAf(s.family);
  const name = Object.keys(PROTOS).find((k) => PROTOS[k] === s.proto);
  const out: Selector = {
    src: `${formatAddress(s.saddr, f)}/${s.prefixlenS}`,
    dst: `${formatAddress(s.daddr, f)}/${s.prefixlenD}`,
    proto: (name as UpperProto | undefined) ?? s.proto,
  };
  if (s.sportMask) out.srcPort = s.sport;
  if (s.dportMask) out.dstPort = s.dport;
  return out;
}

// Shared by every request without lifetimes (read only: encoded, never changed).
const INFINITE_LFT: XfrmLifetimeCfg = Object.freeze(infiniteLifetime());
const ZERO_CUR = Object.freeze(zeroCur());

function lifetimeCfg(l: SaLifetimes | undefined): XfrmLifetimeCfg {
  if (!l) return INFINITE_LFT;
  const cfg = infiniteLifetime();
  const secs = (v: number | undefined, f: string): bigint => {
    if (v === undefined) return 0n;
    if (!Number.isInteger(v) || v < 0) throw new KernelValidationError(`lifetimes.${f}`, `${v} is not a whole number of seconds`);
    return BigInt(v);
  };
  const count = (v: bigint | undefined, f: string): bigint => {
    if (v === undefined) return XFRM_INF;
    if (v <= 0n || v > XFRM_INF) throw new KernelValidationError(`lifetimes.${f}`, `${v} is out of range`);
    return v;
  };
  cfg.softAddExpiresSeconds = secs(l.softSeconds, 'softSeconds');
  cfg.hardAddExpiresSeconds = secs(l.hardSeconds, 'hardSeconds');
  cfg.softByteLimit = count(l.softBytes, 'softBytes');
  cfg.hardByteLimit = count(l.hardBytes, 'hardBytes');
  cfg.softPacketLimit = count(l.softPackets, 'softPackets');
  cfg.hardPacketLimit = count(l.hardPackets, 'hardPackets');
  if (cfg.hardAddExpiresSeconds && cfg.softAddExpiresSeconds > cfg.hardAddExpiresSeconds) {
    throw new KernelValidationError('lifetimes', 'soft lifetime exceeds hard lifetime');
  }
  return cfg;
}

function decodeLifetimes(c: XfrmLifetimeCfg): SaLifetimes {
  const out: SaLifetimes = {};
  if (c.softAddExpiresSeconds) out.softSeconds = Number(c.softAddExpiresSeconds);
  if (c.hardAddExpiresSeconds) out.hardSeconds = Number(c.hardAddExpiresSeconds);
  if (c.softByteLimit !== XFRM_INF) out.softBytes = c.softByteLimit;
  if (c.hardByteLimit !== XFRM_INF) out.hardBytes = c.hardByteLimit;
  if (c.softPacketLimit !== XFRM_INF) out.softPackets = c.softPacketLimit;
  if (c.hardPacketLimit !== XFRM_INF) out.hardPackets = c.hardPacketLimit;
  return out;
}

// ---------------------------------------------------------------- SA requests

/**
 * NEWSA (or UPDSA when `update`), built into `b` (a request socket passes its
 * own, reused).  Validates everything first.  Wipe the result after use.
 */
export function encodeNewSa(spec: SaSpec, seq: number, update = false, b = new MessageBuilder()): Uint8Array {
  if (spec.proto !== 'esp') throw new KernelValidationError('proto', `unsupported protocol "${String(spec.proto)}"`);
  const mode = MODES[spec.mode];
  if (mode === undefined) throw new KernelValidationError('mode', `unknown mode "${String(spec.mode)}"`);
  const { src, dst } = pair(spec.src, spec.dst, 'sa');
  checkSpi(spec.spi);
  checkOwnedReqid(spec.reqid);
  const suite = suiteByName(spec.suite);
  const replayWindow = spec.replayWindow ?? DEFAULT_REPLAY_WINDOW;
  if (!Number.isInteger(replayWindow) || replayWindow < 0 || replayWindow > 255) {
    throw new KernelValidationError('replayWindow', `${replayWindow} is not in 0..255`);
  }
  const encKey = spec.keys.encKey;
  const authKey = spec.keys.authKey ?? new Uint8Array(0);
  if (encKey.length !== suite.encKeyBytes) {
    throw new KernelValidationError('keys.encKey', `${suite.name} needs ${suite.encKeyBytes} bytes, got ${encKey.length}`);
  }
  if (authKey.length !== suite.authKeyBytes) {
    throw new KernelValidationError('keys.authKey', `${suite.name} needs ${suite.authKeyBytes} bytes, got ${authKey.length}`);
  }
  const lft = lifetimeCfg(spec.lifetimes);
  const encap = spec.encap
    ? encodeEncapTmpl({
        encapType: UDP_ENCAP_ESPINUDP,
        sport: port(spec.encap.sport, 'encap.sport'),
        dport: port(spec.encap.dport, 'encap.dport'),
        oa: spec.encap.originalAddress ? parseAddress(spec.encap.originalAddress, 'encap.originalAddress').bytes : new Uint8Array(16),
      })
    : undefined;
  const marks = markAttrs(spec.mark);
  const info: XfrmUsersaInfo = {
    sel: spec.mode === 'transport' ? hostSelector(src.bytes, dst.bytes, src.family) : hostSelector(new Uint8Array(16), new Uint8Array(16), src.family),
    id: { daddr: dst.bytes, spi: spec.spi, proto: IPPROTO_ESP },
    saddr: src.bytes,
    lft,
    curlft: ZERO_CUR,
    stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
    seq: 0,
    reqid: spec.reqid,
    family: toAf(src.family),
    mode,
    replayWindow,
    flags: 0,
  };
  if (spec.mode === 'tunnel') {
    info.sel.prefixlenD = 0;
    info.sel.prefixlenS = 0;
  }
  const off = b.begin(update ? XFRM_MSG.UPDSA : XFRM_MSG.NEWSA, REQ | (update ? 0 : NLM_F.EXCL), seq, LAYOUT.xfrm_usersa_info.size);
  encodeUsersaInfoInto(b.buf, off, info);
  // Reserve each attribute before reading b.buf: reserving may move the message to a larger buffer.
  if (suite.aead) {
    const at = b.attr(XFRMA.ALG_AEAD, algoExtraSize(encKey));
    encodeAlgoExtraInto(b.buf, at, { name: suite.aead.xfrmName, keyBits: encKey.length * 8, key: encKey, extraBits: suite.aead.icvBits });
  } else if (suite.crypt && suite.auth) {
    const ac = b.attr(XFRMA.ALG_CRYPT, algoSize(encKey));
    encodeAlgoInto(b.buf, ac, { name: suite.crypt.xfrmName, keyBits: encKey.length * 8, key: encKey });
    const aa = b.attr(XFRMA.ALG_AUTH_TRUNC, algoExtraSize(authKey));
    encodeAlgoExtraInto(b.buf, aa, { name: suite.auth.xfrmName, keyBits: authKey.length * 8, key: authKey, extraBits: suite.auth.truncBits });
  }
  if (encap) b.put(XFRMA.ENCAP, encap);
  for (const a of marks) b.put(a.type, a.data);
  return b.finish();
}

function usersaId(id: SaId): Uint8Array {
  if (id.proto !== 'esp') throw new KernelValidationError('proto', `unsupported protocol "${String(id.proto)}"`);
  const dst = parseAddress(id.dst, 'dst');
  return encodeUsersaId({ daddr: dst.bytes, spi: checkSpi(id.spi), family: toAf(dst.family), proto: IPPROTO_ESP });
}

export function encodeDelSa(id: SaId, seq: number, b?: MessageBuilder): Uint8Array {
  return buildMessage(XFRM_MSG.DELSA, REQ, seq, usersaId(id), markAttrs(id.mark), b);
}

export function encodeGetSa(id: SaId, seq: number, b?: MessageBuilder): Uint8Array {
  return buildMessage(XFRM_MSG.GETSA, REQ, seq, usersaId(id), markAttrs(id.mark), b);
}

export const DEFAULT_SPI_MIN = 0x100;
export const DEFAULT_SPI_MAX = 0xffffffff;

export function encodeAllocSpi(req: AllocSpiRequest, seq: number, b?: MessageBuilder): Uint8Array {
  if (req.proto !== 'esp') throw new KernelValidationError('proto', `unsupported protocol "${String(req.proto)}"`);
  const { src, dst } = pair(req.src, req.dst, 'allocSpi');
  const min = checkSpi(req.min ?? DEFAULT_SPI_MIN, 'min');
  const max = checkSpi(req.max ?? DEFAULT_SPI_MAX, 'max');
  if (min > max) throw new KernelValidationError('min', 'min > max');
  const info: XfrmUsersaInfo = {
    sel: hostSelector(src.bytes, dst.bytes, src.family),
    id: { daddr: dst.bytes, spi: 0, proto: IPPROTO_ESP },
    saddr: src.bytes,
    lft: INFINITE_LFT,
    curlft: ZERO_CUR,
    stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
    seq: 0,
    reqid: req.reqid === undefined ? 0 : checkOwnedReqid(req.reqid),
    family: toAf(src.family),
    mode: XFRM_MODE.TRANSPORT,
    replayWindow: 0,
    flags: 0,
  };
  return buildMessage(XFRM_MSG.ALLOCSPI, REQ, seq, encodeUserspiInfo(info, min, max), markAttrs(req.mark), b);
}

/** Dump requests: a zeroed fixed part, NLM_F_DUMP. */
export function encodeDumpSa(seq: number, b?: MessageBuilder): Uint8Array {
  return buildMessage(XFRM_MSG.GETSA, NLM_F.REQUEST | NLM_F.DUMP, seq, new Uint8Array(LAYOUT.xfrm_usersa_id.size), [], b);
}

export function encodeDumpPolicy(seq: number, b?: MessageBuilder): Uint8Array {
  return buildMessage(XFRM_MSG.GETPOLICY, NLM_F.REQUEST | NLM_F.DUMP, seq, new Uint8Array(LAYOUT.xfrm_userpolicy_id.size), [], b);
}

// ---------------------------------------------------------------- SA replies

/**
 * A NEWSA message (GETSA reply, dump entry, ALLOCSPI reply) -> SaInfo.  Keys
 * are copied out only when `withKeys`; the caller wipes the input buffer.
 */
export function decodeSaMessage(msg: NlMessage, withKeys: boolean): SaInfo {
  const p = msg.payload;
  const info = decodeUsersaInfoAt(p, 0);
  const attrs = parseAttrs(p, LAYOUT.xfrm_usersa_info.size);
  const f = fromAf(info.family);
  const aeadRaw = attrs.get(XFRMA.ALG_AEAD);
  const cryptRaw = attrs.get(XFRMA.ALG_CRYPT);
  const authRaw = attrs.get(XFRMA.ALG_AUTH_TRUNC);
  const aead = aeadRaw ? decodeAlgoExtra(aeadRaw, withKeys) : undefined;
  const crypt = cryptRaw ? decodeAlgo(cryptRaw, withKeys) : undefined;
  const auth = authRaw ? decodeAlgoExtra(authRaw, withKeys) : attrs.get(XFRMA.ALG_AUTH) ? decodeAlgo(attrs.get(XFRMA.ALG_AUTH)!, withKeys) : undefined;
  const suite = suiteFromXfrm({
    ...(aead ? { aead: { name: aead.name, keyBits: aead.keyBits } } : {}),
    ...(crypt ? { crypt: { name: crypt.name, keyBits: crypt.keyBits } } : {}),
    ...(auth ? { auth: { name: auth.name, keyBits: auth.keyBits } } : {}),
  });
  const markRaw = attrs.get(XFRMA.MARK);
  const encapRaw = attrs.get(XFRMA.ENCAP);
  const id: SaId = { dst: formatAddress(info.id.daddr, f), spi: info.id.spi, proto: 'esp' };
  if (markRaw) {
    const m = decodeMark(markRaw);
    id.mark = { value: m.v, mask: m.m };
  }
  const out: SaInfo = {
    id,
    src: formatAddress(info.saddr, f),
    mode: modeName(info.mode),
    reqid: info.reqid,
    suite: suite?.name,
    algorithms: {
      ...(aead ? { aead: aead.name } : {}),
      ...(crypt ? { crypt: crypt.name } : {}),
      ...(auth ? { auth: auth.name } : {}),
    },
    replayWindow: info.replayWindow,
    lifetimes: decodeLifetimes(info.lft),
    counters: { bytes: info.curlft.bytes, packets: info.curlft.packets, addTime: Number(info.curlft.addTime), useTime: Number(info.curlft.useTime) },
    stats: { replay: info.stats.replay, replayWindow: info.stats.replayWindow, integrityFailed: info.stats.integrityFailed },
    owned: isOwnedReqid(info.reqid),
  };
  if (encapRaw) {
    const e = decodeEncapTmpl(encapRaw);
    out.encap = { sport: e.sport, dport: e.dport, originalAddress: formatAddress(e.oa, f) };
  }
  if (withKeys) {
    const encKey = aead?.key ?? crypt?.key ?? new Uint8Array(0);
    // Not enumerable: JSON, inspect and spreads of the SaInfo never show keys.
    Object.defineProperty(out, 'keys', { value: auth ? { encKey, authKey: auth.key } : { encKey }, enumerable: false });
  }
  return out;
}

// ---------------------------------------------------------------- policies

/** NEWPOLICY (or UPDPOLICY when `update`: replace the policy with the same selector and direction). */
export function encodeNewPolicy(spec: PolicySpec, seq: number, update = false, b?: MessageBuilder): Uint8Array {
  const sel = encodeSelector(spec.selector);
  const dir = DIRS[spec.dir];
  if (dir === undefined) throw new KernelValidationError('dir', `unknown direction "${String(spec.dir)}"`);
  if (spec.action !== 'allow' && spec.action !== 'block') throw new KernelValidationError('action', `unknown action "${String(spec.action)}"`);
  const reqid = checkOwnedReqid(spec.reqid);
  const priority = u32(spec.priority ?? DEFAULT_POLICY_PRIORITY, 'priority');
  const t = spec.template;
  if (spec.action === 'allow' && !t) throw new KernelValidationError('template', "an 'allow' policy needs an ESP template");
  const family = fromAf(sel.family);
  let tmplAttr: NlAttr[] = [];
  if (t) {
    if (t.proto !== 'esp') throw new KernelValidationError('template.proto', `unsupported protocol "${String(t.proto)}"`);
    const mode = MODES[t.mode];
    if (mode === undefined) throw new KernelValidationError('template.mode', `unknown mode "${String(t.mode)}"`);
    if (t.mode === 'tunnel' && (!t.src || !t.dst)) throw new KernelValidationError('template', 'tunnel mode needs src and dst');
    if (!!t.src !== !!t.dst) throw new KernelValidationError('template', 'give both src and dst, or neither');
    const ends = t.src && t.dst ? pair(t.src, t.dst, 'template') : undefined;
    if (ends && t.mode === 'transport' && ends.src.family !== family) {
      throw new KernelValidationError('template', 'transport-mode template family differs from the selector');
    }
    tmplAttr = [
      {
        type: XFRMA.TMPL,
        data: encodeUserTmpl({
          id: { daddr: ends?.dst.bytes ?? new Uint8Array(16), spi: t.spi === undefined ? 0 : checkSpi(t.spi, 'template.spi'), proto: IPPROTO_ESP },
          family: toAf(ends?.src.family ?? family),
          saddr: ends?.src.bytes ?? new Uint8Array(16),
          reqid,
          mode,
          share: 0,
          optional: t.optional ? 1 : 0,
          aalgos: 0xffffffff,
          ealgos: 0xffffffff,
          calgos: 0xffffffff,
        }),
      },
    ];
  }
  const info = encodeUserpolicyInfo({
    sel,
    lft: INFINITE_LFT,
    curlft: ZERO_CUR,
    priority,
    index: 0,
    dir,
    action: spec.action === 'allow' ? XFRM_POLICY_ACTION.ALLOW : XFRM_POLICY_ACTION.BLOCK,
    flags: 0,
    share: 0,
  });
  const type = update ? XFRM_MSG.UPDPOLICY : XFRM_MSG.NEWPOLICY;
  return buildMessage(type, REQ | (update ? 0 : NLM_F.EXCL), seq, info, [...tmplAttr, ...markAttrs(spec.mark)], b);
}

export function encodeDelPolicy(selector: Selector, dir: PolicyDir, mark: XfrmMark | undefined, seq: number, b?: MessageBuilder): Uint8Array {
  const d = DIRS[dir];
  if (d === undefined) throw new KernelValidationError('dir', `unknown direction "${String(dir)}"`);
  return buildMessage(XFRM_MSG.DELPOLICY, REQ, seq, encodeUserpolicyId({ sel: encodeSelector(selector), index: 0, dir: d }), markAttrs(mark), b);
}

export function decodePolicyMessage(msg: NlMessage): PolicyInfo {
  const p = msg.payload;
  const info = decodeUserpolicyInfoAt(p, 0);
  const attrs = parseAttrs(p, LAYOUT.xfrm_userpolicy_info.size);
  const tmplRaw = attrs.get(XFRMA.TMPL);
  const templates = (tmplRaw ? decodeUserTmpls(tmplRaw) : []).map((t) => {
    const f = fromAf(t.family);
    const zero = t.saddr.every((b) => b === 0) && t.id.daddr.every((b) => b === 0);
    return {
      proto: 'esp' as const,
      mode: modeName(t.mode),
      ...(zero ? {} : { src: formatAddress(t.saddr, f), dst: formatAddress(t.id.daddr, f) }),
      ...(t.id.spi ? { spi: t.id.spi } : {}),
      ...(t.optional ? { optional: true } : {}),
      reqid: t.reqid,
    };
  });
  const out: PolicyInfo = {
    selector: decodeSelector(info.sel),
    dir: dirName(info.dir),
    action: info.action === XFRM_POLICY_ACTION.BLOCK ? 'block' : 'allow',
    priority: info.priority,
    index: info.index,
    templates,
    owned: templates.some((t) => isOwnedReqid(t.reqid)),
  };
  const markRaw = attrs.get(XFRMA.MARK);
  if (markRaw) {
    const m = decodeMark(markRaw);
    out.mark = { value: m.v, mask: m.m };
  }
  return out;
}

// ---------------------------------------------------------------- events

/** EXPIRE / ACQUIRE / MAPPING multicast messages -> events; others -> undefined. */
export function decodeEvent(msg: NlMessage): KernelEvent | undefined {
  if (msg.type === XFRM_MSG.EXPIRE) {
    const e = decodeUserExpire(msg.payload);
    const f = fromAf(e.state.family);
    const attrs = parseAttrs(msg.payload, align4(LAYOUT.xfrm_user_expire.size));
    const sa: SaId = { dst: formatAddress(e.state.id.daddr, f), spi: e.state.id.spi, proto: 'esp' };
    const markRaw = attrs.get(XFRMA.MARK);
    if (markRaw) {
      const m = decodeMark(markRaw);
      sa.mark = { value: m.v, mask: m.m };
    }
    return { type: 'expire', hard: e.hard, sa, src: formatAddress(e.state.saddr, f), reqid: e.state.reqid, owned: isOwnedReqid(e.state.reqid) };
  }
  if (msg.type === XFRM_MSG.ACQUIRE) {
    const a = decodeUserAcquire(msg.payload);
    const attrs = parseAttrs(msg.payload, LAYOUT.xfrm_user_acquire.size);
    const tmplRaw = attrs.get(XFRMA.TMPL);
    const tmpls = tmplRaw ? decodeUserTmpls(tmplRaw) : [];
    const reqid = tmpls[0]?.reqid ?? 0;
    const f = fromAf(tmpls[0]?.family || a.sel.family);
    return {
      type: 'acquire',
      seq: a.seq,
      src: formatAddress(a.saddr, f),
      dst: formatAddress(a.id.daddr, f),
      selector: decodeSelector(a.sel),
      dir: dirName(a.policy.dir),
      reqid,
      owned: isOwnedReqid(reqid),
    };
  }
  if (msg.type === XFRM_MSG.MAPPING) {
    // xfrm_user.c build_mapping: id = the inbound SA's (daddr, spi, proto), old = its saddr and
    // encap sport, new = where esp_input_done2 saw the packet come from.  No attributes.
    const m = decodeUserMapping(msg.payload);
    const f = fromAf(m.id.family);
    return {
      type: 'mapping',
      sa: { dst: formatAddress(m.id.daddr, f), spi: m.id.spi, proto: 'esp' },
      reqid: m.reqid,
      owned: isOwnedReqid(m.reqid),
      oldSrc: formatAddress(m.oldSaddr, f),
      newSrc: formatAddress(m.newSaddr, f),
      oldPort: m.oldSport,
      newPort: m.newSport,
    };
  }
  return undefined;
}
