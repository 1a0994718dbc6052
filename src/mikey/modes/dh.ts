/**
 * RFC 3830 §3.3 Diffie-Hellman mode, signed with X.509 certificates.
 *
 *   Initiator                                              Responder
 *   I_MESSAGE = HDR, T, RAND, IDi, CERTi, IDr, SP, DHi, SIGNi  --->
 *   <---  R_MESSAGE = HDR, T, IDr, CERTr, IDi, DHr, DHi, SIGNr
 *
 * TGK = g^(xi*xr) (dh.ts, zero-padded to the group's length).  Groups:
 * OAKLEY 1, 2, 5 (DH-Group 1, 2, 0) and MODP-2048 "14" (payload code 14, our
 * extension: docs/PROFILE.md).  The DH helpers here are shared with DHHMAC.
 */
import { type DhKeyPair, dhGenerate, dhGroupCode, oakleyGroupOfCode } from '../dh.js';
import { ErrNo, MikeyError } from '../errors.js';
import type { MikeyMessage } from '../message.js';
import { DataType, KvType } from '../payloads/constants.js';
import type { DhPayload } from '../payloads/dh.js';
import { constantTimeEqual } from '../mac.js';
import { all, encodeSealed, hdr, idPayload, idText, initiatorIds, responderId } from './common.js';
import { certPayloads, signPlaceholder, signer, verifySigned } from './signed.js';
import type { AuthenticatedOffer, ModeHandler, OfferSecrets, ResponderEnv, ResponseContext } from './types.js';

export const dhPayload = (pair: DhKeyPair): DhPayload => ({ kind: 'dh', group: dhGroupCode(pair.group), value: pair.publicValue, kv: { kvType: KvType.NULL } });

/** Responder: our key pair for the offer's DHi and the TGK. */
export function answerDh(msg: MikeyMessage, env: ResponderEnv): Pick<AuthenticatedOffer, 'tgk' | 'dh' | 'dhi'> {
  const dhis = all(msg, 'dh');
  if (dhis.length !== 1) throw new MikeyError(ErrNo.INVALID_DH, `expected one DH payload, found ${dhis.length}`);
  const dhi = dhis[0]!;
  const group = oakleyGroupOfCode(dhi.group);
  if (!env.dhGroups.includes(group)) throw new MikeyError(ErrNo.INVALID_DH, `OAKLEY group ${group} not accepted`);
  const dh = dhGenerate(group);
  return { tgk: dh.computeSecret(dhi.value), dh, dhi };
}

/** The response's DHr, DHi: DHi must be ours; the TGK from DHr. */
export function finishDh(msg: MikeyMessage, secrets: OfferSecrets): Uint8Array {
  const dhs = all(msg, 'dh');
  const own = secrets.dh!;
  if (dhs.length !== 2) throw new MikeyError(ErrNo.INVALID_DH, `response must carry DHr and DHi, found ${dhs.length} DH payloads`);
  const [dhr, dhi] = dhs as [DhPayload, DhPayload];
  if (dhi.group !== dhGroupCode(own.group) || !constantTimeEqual(dhi.value, own.publicValue)) {
    throw new MikeyError(ErrNo.AUTH_FAILURE, 'response does not echo our DH value');
  }
  if (dhr.group !== dhi.group) throw new MikeyError(ErrNo.INVALID_DH, 'DHr and DHi use different groups');
  return own.computeSecret(dhr.value);
}

/** R_MESSAGE payloads between HDR and the MAC/SIGN of DH and DHHMAC: T, IDr, [CERTr], IDi, DHr, DHi. */
export function dhResponsePayloads(ctx: ResponseContext, auth: AuthenticatedOffer, certs: MikeyMessage['payloads']): MikeyMessage['payloads'] {
  const { idi } = initiatorIds(ctx.offer);
  const dhi = auth.dhi!;
  return [ctx.t, idPayload(ctx.localId), ...certs, idi, dhPayload(auth.dh!), { kind: 'dh', group: dhi.group as DhPayload['group'], value: dhi.value, kv: { kvType: KvType.NULL } }];
}

export const dhMode: ModeHandler = {
  initDataType: DataType.DH_INIT,
  respDataType: DataType.DH_RESP,

  offer(head, creds, opts) {
    const dh = dhGenerate(opts.dhGroup);
    const { hdr: h, t, rand, idi, idr, sp } = head;
    const msg = { hdr: h, payloads: [t, rand, idi, ...certPayloads(creds), idr, sp, dhPayload(dh), signPlaceholder(creds)] };
    return { bytes: encodeSealed(msg, opts.codec, signer(creds)), secrets: { dh } };
  },

  authenticate(bytes, msg, creds, env) {
    verifySigned(bytes, msg, creds, idText(initiatorIds(msg).idi), env.nowMs);
    return answerDh(msg, env);
  },

  respond(ctx, auth, creds) {
    const payloads = [...dhResponsePayloads(ctx, auth, certPayloads(creds)), signPlaceholder(creds)];
    return encodeSealed({ hdr: hdr(DataType.DH_RESP, ctx.offer.hdr.csbId, ctx.map), payloads }, ctx.codec, signer(creds));
  },

  verify(bytes, msg, _facts, secrets, creds, nowMs) {
    verifySigned(bytes, msg, creds, idText(responderId(msg)), nowMs);
    return finishDh(msg, secrets);
  },
};
