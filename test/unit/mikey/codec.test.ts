import { describe, it, expect } from 'vitest';
import { inspect } from 'node:util';
import { ErrNo, MikeyError } from '../../../src/mikey/errors.js';
import { decodeMessage, encodeMessage, encodeMessageWithSpans, type MikeyMessage, type MikeyPayload } from '../../../src/mikey/message.js';
import { CsIdMapType, type CsIdMap, formatAddress, parseAddress } from '../../../src/mikey/csidmap.js';
import { DataType, EncrAlg, KvType, MacAlg } from '../../../src/mikey/payloads/constants.js';
import { DhGroup } from '../../../src/mikey/payloads/dh.js';
import { TsType } from '../../../src/mikey/payloads/t.js';
import { SignType } from '../../../src/mikey/payloads/sign.js';
import { KeyDataType, decodeKeyDataChain, encodeKeyDataChain, type KeyDataPayload } from '../../../src/mikey/payloads/keydata.js';
import { type SpPayload } from '../../../src/mikey/payloads/sp.js';
import { IpsecParam, SpProtType, ipsecPolicyFromParams, ipsecPolicyToParams } from '../../../src/mikey/sp.js';
import { seq, unhex } from './helpers.js';


const ipsec4Map: CsIdMap = {
  type: CsIdMapType.IPSEC4_ID,
  cs: [
    { policyNo: 0, spi: 0xc0012345, spiSrcaddr: '0.0.0.0', spiDstaddr: '192.0.2.1' },
    { policyNo: 0, spi: 0, spiSrcaddr: '192.0.2.1', spiDstaddr: '0.0.0.0' },
  ],
};

const hdr = (dataType: DataType, csIdMap: CsIdMap = ipsec4Map) => ({ kind: 'hdr', version: 1, dataType, v: true, prfFunc: 0, csbId: 0x12345678, csIdMap }) as const;

const allPayloads: MikeyPayload[] = [
  { kind: 't', tsType: TsType.NTP_UTC, tsValue: 0xc5c56d0e4fdf8f47n },
  { kind: 't', tsType: TsType.NTP, tsValue: 1n },
  { kind: 't', tsType: TsType.COUNTER, tsValue: 0xfffffffen },
  { kind: 'rand', rand: seq(16, 0x10) },
  { kind: 'id', idType: 1, id: new TextEncoder().encode('sip:alice@example.org') },
  { kind: 'id', idType: 0, id: new TextEncoder().encode('bob@example.org') },
  { kind: 'cert', certType: 0, cert: seq(40) },
  { kind: 'chash', hashFunc: 0, hash: seq(20) },
  { kind: 'chash', hashFunc: 1, hash: seq(16) },
  { kind: 'sp', policyNo: 0, protType: SpProtType.IPSEC, params: ipsecPolicyToParams({ satype: 3, mode: 1, ealg: 12, ekeyl: 16, aalg: 5, akeyl: 32 }) },
  { kind: 'sp', policyNo: 1, protType: SpProtType.SRTP, params: [{ type: 0, value: unhex('01') }, { type: 1, value: unhex('10') }] },
  { kind: 'pke', c: 2, data: seq(100) },
  { kind: 'dh', group: DhGroup.OAKLEY_1, value: seq(96), kv: { kvType: KvType.NULL } },
  { kind: 'dh', group: DhGroup.OAKLEY_2, value: seq(128), kv: { kvType: KvType.SPI, spi: unhex('deadbeef') } },
  { kind: 'dh', group: DhGroup.OAKLEY_5, value: seq(192), kv: { kvType: KvType.INTERVAL, validFrom: unhex('0001'), validTo: unhex('00ff00') } },
  { kind: 'dh', group: DhGroup.MODP_2048, value: seq(256), kv: { kvType: KvType.NULL } },
  { kind: 'err', errNo: ErrNo.INVALID_SP },
  { kind: 'ext', extType: 0, data: new TextEncoder().encode('sipsec') },
  { kind: 'ext', extType: 1, data: unhex('0102') },
  { kind: 'kemac', encrAlg: EncrAlg.AES_CM_128, encrData: seq(44), macAlg: MacAlg.HMAC_SHA_1_160, mac: seq(20, 0x80) },
  { kind: 'v', macAlg: MacAlg.HMAC_SHA_1_160, mac: seq(20, 0x40) },
  { kind: 'v', macAlg: MacAlg.NULL, mac: new Uint8Array(0) },
  { kind: 'sign', sType: SignType.RSA_PSS, signature: seq(256) },
];

