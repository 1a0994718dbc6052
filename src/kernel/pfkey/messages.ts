/**
 * PF_KEY v2 requests and replies <-> the types of ../types.ts.  Pure:
 * validation happens here, before any syscall; the socket code only moves the
 * bytes.  Messages (RFC 2367 §3.1, KAME/Linux SADB_X_* for the SPD):
 *
 *  SADB_ADD / SADB_UPDATE (§3.1.3/§3.1.2):
 *      base, SA, ADDRESS_SRC, ADDRESS_DST, X_SA2, KEY_ENCRYPT, KEY_AUTH,
 *      [LIFETIME_HARD, LIFETIME_SOFT], [X_NAT_T_TYPE, X_NAT_T_SPORT, X_NAT_T_DPORT]
 *  SADB_GETSPI (§3.1.1): base, ADDRESS_SRC, ADDRESS_DST, SPIRANGE, X_SA2 -> reply with SA
 *  SADB_DELETE / SADB_GET (§3.1.4/§3.1.5): base, SA, ADDRESS_SRC, ADDRESS_DST
 *  SADB_DUMP (§3.1.11), SADB_X_SPDDUMP: base only; one reply per entry
 *  SADB_X_SPDADD / SADB_X_SPDUPDATE: base, ADDRESS_SRC, ADDRESS_DST, X_POLICY(+ipsecrequest)
 *  SADB_X_SPDDELETE: base, ADDRESS_SRC, ADDRESS_DST, X_POLICY (dir)   (by selector)
 *  SADB_X_SPDDELETE2 / SADB_X_SPDGET: base, X_POLICY (id)             (by index)
 *  SADB_REGISTER (§3.1.7): base (satype ESP)
 *  SADB_EXPIRE (§3.1.8): base, SA, LIFETIME_CURRENT, LIFETIME_HARD or _SOFT, addresses, X_SA2
 *  SADB_ACQUIRE (§3.1.6): base, ADDRESS_SRC, ADDRESS_DST, X_POLICY, PROPOSAL
 *
 * Limits of Linux's af_key (net/key/af_key.c, net/xfrm/xfrm_algo.c), enforced
 * here with a KernelValidationError before any syscall:
 *  - no AEAD: af_key looks SADB_X_EALG_AES_GCM_ICV16 up among the plain
 *    ciphers only, so AES-GCM cannot be installed through PF_KEY;
 *  - hmac(sha256) through PF_KEY gets the 96-bit ICV of the old draft
 *    (xfrm_algo.c icv_truncbits), not RFC 4868's 128: our sha256 suites would
 *    not interoperate, so they are refused too;
 *  - the reqid of an ipsecrequest must be 1..IPSEC_MANUAL_REQID_MAX (0x3fff)
 *    with level UNIQUE, else af_key picks its own: ownership is tagged with
 *    the sub-range PFKEY_REQID_BASE..+PFKEY_REQID_COUNT-1 (see pfkeyReqid);
 *  - sadb_sa_replay is a u8 and Linux caps it at 32: larger windows are refused;
 *  - sadb_lifetime_allocations (the packet limit) is a u32;
 *  - no marks; no SPI in an ipsecrequest (template.spi is not sent: the kernel
 *    uses the newest SA of the reqid); optional templates (level USE) carry no
 *    reqid, so they are refused; the NAT-T original address is not carried
 *    (af_key zeroes encap_oa).
 */
