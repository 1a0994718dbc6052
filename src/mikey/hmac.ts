/**
 * HMAC-SHA-1 (RFC 2104, 160-bit output), the one MAC primitive of MIKEY: the
 * §4.1.2 PRF (prf.ts) and the KEMAC/V MAC of §4.2.4 (mac.ts) both use it.
 *
 *   HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)),  B = 64, L = 20,
 *   K hashed first when longer than B, then zero-padded to B bytes.
 *
 * SHA-1 is @noble/hashes' `_SHA1`.  `HmacSha1` keys once: it keeps the two
 * hash states after the (K ^ ipad) and (K ^ opad) blocks, and each MAC clones
 * them into two scratch hashes shared by the module (JS runs one MAC at a
 * time on a thread), finishing each hash in its own buffer.  That is
 * noble's `hmac` minus the per-MAC allocations (hash objects, DataViews),
 * which cost more than the two SHA-1 compressions of a short MIKEY input;
 * test/unit/mikey/crypto-prf.test.ts checks it against noble's `hmac`,
 * node:crypto and the RFC 2202 vectors.
 *
 * The keyed states and the scratch are key material: the scratch is zeroed
 * after every MAC, the keyed states by `destroy()`.
 */
import { _SHA1, sha1 } from '@noble/hashes/legacy.js';

export const HMAC_SHA1_BYTES = 20;
const BLOCK_BYTES = 64;

/** noble's SHA-1 with access to its own block buffer (finishing there needs no foreign DataView). */
class Sha1 extends _SHA1 {
  /** Finish the hash; the digest is the returned view of this hash's buffer (valid until the next use). */
  finishInPlace(): Uint8Array {
    this.digestInto(this.buffer);
    return this.buffer.subarray(0, HMAC_SHA1_BYTES);
  }
}

const innerScratch = new Sha1();
const outerScratch = new Sha1();

export class HmacSha1 {
  readonly #inner = new Sha1();
  readonly #outer = new Sha1();

  constructor(key: Uint8Array) {
    const pad = new Uint8Array(BLOCK_BYTES);
    if (key.length > BLOCK_BYTES) {
      const k = sha1(key);
      pad.set(k);
      k.fill(0);
    } else {
      pad.set(key);
    }
    for (let i = 0; i < BLOCK_BYTES; i++) pad[i]! ^= 0x36;
    this.#inner.update(pad);
    for (let i = 0; i < BLOCK_BYTES; i++) pad[i]! ^= 0x36 ^ 0x5c;
    this.#outer.update(pad);
    pad.fill(0);
  }

  /** HMAC(K, parts[0] || parts[1] || ...) into out[0..20); `out` may be one of the parts. */
  macInto(out: Uint8Array, ...parts: readonly Uint8Array[]): void {
    const inner = innerScratch;
    const outer = outerScratch;
    this.#inner._cloneInto(inner);
    this.#outer._cloneInto(outer);
    try {
      for (const p of parts) inner.update(p);
      outer.update(inner.finishInPlace());
      out.set(outer.finishInPlace());
    } finally {
      inner.destroy();
      outer.destroy();
    }
  }

  /** HMAC(K, parts[0] || parts[1] || ...) in a new 20-byte buffer. */
  mac(...parts: readonly Uint8Array[]): Uint8Array {
    const out = new Uint8Array(HMAC_SHA1_BYTES);
    this.macInto(out, ...parts);
    return out;
  }

  /** Zero the keyed states; the object must not be used afterwards. */
  destroy(): void {
    this.#inner.destroy();
    this.#outer.destroy();
  }
}