describe('MIKEY message round trip', () => {
  it.each(Object.entries(DataType))('HDR data type %s', (_name, dt) => {
    const msg: MikeyMessage = { hdr: hdr(dt), payloads: [{ kind: 'rand', rand: seq(16) }] };
    expect(decodeMessage(encodeMessage(msg))).toMatchObject(msg);
  });

  it.each(allPayloads.map((p, i) => [`${i}:${p.kind}`, p] as const))('payload %s', (_name, p) => {
    const msg: MikeyMessage = { hdr: hdr(DataType.PK_INIT), payloads: [p] };
    const d = decodeMessage(encodeMessage(msg));
    expect({ hdr: d.hdr, payloads: d.payloads }).toEqual(msg);
  });

  it('all payloads in one message, SIGN last, per CS ID map type', () => {
    const maps: CsIdMap[] = [
      ipsec4Map,
      { type: CsIdMapType.SRTP_ID, cs: [{ policyNo: 0, ssrc: 0xdeadbeef, roc: 7 }] },
      { type: CsIdMapType.IPSEC6_ID, cs: [{ policyNo: 2, spi: 0x100, spiSrcaddr: '::', spiDstaddr: '2001:db8::1' }] },
    ];
    for (const csIdMap of maps) {
      for (const minisipByteSwap of [false, true]) {
        const msg: MikeyMessage = { hdr: hdr(DataType.PK_INIT, csIdMap), payloads: allPayloads };
        const d = decodeMessage(encodeMessage(msg, { minisipByteSwap }), { minisipByteSwap });
        expect({ hdr: d.hdr, payloads: d.payloads }).toEqual(msg);
      }
    }
  });

  it('spans locate each MAC field; a MAC filled in after encoding decodes back', () => {
    const kemac = { kind: 'kemac', encrAlg: 0, encrData: seq(8), macAlg: 1, mac: new Uint8Array(20) } as const;
    const msg: MikeyMessage = { hdr: hdr(DataType.PSK_INIT), payloads: [{ kind: 't', tsType: 2, tsValue: 5n }, kemac] };
    const { bytes, spans } = encodeMessageWithSpans(msg);
    const macStart = spans[2]!.macStart!;
    expect(macStart).toBe(bytes.length - 20);
    bytes.set(seq(20, 0xa0), macStart);
    const d = decodeMessage(bytes);
    expect(d.macInputLength).toBe(macStart);
    expect(d.spans.map((s) => s.kind)).toEqual(['hdr', 't', 'kemac']);
    expect(d.payloads[1]).toMatchObject({ mac: seq(20, 0xa0) });
  });

  it('SIGN macStart is after its 2-byte type/length header', () => {
    const msg: MikeyMessage = { hdr: hdr(DataType.PK_INIT), payloads: [{ kind: 'sign', sType: 0, signature: seq(128) }] };
    const bytes = encodeMessage(msg);
    const d = decodeMessage(bytes);
    expect(d.macInputLength).toBe(bytes.length - 128);
    expect(d.spans[1]!.start).toBe(d.macInputLength! - 2);
  });
});