import { formatAddress, parseAddress, parsePrefix, type AddressFamily, type ParsedAddress } from '../address.js';
import { SUITES, suiteByName, suiteBySadb, type AlgorithmSuite } from '../algorithms.js';
import { KernelValidationError } from '../errors.js';
import {
  ownedReqid,
  OWNED_REQID_BASE,
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
import { checkOwnedReqid, checkSpi, pair, port, PROTOS, u32, upperProto, DEFAULT_POLICY_PRIORITY, DEFAULT_SPI_MAX, DEFAULT_SPI_MIN } from '../xfrm/messages.js';
import {
  AF_INET,
  AF_INET6,
  decodeAddress,
  decodeKey,
  decodeLifetime,
  decodeNatTPort,
  decodeNatTType,
  decodePolicy,
  decodeSa,
  decodeSa2,
  encodeAddress,
  encodeKey,
  encodeLifetime,
  encodeMessage,
  encodeNatTPort,
  encodeNatTType,
  encodePolicy,
  encodeSa,
  encodeSa2,
  encodeSpirange,
  IPPROTO_ESP,
  IPSEC_DIR,
  IPSEC_LEVEL,
  IPSEC_MANUAL_REQID_MAX,
  IPSEC_MODE,
  IPSEC_POLICY,
  IPSEC_PROTO_ANY,
  keyBits,
  PfkeyDecodeError,
  SADB,
  SADB_EXT,
  SADB_SASTATE_MATURE,
  SADB_SATYPE_ESP,
  UDP_ENCAP_ESPINUDP,
  type ParsedMessage,
  type SadbAddress,
  type SadbLifetime,
  type SockAddr,
} from './structs.js';

/** sadb_sa_replay is a u8; Linux keeps at most 32 (the u32 replay bitmap). */
export const PFKEY_MAX_REPLAY = 32;
export const DEFAULT_REPLAY_WINDOW = 32;

/**
 * Ownership tag for PF_KEY.  An ipsecrequest reqid above 0x3fff is replaced by
 * a kernel-generated one, and an SA only serves a template of the same reqid,
 * so both carry reqid PFKEY_REQID_BASE + n for our ownedReqid(n), n < 0x400.
 * af_key's generated reqids start above 0x3fff, so only a manual
 * `setkey ... unique:15360..16383` could collide.
 */
export const PFKEY_REQID_BASE = 0x3c00;
export const PFKEY_REQID_COUNT = 0x400;

/** Our owned reqid (types.ts) -> the reqid PF_KEY puts in the kernel. */
export function pfkeyReqid(reqid: number, field = 'reqid'): number {
  checkOwnedReqid(reqid, field);
  const n = (reqid - OWNED_REQID_BASE) >>> 0;
  if (n >= PFKEY_REQID_COUNT) {
    throw new KernelValidationError(field, `reqid 0x${reqid.toString(16)} has no PF_KEY tag: only ownedReqid(0..${PFKEY_REQID_COUNT - 1}) fit the 0x3fff limit of ipsecrequest`);
  }
  return PFKEY_REQID_BASE + n;
}

/** A kernel reqid -> the reqid the interface reports, and whether it is ours. */
export function reqidFromKernel(k: number): { reqid: number; owned: boolean } {
  if (k >= PFKEY_REQID_BASE && k < PFKEY_REQID_BASE + PFKEY_REQID_COUNT && k <= IPSEC_MANUAL_REQID_MAX) {
    return { reqid: ownedReqid(k - PFKEY_REQID_BASE), owned: true };
  }
  return { reqid: k, owned: false };
}

/** The suite, if PF_KEY can install it faithfully; else a KernelValidationError naming it. */
export function pfkeySuite(name: string): AlgorithmSuite {
  const s = suiteByName(name);
  if (s.aead) throw new KernelValidationError('suite', `${s.name} is AEAD: Linux PF_KEY (af_key) has no AEAD support; use the XFRM backend`);
  if (s.auth?.xfrmName === 'hmac(sha256)') {
    throw new KernelValidationError('suite', `${s.name}: Linux PF_KEY installs hmac(sha256) with a 96-bit ICV, not RFC 4868's 128; use the XFRM backend`);
  }
  return s;
}

/** Suites the PF_KEY backend installs. */
export const PFKEY_SUITES: readonly AlgorithmSuite[] = SUITES.filter((s) => !s.aead && s.auth?.xfrmName !== 'hmac(sha256)');

export interface Header {
  seq: number;
  pid: number;
}

// ---------------------------------------------------------------- conversions

const MODES: Record<IpsecMode, number> = { transport: IPSEC_MODE.TRANSPORT, tunnel: IPSEC_MODE.TUNNEL };
const modeName = (m: number): IpsecMode => (m === IPSEC_MODE.TUNNEL ? 'tunnel' : 'transport');
const DIRS: Record<PolicyDir, number> = { in: IPSEC_DIR.INBOUND, out: IPSEC_DIR.OUTBOUND, fwd: IPSEC_DIR.FWD };
const dirName = (d: number): PolicyDir => (d === IPSEC_DIR.OUTBOUND ? 'out' : d === IPSEC_DIR.FWD ? 'fwd' : 'in');
const fam = (a: ParsedAddress): SockAddr['family'] => (a.family === 4 ? AF_INET : AF_INET6);
const famOf = (f: number): AddressFamily => (f === AF_INET6 ? 6 : 4);

function noMark(mark: XfrmMark | undefined): void {
  if (mark) throw new KernelValidationError('mark', 'PF_KEY has no XFRM marks; use the XFRM backend');
}

function hostAddress(exttype: number, a: ParsedAddress): Uint8Array {
  return encodeAddress(exttype, { family: fam(a), addr: a.bytes, port: 0, proto: 0, prefixlen: a.family === 4 ? 32 : 128 });
}

function checkMode(mode: IpsecMode, field: string): number {
  const m = MODES[mode];
  if (m === undefined) throw new KernelValidationError(field, `unknown mode "${String(mode)}"`);
  return m;
}

function checkEsp(proto: string, field = 'proto'): void {
  if (proto !== 'esp') throw new KernelValidationError(field, `unsupported protocol "${proto}"`);
}

/** HARD and SOFT sadb_lifetime (0 = no limit), or none when no limit is set. */
function lifetimeExts(l: SaLifetimes | undefined): Uint8Array[] {
  if (!l || Object.values(l).every((v) => v === undefined)) return [];
  const secs = (v: number | undefined, f: string): bigint => {
    if (v === undefined) return 0n;
    if (!Number.isInteger(v) || v < 0) throw new KernelValidationError(`lifetimes.${f}`, `${v} is not a whole number of seconds`);
    return BigInt(v);
  };
  const bytes = (v: bigint | undefined, f: string): bigint => {
    if (v === undefined) return 0n;
    if (v <= 0n || v >= 0xffffffffffffffffn) throw new KernelValidationError(`lifetimes.${f}`, `${v} is out of range`);
    return v;
  };
  const packets = (v: bigint | undefined, f: string): number => {
    if (v === undefined) return 0;
    if (v <= 0n || v > 0xffffffffn) throw new KernelValidationError(`lifetimes.${f}`, `${v} is out of range (sadb_lifetime_allocations is 32 bits)`);
    return Number(v);
  };
  const soft: SadbLifetime = { allocations: packets(l.softPackets, 'softPackets'), bytes: bytes(l.softBytes, 'softBytes'), addtime: secs(l.softSeconds, 'softSeconds'), usetime: 0n };
  const hard: SadbLifetime = { allocations: packets(l.hardPackets, 'hardPackets'), bytes: bytes(l.hardBytes, 'hardBytes'), addtime: secs(l.hardSeconds, 'hardSeconds'), usetime: 0n };
  if (hard.addtime && soft.addtime > hard.addtime) throw new KernelValidationError('lifetimes', 'soft lifetime exceeds hard lifetime');
  return [encodeLifetime(SADB_EXT.LIFETIME_HARD, hard), encodeLifetime(SADB_EXT.LIFETIME_SOFT, soft)];
}

function decodeLifetimes(hard: SadbLifetime | undefined, soft: SadbLifetime | undefined): SaLifetimes {
  const out: SaLifetimes = {};
  if (soft?.addtime) out.softSeconds = Number(soft.addtime);
  if (hard?.addtime) out.hardSeconds = Number(hard.addtime);
  if (soft?.bytes) out.softBytes = soft.bytes;
  if (hard?.bytes) out.hardBytes = hard.bytes;
  if (soft?.allocations) out.softPackets = BigInt(soft.allocations);
  if (hard?.allocations) out.hardPackets = BigInt(hard.allocations);
  return out;
}

// ---------------------------------------------------------------- SA requests

/** SADB_ADD (or SADB_UPDATE when `update`).  Validates everything first.  Wipe the result after use. */
export function encodeAddSa(spec: SaSpec, h: Header, update = false): Uint8Array {
  checkEsp(spec.proto);
  const mode = checkMode(spec.mode, 'mode');
  const { src, dst } = pair(spec.src, spec.dst, 'sa');
  checkSpi(spec.spi);
  const reqid = pfkeyReqid(spec.reqid);
  noMark(spec.mark);
  const suite = pfkeySuite(spec.suite);
  const replay = spec.replayWindow ?? DEFAULT_REPLAY_WINDOW;
  if (!Number.isInteger(replay) || replay < 0 || replay > PFKEY_MAX_REPLAY) {
    throw new KernelValidationError('replayWindow', `${replay} is not in 0..${PFKEY_MAX_REPLAY} (PF_KEY's sadb_sa_replay, capped by Linux)`);
  }
  const encKey = spec.keys.encKey;
  const authKey = spec.keys.authKey ?? new Uint8Array(0);
  if (encKey.length !== suite.encKeyBytes) throw new KernelValidationError('keys.encKey', `${suite.name} needs ${suite.encKeyBytes} bytes, got ${encKey.length}`);
  if (authKey.length !== suite.authKeyBytes) throw new KernelValidationError('keys.authKey', `${suite.name} needs ${suite.authKeyBytes} bytes, got ${authKey.length}`);
  const exts = [
    encodeSa({ spi: spec.spi, replay, state: SADB_SASTATE_MATURE, auth: suite.sadbAalg, encrypt: suite.sadbEalg, flags: 0 }),
    hostAddress(SADB_EXT.ADDRESS_SRC, src),
    hostAddress(SADB_EXT.ADDRESS_DST, dst),
    encodeSa2({ mode, reqid }),
    ...lifetimeExts(spec.lifetimes),
  ];
  if (spec.encap) {
    exts.push(
      encodeNatTType(UDP_ENCAP_ESPINUDP),
      encodeNatTPort(SADB_EXT.X_NAT_T_SPORT, port(spec.encap.sport, 'encap.sport')),
      encodeNatTPort(SADB_EXT.X_NAT_T_DPORT, port(spec.encap.dport, 'encap.dport')),
    );
  }
  // af_key wants KEY_ENCRYPT for every ESP SA, with 0 bits for NULL encryption.
  const keyExts = [encodeKey(SADB_EXT.KEY_ENCRYPT, encKey), encodeKey(SADB_EXT.KEY_AUTH, authKey)];
  const msg = encodeMessage({ type: update ? SADB.UPDATE : SADB.ADD, errno: 0, satype: SADB_SATYPE_ESP, ...h }, [...exts, ...keyExts]);
  for (const k of keyExts) k.fill(0);
  return msg;
}

/** SADB_DELETE or SADB_GET of (dst, SPI).  af_key wants a source address too: the unspecified one of dst's family. */
export function encodeSaId(type: typeof SADB.DELETE | typeof SADB.GET, id: SaId, h: Header): Uint8Array {
  checkEsp(id.proto);
  noMark(id.mark);
  const dst = parseAddress(id.dst, 'dst');
  const any: ParsedAddress = { family: dst.family, bytes: new Uint8Array(dst.family === 4 ? 4 : 16) };
  return encodeMessage({ type, errno: 0, satype: SADB_SATYPE_ESP, ...h }, [
    encodeSa({ spi: checkSpi(id.spi), replay: 0, state: 0, auth: 0, encrypt: 0, flags: 0 }),
    hostAddress(SADB_EXT.ADDRESS_SRC, any),
    hostAddress(SADB_EXT.ADDRESS_DST, dst),
  ]);
}

/** SADB_GETSPI: a larval SA for (src, dst, reqid) with an SPI from the range. */
export function encodeGetSpi(req: AllocSpiRequest, h: Header): Uint8Array {
  checkEsp(req.proto);
  noMark(req.mark);
  const { src, dst } = pair(req.src, req.dst, 'allocSpi');
  const min = checkSpi(req.min ?? DEFAULT_SPI_MIN, 'min');
  const max = checkSpi(req.max ?? DEFAULT_SPI_MAX, 'max');
  if (min > max) throw new KernelValidationError('min', 'min > max');
  return encodeMessage({ type: SADB.GETSPI, errno: 0, satype: SADB_SATYPE_ESP, ...h }, [
    hostAddress(SADB_EXT.ADDRESS_SRC, src),
    hostAddress(SADB_EXT.ADDRESS_DST, dst),
    encodeSpirange(min, max),
    encodeSa2({ mode: IPSEC_MODE.TRANSPORT, reqid: req.reqid === undefined ? 0 : pfkeyReqid(req.reqid) }),
  ]);
}

/** SADB_DUMP of the ESP SAs, SADB_X_SPDDUMP, SADB_REGISTER (ESP): the base header alone. */
export function encodeBare(type: typeof SADB.DUMP | typeof SADB.X_SPDDUMP | typeof SADB.REGISTER, h: Header): Uint8Array {
  return encodeMessage({ type, errno: 0, satype: type === SADB.X_SPDDUMP ? 0 : SADB_SATYPE_ESP, ...h }, []);
}

// ---------------------------------------------------------------- SA replies

function ext(m: ParsedMessage, type: number, what: string): Uint8Array {
  const e = m.exts.get(type);
  if (!e) throw new PfkeyDecodeError(`${what} missing`);
  return e;
}

function addrText(a: SadbAddress): string {
  return formatAddress(a.addr, famOf(a.family));
}

const ealgName = (id: number): string => SUITES.find((s) => s.sadbEalg === id && s.crypt)?.crypt?.xfrmName ?? `sadb-ealg-${id}`;
const aalgName = (id: number): string => SUITES.find((s) => s.sadbAalg === id && s.auth)?.auth?.xfrmName ?? `sadb-aalg-${id}`;

/**
 * A message carrying an SA (GET reply, DUMP entry, GETSPI reply, ADD/UPDATE
 * broadcast) -> SaInfo.  Keys are copied out only when `withKeys`; the caller
 * wipes the input buffer.
 */
export function decodeSaMessage(m: ParsedMessage, withKeys: boolean): SaInfo {
  const sa = decodeSa(ext(m, SADB_EXT.SA, 'SA extension'));
  const src = decodeAddress(ext(m, SADB_EXT.ADDRESS_SRC, 'source address'));
  const dst = decodeAddress(ext(m, SADB_EXT.ADDRESS_DST, 'destination address'));
  const sa2Raw = m.exts.get(SADB_EXT.X_SA2);
  const sa2 = sa2Raw ? decodeSa2(sa2Raw) : { mode: IPSEC_MODE.TRANSPORT, reqid: 0 };
  const encRaw = m.exts.get(SADB_EXT.KEY_ENCRYPT);
  const authRaw = m.exts.get(SADB_EXT.KEY_AUTH);
  const encBytes = encRaw ? keyBits(encRaw) / 8 : 0;
  const found = suiteBySadb(sa.encrypt, encBytes, sa.auth);
  const suite = found && PFKEY_SUITES.includes(found) ? found : undefined;
  const cur = m.exts.get(SADB_EXT.LIFETIME_CURRENT);
  const counters = cur ? decodeLifetime(cur) : { allocations: 0, bytes: 0n, addtime: 0n, usetime: 0n };
  const hard = m.exts.get(SADB_EXT.LIFETIME_HARD);
  const soft = m.exts.get(SADB_EXT.LIFETIME_SOFT);
  const { reqid, owned } = reqidFromKernel(sa2.reqid);
  const out: SaInfo = {
    id: { dst: addrText(dst), spi: sa.spi, proto: 'esp' },
    src: addrText(src),
    mode: modeName(sa2.mode),
    reqid,
    suite: suite?.name,
    algorithms: {
      ...(sa.encrypt ? { crypt: ealgName(sa.encrypt) } : {}),
      ...(sa.auth ? { auth: aalgName(sa.auth) } : {}),
    },
    replayWindow: sa.replay,
    lifetimes: decodeLifetimes(hard ? decodeLifetime(hard) : undefined, soft ? decodeLifetime(soft) : undefined),
    counters: { bytes: counters.bytes, packets: BigInt(counters.allocations), addTime: Number(counters.addtime), useTime: Number(counters.usetime) },
    // PF_KEY reports no replay / integrity failure counts.
    stats: { replay: 0, replayWindow: 0, integrityFailed: 0 },
    owned,
  };
  const natType = m.exts.get(SADB_EXT.X_NAT_T_TYPE);
  if (natType && decodeNatTType(natType) !== 0) {
    const sp = m.exts.get(SADB_EXT.X_NAT_T_SPORT);
    const dp = m.exts.get(SADB_EXT.X_NAT_T_DPORT);
    out.encap = { sport: sp ? decodeNatTPort(sp) : 0, dport: dp ? decodeNatTPort(dp) : 0 };
  }
  if (withKeys) {
    const encKey = encRaw ? decodeKey(encRaw) : new Uint8Array(0);
    // Not enumerable: JSON, inspect and spreads of the SaInfo never show keys.
    Object.defineProperty(out, 'keys', { value: authRaw ? { encKey, authKey: decodeKey(authRaw) } : { encKey }, enumerable: false });
  }
  return out;
}

/** The SPI of a SADB_GETSPI reply. */
export function decodeSpi(m: ParsedMessage): number {
  return decodeSa(ext(m, SADB_EXT.SA, 'SA extension')).spi;
}

// ---------------------------------------------------------------- policies

function selectorAddress(exttype: number, text: string, field: string, proto: number, p: number): { a: ParsedAddress; e: Uint8Array } {
  const a = parsePrefix(text, field);
  return { a, e: encodeAddress(exttype, { family: fam(a), addr: a.bytes, port: p, proto, prefixlen: a.prefixLen }) };
}

function selectorExts(s: Selector): { family: AddressFamily; exts: Uint8Array[] } {
  const proto = upperProto(s.proto);
  const kproto = proto === 0 ? IPSEC_PROTO_ANY : proto;
  const src = selectorAddress(SADB_EXT.ADDRESS_SRC, s.src, 'selector.src', kproto, port(s.srcPort, 'selector.srcPort'));
  const dst = selectorAddress(SADB_EXT.ADDRESS_DST, s.dst, 'selector.dst', kproto, port(s.dstPort, 'selector.dstPort'));
  if (src.a.family !== dst.a.family) throw new KernelValidationError('selector', `address family mismatch: ${s.src} vs ${s.dst}`);
  return { family: src.a.family, exts: [src.e, dst.e] };
}

function checkDir(dir: PolicyDir): number {
  const d = DIRS[dir];
  if (d === undefined) throw new KernelValidationError('dir', `unknown direction "${String(dir)}"`);
  return d;
}

/** SADB_X_SPDADD (or SADB_X_SPDUPDATE when `update`: replace the policy of the same selector and direction). */
export function encodeSpdAdd(spec: PolicySpec, h: Header, update = false): Uint8Array {
  const { family, exts } = selectorExts(spec.selector);
  const dir = checkDir(spec.dir);
  if (spec.action !== 'allow' && spec.action !== 'block') throw new KernelValidationError('action', `unknown action "${String(spec.action)}"`);
  const reqid = pfkeyReqid(spec.reqid);
  const priority = u32(spec.priority ?? DEFAULT_POLICY_PRIORITY, 'priority');
  noMark(spec.mark);
  const t = spec.template;
  if (spec.action === 'allow' && !t) throw new KernelValidationError('template', "an 'allow' policy needs an ESP template");
  const requests = [];
  if (t && spec.action === 'allow') {
    checkEsp(t.proto, 'template.proto');
    const mode = checkMode(t.mode, 'template.mode');
    if (t.optional) throw new KernelValidationError('template.optional', 'PF_KEY optional templates (level use) carry no reqid, so they could not be tagged as ours');
    if (t.mode === 'tunnel' && (!t.src || !t.dst)) throw new KernelValidationError('template', 'tunnel mode needs src and dst');
    if (!!t.src !== !!t.dst) throw new KernelValidationError('template', 'give both src and dst, or neither');
    if (t.spi !== undefined) checkSpi(t.spi, 'template.spi');
    const ends = t.src && t.dst ? pair(t.src, t.dst, 'template') : undefined;
    if (ends && t.mode === 'transport' && ends.src.family !== family) {
      throw new KernelValidationError('template', 'transport-mode template family differs from the selector');
    }
    requests.push({
      proto: IPPROTO_ESP,
      mode,
      level: IPSEC_LEVEL.UNIQUE,
      reqid,
      // af_key reads the endpoints in tunnel mode only.
      ...(ends && t.mode === 'tunnel'
        ? { tunnel: { src: { family: fam(ends.src), addr: ends.src.bytes, port: 0 }, dst: { family: fam(ends.dst), addr: ends.dst.bytes, port: 0 } } }
        : {}),
    });
  }
  const policy = encodePolicy({ type: spec.action === 'allow' ? IPSEC_POLICY.IPSEC : IPSEC_POLICY.DISCARD, dir, id: 0, priority, requests });
  return encodeMessage({ type: update ? SADB.X_SPDUPDATE : SADB.X_SPDADD, errno: 0, satype: 0, ...h }, [...exts, policy]);
}

/** SADB_X_SPDDELETE: the policy of this selector and direction. */
export function encodeSpdDelete(selector: Selector, dir: PolicyDir, mark: XfrmMark | undefined, h: Header): Uint8Array {
  noMark(mark);
  const { exts } = selectorExts(selector);
  const policy = encodePolicy({ type: IPSEC_POLICY.IPSEC, dir: checkDir(dir), id: 0, priority: 0, requests: [] });
  return encodeMessage({ type: SADB.X_SPDDELETE, errno: 0, satype: 0, ...h }, [...exts, policy]);
}

/** SADB_X_SPDDELETE2 or SADB_X_SPDGET of the policy with this index (Linux derives the direction from it). */
export function encodeSpdById(type: typeof SADB.X_SPDDELETE2 | typeof SADB.X_SPDGET, index: number, h: Header): Uint8Array {
  const policy = encodePolicy({ type: IPSEC_POLICY.IPSEC, dir: 0, id: u32(index, 'index'), priority: 0, requests: [] });
  return encodeMessage({ type, errno: 0, satype: 0, ...h }, [policy]);
}

function decodeSelector(src: SadbAddress, dst: SadbAddress): Selector {
  const proto = src.proto === IPSEC_PROTO_ANY ? 0 : src.proto;
  const name = Object.keys(PROTOS).find((k) => PROTOS[k] === proto);
  const f = famOf(src.family);
  const out: Selector = {
    src: `${formatAddress(src.addr, f)}/${src.prefixlen}`,
    dst: `${formatAddress(dst.addr, f)}/${dst.prefixlen}`,
    proto: (name as UpperProto | undefined) ?? proto,
  };
  if (src.port) out.srcPort = src.port;
  if (dst.port) out.dstPort = dst.port;
  return out;
}

/** An SPD message (SPDDUMP entry, SPDGET reply) -> PolicyInfo. */
export function decodePolicyMessage(m: ParsedMessage): PolicyInfo {
  const src = decodeAddress(ext(m, SADB_EXT.ADDRESS_SRC, 'source address'));
  const dst = decodeAddress(ext(m, SADB_EXT.ADDRESS_DST, 'destination address'));
  const pol = decodePolicy(ext(m, SADB_EXT.X_POLICY, 'policy extension'));
  const templates = pol.requests.map((r) => {
    const { reqid } = reqidFromKernel(r.reqid);
    return {
      proto: 'esp' as const,
      mode: modeName(r.mode),
      ...(r.tunnel ? { src: addrText({ ...r.tunnel.src, proto: 0, prefixlen: 0 }), dst: addrText({ ...r.tunnel.dst, proto: 0, prefixlen: 0 }) } : {}),
      ...(r.level === IPSEC_LEVEL.USE ? { optional: true } : {}),
      reqid,
    };
  });
  return {
    selector: decodeSelector(src, dst),
    dir: dirName(pol.dir),
    action: pol.type === IPSEC_POLICY.DISCARD ? 'block' : 'allow',
    priority: pol.priority,
    index: pol.id,
    templates,
    owned: pol.requests.some((r) => reqidFromKernel(r.reqid).owned),
  };
}

// ---------------------------------------------------------------- events

/** SADB_EXPIRE -> an expire event.  Hard when the message carries LIFETIME_HARD (RFC 2367 §3.1.8). */
export function decodeExpire(m: ParsedMessage): KernelEvent {
  const sa = decodeSa(ext(m, SADB_EXT.SA, 'SA extension'));
  const src = decodeAddress(ext(m, SADB_EXT.ADDRESS_SRC, 'source address'));
  const dst = decodeAddress(ext(m, SADB_EXT.ADDRESS_DST, 'destination address'));
  const sa2 = m.exts.get(SADB_EXT.X_SA2);
  const { reqid, owned } = reqidFromKernel(sa2 ? decodeSa2(sa2).reqid : 0);
  const hard = m.exts.has(SADB_EXT.LIFETIME_HARD) && !m.exts.has(SADB_EXT.LIFETIME_SOFT);
  return { type: 'expire', hard, sa: { dst: addrText(dst), spi: sa.spi, proto: 'esp' }, src: addrText(src), reqid, owned };
}

/** SADB_ACQUIRE -> the acquire event without its reqid, and the index of the policy that asked (to look the reqid up). */
export function decodeAcquire(m: ParsedMessage): { policyIndex: number; event: Extract<KernelEvent, { type: 'acquire' }> } {
  const src = decodeAddress(ext(m, SADB_EXT.ADDRESS_SRC, 'source address'));
  const dst = decodeAddress(ext(m, SADB_EXT.ADDRESS_DST, 'destination address'));
  const pol = decodePolicy(ext(m, SADB_EXT.X_POLICY, 'policy extension'));
  return {
    policyIndex: pol.id,
    event: { type: 'acquire', seq: m.seq, src: addrText(src), dst: addrText(dst), selector: decodeSelector(src, dst), dir: dirName(pol.dir), reqid: 0, owned: false },
  };
}
