import { describe, it, expect } from 'vitest';
import { inspect } from 'node:util';
import { createOffer, verifyResponse, serializeState, restoreState, type InitiatorOptions } from '../../../src/mikey/initiator.js';
import { respond, type ResponderOptions } from '../../../src/mikey/responder.js';
import { decodeMessage } from '../../../src/mikey/message.js';
import { DataType } from '../../../src/mikey/payloads/constants.js';
import type { MikeyMode } from '../../../src/mikey/result.js';
import type { OakleyGroup } from '../../../src/mikey/dh.js';
import { ALICE, BOB, T0, cache, creds, policy } from './modes-fixtures.js';

const now = () => T0;

function initOpts(mode: MikeyMode, over: Partial<InitiatorOptions> = {}): InitiatorOptions {
  return { mode, localId: ALICE, peerId: BOB, localAddr: '192.0.2.1', inboundSpi: 0x1000, policy: policy(), credentials: creds('alice', mode === 'pke' || mode === 'dh'), now, ...over };
}
function respOpts(mode: MikeyMode, over: Partial<ResponderOptions> = {}): ResponderOptions {
  return {
    localId: BOB, peerId: ALICE, localAddr: '192.0.2.2', allocSpi: () => 0x2000,
    credentials: creds('bob', mode === 'pke' || mode === 'dh'), replayCache: cache(), now, dhGroups: [1, 2, 5, 14], ...over,
  };
}

async function exchange(mode: MikeyMode, io: Partial<InitiatorOptions> = {}, ro: Partial<ResponderOptions> = {}) {
  const { message, state } = createOffer(initOpts(mode, io));
  const out = await respond(message, respOpts(mode, ro));
  if (!out.ok) throw out.error;
  const mine = verifyResponse(state, out.response, { credentials: creds('alice', mode === 'pke' || mode === 'dh'), now });
  return { offer: message, response: out.response, alice: mine, bob: out.result };
}

function expectMirrored(a: Awaited<ReturnType<typeof exchange>>['alice'], b: Awaited<ReturnType<typeof exchange>>['bob']) {
  expect(a.sas).toHaveLength(2);
  for (const sa of a.sas) {
    const peer = b.sas.find((x) => x.csId === sa.csId)!;
    expect(peer.direction).toBe(sa.direction === 'in' ? 'out' : 'in');
    expect([peer.spi, peer.src, peer.dst, peer.suite]).toEqual([sa.spi, sa.src, sa.dst, sa.suite]);
    expect(Buffer.from(peer.encKey).equals(Buffer.from(sa.encKey))).toBe(true);
    expect(Buffer.from(peer.authKey).equals(Buffer.from(sa.authKey))).toBe(true);
    expect(sa.encKey.some((x) => x !== 0)).toBe(true);
  }
  expect(Buffer.from(a.sas[0]!.encKey).equals(Buffer.from(a.sas[1]!.encKey))).toBe(false);
}

