/**
 * RFC 3830 §3.1 pre-shared key mode.
 *
 *   Initiator                                   Responder
 *   I_MESSAGE = HDR, T, RAND, IDi, IDr, SP, KEMAC  --->
 *               KEMAC = E(encr_key, TGK) || MAC(auth_key, I_MESSAGE up to the MAC)
 *   <---  R_MESSAGE = HDR, T, IDr, V
 *
 * encr_key, auth_key, salt_key = §4.1.4 PRF(PSK, const || 0xFF || CSB ID || RAND).
 */
import { ErrNo, MikeyError } from '../errors.js';
import { deriveKemacKeys, wipeKeys } from '../keys.js';
import { macCompute } from '../mac.js';
import { randomBytes } from '../random.js';
import { DataType, MacAlg } from '../payloads/constants.js';
import { coveredBytes, encodeSealed, required, tValueBytes } from './common.js';
import { kemacWithTgk, respondWithV, tgkFromKemac, verifyKemacMac, verifyV } from './transport.js';
import type { Credentials, ModeHandler } from './types.js';

export function pskOf(creds: Credentials): Uint8Array {
  if (!creds.psk || creds.psk.length === 0) throw new MikeyError(ErrNo.UNSPECIFIED, 'no pre-shared key configured');
  return creds.psk;
}

export const pskMode: ModeHandler = {
  initDataType: DataType.PSK_INIT,
  respDataType: DataType.PSK_RESP,

  offer(head, creds, opts) {
    const keys = deriveKemacKeys(pskOf(creds), head.hdr.csbId, head.rand.rand);
    const tgk = randomBytes(opts.tgkLength);
    const kemac = kemacWithTgk(tgk, keys, head.hdr.csbId, tValueBytes(head.t));
    const { hdr, t, rand, idi, idr, sp } = head;
    const bytes = encodeSealed({ hdr, payloads: [t, rand, idi, idr, sp, kemac] }, opts.codec, (covered) =>
      macCompute(MacAlg.HMAC_SHA_1_160, keys.authKey, covered),
    );
    const authKey = keys.authKey.slice();
    wipeKeys(keys);
    return { bytes, secrets: { tgk, authKey } };
  },

  authenticate(bytes, msg, creds) {
    const kemac = required(msg, 'kemac');
    if (msg.payloads[msg.payloads.length - 1] !== kemac) throw new MikeyError(ErrNo.AUTH_FAILURE, 'KEMAC is not the last payload');
    const keys = deriveKemacKeys(pskOf(creds), msg.hdr.csbId, required(msg, 'rand').rand);
    try {
      verifyKemacMac(kemac, keys.authKey, coveredBytes(bytes, msg));
      const tgk = tgkFromKemac(kemac, keys, msg.hdr.csbId, tValueBytes(required(msg, 't')));
      return { tgk, authKey: keys.authKey.slice() };
    } finally {
      wipeKeys(keys);
    }
  },

  respond(ctx, auth) {
    return respondWithV(ctx, DataType.PSK_RESP, auth.authKey!);
  },

  verify(bytes, msg, facts, secrets) {
    verifyV(bytes, msg, facts, secrets.authKey!);
    return secrets.tgk!.slice();
  },
};
