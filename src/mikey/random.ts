/**
 * Random values of a MIKEY exchange: CSB ID (§6.1, 32 bits), RAND (§6.11),
 * TGK (§3.1) and envelope key (§3.2).  All come from node's CSPRNG
 * (OpenSSL RAND_bytes via `randomFillSync`), drawn POOL_BYTES at a time:
 * one call costs a fixed overhead of several µs whatever its size, and an
 * exchange needs three small draws.
 *
 * The pool holds future secrets, so every byte handed out is copied and then
 * zeroed in the pool: no value drawn stays behind, and no byte is ever handed
 * out twice.  The pool is per thread (module state), refilled only when it
 * cannot serve a request whole.  Draws larger than POOL_BYTES / 4 bypass it.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let used = POOL_BYTES; // empty: the first draw fills it

/** `n` fresh random bytes, in a new buffer the caller owns (and wipes if secret). */
export function randomBytes(n: number): Uint8Array {
  if (n > POOL_BYTES / 4) return randomFillSync(new Uint8Array(n));
  if (used + n > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const out = pool.slice(used, used + n);
  pool.fill(0, used, used + n);
  used += n;
  return out;
}

/** A uniformly random 32-bit unsigned integer. */
export function randomUint32(): number {
  if (used + 4 > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const v = ((pool[used]! << 24) | (pool[used + 1]! << 16) | (pool[used + 2]! << 8) | pool[used + 3]!) >>> 0;
  pool.fill(0, used, used + 4);
  used += 4;
  return v;
}
