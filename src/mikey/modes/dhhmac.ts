/**
 * RFC 4650 HMAC-authenticated Diffie-Hellman (DHHMAC): forward secrecy
 * without a PKI.
 *
 *   Initiator                                              Responder
 *   I_MESSAGE = HDR, T, RAND, IDi, IDr, SP, DHi, KEMAC  --->
 *   <---  R_MESSAGE = HDR, T, IDr, IDi, DHr, DHi, KEMAC
 *
 * KEMAC: Encr alg NULL, no key data (Encr data len 0), MAC alg
 * HMAC-SHA-1-160 over the whole message up to the MAC, keyed with
 * auth_key = PRF(PSK, 0x2D22AC75 || 0xFF || CSB ID || RAND) (§4.1.4, the
 * offer's CSB ID and RAND for both messages).  TGK = g^(xi*xr).
 */
import { dhGenerate } from '../dh.js';
import { ErrNo, MikeyError } from '../errors.js';
import { EncrAlg } from '../kemac-crypto.js';
import { deriveKemacKeys } from '../keys.js';
import { MacAlg, macCompute } from '../mac.js';
import type { DecodedMessage, MikeyMessage } from '../message.js';
import { DataType } from '../payloads/constants.js';
import type { KemacPayload } from '../payloads/kemac.js';
import { coveredBytes, encodeSealed, hdr, required } from './common.js';
import { answerDh, dhPayload, dhResponsePayloads, finishDh } from './dh.js';
import { pskOf } from './psk.js';
import { verifyKemacMac } from './transport.js';
import type { ModeHandler } from './types.js';

const MAC_ONLY = { encr: 0, auth: 20, salt: 0 };

function authKeyOf(psk: Uint8Array, csbId: number, rand: Uint8Array): Uint8Array {
  return deriveKemacKeys(psk, csbId, rand, MAC_ONLY).authKey;
}

const macOnlyKemac = (): KemacPayload => ({ kind: 'kemac', encrAlg: EncrAlg.NULL, encrData: new Uint8Array(0), macAlg: MacAlg.HMAC_SHA_1_160, mac: new Uint8Array(20) });

/** The KEMAC must be last, carry no key data, and its MAC must verify. */
function checkKemac(bytes: Uint8Array, msg: DecodedMessage, authKey: Uint8Array): void {
  const kemac = required(msg, 'kemac');
  if (msg.payloads[msg.payloads.length - 1] !== kemac) throw new MikeyError(ErrNo.AUTH_FAILURE, 'KEMAC is not the last payload');
  verifyKemacMac(kemac, authKey, coveredBytes(bytes, msg));
  if (kemac.encrData.length !== 0) throw new MikeyError(ErrNo.INVALID_EA, 'DHHMAC KEMAC must not carry key data');
}

const seal = (msg: MikeyMessage, codec: Parameters<typeof encodeSealed>[1], authKey: Uint8Array): Uint8Array =>
  encodeSealed(msg, codec, (covered) => macCompute(MacAlg.HMAC_SHA_1_160, authKey, covered));

export const dhhmacMode: ModeHandler = {
  initDataType: DataType.DHHMAC_INIT,
  respDataType: DataType.DHHMAC_RESP,

  offer(head, creds, opts) {
    const authKey = authKeyOf(pskOf(creds), head.hdr.csbId, head.rand.rand);
    const dh = dhGenerate(opts.dhGroup);
    const { hdr: h, t, rand, idi, idr, sp } = head;
    const bytes = seal({ hdr: h, payloads: [t, rand, idi, idr, sp, dhPayload(dh), macOnlyKemac()] }, opts.codec, authKey);
    return { bytes, secrets: { dh, authKey } };
  },

  authenticate(bytes, msg, creds, env) {
    const authKey = authKeyOf(pskOf(creds), msg.hdr.csbId, required(msg, 'rand').rand);
    try {
      checkKemac(bytes, msg, authKey);
    } catch (e) {
      authKey.fill(0);
      throw e;
    }
    return { ...answerDh(msg, env), authKey };
  },

  respond(ctx, auth) {
    const payloads = [...dhResponsePayloads(ctx, auth, []), macOnlyKemac()];
    return seal({ hdr: hdr(DataType.DHHMAC_RESP, ctx.offer.hdr.csbId, ctx.map), payloads }, ctx.codec, auth.authKey!);
  },

  verify(bytes, msg, _facts, secrets) {
    checkKemac(bytes, msg, secrets.authKey!);
    return finishDh(msg, secrets);
  },
};
