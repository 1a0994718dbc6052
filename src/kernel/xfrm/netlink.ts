/**
 * Netlink framing (RFC 3549; <linux/netlink.h>): messages, attributes, error
 * replies with extended ACK.  Pure: bytes in, values out.  All integers are in
 * host byte order (little-endian on the x86_64 machines we target).
 *
 *  nlmsghdr (16 bytes)
 *  0               1               2               3
 *  +---------------+---------------+---------------+---------------+
 *  |                          nlmsg_len                            |
 *  +---------------+---------------+---------------+---------------+
 *  |          nlmsg_type           |          nlmsg_flags          |
 *  +---------------+---------------+---------------+---------------+
 *  |                          nlmsg_seq                            |
 *  +---------------+---------------+---------------+---------------+
 *  |                          nlmsg_pid                            |
 *  +---------------+---------------+---------------+---------------+
 *  | payload (fixed struct, then attributes), padded to 4 bytes    |
 *
 *  nlattr (4 bytes + value, padded to 4)
 *  +---------------+---------------+---------------+---------------+
 *  |           nla_len             |           nla_type            |
 *  +---------------+---------------+---------------+---------------+
 */
import { NetlinkDecodeError } from '../errors.js';
import { LAYOUT } from './layout.js';

export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;
export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  /** NEW requests: fail with EEXIST rather than replace. */
  EXCL: 0x400,
  DUMP_INTR: 0x10,
  DUMP: 0x300,
  /** In NLMSG_ERROR: the echoed request was cut to its header. */
  CAPPED: 0x100,
  /** In NLMSG_ERROR: extended-ACK attributes follow. */
  ACK_TLVS: 0x200,
} as const;
export const NLMSGERR_ATTR = { MSG: 1, OFFS: 2 } as const;
/** NLA_F_NESTED | NLA_F_NET_BYTEORDER, masked off attribute types. */
const NLA_TYPE_MASK = 0x3fff;

const HDR = LAYOUT.nlmsghdr;
const NLA = LAYOUT.nlattr;

export const align4 = (n: number): number => (n + 3) & ~3;

export interface NlAttr {
  type: number;
  data: Uint8Array;
}

/**
 * Builds one message at a time into a buffer that is reused (a request
 * socket owns one: no allocation per request).  `begin` starts a message with
 * a zeroed fixed part, `attr` appends a zeroed attribute, both returning the
 * offset to encode into; `finish` gives the message as a view into the
 * buffer, valid until the next `begin`.  `keep` keeps the messages finished
 * so far: the next `begin` appends after them, and `batch` gives them all
 * (several nlmsghdr in one datagram).  `wipe` zeroes what was written (the
 * owner calls it after sending: SA requests hold keys).
 */
export class MessageBuilder {
  buf: Uint8Array;
  private dv: DataView;
  private len = 0;
  /** Where the current message starts (the end of the kept ones). */
  private start = 0;

  constructor(bytes = 1024) {
    this.buf = new Uint8Array(bytes);
    this.dv = new DataView(this.buf.buffer);
  }

  begin(type: number, flags: number, seq: number, fixedSize: number): number {
    this.buf.fill(0, this.start, this.len);
    this.len = this.start;
    this.reserve(HDR.size + align4(fixedSize));
    this.dv.setUint16(this.start + HDR.nlmsg_type, type, true);
    this.dv.setUint16(this.start + HDR.nlmsg_flags, flags, true);
    this.dv.setUint32(this.start + HDR.nlmsg_seq, seq, true);
    return this.start + HDR.size;
  }

  attr(type: number, size: number): number {
    const off = this.reserve(align4(NLA.size + size));
    this.dv.setUint16(off + NLA.nla_len, NLA.size + size, true);
    this.dv.setUint16(off + NLA.nla_type, type, true);
    return off + NLA.size;
  }

  /** An attribute holding a copy of `data`. */
  put(type: number, data: Uint8Array): void {
    const off = this.attr(type, data.length);
    this.buf.set(data, off);
  }

  finish(): Uint8Array {
    this.dv.setUint32(this.start + HDR.nlmsg_len, this.len - this.start, true);
    return this.buf.subarray(this.start, this.len);
  }

  /** Keep the finished message: the next `begin` appends after it (lengths are 4-aligned). */
  keep(): void {
    this.start = this.len;
  }

  /** Every kept message, as one datagram (a view into the buffer, valid until the next `begin` or `wipe`). */
  batch(): Uint8Array {
    return this.buf.subarray(0, this.start);
  }

  wipe(): void {
    this.buf.fill(0, 0, this.len);
    this.len = 0;
    this.start = 0;
  }