describe('byte-exact encodings', () => {
  it('HDR with IPSEC4-ID map (network order and minisip byte swap)', () => {
    const msg: MikeyMessage = { hdr: hdr(DataType.PSK_INIT), payloads: [] };
    const expected = unhex(`01 00 00 80 12345678 02 07
      00 c0012345 00000000 c0000201
      00 00000000 c0000201 00000000`);
    expect(encodeMessage(msg)).toEqual(expected);
    expect(decodeMessage(expected).hdr).toEqual(msg.hdr);
    const swapped = unhex(`01 00 00 80 12345678 02 07
      00 452301c0 00000000 010200c0
      00 00000000 010200c0 00000000`);
    expect(encodeMessage(msg, { minisipByteSwap: true })).toEqual(swapped);
    expect(decodeMessage(swapped, { minisipByteSwap: true }).hdr).toEqual(msg.hdr);
  });

  it('HDR with IPSEC6-ID map', () => {
    const map: CsIdMap = { type: CsIdMapType.IPSEC6_ID, cs: [{ policyNo: 1, spi: 0xabcdef01, spiSrcaddr: '2001:db8::1', spiDstaddr: '::' }] };
    const expected = unhex(`01 01 00 00 00000001 01 08 01 abcdef01
      20010db8000000000000000000000001 00000000000000000000000000000000`);
    const msg: MikeyMessage = { hdr: { ...hdr(DataType.PSK_RESP, map), v: false, csbId: 1 }, payloads: [] };
    expect(encodeMessage(msg)).toEqual(expected);
    expect(decodeMessage(expected).hdr).toEqual(msg.hdr);
  });

  it('SP payload for IPsec with seed params and our extensions', () => {
    const sp: MikeyPayload = {
      kind: 'sp',
      policyNo: 0,
      protType: 7,
      params: ipsecPolicyToParams({
        satype: 3, mode: 1, flags: 0, ealg: 3, ekeyl: 24, aalg: 3, akeyl: 20,
        hardLifetimeSeconds: 3600, softLifetimeBytes: 0x100000000n, replayWindow: 64,
        natT: { encapType: 2, sport: 4500, dport: 4500 },
        trafficSelector: { protocol: 17, srcPortLow: 0, srcPortHigh: 65535, dstPortLow: 5060, dstPortHigh: 5060 },
      }),
    };
    const bytes = encodeMessage({ hdr: hdr(DataType.PSK_INIT, { type: 0, cs: [] }), payloads: [sp] });
    const spBytes = unhex(`00 00 07 003d
      00 01 03  01 01 01  02 01 00  03 01 03  04 01 18  05 01 03  06 01 14
      15 04 00000e10
      16 08 0000000100000000
      18 04 00000040
      19 05 02 1194 1194
      1a 09 11 0000 ffff 13c4 13c4`);
    expect(bytes.subarray(10)).toEqual(spBytes);
    const d = decodeMessage(bytes);
    expect(d.payloads[0]).toEqual(sp);
    expect(ipsecPolicyFromParams((d.payloads[0] as SpPayload).params)).toEqual({
      satype: 3, mode: 1, flags: 0, ealg: 3, ekeyl: 24, aalg: 3, akeyl: 20,
      hardLifetimeSeconds: 3600, softLifetimeBytes: 0x100000000n, replayWindow: 64,
      natT: { encapType: 2, sport: 4500, dport: 4500 },
      trafficSelector: { protocol: 17, srcPortLow: 0, srcPortHigh: 65535, dstPortLow: 5060, dstPortHigh: 5060 },
    });
  });
});

