/**
 * Encryption of the KEMAC "Encr data" (the Key data sub-payloads), RFC 3830
 * §4.2.3 and §6.2.  Keys come from §4.1.4 (`deriveKemacKeys`).
 *
 *   Encr alg    | Value | Key     | Notes
 *   ------------+-------+---------+----------------------------------------
 *   NULL        |     0 |   -     | plaintext (only with a protected channel)
 *   AES-CM-128  |     1 | 128 bit | RFC 3711 AES counter mode
 *   AES-KW-128  |     2 | 128 bit | RFC 3394 key wrap (salt not used)
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
 */
import { createCipheriv } from 'node:crypto';
import { aeskw } from '@noble/ciphers/aes.js';
import { MikeyError, ErrNo, malformed } from './errors.js';

export const EncrAlg = { NULL: 0, AES_CM_128: 1, AES_KW_128: 2 } as const;
export type EncrAlg = (typeof EncrAlg)[keyof typeof EncrAlg];

const AES128_KEY = 16;
const SALT_BYTES = 14;
const MAX_ENCR_DATA = 0xffff; // 16-bit "Encr data len" (§6.2)

/** §4.2.3 AES-CM IV from salt_key S, CSB ID and the T payload's value bytes (8, or 4 for COUNTER). */
export function aesCmIv(saltKey: Uint8Array, csbId: number, tBytes: Uint8Array): Uint8Array {
  if (saltKey.length !== SALT_BYTES) throw malformed(`AES-CM salt_key is ${saltKey.length} bytes, expected 14`);
  if (!Number.isInteger(csbId) || csbId < 0 || csbId > 0xffffffff) throw malformed(`CSB ID ${csbId} out of range`);
  if (tBytes.length !== 8 && tBytes.length !== 4) throw malformed(`T value is ${tBytes.length} bytes, expected 8 or 4`);
  const iv = new Uint8Array(16);
  new DataView(iv.buffer).setUint32(2, csbId);
  iv.set(tBytes, 14 - tBytes.length);
  for (let i = 0; i < SALT_BYTES; i++) iv[i]! ^= saltKey[i]!;
  return iv; // iv[14] = iv[15] = 0: the block counter
}

function aesCm(encrKey: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-128-ctr', encrKey, iv);
  const body = c.update(data);
  c.final(); // CTR has no padding: final() is empty
  const out = Uint8Array.from(body);
  body.fill(0);
  return out;
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
 * Encrypt the Key data sub-payloads for the KEMAC.  `saltKey`, `csbId` and
 * `tBytes` are used by AES-CM-128 only (pass the §4.1.4 salt anyway).
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
      out = aeskw(encrKey).encrypt(plaintext);
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
      try {
        return aeskw(encrKey).decrypt(ciphertext);
      } catch {
        throw new MikeyError(ErrNo.AUTH_FAILURE, 'AES-KW-128 integrity check failed');
      }
    default:
      throw unsupported(alg);
  }
}
