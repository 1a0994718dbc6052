import { describe, it, expect } from 'vitest';
import { createOffer, verifyResponse } from '../../../src/mikey/initiator.js';
import { respond, type ResponderOptions } from '../../../src/mikey/responder.js';
import { decodeMessage } from '../../../src/mikey/message.js';
import { ErrNo } from '../../../src/mikey/errors.js';
import { DataType } from '../../../src/mikey/payloads/constants.js';
import { deriveExchangeResult } from '../../../src/mikey/result.js';
import { suiteOfPolicy } from '../../../src/mikey/negotiate.js';
import { ALICE, BOB, PSK, T0, cache, creds, policy } from './modes-fixtures.js';

const now = () => T0;
const offer = (over = {}) => createOffer({ mode: 'psk', localId: ALICE, peerId: BOB, localAddr: '192.0.2.1', inboundSpi: 0x1000, policy: policy(), credentials: creds('alice', false), now, ...over });
const ropts = (over: Partial<ResponderOptions> = {}): ResponderOptions => ({ localId: BOB, peerId: ALICE, localAddr: '192.0.2.2', allocSpi: () => 0x2000, credentials: creds('bob', false), replayCache: cache(), now, ...over });

async function refused(bytes: Uint8Array, o: ResponderOptions, errNo: number) {
  const out = await respond(bytes, o);
  expect(out.ok).toBe(false);
  if (out.ok) return undefined;
  expect(out.error.errNo).toBe(errNo);
  const err = decodeMessage(out.errorResponse);
  expect(err.hdr.dataType).toBe(DataType.ERROR);
  expect(err.payloads.find((p) => p.kind === 'err')).toEqual({ kind: 'err', errNo });
  return err;
}

