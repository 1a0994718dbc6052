/**
 * Bounds-checked byte reader and growable writer shared by every MIKEY
 * payload codec (RFC 3830 §6: all fields are big-endian / network order).
 *
 * The Reader never returns data past the end of its buffer: every read is
 * checked first and a short buffer raises `malformed()` (ErrNo UNSPECIFIED),
 * so no RangeError can escape a parser.  The Writer checks that every value
 * fits its field, so an encoder can never emit a truncated field silently.
 */
import { malformed } from './errors.js';

export class Reader {
  private pos: number;
  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.remaining) {
      throw malformed(`truncated: ${what} needs ${n} bytes at offset ${this.pos}, ${this.remaining} left`);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  u64(what: string): bigint {
    const hi = this.u32(what);
    const lo = this.u32(what);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /**
   * A plain Uint8Array copy of the next `n` bytes (a copy even when the input
   * is a Buffer, so callers may wipe their own buffer).
   */
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = new Uint8Array(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  /**
   * A view (no copy) of the next `n` bytes, valid while the input is: for
   * values converted at once (e.g. an address to text), never kept.
   */
  view(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A sub-reader over the next `n` bytes; this reader skips past them. */
  sub(n: number, what: string): Reader {
    this.need(n, what);
    const r = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  /** Fails unless every byte has been consumed. */
  expectEnd(what: string): void {
    if (this.remaining !== 0) throw malformed(`${this.remaining} unexpected trailing bytes in ${what}`);
  }
}

export class Writer {
  private buf: Uint8Array;
  private len = 0;

  /** `capacity`: the bytes expected (it grows past them); exactly filled, `finish()` needs no copy. */
  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  get length(): number {
    return this.len;
  }

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = Math.max(this.buf.length * 2, 64);
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf.fill(0);
    this.buf = next;
  }

  private check(v: number, max: number, what: string): void {
    if (!Number.isInteger(v) || v < 0 || v > max) throw malformed(`cannot encode ${what}: ${v} out of range 0..${max}`);
  }

  u8(v: number, what: string): this {
    this.check(v, 0xff, what);
    this.grow(1);
    this.buf[this.len++] = v;
    return this;
  }

  u16(v: number, what: string): this {
    this.check(v, 0xffff, what);
    this.grow(2);
    this.buf[this.len++] = v >>> 8;
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u32(v: number, what: string): this {
    this.check(v, 0xffffffff, what);
    this.grow(4);
    this.buf[this.len++] = v >>> 24;
    this.buf[this.len++] = (v >>> 16) & 0xff;
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u64(v: bigint, what: string): this {
    if (v < 0n || v > 0xffffffffffffffffn) throw malformed(`cannot encode ${what}: out of 64-bit range`);
    this.u32(Number(v >> 32n), what);
    return this.u32(Number(v & 0xffffffffn), what);
  }

  bytes(b: Uint8Array): this {
    this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** The bytes written so far (a copy, or the buffer itself when exactly full); the internal buffer is wiped. */
  finish(): Uint8Array {
    if (this.len === this.buf.length) {
      const full = this.buf;
      this.buf = new Uint8Array(0);
      this.len = 0;
      return full;
    }
    const out = this.buf.slice(0, this.len);
    this.buf.fill(0);
    this.len = 0;
    return out;
  }
}
