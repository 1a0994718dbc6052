/**
 * HMAC-SHA-1 (RFC 2104, 160-bit output), the one MAC primitive of MIKEY: the
 * §4.1.2 PRF (prf.ts) and the KEMAC/V MAC of §4.2.4 (mac.ts) both use it.
 *
 *   HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)),  B = 64, L = 20,
 *   K hashed first when longer than B, then zero-padded to B bytes.
 *
 * SHA-1 is @noble/hashes' `_SHA1`.  `HmacSha1` keys once: it keeps the two
 * SHA-1 chaining states after the (K ^ ipad) and (K ^ opad) blocks (ten
 * 32-bit words), and each MAC resumes them in two scratch hashes shared by
 * the module (JS runs one MAC at a time on a thread), finishing each hash in
 * its own buffer.  That is noble's `hmac` minus its per-key and per-MAC
 * allocations: a new hash object costs a fresh buffer and a DataView over it
 * (V8 then moves the small on-heap array off-heap), more than the two SHA-1
 * compressions of a short MIKEY input.  test/unit/mikey/crypto-prf.test.ts
 * checks it against noble's `hmac`, node:crypto and the RFC 2202 vectors.
 *
 * The keyed states, the key pad and the scratch are key material: the pad
 * and the scratch are zeroed after every use, the keyed states by `destroy()`.
 */
import { _SHA1, sha1 } from '@noble/hashes/legacy.js';
import { ErrNo, MikeyError } from './errors.js';

export const HMAC_SHA1_BYTES = 20;
const BLOCK_BYTES = 64;

/** noble's SHA-1, resumable from a saved chaining state and finishing in its own buffer. */
class Sha1 extends _SHA1 {
  /** Where `finishInPlace` leaves the digest: a fixed view of this hash's own buffer. */
  readonly #digest = this.buffer.subarray(0, HMAC_SHA1_BYTES);

  /** Continue from the 5 words at state[at] after `length` bytes (whole blocks) were hashed. */
  resume(state: Int32Array, at: number, length: number): this {
    this.set(state[at]!, state[at + 1]!, state[at + 2]!, state[at + 3]!, state[at + 4]!);
    this.length = length;
    this.pos = 0;
    this.finished = false;
    this.destroyed = false;
    return this;
  }

  /** Store the chaining state (valid after whole blocks) as 5 words at state[at]. */
  save(state: Int32Array, at: number): void {
    state.set(this.get(), at);
  }

  /** Finish the hash; the digest is the returned view of this hash's buffer (valid until the next use). */
  finishInPlace(): Uint8Array {
    this.digestInto(this.buffer);
    return this.#digest;
  }
}

const IV = new Int32Array(5);
new Sha1().save(IV, 0);
const innerScratch = new Sha1();
const outerScratch = new Sha1();
const pad = new Uint8Array(BLOCK_BYTES);

export class HmacSha1 {
  /** Chaining states after (K ^ ipad) in words 0..4 and after (K ^ opad) in words 5..9. */
  readonly #state = new Int32Array(10);
  #destroyed = false;

  constructor(key: Uint8Array) {
    const h = innerScratch;
    try {
      if (key.length > BLOCK_BYTES) {
        const k = sha1(key);
        pad.set(k);
        k.fill(0);
      } else {
        pad.set(key);
      }
      for (let i = 0; i < BLOCK_BYTES; i++) pad[i]! ^= 0x36;
      h.resume(IV, 0, 0).update(pad).save(this.#state, 0);
      for (let i = 0; i < BLOCK_BYTES; i++) pad[i]! ^= 0x36 ^ 0x5c;
      h.resume(IV, 0, 0).update(pad).save(this.#state, 5);
    } finally {
      pad.fill(0);
      h.destroy();
    }
  }

  /** HMAC(K, parts[0] || parts[1] || ...) into out[at .. at+20); `out` may be one of the parts. */
  macInto(out: Uint8Array, at: number, ...parts: readonly Uint8Array[]): void {
    if (this.#destroyed) throw new MikeyError(ErrNo.UNSPECIFIED, 'HMAC key used after destroy()');
    const inner = innerScratch.resume(this.#state, 0, BLOCK_BYTES);
    const outer = outerScratch.resume(this.#state, 5, BLOCK_BYTES);
    try {
      for (const p of parts) inner.update(p);
      outer.update(inner.finishInPlace());
      out.set(outer.finishInPlace(), at);
    } finally {
      inner.destroy();
      outer.destroy();
    }
  }

  /** HMAC(K, parts[0] || parts[1] || ...) in a new 20-byte buffer. */
  mac(...parts: readonly Uint8Array[]): Uint8Array {
    const out = new Uint8Array(HMAC_SHA1_BYTES);
    this.macInto(out, 0, ...parts);
    return out;
  }

  /** Zero the keyed states; the object refuses to MAC afterwards. */
  destroy(): void {
    this.#state.fill(0);
    this.#destroyed = true;
  }
}
