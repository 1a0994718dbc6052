/**
 * Encryption of the KEMAC "Encr data" (the Key data sub-payloads), RFC 3830
 * §4.2.3 and §6.2.  Keys come from §4.1.4 (`deriveKemacKeys`).
 *
 *   Encr alg    | Value | Key     | Notes
 *   ------------+-------+---------+----------------------------------------
 *   NULL        |     0 |   -     | plaintext (only with a protected channel)
 *   AES-CM-128  |     1 | 128 bit | RFC 3711 AES counter mode
 *   AES-KW-128  |     2 | 128 bit | RFC 3394 key wrap, IV = 64-bit salt S
 *
 * AES-CM IV (§4.2.3), 128 bits:
 *
 *   IV = (S XOR (0x0000 || CSB_ID || T)) || 0x0000
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |        S[0..1]                |  S[2..5] XOR CSB_ID ...       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  ... CSB_ID                   |  S[6..13] XOR T (64 bits) ... |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  ... T                                                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  ... T                        |  block counter (16 bits, = 0) |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * S = the 112-bit salt_key, T = the 64-bit value of the message's T payload
 * (a 32-bit COUNTER value is taken as the integer it is, i.e. left-padded
 * with zeros to 64 bits).  The KEMAC Encr data is at most 65535 bytes, so
 * the 16-bit block counter never wraps and node's 128-bit-counter
 * 'aes-128-ctr' computes exactly RFC 3711's keystream.
 *
 * AES-KW-128 (§4.2.3): "The 128-bit key and a 64-bit salt, S, are derived in
 * accordance to Section 4.1.4 and the key wrap IV is then set to S" — an
 * RFC 3394 §2.2.3.2 alternative initial value, not the default A6A6...A6.
 * The §4.1.4 PRF output is a prefix-stable stream, so the 64-bit S is the
 * first 8 bytes of the 112-bit salt_key.  RFC 3394 §2.2.1/§2.2.2 (index
 * form) are implemented here on AES-128-ECB because no library at hand takes
 * an alternative IV.
 */
import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';
import { MikeyError, ErrNo, malformed } from './errors.js';
import { EncrAlg } from './payloads/constants.js';

const AES128_KEY = 16;
const SALT_BYTES = 14;
const MAX_ENCR_DATA = 0xffff; // 16-bit "Encr data len" (§6.2)

/** §4.2.3 AES-CM IV from salt_key S, CSB ID and the T payload's value bytes (8, or 4 for COUNTER). */
export function aesCmIv(saltKey: Uint8Array, csbId: number, tBytes: Uint8Array): Uint8Array {
  if (saltKey.length !== SALT_BYTES) throw malformed(`AES-CM salt_key is ${saltKey.length} bytes, expected 14`);
  if (!Number.isInteger(csbId) || csbId < 0 || csbId > 0xffffffff) throw malformed(`CSB ID ${csbId} out of range`);
  if (tBytes.length !== 8 && tBytes.length !== 4) throw malformed(`T value is ${tBytes.length} bytes, expected 8 or 4`);
  const iv = new Uint8Array(16);
  iv[2] = csbId >>> 24;
  iv[3] = csbId >>> 16;
  iv[4] = csbId >>> 8;
  iv[5] = csbId;
  iv.set(tBytes, 14 - tBytes.length);
  for (let i = 0; i < SALT_BYTES; i++) iv[i]! ^= saltKey[i]!;
  return iv; // iv[14] = iv[15] = 0: the block counter
}

function aesCm(encrKey: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-128-ctr', encrKey, iv);
  const body = c.update(data);
  c.final(); // CTR has no padding: final() is empty
  const out = new Uint8Array(body);
  body.fill(0);
  return out;
}

/** RFC 3394 §2.2.1 key wrap (index form) with initial value `iv` (8 bytes). */
export function aesKeyWrap(kek: Uint8Array, iv: Uint8Array, plain: Uint8Array): Uint8Array {
  checkKw(kek, iv, plain.length, 16);
  const n = plain.length / 8;
  const a = new Uint8Array(iv);
  const r = new Uint8Array(plain);
  const ecb = createCipheriv('aes-128-ecb', kek, null).setAutoPadding(false);
  const block = new Uint8Array(16);
  for (let j = 0; j <= 5; j++) {
    for (let i = 1; i <= n; i++) {
      block.set(a, 0);
      block.set(r.subarray((i - 1) * 8, i * 8), 8);
      const b = ecb.update(block);
      a.set(b.subarray(0, 8));
      xorCounter(a, n * j + i);
      r.set(b.subarray(8, 16), (i - 1) * 8);
      b.fill(0);
    }
  }
  block.fill(0);
  const out = new Uint8Array(plain.length + 8);
  out.set(a, 0);
  out.set(r, 8);
  r.fill(0);
  return out;
}

