/**
 * The key-transport pieces PSK (RFC 3830 §3.1) and PKE (§3.2) share: the
 * KEMAC carrying the TGK, and the responder's verification message (V).
 *
 *   KEMAC (§6.2): Encr data = AES-CM-128(encr_key, IV(salt_key, CSB ID, T),
 *                 Key data{type TGK, KV NULL}); MAC alg HMAC-SHA-1-160.
 *   R_MESSAGE = HDR, T, IDr, V   with V's MAC (§5.2) over
 *                 (R_MESSAGE up to the MAC) || IDi || IDr || T_i
 *   The §4.1.4 keys (encr_key, auth_key, salt_key) come from the PSK (PSK
 *   mode) or the envelope key (PKE mode), with CSB ID and RAND of the offer.
 */
import { ErrNo, MikeyError } from '../errors.js';
import { kemacDecrypt, kemacEncrypt } from '../kemac-crypto.js';
import type { KemacKeys } from '../keys.js';
import { macCompute, macVerify } from '../mac.js';
import type { DecodedMessage } from '../message.js';
import { type KemacPayload } from '../payloads/kemac.js';
import type { IdPayload } from '../payloads/id.js';
import {
  type KeyDataPayload,
  KeyDataType,
  decodeKeyDataChain,
  decodePkeKemacPlaintext,
  encodeKeyDataChain,
  encodePkeKemacPlaintext,
  protectKeyData,
  wipeKeyData,
} from '../payloads/keydata.js';
import { type DataType, EncrAlg, KvType, MacAlg, macLength } from '../payloads/constants.js';
import { coveredBytes, encodeSealed, hdr, idPayload, initiatorIds, required, tValueBytes, vInput } from './common.js';
import type { OfferFacts, ResponseContext } from './types.js';

/**
 * A KEMAC payload with the TGK encrypted and a zero MAC, to be sealed.  PSK:
 * E(encr_key, {TGK}); PKE (`idi` given): E(encr_key, IDi || {TGK}) (§3.2).
 */
export function kemacWithTgk(tgk: Uint8Array, keys: KemacKeys, csbId: number, tBytes: Uint8Array, idi?: IdPayload): KemacPayload {
  const chain = [protectKeyData({ kind: 'keydata', type: KeyDataType.TGK, key: tgk, kv: { kvType: KvType.NULL } })];
  const plain = idi ? encodePkeKemacPlaintext(idi, chain) : encodeKeyDataChain(chain);
  const encrData = kemacEncrypt(EncrAlg.AES_CM_128, keys.encrKey, keys.saltKey, csbId, tBytes, plain);
  plain.fill(0);
  return { kind: 'kemac', encrAlg: EncrAlg.AES_CM_128, encrData, macAlg: MacAlg.HMAC_SHA_1_160, mac: new Uint8Array(macLength(MacAlg.HMAC_SHA_1_160)) };
}

/**
 * Decrypt a KEMAC (whose MAC the caller has verified) and return the one TGK
 * in it.  PKE (`expectedIdi` given): the plaintext starts with the encrypted
 * IDi, which §3.2 says "MUST always be verified to be equal with the expected
 * IDi" (else AUTH_FAILURE).
 */
export function tgkFromKemac(kemac: KemacPayload, keys: KemacKeys, csbId: number, tBytes: Uint8Array, expectedIdi?: IdPayload): Uint8Array {
  const plain = kemacDecrypt(kemac.encrAlg, keys.encrKey, keys.saltKey, csbId, tBytes, kemac.encrData);
  let chain: KeyDataPayload[];
  try {
    if (expectedIdi) {
      const { idi, keyData } = decodePkeKemacPlaintext(plain);
      chain = keyData;
      if (idi.idType !== expectedIdi.idType || Buffer.compare(idi.id, expectedIdi.id) !== 0) {
        wipeKeyData(chain);
        throw new MikeyError(ErrNo.AUTH_FAILURE, 'the encrypted IDi in the KEMAC differs from the IDi payload');
      }
    } else {
      chain = decodeKeyDataChain(plain);
    }
  } finally {
    plain.fill(0);
  }
  const tgks = chain.filter((kd) => kd.type === KeyDataType.TGK || kd.type === KeyDataType.TGK_SALT);
  const tgk = tgks.length === 1 ? tgks[0]!.key.slice() : undefined;
  wipeKeyData(chain);
  if (!tgk) throw new MikeyError(ErrNo.UNSPECIFIED, `KEMAC must carry exactly one TGK, found ${tgks.length}`);
  return tgk;
}

/** Verify a KEMAC MAC over `covered`; a NULL MAC is an authentication failure. */
export function verifyKemacMac(kemac: KemacPayload, authKey: Uint8Array, covered: Uint8Array): void {
  macVerify(kemac.macAlg, authKey, covered, kemac.mac);
}

/** The V-authenticated R_MESSAGE of PSK/PKE: HDR, T, IDr, V. */
export function respondWithV(ctx: ResponseContext, respDataType: DataType, authKey: Uint8Array): Uint8Array {
  const { idi, idr } = initiatorIds(ctx.offer);
  const tI = tValueBytes(required(ctx.offer, 't'));
  const msg = {
    hdr: hdr(respDataType, ctx.offer.hdr.csbId, ctx.map),
    payloads: [ctx.t, idPayload(ctx.localId), { kind: 'v' as const, macAlg: MacAlg.HMAC_SHA_1_160, mac: new Uint8Array(20) }],
  };
  return encodeSealed(msg, ctx.codec, (covered) =>
    macCompute(MacAlg.HMAC_SHA_1_160, authKey, ...vInput(covered, idi.id, idr?.id ?? new Uint8Array(0), tI)),
  );
}

/** Initiator: check the V payload of a PSK/PKE response (it must be the last payload). */
export function verifyV(bytes: Uint8Array, msg: DecodedMessage, facts: OfferFacts, authKey: Uint8Array): void {
  const v = required(msg, 'v');
  if (msg.payloads[msg.payloads.length - 1] !== v) throw new MikeyError(ErrNo.AUTH_FAILURE, 'V payload is not last');
  macVerify(v.macAlg, authKey, vInput(coveredBytes(bytes, msg), facts.idi, facts.idr, facts.tI), v.mac);
}
