// Pure XFRM/netlink codec: byte-level checks against hand-built bytes, round trips, validation.
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatAddress, parseAddress, parsePrefix } from '../../../src/kernel/address.js';
import { SUITES, suiteBySadb, suiteByName, suiteFromXfrm, suitesAtLeast, normalizeXfrmName } from '../../../src/kernel/algorithms.js';
import { KernelError, KernelValidationError, NetlinkDecodeError } from '../../../src/kernel/errors.js';
import { isOwnedReqid, ownedReqid, type SaSpec } from '../../../src/kernel/types.js';
import { decodeEvent, decodePolicyMessage, decodeSaMessage, encodeDelSa, encodeNewPolicy, encodeNewSa } from '../../../src/kernel/xfrm/messages.js';
import { buildMessage, MessageBuilder, parseAttrs, parseError, parseMessages, NLM_F } from '../../../src/kernel/xfrm/netlink.js';
import {
  XFRM_MSG, XFRMA, decodeSelectorAt, decodeUserTmpls, decodeUsersaInfoAt, encodeSelectorInto, encodeUserAcquire, encodeUserExpire, encodeUserMapping,
  encodeUserTmpl, encodeUsersaInfo, infiniteLifetime, zeroCur, type XfrmSelector, type XfrmUsersaInfo,
} from '../../../src/kernel/xfrm/structs.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const R = ownedReqid(1);

function gcmSa(over: Partial<SaSpec> = {}): SaSpec {
  return { src: '10.0.0.1', dst: '10.0.0.2', spi: 0x1234, proto: 'esp', mode: 'transport', reqid: R, suite: 'aes-gcm-128', keys: { encKey: new Uint8Array(20).fill(0xab) }, ...over };
}

describe('netlink framing', () => {
  it('builds a header, fixed part and padded attributes byte for byte', () => {
    const m = buildMessage(0x10, NLM_F.REQUEST | NLM_F.ACK, 7, Uint8Array.of(1, 2, 3), [{ type: 21, data: Uint8Array.of(9) }]);
    expect(hex(m)).toBe(
      '1c000000' + '1000' + '0500' + '07000000' + '00000000' + // nlmsghdr: len 28, type 16, flags 5, seq 7, pid 0
        '01020300' + // fixed part padded to 4
        '0500' + '1500' + '09000000', // nlattr len 5 type 21, value, padding
    );
    const [p] = parseMessages(m);
    expect(p).toMatchObject({ type: 0x10, flags: 5, seq: 7, pid: 0 });
    expect([...parseAttrs(p!.payload, 4)]).toEqual([[21, Uint8Array.of(9)]]);
  });

  it('rejects truncated and inconsistent lengths with a typed error', () => {
    expect(() => parseMessages(new Uint8Array(10))).toThrow(NetlinkDecodeError);
    const m = buildMessage(1, 0, 1, new Uint8Array(0));
    new DataView(m.buffer).setUint32(0, 999, true);
    expect(() => parseMessages(m)).toThrow(NetlinkDecodeError);
    expect(() => parseAttrs(Uint8Array.of(2, 0, 1, 0), 0)).toThrow(NetlinkDecodeError);
  });

  it('reuses one MessageBuilder: each message as if built afresh, the previous one wiped, growth keeps content and wipes the old buffer', () => {
    const b = new MessageBuilder(32);
    const big = buildMessage(0x10, 1, 1, new Uint8Array(40).fill(7), [{ type: 2, data: new Uint8Array(30).fill(9) }], b);
    expect(hex(big)).toBe(hex(buildMessage(0x10, 1, 1, new Uint8Array(40).fill(7), [{ type: 2, data: new Uint8Array(30).fill(9) }])));
    const first = b.buf;
    const small = buildMessage(0x11, 0, 2, Uint8Array.of(5), [], b);
    expect(hex(small)).toBe(hex(buildMessage(0x11, 0, 2, Uint8Array.of(5))));
    expect(b.buf.subarray(small.length).every((x) => x === 0)).toBe(true); // the longer message before it is gone
    b.attr(3, 200); // grows
    expect(b.buf).not.toBe(first);
    expect(first.every((x) => x === 0)).toBe(true);
    expect(b.buf.subarray(16, 20)).toEqual(Uint8Array.of(5, 0, 0, 0));
    b.wipe();
    expect(b.buf.every((x) => x === 0)).toBe(true);
  });

  it('keeps finished messages for one datagram: batch() is the messages as built alone, back to back; wipe clears them all', () => {
    const b = new MessageBuilder(32);
    const sa = gcmSa();
    const pol = { selector: { src: '10.0.0.1', dst: '10.0.0.2' }, dir: 'out' as const, action: 'allow' as const, reqid: R, template: { proto: 'esp' as const, mode: 'transport' as const } };
    encodeNewSa(sa, 11, true, b);
    b.keep();
    encodeNewPolicy(pol, 12, false, b);
    b.keep();
    const alone = [encodeNewSa(sa, 11, true), encodeNewPolicy(pol, 12)];
    expect(hex(b.batch())).toBe(alone.map(hex).join(''));
    expect(parseMessages(b.batch()).map((m) => [m.type, m.seq])).toEqual([[XFRM_MSG.UPDSA, 11], [XFRM_MSG.NEWPOLICY, 12]]);
    const n = b.batch().length;
    b.wipe();
    expect(b.batch().length).toBe(0);
    expect(b.buf.subarray(0, n).every((x) => x === 0)).toBe(true);
  });

  it('reads the errno and extended-ACK message of a capped NLMSG_ERROR', () => {
    const err = new Uint8Array(20);
    new DataView(err.buffer).setInt32(0, -17, true);
    const text = new TextEncoder().encode('File exists\0');
    const m = buildMessage(2, NLM_F.CAPPED | NLM_F.ACK_TLVS, 3, err, [{ type: 1, data: text }]);
    expect(parseError(parseMessages(m)[0]!)).toEqual({ errno: 17, extack: 'File exists' });
  });
});