  /** `bytes` more (zeroed) at the end; returns their offset.  Grows the buffer, wiping the old one. */
  private reserve(bytes: number): number {
    const off = this.len;
    if (off + bytes > this.buf.length) {
      const old = this.buf;
      this.buf = new Uint8Array(Math.max(2 * old.length, off + bytes));
      this.buf.set(old.subarray(0, off));
      old.fill(0);
      this.dv = new DataView(this.buf.buffer);
    }
    this.len = off + bytes;
    return off;
  }
}

/** Build one netlink message (into `b` when given); the caller wipes the result. */
export function buildMessage(type: number, flags: number, seq: number, fixed: Uint8Array, attrs: readonly NlAttr[] = [], b = new MessageBuilder(messageSize(fixed, attrs))): Uint8Array {
  const off = b.begin(type, flags, seq, fixed.length); // before reading b.buf: begin may move it
  b.buf.set(fixed, off);
  for (const a of attrs) b.put(a.type, a.data);
  return b.finish();
}

function messageSize(fixed: Uint8Array, attrs: readonly NlAttr[]): number {
  let len = HDR.size + align4(fixed.length);
  for (const a of attrs) len += align4(NLA.size + a.data.length);
  return len;
}

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Everything after the header, up to nlmsg_len (a view into the input). */
  payload: Uint8Array;
}

/** Split a datagram into its messages; every length is checked. */
export function parseMessages(buf: Uint8Array): NlMessage[] {
  const out: NlMessage[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < HDR.size) throw new NetlinkDecodeError(`truncated header at ${off}`);
    const len = dv.getUint32(off + HDR.nlmsg_len, true);
    if (len < HDR.size || len > buf.length - off) throw new NetlinkDecodeError(`bad nlmsg_len ${len} at ${off}`);
    out.push({
      type: dv.getUint16(off + HDR.nlmsg_type, true),
      flags: dv.getUint16(off + HDR.nlmsg_flags, true),
      seq: dv.getUint32(off + HDR.nlmsg_seq, true),
      pid: dv.getUint32(off + HDR.nlmsg_pid, true),
      payload: buf.subarray(off + HDR.size, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** Attributes from `start` to the end of `buf`; later duplicates replace earlier ones. */
export function parseAttrs(buf: Uint8Array, start: number): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = start;
  while (off + NLA.size <= buf.length) {
    const len = dv.getUint16(off + NLA.nla_len, true);
    if (len < NLA.size || len > buf.length - off) throw new NetlinkDecodeError(`bad nla_len ${len} at ${off}`);
    out.set(dv.getUint16(off + NLA.nla_type, true) & NLA_TYPE_MASK, buf.subarray(off + NLA.size, off + len));
    off += align4(len);
  }
  return out;
}

export interface NlError {
  /** 0 for an ACK, else a positive errno. */
  errno: number;
  /** NLMSGERR_ATTR_MSG, the kernel's explanation. */
  extack?: string;
}

/**
 * NLMSG_ERROR payload:
 *  +-----------------------+---------------------------------+---------------+
 *  | int error (-errno/0)  | echoed nlmsghdr [+ payload if   | extack TLVs   |
 *  |                       |  not NLM_F_CAPPED]              | (ACK_TLVS)    |
 *  +-----------------------+---------------------------------+---------------+
 */
export function parseError(msg: NlMessage): NlError {
  const p = msg.payload;
  if (p.length < LAYOUT.nlmsgerr.size) throw new NetlinkDecodeError('truncated nlmsgerr');
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const errno = -dv.getInt32(LAYOUT.nlmsgerr.error, true);
  const result: NlError = { errno };
  if (msg.flags & NLM_F.ACK_TLVS) {
    let tlvStart = LAYOUT.nlmsgerr.size;
    if (!(msg.flags & NLM_F.CAPPED)) {
      const echoedLen = dv.getUint32(LAYOUT.nlmsgerr.msg + HDR.nlmsg_len, true);
      tlvStart = LAYOUT.nlmsgerr.msg + align4(echoedLen);
    }
    if (tlvStart <= p.length) {
      const text = parseAttrs(p, tlvStart).get(NLMSGERR_ATTR.MSG);
      if (text) result.extack = cString(text);
    }
  }
  return result;
}

/** NLMSG_DONE payload: int error (0 or -errno). */
export function parseDone(msg: NlMessage): number {
  if (msg.payload.length < 4) return 0;
  return -new DataView(msg.payload.buffer, msg.payload.byteOffset, 4).getInt32(0, true);
}

/** A NUL-terminated (or not) string from bytes. */
export function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}