describe('typed errors', () => {
  const base = (): Uint8Array => encodeMessage({ hdr: hdr(DataType.PSK_INIT), payloads: [{ kind: 'rand', rand: seq(16) }] });
  const errOf = (b: Uint8Array, opts = {}): number => {
    try {
      decodeMessage(b, opts);
    } catch (e) {
      expect(e).toBeInstanceOf(MikeyError);
      return (e as MikeyError).errNo;
    }
    throw new Error('decoded without error');
  };
  const patch = (b: Uint8Array, at: number, v: number): Uint8Array => {
    const c = b.slice();
    c[at] = v;
    return c;
  };
  const withPayload = (p: Uint8Array): Uint8Array => {
    const h = encodeMessage({ hdr: hdr(DataType.PSK_INIT, { type: 0, cs: [] }), payloads: [] });
    const out = new Uint8Array(h.length + p.length);
    out.set(h);
    out.set(p, h.length);
    return out;
  };
  const payloadMsg = (type: number, body: string): Uint8Array => {
    const b = withPayload(unhex(body));
    b[2] = type;
    return b;
  };

  it('maps each unknown value to its ErrNo', () => {
    expect(errOf(patch(base(), 1, 11))).toBe(ErrNo.INVALID_DT);
    expect(errOf(patch(base(), 3, 0x05))).toBe(ErrNo.INVALID_PRF);
    expect(errOf(patch(base(), 0, 2))).toBe(ErrNo.UNSPECIFIED);
    expect(errOf(payloadMsg(1, '00 07 0000 00'))).toBe(ErrNo.INVALID_EA);
    expect(errOf(payloadMsg(1, '00 00 0000 05'))).toBe(ErrNo.INVALID_MAC);
    expect(errOf(payloadMsg(9, '00 02'))).toBe(ErrNo.INVALID_MAC);
    expect(errOf(payloadMsg(3, '00 03'))).toBe(ErrNo.INVALID_DH);
    expect(errOf(payloadMsg(6, '00 09 0000'))).toBe(ErrNo.INVALID_ID);
    expect(errOf(payloadMsg(7, '00 09 0000'))).toBe(ErrNo.INVALID_CERT);
    expect(errOf(payloadMsg(8, '00 09'))).toBe(ErrNo.INVALID_HA);
    expect(errOf(payloadMsg(5, '00 03 00000000'))).toBe(ErrNo.INVALID_TS);
    expect(errOf(payloadMsg(10, '00 00 05 0000'))).toBe(ErrNo.INVALID_SP);
    expect(errOf(payloadMsg(10, '00 00 07 0003 0f 01 00'))).toBe(ErrNo.INVALID_SPPAR);
    expect(errOf(payloadMsg(10, '00 00 07 0006 15 01 00 00 01 03'))).toBe(ErrNo.INVALID_SPPAR);
    expect(errOf(payloadMsg(10, '00 00 07 0006 00 01 03 00 01 03'))).toBe(ErrNo.INVALID_SPPAR);
    expect(errOf(payloadMsg(10, '00 00 00 0003 0d 01 00'))).toBe(ErrNo.INVALID_SPPAR);
    expect(errOf(payloadMsg(13, '00'))).toBe(ErrNo.UNSPECIFIED);
    expect(errOf(payloadMsg(20, '00'))).toBe(ErrNo.UNSPECIFIED);
    expect(errOf(payloadMsg(21, '00 05 0000'))).toBe(ErrNo.UNSPECIFIED);
    expect(errOf(payloadMsg(11, '00 02 aabb cc'))).toBe(ErrNo.UNSPECIFIED); // trailing byte after Last
    expect(errOf(payloadMsg(4, '0002 aabb 00'))).toBe(ErrNo.UNSPECIFIED); // data after SIGN
  });

  it('rejects an IPSEC4 map whose length is not #CS × 13, and unknown map types', () => {
    const b = base();
    expect(errOf(patch(b, 8, 3))).toBe(ErrNo.UNSPECIFIED); // 3 CS claimed, 2 present + RAND
    expect(errOf(patch(b, 9, 5))).toBe(ErrNo.UNSPECIFIED);
    const noRand = encodeMessage({ hdr: hdr(DataType.PSK_INIT), payloads: [] });
    expect(errOf(noRand.subarray(0, noRand.length - 1))).toBe(ErrNo.UNSPECIFIED);
  });

  it('rejects oversized messages and refuses to encode bad values', () => {
    const big = new Uint8Array(65537);
    big.set(base());
    expect(errOf(big)).toBe(ErrNo.UNSPECIFIED);
    expect(() => encodeMessage({ hdr: hdr(DataType.PSK_INIT, { type: 7, cs: [{ policyNo: 0, spi: 1, spiSrcaddr: '::1', spiDstaddr: '0.0.0.0' }] }), payloads: [] })).toThrow(MikeyError);
    expect(() => encodeMessage({ hdr: hdr(DataType.PSK_INIT), payloads: [{ kind: 'sign', sType: 0, signature: seq(4) }, { kind: 'rand', rand: seq(16) }] })).toThrow(MikeyError);
    expect(() => encodeMessage({ hdr: hdr(DataType.PSK_INIT), payloads: [{ kind: 'kemac', encrAlg: 0, encrData: seq(4), macAlg: 1, mac: seq(19) }] })).toThrow(MikeyError);
  });
});

