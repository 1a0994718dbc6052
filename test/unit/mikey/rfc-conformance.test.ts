/**
 * Wire checks against the RFC texts: each MAC / signature input is rebuilt
 * here by hand from the message bytes, as the RFC sentence quoted beside it
 * says, and compared with what the modes put on the wire.
 */
import { describe, it, expect } from 'vitest';
import { createHmac } from 'node:crypto';
import { createOffer } from '../../../src/mikey/initiator.js';
import { respond } from '../../../src/mikey/responder.js';
import { type DecodedMessage, decodeMessage } from '../../../src/mikey/message.js';
import { deriveKemacKeys } from '../../../src/mikey/keys.js';
import { kemacDecrypt } from '../../../src/mikey/kemac-crypto.js';
import { decodePkeKemacPlaintext, encodePkeKemacPlaintext, KeyDataType } from '../../../src/mikey/payloads/keydata.js';
import { KvType } from '../../../src/mikey/payloads/constants.js';
import { DhGroup } from '../../../src/mikey/payloads/dh.js';
import { IdType } from '../../../src/mikey/payloads/id.js';
import { envelopeDecrypt, verifyMessageSignature } from '../../../src/mikey/pke.js';
import { ENV_KEY_BYTES } from '../../../src/mikey/modes/pke.js';
import type { MikeyMode } from '../../../src/mikey/result.js';
import { ErrNo, MikeyError } from '../../../src/mikey/errors.js';
import { ALICE, BOB, PSK, T0, cache, creds, policy } from './modes-fixtures.js';

const now = () => T0;
const pki = (m: MikeyMode) => m === 'pke' || m === 'dh';
const hmac = (key: Uint8Array, ...parts: Uint8Array[]) => {
  const h = createHmac('sha1', key);
  for (const p of parts) h.update(p);
  return Uint8Array.from(h.digest());
};

async function run(mode: MikeyMode, dhGroup?: 1 | 2 | 5 | 14) {
  const { message } = createOffer({
    mode, localId: ALICE, peerId: BOB, localAddr: '192.0.2.1', inboundSpi: 0x1000, policy: policy(),
    credentials: creds('alice', pki(mode)), now, ...(dhGroup ? { dhGroup } : {}),
  });
  const out = await respond(message, {
    localId: BOB, peerId: ALICE, localAddr: '192.0.2.2', allocSpi: () => 0x2000,
    credentials: creds('bob', pki(mode)), replayCache: cache(), now, dhGroups: [1, 2, 5, 14],
  });
  if (!out.ok) throw out.error;
  return { offer: message, o: decodeMessage(message), response: out.response, r: decodeMessage(out.response) };
}

const find = <K extends DecodedMessage['payloads'][number]['kind']>(m: DecodedMessage, k: K) =>
  m.payloads.find((p) => p.kind === k) as Extract<DecodedMessage['payloads'][number], { kind: K }>;
const spanOf = (m: DecodedMessage, k: string) => m.spans.find((s) => s.kind === k)!;
const authKeyOf = (inkey: Uint8Array, m: DecodedMessage) => deriveKemacKeys(inkey, m.hdr.csbId, find(m, 'rand').rand).authKey;

describe('RFC 3830 §5.2 and §6.9: the V payload', () => {
  for (const mode of ['psk', 'pke'] as const) {
    it(`${mode}: MAC = HMAC-SHA-1(auth_key, R_MESSAGE up to the MAC || IDi || IDr || T), IDs and T as the values in the ID and T payloads`, async () => {
      const { o, offer, response, r } = await run(mode);
      const ids = o.payloads.filter((p) => p.kind === 'id');
      let inkey: Uint8Array = PSK;
      if (mode === 'pke') inkey = envelopeDecrypt(creds('bob', true).privateKey!, find(o, 'pke').data, ENV_KEY_BYTES);
      const v = spanOf(r, 'v');
      // "the Identity_i || Identity_r || Timestamp MUST directly follow the MIKEY message"
      const expected = hmac(authKeyOf(inkey, o), response.subarray(0, v.macStart), ids[0]!.id, ids[1]!.id, offer.subarray(spanOf(o, 't').start + 2, spanOf(o, 't').end));
      expect(Buffer.from(find(r, 'v').mac).equals(Buffer.from(expected))).toBe(true);
    });
  }
});

describe('RFC 3830 §5.2: KEMAC MAC of the pre-shared key mode', () => {
  it('covers the entire message except the MAC field, with auth_key = PRF(PSK, 0x2D22AC75 || 0xFF || CSB ID || RAND)', async () => {
    const { o, offer } = await run('psk');
    const k = spanOf(o, 'kemac');
    expect(k.end).toBe(offer.length);
    expect(Buffer.from(find(o, 'kemac').mac).equals(Buffer.from(hmac(authKeyOf(PSK, o), offer.subarray(0, k.macStart))))).toBe(true);
  });
});