describe('XFRM structs', () => {
  it('encodes xfrm_selector with network-order ports and addresses', () => {
    const b = new Uint8Array(56);
    const sel: XfrmSelector = {
      daddr: Uint8Array.of(10, 0, 0, 2), saddr: Uint8Array.of(10, 0, 0, 1), dport: 5060, dportMask: 0xffff, sport: 0, sportMask: 0,
      family: 2, prefixlenD: 32, prefixlenS: 24, proto: 17, ifindex: 0, user: 0,
    };
    encodeSelectorInto(b, 0, sel);
    expect(hex(b)).toBe(
      '0a000002' + '00'.repeat(12) + '0a000001' + '00'.repeat(12) + '13c4' + 'ffff' + '0000' + '0000' + '0200' + '20' + '18' + '11' + '000000' + '00000000' + '00000000',
    );
    const back = decodeSelectorAt(b, 0);
    expect(back).toEqual({ ...sel, daddr: b.slice(0, 16), saddr: b.slice(16, 32) });
  });

  it('round-trips xfrm_usersa_info', () => {
    const info: XfrmUsersaInfo = {
      sel: { daddr: new Uint8Array(16).fill(1), saddr: new Uint8Array(16).fill(2), dport: 1, dportMask: 2, sport: 3, sportMask: 4, family: 10, prefixlenD: 128, prefixlenS: 64, proto: 6, ifindex: 5, user: 6 },
      id: { daddr: new Uint8Array(16).fill(3), spi: 0xdeadbeef, proto: 50 },
      saddr: new Uint8Array(16).fill(4),
      lft: { ...infiniteLifetime(), softAddExpiresSeconds: 2n, hardAddExpiresSeconds: 9n },
      curlft: { bytes: 1n, packets: 2n, addTime: 3n, useTime: 4n },
      stats: { replayWindow: 5, replay: 6, integrityFailed: 7 },
      seq: 8, reqid: R, family: 10, mode: 1, replayWindow: 32, flags: 0,
    };
    const b = encodeUsersaInfo(info);
    expect(b.length).toBe(224);
    expect(hex(b.subarray(72, 76))).toBe('deadbeef'); // id.spi, big-endian
    expect(decodeUsersaInfoAt(b, 0)).toEqual(info);
    expect(() => decodeUsersaInfoAt(b.subarray(0, 223), 0)).toThrow(NetlinkDecodeError);
  });

  it('round-trips xfrm_user_tmpl arrays and rejects a ragged one', () => {
    const t = { id: { daddr: new Uint8Array(16), spi: 0x100, proto: 50 }, family: 2, saddr: new Uint8Array(16), reqid: R, mode: 0, share: 0, optional: 1, aalgos: ~0 >>> 0, ealgos: 7, calgos: 8 };
    const two = new Uint8Array([...encodeUserTmpl(t), ...encodeUserTmpl({ ...t, reqid: 1 })]);
    expect(decodeUserTmpls(two)).toEqual([t, { ...t, reqid: 1 }]);
    expect(() => decodeUserTmpls(two.subarray(0, 65))).toThrow(NetlinkDecodeError);
  });
});