describe('responder refuses attacks with the right ErrNo and an Error message', () => {
  it('replayed I_MESSAGE: INVALID_TS', async () => {
    const { message } = offer();
    const o = ropts();
    expect((await respond(message, o)).ok).toBe(true);
    const err = await refused(message, o, ErrNo.INVALID_TS);
    // Not an auth failure: the error carries a V keyed with the PSK.
    expect(err!.payloads.some((p) => p.kind === 'v')).toBe(true);
  });

  it('tampered MAC: AUTH_FAILURE, unauthenticated error, nothing cached', async () => {
    const { message } = offer();
    const bad = message.slice();
    bad[bad.length - 1]! ^= 1;
    const o = ropts();
    const err = await refused(bad, o, ErrNo.AUTH_FAILURE);
    expect(err!.payloads.some((p) => p.kind === 'v')).toBe(false);
    expect((await respond(message, o)).ok).toBe(true); // the forgery did not enter the replay cache
  });

  it('timestamp outside the window: INVALID_TS', async () => {
    const { message } = offer({ now: () => T0 - 10 * 60 * 1000 });
    await refused(message, ropts(), ErrNo.INVALID_TS);
  });

  it('ID not matching the SIP identity: INVALID_ID', async () => {
    const { message } = offer();
    await refused(message, ropts({ peerId: 'sip:mallory@example.com' }), ErrNo.INVALID_ID);
  });

  it('SP below the minimum strength: INVALID_SPPAR', async () => {
    const { message } = offer({ policy: policy('3des-cbc-hmac-sha1') });
    await refused(message, ropts({ minSuite: 'aes-cbc-128-hmac-sha256' }), ErrNo.INVALID_SPPAR);
  });

  it('wrong PSK: AUTH_FAILURE (PSK and DHHMAC)', async () => {
    const wrong = { psk: Uint8Array.from(PSK, (b) => b ^ 0xff) };
    await refused(offer().message, ropts({ credentials: wrong }), ErrNo.AUTH_FAILURE);
    await refused(offer({ mode: 'dhhmac' }).message, ropts({ credentials: wrong }), ErrNo.AUTH_FAILURE);
  });

  it('mode not accepted: INVALID_DT; garbage: UNSPECIFIED', async () => {
    await refused(offer().message, ropts({ modes: ['dh'] }), ErrNo.INVALID_DT);
    await refused(Uint8Array.of(1, 0, 0, 0, 0xde, 0xad), ropts(), ErrNo.UNSPECIFIED);
  });

  it('initiator: a tampered response fails, and an Error message surfaces its ErrNo', async () => {
    const a = offer();
    const out = await respond(a.message, ropts());
    if (!out.ok) throw out.error;
    const bad = out.response.slice();
    bad[bad.length - 1]! ^= 1;
    expect(() => verifyResponse(a.state, bad, { credentials: creds('alice', false), now })).toThrow(expect.objectContaining({ errNo: ErrNo.AUTH_FAILURE }));
    const b = offer();
    const no = await respond(b.message, ropts({ minSuite: 'aes-gcm-256' }));
    if (no.ok) throw new Error('expected refusal');
    expect(() => verifyResponse(b.state, no.errorResponse, { credentials: creds('alice', false), now })).toThrow(expect.objectContaining({ errNo: ErrNo.INVALID_SPPAR }));
  });

  it('error message is HDR, T, ERR, [V] (RFC 3830 §5.1.2, no ID payload) with the offer\'s T (§5.2)', async () => {
    const { message } = offer();
    const o = ropts({ peerId: 'sip:mallory@example.com' });
    const err = await refused(message, o, ErrNo.INVALID_ID);
    expect(err!.payloads.map((p) => p.kind)).toEqual(['t', 'err', 'v']);
    expect(err!.payloads[0]).toEqual(decodeMessage(message).payloads.find((p) => p.kind === 't'));
    const forged = message.slice();
    forged[forged.length - 1]! ^= 1;
    const unauth = await refused(forged, ropts(), ErrNo.AUTH_FAILURE);
    expect(unauth!.payloads.map((p) => p.kind)).toEqual(['t', 'err']);
  });

  it('initiator: the state is single-use (wiped after a failure too); keep on-failure keeps it for the genuine response (a forged SIP 1xx), keep always for another fork answering', async () => {
    const a = offer();
    const out = await respond(a.message, ropts());
    if (!out.ok) throw out.error;
    const bad = out.response.slice();
    bad[bad.length - 1]! ^= 1;
    const o = { credentials: creds('alice', false), now };
    expect(() => verifyResponse(a.state, bad, o)).toThrow(expect.objectContaining({ errNo: ErrNo.AUTH_FAILURE }));
    expect(() => verifyResponse(a.state, out.response, o)).toThrow(); // spent
    const b = offer();
    const ok = await respond(b.message, ropts());
    if (!ok.ok) throw ok.error;
    const forged = ok.response.slice();
    forged[forged.length - 1]! ^= 1;
    expect(() => verifyResponse(b.state, forged, { ...o, keep: 'on-failure' })).toThrow(expect.objectContaining({ errNo: ErrNo.AUTH_FAILURE }));
    const result = verifyResponse(b.state, ok.response, { ...o, keep: 'on-failure' });
    expect(result.csbId).toBe(b.state.facts.csbId);
    result.wipe();
    expect(() => verifyResponse(b.state, ok.response, { ...o, keep: 'on-failure' })).toThrow(); // wiped on success
    // keep always: the state outlives a success, a second answer to the same offer verifies, the caller wipes.
    const c = offer();
    const first = await respond(c.message, ropts());
    const second = await respond(c.message, ropts({ replayCache: cache() }));
    if (!first.ok || !second.ok) throw new Error('not answered');
    verifyResponse(c.state, first.response, { ...o, keep: 'always' }).wipe();
    const other = verifyResponse(c.state, second.response, o);
    expect(other.csbId).toBe(c.state.facts.csbId);
    other.wipe();
    expect(() => verifyResponse(c.state, second.response, o)).toThrow(); // wiped by the last, without keep
  });

  it('initiator: a response whose T is not the offer\'s is INVALID_TS (§5.2)', async () => {
    const a = offer();
    const b = offer({ now: () => T0 + 1000 });
    const out = await respond(b.message, ropts());
    if (!out.ok) throw out.error;
    // b's response is authentic but answers another offer (another T, and CSB ID forced equal below)
    const resp = out.response.slice();
    resp.set(decodeMessage(a.message).hdr.csbId.toString(16).padStart(8, '0').match(/../g)!.map((x) => parseInt(x, 16)), 4);
    expect(() => verifyResponse(a.state, resp, { credentials: creds('alice', false), now })).toThrow(expect.objectContaining({ errNo: ErrNo.INVALID_TS }));
  });

  it('expired initiator state is refused', async () => {
    const a = offer({ stateTtlMs: 1000 });
    const out = await respond(a.message, ropts());
    if (!out.ok) throw out.error;
    expect(() => verifyResponse(a.state, out.response, { credentials: creds('alice', false), now: () => T0 + 2000 })).toThrow(/expired/);
  });
});

describe('per-CS ESP keys equal the REFERENCE.md §2 vectors', () => {
  it('TGK 00..0f, RAND 10..1f, CSB ID 0x12345678, 3DES/SHA-1', () => {
    const p = policy('3des-cbc-hmac-sha1');
    const r = deriveExchangeResult({
      mikeyMode: 'psk', tgk: Uint8Array.from({ length: 16 }, (_, i) => i), rand: Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i), csbId: 0x12345678,
      cs: [{ policyNo: 0, spi: 1000, spiSrcaddr: '192.0.2.2', spiDstaddr: '192.0.2.1' }, { policyNo: 0, spi: 2000, spiSrcaddr: '192.0.2.1', spiDstaddr: '192.0.2.2' }],
      family: 4, localAddr: '192.0.2.1', localId: ALICE, peerId: BOB, policy: p, negotiated: suiteOfPolicy(p),
    });
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    expect(hex(r.sas[0]!.encKey)).toBe('5a2d1ccf00e863ad6f01585cdbe40015671720d7d3514557');
    expect(hex(r.sas[0]!.authKey)).toBe('d500bcfc41238b366cfd1167c6f9e7f388ce5537');
    expect(hex(r.sas[1]!.encKey)).toBe('bb37ba7c0385ff5882be139509314bdcf35da94a67d0eb13');
    expect(hex(r.sas[1]!.authKey)).toBe('6d6d213f90204fb2e640e3ea17ab787baa5091d0');
  });
});
