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
import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { MikeyError, ErrNo } from './errors.js';

const CHUNK_BYTES = 32; // 256-bit inkey chunks
const HMAC_BYTES = 20; // SHA-1 output

/** P(s, label, m) of §4.1.2: m HMAC-SHA-1 blocks (m × 20 bytes). */
export function prfP(s: Uint8Array, label: Uint8Array, m: number): Uint8Array {
  const out = new Uint8Array(m * HMAC_BYTES);
  const block = new Uint8Array(HMAC_BYTES + label.length);
  block.set(label, HMAC_BYTES);
  // Key the HMAC once (the ipad/opad states) and clone it per block: 2m HMACs, one key schedule.
  const keyed = hmac.create(sha1, s);
  const mac = (data: Uint8Array): Uint8Array => keyed.clone().update(data).digest();
  let a: Uint8Array = label; // A_0
  for (let i = 0; i < m; i++) {
    const next = mac(a); // A_(i+1)
    if (a !== label) a.fill(0);
    a = next;
    block.set(a, 0);
    out.set(mac(block), i * HMAC_BYTES);
  }
  if (a !== label) a.fill(0);
  block.fill(0);
  keyed.destroy();
  return out;
}

/**
 * PRF(inkey, label, outkey_len) of §4.1.2; `outLen` in BYTES.  A fresh
 * buffer is returned; the caller owns (and should wipe) it.
 */
export function prf(inkey: Uint8Array, label: Uint8Array, outLen: number): Uint8Array {
  if (!Number.isInteger(outLen) || outLen <= 0) {
    throw new MikeyError(ErrNo.UNSPECIFIED, `PRF output length ${outLen} is not a positive integer`);
  }
  if (inkey.length === 0) throw new MikeyError(ErrNo.UNSPECIFIED, 'PRF inkey is empty');
  const m = Math.ceil(outLen / HMAC_BYTES);
  const acc = new Uint8Array(m * HMAC_BYTES);
  for (let off = 0; off < inkey.length; off += CHUNK_BYTES) {
    const chunk = inkey.subarray(off, Math.min(off + CHUNK_BYTES, inkey.length));
    const p = prfP(chunk, label, m);
    for (let i = 0; i < acc.length; i++) acc[i]! ^= p[i]!;
    p.fill(0);
  }
  const out = acc.slice(0, outLen);
  acc.fill(0);
  return out;
}
