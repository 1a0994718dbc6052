/**
 * RFC 3830 §3.2 public-key (envelope) mode.
 *
 *   Initiator                                                      Responder
 *   I_MESSAGE = HDR, T, RAND, IDi, CERTi, IDr, SP, KEMAC, PKE, SIGNi  --->
 *   <---  R_MESSAGE = HDR, T, IDr, V
 *
 * PKE = RSAES-PKCS1-v1_5(responder's certificate, env_key) (pke.ts, §4.2.5);
 * encr_key, auth_key, salt_key = §4.1.4 PRF(env_key, ...).
 *   KEMAC = E(encr_key, IDi || {TGK}) || MAC                        (§3.2)
 * The KEMAC's MAC covers the KEMAC payload only, "except the MAC field and
 * where the Next payload field has been set to zero" (§6.2, §5.2); the SIGN
 * "the entire MIKEY message, except the MAC/Signature field" (§5.2), i.e.
 * up to the signature with the SIGN's S type / length bytes included.  V as
 * in PSK mode, keyed with the envelope key's auth_key.
 */
import { ErrNo, MikeyError } from '../errors.js';
import { deriveKemacKeys, wipeKeys } from '../keys.js';
import { macCompute } from '../mac.js';
import { type DecodedMessage, type PayloadSpan, encodeMessageWithSpans } from '../message.js';
import { DataType, MacAlg } from '../payloads/constants.js';
import { PkeCache } from '../payloads/pke.js';
import { envelopeDecrypt, envelopeEncrypt } from '../pke.js';
import { randomBytes } from '../random.js';
import { idText, initiatorIds, required, tValueBytes } from './common.js';
import { certPayloads, signPlaceholder, signer, verifySigned } from './signed.js';
import { kemacWithTgk, respondWithV, tgkFromKemac, verifyKemacMac, verifyV } from './transport.js';
import type { ModeHandler } from './types.js';

/** Envelope key length in bytes (§3.2 leaves it open; not a multiple of 32: REFERENCE.md §2 minisip PRF). */
export const ENV_KEY_BYTES = 20;

/** §6.2: the KEMAC payload up to its MAC field, its Next payload byte set to zero (a copy). */
function kemacMacInput(bytes: Uint8Array, spans: readonly PayloadSpan[]): { input: Uint8Array; macStart: number } {
  const s = spans.find((x) => x.kind === 'kemac');
  if (!s || s.macStart === undefined) throw new MikeyError(ErrNo.UNSPECIFIED, 'KEMAC payload missing');
  const input = bytes.slice(s.start, s.macStart);
  input[0] = 0;
  return { input, macStart: s.macStart };
}

export const pkeMode: ModeHandler = {
  initDataType: DataType.PK_INIT,
  respDataType: DataType.PK_RESP,

  offer(head, creds, opts) {
    if (!creds.peerCertificate) throw new MikeyError(ErrNo.INVALID_CERT, "PKE needs the responder's certificate");
    const envKey = randomBytes(ENV_KEY_BYTES);
    const keys = deriveKemacKeys(envKey, head.hdr.csbId, head.rand.rand);
    const tgk = randomBytes(opts.tgkLength);
    const kemac = kemacWithTgk(tgk, keys, head.hdr.csbId, tValueBytes(head.t), head.idi);
    const pke = { kind: 'pke' as const, c: PkeCache.NO_CACHE, data: envelopeEncrypt(creds.peerCertificate, envKey) };
    envKey.fill(0);
    const { hdr, t, rand, idi, idr, sp } = head;
    const payloads = [t, rand, idi, ...certPayloads(creds), idr, sp, kemac, pke, signPlaceholder(creds)];
    const { bytes, spans } = encodeMessageWithSpans({ hdr, payloads }, opts.codec);
    const k = kemacMacInput(bytes, spans);
    bytes.set(macCompute(MacAlg.HMAC_SHA_1_160, keys.authKey, k.input), k.macStart);
    const signSpan = spans[spans.length - 1]!;
    bytes.set(signer(creds)(bytes.subarray(0, signSpan.macStart)), signSpan.macStart!);
    const authKey = keys.authKey.slice();
    wipeKeys(keys);
    return { bytes, secrets: { tgk, authKey } };
  },

  authenticate(bytes, msg: DecodedMessage, creds, env) {
    verifySigned(bytes, msg, creds, idText(initiatorIds(msg).idi), env.nowMs);
    if (!creds.privateKey) throw new MikeyError(ErrNo.INVALID_CERT, 'no private key configured');
    const envKey = envelopeDecrypt(creds.privateKey, required(msg, 'pke').data, ENV_KEY_BYTES);
    const keys = deriveKemacKeys(envKey, msg.hdr.csbId, required(msg, 'rand').rand);
    envKey.fill(0);
    try {
      const kemac = required(msg, 'kemac');
      verifyKemacMac(kemac, keys.authKey, kemacMacInput(bytes, msg.spans).input);
      const tgk = tgkFromKemac(kemac, keys, msg.hdr.csbId, tValueBytes(required(msg, 't')), initiatorIds(msg).idi);
      return { tgk, authKey: keys.authKey.slice() };
    } finally {
      wipeKeys(keys);
    }
  },

  respond(ctx, auth) {
    return respondWithV(ctx, DataType.PK_RESP, auth.authKey!);
  },

  verify(bytes, msg, facts, secrets) {
    verifyV(bytes, msg, facts, secrets.authKey!);
    return secrets.tgk!.slice();
  },
};
