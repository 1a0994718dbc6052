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

/** One 20-byte A_i and one partial last block, reused by every P (one PRF runs at a time); wiped after use. */
const aScratch = new Uint8Array(HMAC_SHA1_BYTES);
const blockScratch = new Uint8Array(HMAC_SHA1_BYTES);

/**
 * The first out.length bytes of P(s, label, m), m = ceil(out.length / 20),
 * with s keyed into `h`: written into `out`, or XORed into it (`xor`, for
 * the second and later inkey chunks).
 */
function pInto(h: HmacSha1, label: Uint8Array, out: Uint8Array, xor: boolean): void {
  const a = aScratch;
  try {
    h.macInto(a, 0, label); // A_1 = HMAC(s, A_0), A_0 = label
    for (let off = 0; ; ) {
      const n = Math.min(HMAC_SHA1_BYTES, out.length - off);
      if (n === HMAC_SHA1_BYTES && !xor) {
        h.macInto(out, off, a, label); // HMAC(s, A_i || label)
      } else {
        h.macInto(blockScratch, 0, a, label);
        for (let i = 0; i < n; i++) out[off + i] = xor ? out[off + i]! ^ blockScratch[i]! : blockScratch[i]!;
      }
      off += n;
      if (off === out.length) break;
      h.macInto(a, 0, a); // A_(i+1) = HMAC(s, A_i)
    }
  } finally {
    a.fill(0);
    blockScratch.fill(0);
  }
}

/** P(s, label, m) of §4.1.2: m HMAC-SHA-1 blocks (m × 20 bytes). */
export function prfP(s: Uint8Array, label: Uint8Array, m: number): Uint8Array {
  const h = new HmacSha1(s);
  const out = new Uint8Array(m * HMAC_SHA1_BYTES);
  pInto(h, label, out, false);
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
    if (inkey.length <= CHUNK_BYTES) {
      this.#chunks.push(new HmacSha1(inkey)); // the usual case, without a subarray of a small array
      return;
    }
    for (let off = 0; off < inkey.length; off += CHUNK_BYTES) {
      this.#chunks.push(new HmacSha1(inkey.subarray(off, Math.min(off + CHUNK_BYTES, inkey.length))));
    }
  }

  /** PRF(inkey, label, outLen), `outLen` in BYTES, in a fresh buffer the caller owns (and wipes). */
  derive(label: Uint8Array, outLen: number): Uint8Array {
    if (!Number.isInteger(outLen) || outLen <= 0) {
      throw new MikeyError(ErrNo.UNSPECIFIED, `PRF output length ${outLen} is not a positive integer`);
    }
    const out = new Uint8Array(outLen);
    this.#chunks.forEach((h, c) => pInto(h, label, out, c > 0));
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