describe('Key Data chain (KEMAC plaintext)', () => {
  const chain: KeyDataPayload[] = [
    { kind: 'keydata', type: KeyDataType.TGK, key: seq(16), kv: { kvType: KvType.NULL } },
    { kind: 'keydata', type: KeyDataType.TEK_SALT, key: seq(16, 0x20), salt: seq(14, 0x40), kv: { kvType: KvType.SPI, spi: unhex('01020304') } },
    { kind: 'keydata', type: KeyDataType.TGK_SALT, key: seq(32), salt: seq(14), kv: { kvType: KvType.INTERVAL, validFrom: unhex('00'), validTo: unhex('ffff') } },
    { kind: 'keydata', type: KeyDataType.TEK, key: seq(16), kv: { kvType: KvType.NULL } },
  ];

  it('round trips and is byte-exact for a TGK', () => {
    expect(decodeKeyDataChain(encodeKeyDataChain(chain))).toEqual(chain);
    expect(encodeKeyDataChain([chain[0]!])).toEqual(unhex(`00 00 0010 ${Buffer.from(seq(16)).toString('hex')}`));
  });

  it('never prints keys through JSON or inspect', () => {
    const [kd] = decodeKeyDataChain(encodeKeyDataChain([{ kind: 'keydata', type: 1, key: unhex('a1a2a3a4a5a6a7a8'), salt: unhex('b1b2b3b4'), kv: { kvType: 0 } }]));
    for (const text of [JSON.stringify(kd), inspect(kd, { depth: 9 }), inspect([kd], { depth: 9 }), JSON.stringify({ x: [kd] })]) {
      expect(text).toContain('redacted');
      expect(text).not.toMatch(/161|a1|0xa1|177|b1/);
    }
  });

  it('rejects bad chains', () => {
    const good = encodeKeyDataChain(chain);
    for (let n = 0; n < good.length; n++) expect(() => decodeKeyDataChain(good.subarray(0, n))).toThrow(MikeyError);
    const trailing = new Uint8Array(good.length + 1);
    trailing.set(good);
    expect(() => decodeKeyDataChain(trailing)).toThrow(MikeyError);
    expect(() => decodeKeyDataChain(unhex('00 40 0000'))).toThrow(MikeyError);
    expect(() => decodeKeyDataChain(unhex('05 00 0000'))).toThrow(MikeyError);
    expect(() => encodeKeyDataChain([{ kind: 'keydata', type: 0, key: seq(16), salt: seq(14), kv: { kvType: 0 } }])).toThrow(MikeyError);
  });
});

describe('addresses', () => {
  it.each([
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['::', '::'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['fe80::', 'fe80::'],
  ])('%s → %s', (input, canonical) => {
    expect(formatAddress(parseAddress(input, 6))).toBe(canonical);
  });
  it('rejects non-addresses with MikeyError', () => {
    for (const bad of ['1.2.3', 'x', '::g', '1.2.3.4']) expect(() => parseAddress(bad, 6)).toThrow(MikeyError);
    expect(() => parseAddress('::1', 4)).toThrow(MikeyError);
  });
});

describe('IPsec policy params', () => {
  it('tags the IpsecParam numbers as documented', () => {
    expect([IpsecParam.SATYPE, IpsecParam.AKEYL, IpsecParam.SOFT_LIFETIME_SECONDS, IpsecParam.TRAFFIC_SELECTOR]).toEqual([0, 6, 20, 26]);
  });
});

describe('Buffer input', () => {
  it('decodes a Buffer into plain, independent Uint8Array copies', () => {
    const bytes = encodeMessage({ hdr: hdr(DataType.PSK_INIT), payloads: [{ kind: 'rand', rand: seq(16) }] });
    const buf = Buffer.from(bytes);
    const d = decodeMessage(buf);
    buf.fill(0);
    const rand = (d.payloads[0] as { rand: Uint8Array }).rand;
    expect(Buffer.isBuffer(rand)).toBe(false);
    expect(rand).toEqual(seq(16));
  });
});