describe('NEWSA requests', () => {
  it('carries an AEAD attribute with key+salt and a 128-bit ICV, and no plain ALG_AUTH', () => {
    const m = encodeNewSa(gcmSa(), 42);
    const [msg] = parseMessages(m);
    expect(msg!.type).toBe(XFRM_MSG.NEWSA);
    expect(msg!.flags).toBe(NLM_F.REQUEST | NLM_F.ACK | NLM_F.EXCL);
    expect(msg!.seq).toBe(42);
    const info = decodeUsersaInfoAt(msg!.payload, 0);
    expect(info).toMatchObject({ reqid: R, family: 2, mode: 0, replayWindow: 32, id: { spi: 0x1234, proto: 50 } });
    expect(info.sel).toMatchObject({ prefixlenD: 32, prefixlenS: 32, family: 2 });
    const attrs = parseAttrs(msg!.payload, 224);
    const aead = attrs.get(XFRMA.ALG_AEAD)!;
    expect(new TextDecoder().decode(aead.subarray(0, 17))).toBe('rfc4106(gcm(aes))');
    const dv = new DataView(aead.buffer, aead.byteOffset);
    expect(dv.getUint32(64, true)).toBe(160);
    expect(dv.getUint32(68, true)).toBe(128);
    expect(hex(aead.subarray(72))).toBe('ab'.repeat(20));
    expect(attrs.has(XFRMA.ALG_AUTH)).toBe(false);
  });

  it('uses ALG_CRYPT + ALG_AUTH_TRUNC (truncation 96 for SHA-1) and UPDSA when updating', () => {
    const m = encodeNewSa(gcmSa({ suite: '3des-cbc-hmac-sha1', keys: { encKey: new Uint8Array(24), authKey: new Uint8Array(20) }, mark: { value: 5, mask: 0xff } }), 1, true);
    const [msg] = parseMessages(m);
    expect(msg!.type).toBe(XFRM_MSG.UPDSA);
    const attrs = parseAttrs(msg!.payload, 224);
    expect(new TextDecoder().decode(attrs.get(XFRMA.ALG_CRYPT)!.subarray(0, 13))).toBe('cbc(des3_ede)');
    const auth = attrs.get(XFRMA.ALG_AUTH_TRUNC)!;
    expect(new DataView(auth.buffer, auth.byteOffset).getUint32(68, true)).toBe(96);
    expect(hex(attrs.get(XFRMA.MARK)!)).toBe('05000000ff000000');
  });

  it('decodes its own NEWSA as an SaInfo, keys only on request', () => {
    const spec = gcmSa({ lifetimes: { softSeconds: 2, hardSeconds: 10 }, encap: { sport: 4500, dport: 4500 } });
    const [msg] = parseMessages(encodeNewSa(spec, 1));
    const noKeys = decodeSaMessage(msg!, false);
    expect(noKeys).toMatchObject({ id: { dst: '10.0.0.2', spi: 0x1234, proto: 'esp' }, src: '10.0.0.1', suite: 'aes-gcm-128', owned: true, lifetimes: { softSeconds: 2, hardSeconds: 10 } });
    expect(noKeys.encap).toMatchObject({ sport: 4500, dport: 4500 });
    expect(noKeys.keys).toBeUndefined();
    const withKeys = decodeSaMessage(msg!, true);
    expect(hex(withKeys.keys!.encKey)).toBe('ab'.repeat(20));
    expect(JSON.stringify(withKeys, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toMatch(/171,171|abab/);
    expect(inspect(withKeys)).not.toMatch(/171|abab|keys/);
  });

  it('validates before any syscall', () => {
    const bad: [Partial<SaSpec>, string][] = [
      [{ spi: 0 }, 'spi'],
      [{ spi: 255 }, 'spi'],
      [{ spi: 2 ** 32 }, 'spi'],
      [{ dst: 'fd00::2' }, 'sa'],
      [{ src: 'nonsense' }, 'sa.src'],
      [{ keys: { encKey: new Uint8Array(16) } }, 'keys.encKey'],
      [{ suite: 'rot13' as never }, 'suite'],
      [{ reqid: 5 }, 'reqid'],
      [{ replayWindow: 300 }, 'replayWindow'],
      [{ suite: 'aes-cbc-128-hmac-sha256', keys: { encKey: new Uint8Array(16), authKey: new Uint8Array(20) } }, 'keys.authKey'],
      [{ lifetimes: { softSeconds: 10, hardSeconds: 5 } }, 'lifetimes'],
    ];
    for (const [over, field] of bad) {
      let err: unknown;
      try {
        encodeNewSa(gcmSa(over), 1);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(Object.keys(over))).toBeInstanceOf(KernelValidationError);
      expect((err as KernelValidationError).field).toBe(field);
      expect((err as Error).message).not.toMatch(/abab/);
    }
  });

  it('DELSA carries xfrm_usersa_id', () => {
    const [msg] = parseMessages(encodeDelSa({ dst: 'fd00::2', spi: 0x1000, proto: 'esp' }, 9));
    expect(msg!.type).toBe(XFRM_MSG.DELSA);
    expect(hex(msg!.payload)).toBe('fd00' + '00'.repeat(13) + '02' + '00001000' + '0a00' + '32' + '00');
  });
});

describe('policies', () => {
  it('puts the SPI and our reqid in the OUT template and round-trips', () => {
    const m = encodeNewPolicy({ selector: { src: '10.0.0.1', dst: '10.0.0.0/24', proto: 'udp', dstPort: 5060 }, dir: 'out', action: 'allow', reqid: R, template: { proto: 'esp', mode: 'transport', spi: 0xabcd } }, 3);
    const [msg] = parseMessages(m);
    expect(msg!.type).toBe(XFRM_MSG.NEWPOLICY);
    const tmpl = decodeUserTmpls(parseAttrs(msg!.payload, 168).get(XFRMA.TMPL)!)[0]!;
    expect(tmpl).toMatchObject({ reqid: R, mode: 0, id: { spi: 0xabcd, proto: 50 }, family: 2 });
    expect(decodePolicyMessage(msg!)).toEqual({
      selector: { src: '10.0.0.1/32', dst: '10.0.0.0/24', proto: 'udp', dstPort: 5060 },
      dir: 'out', action: 'allow', priority: 1000, index: 0,
      templates: [{ proto: 'esp', mode: 'transport', spi: 0xabcd, reqid: R }],
      owned: true,
    });
  });

  it('validates policies', () => {
    const base = { selector: { src: '10.0.0.1', dst: '10.0.0.2' }, dir: 'in' as const, action: 'allow' as const, reqid: R };
    expect(() => encodeNewPolicy(base, 1)).toThrow(KernelValidationError);
    expect(() => encodeNewPolicy({ ...base, template: { proto: 'esp', mode: 'tunnel' } }, 1)).toThrow(/tunnel mode needs src and dst/);
    expect(() => encodeNewPolicy({ ...base, selector: { src: '10.0.0.1', dst: 'fd00::1' }, template: { proto: 'esp', mode: 'transport' } }, 1)).toThrow(/family mismatch/);
    expect(() => encodeNewPolicy({ ...base, reqid: 1, template: { proto: 'esp', mode: 'transport' } }, 1)).toThrow(/owned range/);
  });
});

describe('events', () => {
  const info = (): XfrmUsersaInfo => ({
    sel: { daddr: new Uint8Array(16), saddr: new Uint8Array(16), dport: 0, dportMask: 0, sport: 0, sportMask: 0, family: 2, prefixlenD: 32, prefixlenS: 32, proto: 0, ifindex: 0, user: 0 },
    id: { daddr: Uint8Array.of(10, 0, 0, 2), spi: 0x4242, proto: 50 }, saddr: Uint8Array.of(10, 0, 0, 1),
    lft: infiniteLifetime(), curlft: zeroCur(), stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
    seq: 0, reqid: R, family: 2, mode: 0, replayWindow: 32, flags: 0,
  });

  it('decodes EXPIRE', () => {
    const [m] = parseMessages(buildMessage(XFRM_MSG.EXPIRE, 0, 0, encodeUserExpire({ state: info(), hard: false })));
    expect(decodeEvent(m!)).toEqual({ type: 'expire', hard: false, sa: { dst: '10.0.0.2', spi: 0x4242, proto: 'esp' }, src: '10.0.0.1', reqid: R, owned: true });
  });

  it('decodes ACQUIRE with its template', () => {
    const i = info();
    const acq = encodeUserAcquire({
      id: i.id, saddr: i.saddr, sel: { ...i.sel, daddr: i.id.daddr, saddr: i.saddr },
      policy: { sel: i.sel, lft: infiniteLifetime(), curlft: zeroCur(), priority: 0, index: 0, dir: 1, action: 0, flags: 0, share: 0 },
      aalgos: 0, ealgos: 0, calgos: 0, seq: 77,
    });
    const tmpl = encodeUserTmpl({ id: i.id, family: 2, saddr: i.saddr, reqid: R, mode: 0, share: 0, optional: 0, aalgos: 0, ealgos: 0, calgos: 0 });
    const [m] = parseMessages(buildMessage(XFRM_MSG.ACQUIRE, 0, 0, acq, [{ type: XFRMA.TMPL, data: tmpl }]));
    expect(decodeEvent(m!)).toMatchObject({ type: 'acquire', seq: 77, src: '10.0.0.1', dst: '10.0.0.2', dir: 'out', reqid: R, owned: true, selector: { src: '10.0.0.1/32', dst: '10.0.0.2/32' } });
  });

  it('decodes MAPPING (the NAT in front of the peer rebound to a new port, then a new address)', () => {
    const mapping = (newSaddr: Uint8Array, newSport: number) =>
      encodeUserMapping({ id: { daddr: Uint8Array.of(10, 0, 0, 2), spi: 0x4242, family: 2, proto: 50 }, reqid: R, oldSaddr: Uint8Array.of(10, 0, 0, 1), newSaddr, oldSport: 4500, newSport });
    const [m] = parseMessages(buildMessage(XFRM_MSG.MAPPING, 0, 0, mapping(Uint8Array.of(10, 0, 0, 1), 40001)));
    expect(decodeEvent(m!)).toEqual({ type: 'mapping', sa: { dst: '10.0.0.2', spi: 0x4242, proto: 'esp' }, reqid: R, owned: true, oldSrc: '10.0.0.1', newSrc: '10.0.0.1', oldPort: 4500, newPort: 40001 });
    const [n] = parseMessages(buildMessage(XFRM_MSG.MAPPING, 0, 0, mapping(Uint8Array.of(10, 0, 0, 9), 4500)));
    expect(decodeEvent(n!)).toMatchObject({ type: 'mapping', oldSrc: '10.0.0.1', newSrc: '10.0.0.9', oldPort: 4500, newPort: 4500 });
  });

  it('rejects a truncated MAPPING with a typed error', () => {
    const [m] = parseMessages(buildMessage(XFRM_MSG.MAPPING, 0, 0, new Uint8Array(60)));
    expect(() => decodeEvent(m!)).toThrow(NetlinkDecodeError);
  });

  it('rejects a truncated EXPIRE with a typed error', () => {
    const [m] = parseMessages(buildMessage(XFRM_MSG.EXPIRE, 0, 0, new Uint8Array(100)));
    expect(() => decodeEvent(m!)).toThrow(NetlinkDecodeError);
  });
});

describe('algorithm table', () => {
  it('maps RFC 2367 numbers and key lengths to suites', () => {
    expect(suiteBySadb(3, 24, 3)?.name).toBe('3des-cbc-hmac-sha1');
    expect(suiteBySadb(12, 32, 5)?.name).toBe('aes-cbc-256-hmac-sha256');
    expect(suiteBySadb(20, 16, 0)?.name).toBe('aes-gcm-128');
    expect(suiteBySadb(20, 36, 0)?.name).toBe('aes-gcm-256');
    expect(suiteBySadb(11, 0, 5)?.name).toBe('null-hmac-sha256');
    expect(suiteBySadb(2, 8, 3)).toBeUndefined();
    expect(SUITES.filter((s) => s.seedDefault).map((s) => s.name)).toEqual(['3des-cbc-hmac-sha1']);
  });

  it('normalizes the kernel names seen in dumps', () => {
    expect(normalizeXfrmName('des3_ede')).toBe('cbc(des3_ede)');
    expect(suiteFromXfrm({ crypt: { name: 'aes', keyBits: 128 }, auth: { name: 'sha256', keyBits: 256 } })?.name).toBe('aes-cbc-128-hmac-sha256');
  });

  it('ranks strength', () => {
    expect(suitesAtLeast('aes-gcm-128').map((s) => s.name)).not.toContain('3des-cbc-hmac-sha1');
    expect(suitesAtLeast('null-hmac-sha256')).toHaveLength(SUITES.length);
    expect(() => suiteByName('nope')).toThrow(KernelValidationError);
  });
});

describe('addresses, reqids, errors', () => {
  it('parses and formats IPv4/IPv6', () => {
    expect(hex(parseAddress('fd00::1', 'x').bytes)).toBe('fd00' + '00'.repeat(13) + '01');
    expect(hex(parseAddress('::ffff:1.2.3.4', 'x').bytes)).toBe('00'.repeat(10) + 'ffff01020304');
    expect(formatAddress(parseAddress('2001:db8:0:0:1:0:0:1', 'x').bytes, 6)).toBe('2001:db8::1:0:0:1');
    expect(parsePrefix('10.0.0.0/8', 'x').prefixLen).toBe(8);
    expect(() => parsePrefix('10.0.0.0/33', 'x')).toThrow(KernelValidationError);
  });

  it('tags the owned reqid range', () => {
    expect(ownedReqid(0)).toBe(0x5e000000);
    expect(isOwnedReqid(ownedReqid(0xffffff))).toBe(true);
    expect(isOwnedReqid(1)).toBe(false);
  });

  it('explains kernel errors', () => {
    expect(new KernelError(93, 'NEWSA').message).toMatch(/no ESP: load esp4\/esp6, or use the lab/);
    expect(new KernelError(1, 'NEWSA')).toMatchObject({ code: 'EPERM', message: expect.stringMatching(/CAP_NET_ADMIN/) });
    expect(new KernelError(38, 'NEWSA', 'Requested AEAD algorithm not found').message).toMatch(/unknown algorithm.*Requested AEAD/);
  });
});