/** RFC 3394 §2.2.2 key unwrap; undefined when the initial value does not come out as `iv`. */
export function aesKeyUnwrap(kek: Uint8Array, iv: Uint8Array, wrapped: Uint8Array): Uint8Array | undefined {
  checkKw(kek, iv, wrapped.length, 24);
  const n = wrapped.length / 8 - 1;
  const a = wrapped.slice(0, 8);
  const r = wrapped.slice(8);
  const ecb = createDecipheriv('aes-128-ecb', kek, null).setAutoPadding(false);
  const block = new Uint8Array(16);
  for (let j = 5; j >= 0; j--) {
    for (let i = n; i >= 1; i--) {
      xorCounter(a, n * j + i);
      block.set(a, 0);
      block.set(r.subarray((i - 1) * 8, i * 8), 8);
      const b = ecb.update(block);
      a.set(b.subarray(0, 8));
      r.set(b.subarray(8, 16), (i - 1) * 8);
      b.fill(0);
    }
  }
  block.fill(0);
  if (!timingSafeEqual(a, iv)) {
    r.fill(0);
    return undefined;
  }
  return r;
}

function checkKw(kek: Uint8Array, iv: Uint8Array, len: number, min: number): void {
  if (kek.length !== AES128_KEY || iv.length !== 8) throw malformed('AES-KW needs a 16-byte KEK and an 8-byte IV');
  if (len < min || len % 8 !== 0) throw malformed(`AES-KW input is ${len} bytes: needs >= ${min} in 8-byte steps`);
}

/** A ^= t, t as a 64-bit big-endian integer (RFC 3394: t < 2^32 here). */
function xorCounter(a: Uint8Array, t: number): void {
  const dv = new DataView(a.buffer, a.byteOffset, 8);
  dv.setUint32(4, dv.getUint32(4) ^ t);
}

/** §4.2.3: the AES-KW IV is the 64-bit salt S, the first 8 bytes of the §4.1.4 salt_key. */
function kwIv(saltKey: Uint8Array): Uint8Array {
  if (saltKey.length < 8) throw malformed(`AES-KW salt is ${saltKey.length} bytes, needs 8`);
  return saltKey.subarray(0, 8);
}

function checkKey(alg: number, encrKey: Uint8Array): void {
  if (alg !== EncrAlg.NULL && encrKey.length !== AES128_KEY) {
    throw malformed(`encr_key is ${encrKey.length} bytes, expected 16`);
  }
}

function unsupported(alg: number): MikeyError {
  return new MikeyError(ErrNo.INVALID_EA, `KEMAC encryption algorithm ${alg} is not supported`);
}

/**
 * Encrypt the Key data sub-payloads for the KEMAC.  `saltKey` is the
 * §4.1.4 salt_key (AES-CM IV, AES-KW IV = its first 8 bytes); `csbId` and
 * `tBytes` are used by AES-CM-128 only.
 * AES-KW-128 needs a plaintext of at least 16 bytes in 8-byte steps.
 */
export function kemacEncrypt(
  alg: number,
  encrKey: Uint8Array,
  saltKey: Uint8Array,
  csbId: number,
  tBytes: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  checkKey(alg, encrKey);
  let out: Uint8Array;
  switch (alg) {
    case EncrAlg.NULL:
      out = plaintext.slice();
      break;
    case EncrAlg.AES_CM_128:
      out = aesCm(encrKey, aesCmIv(saltKey, csbId, tBytes), plaintext);
      break;
    case EncrAlg.AES_KW_128:
      if (plaintext.length < 16 || plaintext.length % 8 !== 0) {
        throw malformed(`AES-KW-128 plaintext is ${plaintext.length} bytes: needs >= 16 in 8-byte steps`);
      }
      out = aesKeyWrap(encrKey, kwIv(saltKey), plaintext);
      break;
    default:
      throw unsupported(alg);
  }
  if (out.length > MAX_ENCR_DATA) throw malformed(`KEMAC Encr data of ${out.length} bytes exceeds 65535`);
  return out;
}

/**
 * Decrypt KEMAC Encr data.  Verify the KEMAC MAC BEFORE calling this (AES-CM
 * has no integrity of its own).  An AES-KW integrity-check failure is
 * MikeyError(AUTH_FAILURE); an unknown algorithm MikeyError(INVALID_EA).
 */
export function kemacDecrypt(
  alg: number,
  encrKey: Uint8Array,
  saltKey: Uint8Array,
  csbId: number,
  tBytes: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array {
  checkKey(alg, encrKey);
  switch (alg) {
    case EncrAlg.NULL:
      return ciphertext.slice();
    case EncrAlg.AES_CM_128:
      return aesCm(encrKey, aesCmIv(saltKey, csbId, tBytes), ciphertext);
    case EncrAlg.AES_KW_128:
      if (ciphertext.length < 24 || ciphertext.length % 8 !== 0) {
        throw malformed(`AES-KW-128 ciphertext is ${ciphertext.length} bytes: needs >= 24 in 8-byte steps`);
      }
      {
        const plain = aesKeyUnwrap(encrKey, kwIv(saltKey), ciphertext);
        if (!plain) throw new MikeyError(ErrNo.AUTH_FAILURE, 'AES-KW-128 integrity check failed');
        return plain;
      }
    default:
      throw unsupported(alg);
  }
}