describe('RFC 3830 §3.2, §6.2: the public-key mode KEMAC', () => {
  it('KEMAC = E(encr_key, IDi || {TGK}) || MAC, the MAC over the KEMAC payload only with its Next payload set to zero', async () => {
    const { o, offer } = await run('pke');
    const envKey = envelopeDecrypt(creds('bob', true).privateKey!, find(o, 'pke').data, ENV_KEY_BYTES);
    const keys = deriveKemacKeys(envKey, o.hdr.csbId, find(o, 'rand').rand);
    const k = spanOf(o, 'kemac');
    expect(offer[k.start]).toBe(2); // the KEMAC's Next payload on the wire is PKE ...
    const input = offer.slice(k.start, k.macStart);
    input[0] = 0; // ... and zero in the MAC input
    expect(Buffer.from(find(o, 'kemac').mac).equals(Buffer.from(hmac(keys.authKey, input)))).toBe(true);
    const tBytes = offer.subarray(spanOf(o, 't').start + 2, spanOf(o, 't').end);
    const plain = kemacDecrypt(find(o, 'kemac').encrAlg, keys.encrKey, keys.saltKey, o.hdr.csbId, tBytes, find(o, 'kemac').encrData);
    const { idi, keyData } = decodePkeKemacPlaintext(plain);
    expect(Buffer.from(idi.id).toString()).toBe(ALICE);
    expect(keyData.map((kd) => kd.type)).toEqual([KeyDataType.TGK]);
    expect(plain[0]).toBe(20); // the ID payload's Next payload: a Key data sub-payload follows
  });

  it('the SIGN covers the entire message except the Signature field (its S type / length bytes included)', async () => {
    const { o, offer } = await run('pke');
    const s = spanOf(o, 'sign');
    expect(s.macStart).toBe(s.start + 2);
    expect(() => verifyMessageSignature(creds('alice', true).certificate!, offer.subarray(0, s.macStart), find(o, 'sign').signature, 0)).not.toThrow();
  });

  it('an encrypted IDi that differs from the IDi payload is AUTH_FAILURE; the plaintext codec round-trips', () => {
    const idi = { kind: 'id' as const, idType: IdType.URI, id: Buffer.from(ALICE) };
    const kd = { kind: 'keydata' as const, type: KeyDataType.TGK, key: new Uint8Array(16).fill(7), kv: { kvType: KvType.NULL } };
    const round = decodePkeKemacPlaintext(encodePkeKemacPlaintext(idi, [kd]));
    expect(Buffer.from(round.idi.id).toString()).toBe(ALICE);
    expect(Buffer.from(round.keyData[0]!.key).equals(Buffer.from(kd.key))).toBe(true);
    const bad = encodePkeKemacPlaintext(idi, [kd]);
    bad[0] = 0;
    expect(() => decodePkeKemacPlaintext(bad)).toThrow(MikeyError);
  });
});

describe('RFC 3830 §3.3 DH mode and RFC 4650 DHHMAC', () => {
  it('DH: DH-Group codes on the wire are Table 6.4 (OAKLEY 5 = 0, 1 = 1, 2 = 2) and our 14; SIGNr covers R_MESSAGE up to the signature', async () => {
    for (const [g, code] of [[5, DhGroup.OAKLEY_5], [1, DhGroup.OAKLEY_1], [2, DhGroup.OAKLEY_2], [14, DhGroup.MODP_2048]] as const) {
      const { o, r, response } = await run('dh', g);
      expect(find(o, 'dh').group).toBe(code);
      expect(r.payloads.filter((p) => p.kind === 'dh').map((p) => (p as { group: number }).group)).toEqual([code, code]);
      const s = spanOf(r, 'sign');
      expect(() => verifyMessageSignature(creds('bob', true).certificate!, response.subarray(0, s.macStart), find(r, 'sign').signature, 0)).not.toThrow();
    }
  }, 60_000);

  it('DHHMAC: KEMAC with NULL encryption (0), empty Encr data, HMAC-SHA-1-160 (1) over the whole message, keyed with the PSK auth_key, in both messages', async () => {
    const { o, offer, r, response } = await run('dhhmac');
    for (const [m, bytes] of [[o, offer], [r, response]] as const) {
      const kemac = find(m, 'kemac');
      expect([kemac.encrAlg, kemac.encrData.length, kemac.macAlg, kemac.mac.length]).toEqual([0, 0, 1, 20]);
      const k = spanOf(m, 'kemac');
      expect(k.end).toBe(bytes.length);
      expect(Buffer.from(kemac.mac).equals(Buffer.from(hmac(authKeyOf(PSK, o), bytes.subarray(0, k.macStart))))).toBe(true);
    }
    // RFC 4650 §3: "The responder SHALL always include the initiator's identity IDi"
    expect(r.payloads.filter((p) => p.kind === 'id').map((p) => Buffer.from((p as { id: Uint8Array }).id).toString())).toEqual([BOB, ALICE]);
  });
});

describe('RFC 3830 §5.1.2 error message', () => {
  it('is HDR, T, ERR, [V]: an unauthenticated offer gets no V', async () => {
    const { message } = createOffer({ mode: 'psk', localId: ALICE, peerId: BOB, localAddr: '192.0.2.1', inboundSpi: 1, policy: policy(), credentials: creds('alice', false), now });
    const bad = message.slice();
    bad[bad.length - 1]! ^= 1;
    const out = await respond(bad, { localId: BOB, peerId: ALICE, localAddr: '192.0.2.2', allocSpi: () => 2, credentials: creds('bob', false), replayCache: cache(), now });
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.error.errNo).toBe(ErrNo.AUTH_FAILURE);
    expect(decodeMessage(out.errorResponse).payloads.map((p) => p.kind)).toEqual(['t', 'err']);
  });
});
