// NAT traversal rule (docs/PROFILE.md §NAT): the responder replaces the
// initiator's map address by the one SIP saw and both sides encapsulate,
// only when NAT_T was offered and the addresses differ.
import { describe, it, expect } from 'vitest';
import { createOffer, verifyResponse, type InitiatorOptions } from '../../../src/mikey/initiator.js';
import { respond, type ResponderOptions } from '../../../src/mikey/responder.js';
import { decodeMessage } from '../../../src/mikey/message.js';
import { ErrNo, MikeyError } from '../../../src/mikey/errors.js';
import { suiteByName } from '../../../src/kernel/algorithms.js';
import { policyForSuite } from '../../../src/mikey/negotiate.js';
import { ALICE, BOB, T0, cache, creds } from './modes-fixtures.js';

const now = () => T0;
const NAT_T = { encapType: 2, sport: 4500, dport: 4500 };
const natPolicy = (natT = NAT_T) => policyForSuite(suiteByName('aes-gcm-128'), { natT });

function initOpts(over: Partial<InitiatorOptions> = {}): InitiatorOptions {
  return { mode: 'psk', localId: ALICE, peerId: BOB, localAddr: '192.168.1.2', inboundSpi: 0x1000, policy: natPolicy(), credentials: creds('alice', false), now, ...over };
}
function respOpts(over: Partial<ResponderOptions> = {}): ResponderOptions {
  return { localId: BOB, peerId: ALICE, localAddr: '10.0.0.2', allocSpi: () => 0x2000, credentials: creds('bob', false), replayCache: cache(), now, natPort: 4500, ...over };
}

async function exchange(io: Partial<InitiatorOptions>, ro: Partial<ResponderOptions>, observedResponder?: string) {
  const { message, state } = createOffer(initOpts(io));
  const out = await respond(message, respOpts(ro));
  if (!out.ok) throw out.error;
  const vo = { credentials: creds('alice', false), now, ...(observedResponder ? { observedPeerAddr: observedResponder } : {}) };
  return { response: out.response, bob: out.result, alice: verifyResponse(state, out.response, vo) };
}