describe('MIKEY exchanges: both sides derive the same SAs', () => {
  for (const mode of ['psk', 'dhhmac', 'pke', 'dh'] as const) {
    it(`${mode} over IPv4, seed 003 two-CS flow`, async () => {
      const r = await exchange(mode);
      expectMirrored(r.alice, r.bob);
      const [cs1, cs2] = r.alice.sas;
      // CS#1 = (SPI_i, A_r, A_i): Alice's inbound; CS#2 = (SPI_r, A_i, A_r): her outbound.
      expect(cs1).toMatchObject({ direction: 'in', spi: 0x1000, src: '192.0.2.2', dst: '192.0.2.1' });
      expect(cs2).toMatchObject({ direction: 'out', spi: 0x2000, src: '192.0.2.1', dst: '192.0.2.2' });
      const offer = decodeMessage(r.offer);
      expect(offer.hdr.csIdMap).toEqual({ type: 7, cs: [
        { policyNo: 0, spi: 0x1000, spiSrcaddr: '0.0.0.0', spiDstaddr: '192.0.2.1' },
        { policyNo: 0, spi: 0, spiSrcaddr: '192.0.2.1', spiDstaddr: '0.0.0.0' },
      ] });
      expect(decodeMessage(r.response).hdr.csIdMap.cs).toHaveLength(2);
    });
  }

  it('IPv6 uses map type 8 with :: placeholders (PSK and DHHMAC)', async () => {
    for (const mode of ['psk', 'dhhmac'] as const) {
      const r = await exchange(mode, { localAddr: '2001:db8::1' }, { localAddr: '2001:db8::2' });
      expect(decodeMessage(r.offer).hdr.csIdMap.type).toBe(8);
      expect(decodeMessage(r.offer).hdr.csIdMap.cs[0]).toMatchObject({ spiSrcaddr: '::' });
      expect(r.alice.family).toBe(6);
      expectMirrored(r.alice, r.bob);
    }
  });

  for (const g of [1, 2, 5] as OakleyGroup[]) {
    it(`DH and DHHMAC with OAKLEY group ${g}`, async () => {
      for (const mode of ['dh', 'dhhmac'] as const) {
        const r = await exchange(mode, { dhGroup: g });
        expectMirrored(r.alice, r.bob);
      }
    });
  }
  it('DH with group 14 (MODP-2048)', async () => {
    const r = await exchange('dh', { dhGroup: 14 });
    expect(decodeMessage(r.offer).payloads.find((p) => p.kind === 'dh')).toMatchObject({ group: 14 });
    expectMirrored(r.alice, r.bob);
  });

  it('AES-GCM suites get key || 4-byte salt', async () => {
    const r = await exchange('psk', { policy: policy('aes-gcm-128') });
    expect(r.alice.sas[0]!.encKey).toHaveLength(20);
    expect(r.alice.sas[0]!.authKey).toHaveLength(0);
    expectMirrored(r.alice, r.bob);
  });

  it('minisip byte-swap switch: swapped on the wire, same SAs', async () => {
    const codec = { minisipByteSwap: true };
    const r = await exchange('psk', { codec }, { codec });
    expectMirrored(r.alice, r.bob);
    expect(r.alice.sas[0]!.spi).toBe(0x1000);
    // Read without the switch, the SPI and addresses come out reversed.
    expect(decodeMessage(r.offer).hdr.csIdMap.cs[0]).toMatchObject({ spi: 0x00100000, spiDstaddr: '1.2.0.192' });
  });

  it('keys never show in inspect or JSON, and wipe() zeroes them', async () => {
    const r = await exchange('psk');
    const hex = Buffer.from(r.alice.sas[0]!.encKey).toString('hex');
    expect(inspect(r.alice, { depth: 9 })).not.toContain(hex);
    expect(JSON.stringify(r.alice)).toContain('redacted');
    expect(JSON.stringify(r.alice)).not.toContain(hex);
    r.alice.wipe();
    expect(r.alice.sas.every((s) => s.encKey.every((b) => b === 0))).toBe(true);
  });

  it('initiator state survives serialize/restore (CLI state file) for DH', async () => {
    const { message, state } = createOffer(initOpts('dhhmac'));
    expect(inspect(state)).not.toMatch(/authKey|tgk/);
    const restored = restoreState(serializeState(state));
    const out = await respond(message, respOpts('dhhmac'));
    if (!out.ok) throw out.error;
    expectMirrored(verifyResponse(restored, out.response, { credentials: creds('alice', false), now }), out.result);
  });

  it('responder answers with the data type of the mode', async () => {
    const types = { psk: DataType.PSK_RESP, dhhmac: DataType.DHHMAC_RESP } as const;
    for (const mode of ['psk', 'dhhmac'] as const) expect(decodeMessage((await exchange(mode)).response).hdr.dataType).toBe(types[mode]);
  });

  it('RFC 3830 §5.2 / §3.3 / RFC 4650 §3: every response carries the offer\'s T, and the response orders match the RFC figures', async () => {
    const orders = {
      psk: ['t', 'id', 'v'],
      pke: ['t', 'id', 'v'],
      dh: ['t', 'id', 'cert', 'id', 'dh', 'dh', 'sign'],
      dhhmac: ['t', 'id', 'id', 'dh', 'dh', 'kemac'],
    } as const;
    for (const mode of ['psk', 'pke', 'dh', 'dhhmac'] as const) {
      // the responder's clock is a minute ahead: it must still echo the initiator's timestamp
      const r = await exchange(mode, {}, { now: () => T0 + 60_000, replayCache: cache(() => T0 + 60_000) });
      const tI = decodeMessage(r.offer).payloads.find((p) => p.kind === 't');
      const resp = decodeMessage(r.response);
      expect(resp.payloads.find((p) => p.kind === 't')).toEqual(tI);
      expect(resp.payloads.map((p) => p.kind)).toEqual(orders[mode]);
    }
  });
});
