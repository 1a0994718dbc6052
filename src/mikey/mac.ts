/**
 * MAC and verification message function, RFC 3830 §4.2.4; algorithm numbers
 * of the KEMAC "MAC alg" field (§6.2, also used by the V payload's "Auth alg",
 * §6.9; `MacAlg` and `macLength` live with the codec in payloads/constants.ts):
 *
 *   MAC alg          | Value | MAC length
 *   -----------------+-------+-----------
 *   NULL             |     0 |   0 bits
 *   HMAC-SHA-1-160   |     1 | 160 bits
 *
 * The caller chooses what the MAC covers: for PSK/PKE the whole message up to
 * the MAC field (§5.2, §6.2); for V the response without its MAC then
 * IDi || IDr || T of the initiator (§5.2); for DHHMAC the whole message
 * without the MAC (RFC 4650), keyed with the §4.1.4 auth_key of the PSK.
 *
 * A NULL MAC authenticates nothing, so `macVerify` refuses it: a mode whose
 * message is signed (PKE responses, DH) must not call `macVerify` at all.
 */
import { timingSafeEqual } from 'node:crypto';
import { MikeyError, ErrNo, malformed } from './errors.js';
import { HmacSha1 } from './hmac.js';
import { macLength } from './payloads/constants.js';

/**
 * The MAC of the concatenation of `data` (empty for NULL); the parts are fed
 * to the MAC in order, so a covered message and what follows it (§5.2 V)
 * need not be copied into one buffer.
 */
export function macCompute(alg: number, authKey: Uint8Array, ...data: readonly Uint8Array[]): Uint8Array {
  if (macLength(alg) === 0) return new Uint8Array(0);
  if (authKey.length === 0) throw malformed('HMAC-SHA-1-160 needs a non-empty auth_key');
  const h = new HmacSha1(authKey);
  const mac = h.mac(...data);
  h.destroy();
  return mac;
}

/** Length-checked constant-time comparison (time depends on the length only). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Verify `mac` over the concatenation of `data`; returns normally on success, throws
 * MikeyError(AUTH_FAILURE) on a mismatch, a wrong length, or a NULL MAC, and
 * MikeyError(INVALID_MAC) for an unknown algorithm.
 */
export function macVerify(alg: number, authKey: Uint8Array, data: Uint8Array | readonly Uint8Array[], mac: Uint8Array): void {
  const len = macLength(alg);
  if (len === 0) throw new MikeyError(ErrNo.AUTH_FAILURE, 'NULL MAC cannot authenticate a message');
  if (mac.length !== len) throw new MikeyError(ErrNo.AUTH_FAILURE, `MAC is ${mac.length} bytes, expected ${len}`);
  const expected = data instanceof Uint8Array ? macCompute(alg, authKey, data) : macCompute(alg, authKey, ...data);
  const ok = constantTimeEqual(expected, mac);
  expected.fill(0);
  if (!ok) throw new MikeyError(ErrNo.AUTH_FAILURE, 'MAC verification failed');
}