describe('NAT traversal (ESP-in-UDP) negotiated through the CS ID map', () => {
  it('initiator behind a NAT: the responder uses the SIP-seen address, both sides encapsulate', async () => {
    const r = await exchange({}, { observedPeerAddr: '10.0.0.1' });
    // The response map names the initiator by its public address.
    const map = decodeMessage(r.response).hdr.csIdMap;
    if (map.type === 0) throw new Error('expected an IPsec CS ID map');
    expect(map.cs.map((c) => [c.spiSrcaddr, c.spiDstaddr])).toEqual([
      ['10.0.0.2', '10.0.0.1'],
      ['10.0.0.1', '10.0.0.2'],
    ]);
    expect(r.bob.peerAddr).toBe('10.0.0.1');
    expect(r.bob.sas).toEqual([
      expect.objectContaining({ direction: 'out', src: '10.0.0.2', dst: '10.0.0.1', encap: { encapType: 2, sport: 4500, dport: 4500 } }),
      expect.objectContaining({ direction: 'in', src: '10.0.0.1', dst: '10.0.0.2', encap: { encapType: 2, sport: 4500, dport: 4500 } }),
    ]);
    // The initiator keeps its own (private) address for its kernel.
    expect(r.alice.peerAddr).toBe('10.0.0.2');
    expect(r.alice.sas).toEqual([
      expect.objectContaining({ direction: 'in', spi: 0x1000, src: '10.0.0.2', dst: '192.168.1.2', encap: { encapType: 2, sport: 4500, dport: 4500 } }),
      expect.objectContaining({ direction: 'out', spi: 0x2000, src: '192.168.1.2', dst: '10.0.0.2', encap: { encapType: 2, sport: 4500, dport: 4500 } }),
    ]);
    expect(Buffer.from(r.alice.sas[1]!.encKey).equals(Buffer.from(r.bob.sas[1]!.encKey))).toBe(true);
  });

  it('orients the ports: sport is where each SA\'s packets come from', async () => {
    const r = await exchange({ policy: natPolicy({ encapType: 2, sport: 4501, dport: 4500 }) }, { observedPeerAddr: '10.0.0.1' });
    expect(r.alice.sas.find((s) => s.direction === 'out')!.encap).toEqual({ encapType: 2, sport: 4501, dport: 4500 });
    expect(r.alice.sas.find((s) => s.direction === 'in')!.encap).toEqual({ encapType: 2, sport: 4500, dport: 4501 });
    expect(r.bob.sas.find((s) => s.direction === 'out')!.encap).toEqual({ encapType: 2, sport: 4500, dport: 4501 });
    expect(r.bob.sas.find((s) => s.direction === 'in')!.encap).toEqual({ encapType: 2, sport: 4501, dport: 4500 });
  });

  it('no NAT (SIP saw the map address): plain ESP although NAT_T was offered', async () => {
    const r = await exchange({}, { observedPeerAddr: '192.168.1.2', localAddr: '192.168.1.3' });
    expect([...r.alice.sas, ...r.bob.sas].every((s) => s.encap === undefined)).toBe(true);
    expect(r.bob.peerAddr).toBe('192.168.1.2');
  });

  it('NAT seen but NAT_T not offered, or the responder does no NAT-T: the map address stays, plain ESP', async () => {
    const plain = policyForSuite(suiteByName('aes-gcm-128'));
    const a = await exchange({ policy: plain }, { observedPeerAddr: '10.0.0.1' });
    expect(a.bob.peerAddr).toBe('192.168.1.2');
    expect(a.bob.sas.every((s) => s.encap === undefined)).toBe(true);
    const { natPort: _off, ...noNat } = respOpts({ observedPeerAddr: '10.0.0.1' });
    const { message, state } = createOffer(initOpts());
    const out = await respond(message, noNat);
    if (!out.ok) throw out.error;
    expect(out.result.peerAddr).toBe('192.168.1.2');
    expect(verifyResponse(state, out.response, { credentials: creds('alice', false), now }).sas.every((s) => s.encap === undefined)).toBe(true);
  });

  it('refuses a NAT-T offer on another port or encap type (INVALID_SPPAR) once a NAT is seen', async () => {
    for (const natT of [{ encapType: 2, sport: 4500, dport: 4600 }, { encapType: 1, sport: 4500, dport: 4500 }]) {
      const { message } = createOffer(initOpts({ policy: natPolicy(natT) }));
      const out = await respond(message, respOpts({ observedPeerAddr: '10.0.0.1' }));
      expect(out.ok).toBe(false);
      if (!out.ok) expect(out.error.errNo).toBe(ErrNo.INVALID_SPPAR);
    }
  });

  it('the initiator rejects a NATed response when its offer had no NAT_T (MAC still valid)', async () => {
    // Offer with NAT_T to get a renamed response, then verify it with the state of an otherwise
    // identical offer without NAT_T: same CSB ID, RAND, T and TGK are needed, so use one offer and
    // strip natT from the state's policy.
    const { message, state } = createOffer(initOpts());
    const out = await respond(message, respOpts({ observedPeerAddr: '10.0.0.1' }));
    if (!out.ok) throw out.error;
    const { natT: _n, ...noNatPolicy } = state.policy;
    Object.defineProperty(state, 'policy', { value: noNatPolicy });
    expect(() => verifyResponse(state, out.response, { credentials: creds('alice', false), now })).toThrow(MikeyError);
  });

  it('the initiator behind the NAT sends the keepalives, the responder none', async () => {
    const r = await exchange({}, { observedPeerAddr: '10.0.0.1' }, '10.0.0.2');
    expect(r.alice.natKeepalives).toBe(true);
    expect(r.bob.natKeepalives).toBe(false);
  });
});

