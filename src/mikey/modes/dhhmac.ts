/**
 * RFC 4650 HMAC-authenticated Diffie-Hellman (DHHMAC): forward secrecy
 * without a PKI.
 *
 *   Initiator                                              Responder
 *   I_MESSAGE = HDR, T, RAND, IDi, IDr, SP, DHi, KEMAC  --->
 *   <---  R_MESSAGE = HDR, T, IDr, IDi, DHr, DHi, KEMAC
 *
 * RFC 4650 Figure 1: I_message = HDR, T, RAND, [IDi], IDr, {SP}, DHi, KEMAC;
 * R_message = HDR, T, [IDr], IDi, DHr, DHi, KEMAC ("The responder SHALL
 * always include the initiator's identity IDi"); data types 7 / 8 (§4.1);
 * R_message T = the offer's T (RFC 3830 §5.2, the responder's caller).
 *
 * KEMAC (RFC 4650 §4.2): "KEMAC SHALL not convey any encrypted data",
 * Encr data len 0; it is the last payload and "the HMAC is then calculated
 * over the entire MIKEY message, excluding the MAC field using auth_key";
 * HMAC-SHA-1, 160 bits (no 96-bit variant).  §4.2 writes the codes as
 * "Encr alg SHALL be set to 2 (NULL)" and MAC alg "HMAC-SHA-1 0, NULL 1",
 * which contradicts RFC 3830 Tables 6.2.a/b (NULL 0, AES-KW-128 2;
 * NULL 0, HMAC-SHA-1-160 1) that the KEMAC payload is defined by; we send
 * and accept RFC 3830's values: Encr alg 0 (NULL), MAC alg 1.
 * auth_key = PRF(PSK, 0x2D22AC75 || 0xFF || CSB ID || RAND) (RFC 4650 §1.1
 * "derived from the pre-shared secret s using the pseudo-random function";
 * RFC 3830 §4.1.4, the offer's CSB ID and RAND for both messages).
 * TGK = g^(xi*xr) (RFC 4650 §3).
 */
import { dhGenerate } from '../dh.js';
import { ErrNo, MikeyError } from '../errors.js';
import { deriveDhhmacAuthKey } from '../keys.js';
import { macCompute } from '../mac.js';
import type { DecodedMessage, MikeyMessage } from '../message.js';
import { DataType, EncrAlg, MacAlg } from '../payloads/constants.js';
import type { KemacPayload } from '../payloads/kemac.js';
import { coveredBytes, encodeSealed, hdr, required } from './common.js';
import { answerDh, dhPayload, dhResponsePayloads, finishDh } from './dh.js';
import { pskOf } from './psk.js';
import { verifyKemacMac } from './transport.js';
import type { ModeHandler } from './types.js';

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
    const authKey = deriveDhhmacAuthKey(pskOf(creds), head.hdr.csbId, head.rand.rand);
    const dh = dhGenerate(opts.dhGroup);
    const { hdr: h, t, rand, idi, idr, sp } = head;
    const bytes = seal({ hdr: h, payloads: [t, rand, idi, idr, sp, dhPayload(dh), macOnlyKemac()] }, opts.codec, authKey);
    return { bytes, secrets: { dh, authKey } };
  },

  authenticate(bytes, msg, creds, env) {
    const authKey = deriveDhhmacAuthKey(pskOf(creds), msg.hdr.csbId, required(msg, 'rand').rand);
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
