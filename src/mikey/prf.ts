/**
 * The MIKEY default PRF, RFC 3830 §4.1.2 ("MIKEY-1", PRF func 0 in §6.1).
 *
 *   P(s, label, m) = HMAC(s, A_1 || label) || HMAC(s, A_2 || label) || ...
 *                    || HMAC(s, A_m || label)
 *   A_0 = label,  A_i = HMAC(s, A_(i-1)),  HMAC = HMAC-SHA-1 (160-bit output)
 *
 *   PRF(inkey, label, outkey_len):
 *     n = ceil(inkey_len / 256 bits); inkey = s_1 || ... || s_n, every s_i
 *         256 bits except possibly the last, which may be shorter;
 *     m = ceil(outkey_len / 160 bits);
 *     PRF = P(s_1, label, m) XOR ... XOR P(s_n, label, m), truncated.
 *
 * minisip splits an inkey whose length is a multiple of 32 bytes into one
 * chunk too many (an empty trailing s_n); this implementation follows the RFC
 * (test vector "inkey 80..9f (32 B)" in REFERENCE.md §2 pins it).
 */
import { HMAC_SHA1_BYTES, HmacSha1 } from './hmac.js';
import { MikeyError, ErrNo } from './errors.js';

const CHUNK_BYTES = 32; // 256-bit inkey chunks

/** P(s, label, m) with s already keyed into `h`, written into out[0 .. m*20). */
function pInto(h: HmacSha1, label: Uint8Array, m: number, out: Uint8Array): void {
  const a = new Uint8Array(HMAC_SHA1_BYTES);
  h.macInto(a, label); // A_1 = HMAC(s, A_0), A_0 = label
  for (let i = 0; ; ) {
    h.macInto(out.subarray(i * HMAC_SHA1_BYTES, (i + 1) * HMAC_SHA1_BYTES), a, label); // HMAC(s, A_(i+1) || label)
    if (++i === m) break;
    h.macInto(a, a); // A_(i+1) = HMAC(s, A_i)
  }
  a.fill(0);
}

/** P(s, label, m) of §4.1.2: m HMAC-SHA-1 blocks (m × 20 bytes). */
export function prfP(s: Uint8Array, label: Uint8Array, m: number): Uint8Array {
  const h = new HmacSha1(s);
  const out = new Uint8Array(m * HMAC_SHA1_BYTES);
  pInto(h, label, m, out);
  h.destroy();
  return out;
}

/**
 * The §4.1.2 PRF keyed with one inkey: the HMAC of every 256-bit chunk is
 * keyed once, so deriving several keys from one inkey (the three §4.1.4
 * keys, the ESP keys of every crypto session) does not re-key per label.
 * Holds key material until `wipe()`.
 */
export class PrfKey {
  readonly #chunks: HmacSha1[] = [];

  constructor(inkey: Uint8Array) {
    if (inkey.length === 0) throw new MikeyError(ErrNo.UNSPECIFIED, 'PRF inkey is empty');
    for (let off = 0; off < inkey.length; off += CHUNK_BYTES) {
      this.#chunks.push(new HmacSha1(inkey.subarray(off, Math.min(off + CHUNK_BYTES, inkey.length))));
    }
  }

  /** PRF(inkey, label, outLen), `outLen` in BYTES, in a fresh buffer the caller owns (and wipes). */
  derive(label: Uint8Array, outLen: number): Uint8Array {
    if (!Number.isInteger(outLen) || outLen <= 0) {
      throw new MikeyError(ErrNo.UNSPECIFIED, `PRF output length ${outLen} is not a positive integer`);
    }
    const m = Math.ceil(outLen / HMAC_SHA1_BYTES);
    const acc = new Uint8Array(m * HMAC_SHA1_BYTES);
    pInto(this.#chunks[0]!, label, m, acc);
    if (this.#chunks.length > 1) {
      const p = new Uint8Array(acc.length);
      for (let c = 1; c < this.#chunks.length; c++) {
        pInto(this.#chunks[c]!, label, m, p);
        for (let i = 0; i < acc.length; i++) acc[i]! ^= p[i]!;
      }
      p.fill(0);
    }
    if (outLen === acc.length) return acc;
    const out = acc.slice(0, outLen);
    acc.fill(0);
    return out;
  }

  /** Zero the keyed HMAC states; the object must not be used afterwards. */
  wipe(): void {
    for (const h of this.#chunks) h.destroy();
  }
}

/**
 * PRF(inkey, label, outLen) of §4.1.2; `outLen` in BYTES.  A fresh
 * buffer is returned; the caller owns (and should wipe) it.
 */
export function prf(inkey: Uint8Array, label: Uint8Array, outLen: number): Uint8Array {
  const key = new PrfKey(inkey);
  try {
    return key.derive(label, outLen);
  } finally {
    key.wipe();
  }
}