describe('NAT traversal with the responder behind the NAT', () => {
  // Alice 10.0.0.2 (public) calls bob 192.168.1.2 behind a NAT whose public address is 10.0.0.1.
  const alice = { localAddr: '10.0.0.2' };
  const bob = { localAddr: '192.168.1.2', observedPeerAddr: '10.0.0.2', localPublicAddr: '10.0.0.1' };

  it('the responder keeps its own address, the initiator names it by the NAT\'s; both encapsulate, the responder keeps the mapping open', async () => {
    const r = await exchange(alice, bob, '10.0.0.1');
    const map = decodeMessage(r.response).hdr.csIdMap;
    if (map.type === 0) throw new Error('expected an IPsec CS ID map');
    // The response map is the plain one: bob names himself by his own address.
    expect(map.cs.map((c) => [c.spiSrcaddr, c.spiDstaddr])).toEqual([
      ['192.168.1.2', '10.0.0.2'],
      ['10.0.0.2', '192.168.1.2'],
    ]);
    expect(r.bob.peerAddr).toBe('10.0.0.2');
    expect(r.bob.sas).toEqual([
      expect.objectContaining({ direction: 'out', src: '192.168.1.2', dst: '10.0.0.2', encap: { encapType: 2, sport: 4500, dport: 4500 } }),
      expect.objectContaining({ direction: 'in', src: '10.0.0.2', dst: '192.168.1.2', encap: { encapType: 2, sport: 4500, dport: 4500 } }),
    ]);
    expect(r.bob.natKeepalives).toBe(true);
    expect(r.alice.peerAddr).toBe('10.0.0.1');
    expect(r.alice.sas).toEqual([
      expect.objectContaining({ direction: 'in', spi: 0x1000, src: '10.0.0.1', dst: '10.0.0.2', encap: { encapType: 2, sport: 4500, dport: 4500 } }),
      expect.objectContaining({ direction: 'out', spi: 0x2000, src: '10.0.0.2', dst: '10.0.0.1', encap: { encapType: 2, sport: 4500, dport: 4500 } }),
    ]);
    expect(r.alice.natKeepalives).toBe(false);
    expect(Buffer.from(r.alice.sas[1]!.encKey).equals(Buffer.from(r.bob.sas[1]!.encKey))).toBe(true);
  });

  it('no NAT: a public responder address, or the public address equal to ours, stays plain ESP', async () => {
    // SIP sees the responder elsewhere, but its map address is not a private one: not our rule.
    const a = await exchange({ localAddr: '10.0.0.2' }, { localAddr: '198.51.100.7', observedPeerAddr: '10.0.0.2' }, '198.51.100.8');
    expect([...a.alice.sas, ...a.bob.sas].every((s) => s.encap === undefined)).toBe(true);
    expect(a.alice.peerAddr).toBe('198.51.100.7');
    const b = await exchange(alice, { ...bob, localPublicAddr: '192.168.1.2' }, '192.168.1.2');
    expect([...b.alice.sas, ...b.bob.sas].every((s) => s.encap === undefined)).toBe(true);
  });

  it('without NAT_T in the offer neither side encapsulates', async () => {
    const r = await exchange({ ...alice, policy: policyForSuite(suiteByName('aes-gcm-128')) }, bob, '10.0.0.1');
    expect([...r.alice.sas, ...r.bob.sas].every((s) => s.encap === undefined)).toBe(true);
    expect(r.alice.peerAddr).toBe('192.168.1.2');
  });

  it('both behind NATs: the responder renames the initiator, the initiator the responder; both send keepalives', async () => {
    const r = await exchange({ localAddr: '192.168.5.2' }, { ...bob, observedPeerAddr: '10.9.9.9' }, '10.0.0.1');
    expect(r.bob.peerAddr).toBe('10.9.9.9');
    expect(r.alice.peerAddr).toBe('10.0.0.1');
    expect(r.alice.natKeepalives && r.bob.natKeepalives).toBe(true);
    expect([...r.alice.sas, ...r.bob.sas].every((s) => s.encap !== undefined)).toBe(true);
  });
});
