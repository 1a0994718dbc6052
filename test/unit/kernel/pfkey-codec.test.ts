// Byte-level tests of the PF_KEY v2 encoders/decoders (RFC 2367 wire format).
import { describe, expect, it } from 'vitest';
import { KernelValidationError } from '../../../src/kernel/errors.js';
import { decodeExpire, decodeSaMessage, encodeAddSa, encodeSaId, encodeSpdAdd, pfkeyReqid, reqidFromKernel, PFKEY_REQID_BASE } from '../../../src/kernel/pfkey/messages.js';
import {
  decodeAddress, decodeMessage, decodePolicy, encodeAddress, encodeKey, encodeLifetime, encodeMessage, encodeNatTPort, encodeNatTType,
  encodePolicy, encodeSa, encodeSa2, encodeSpirange, PfkeyDecodeError, SADB, SADB_EXT,
} from '../../../src/kernel/pfkey/structs.js';
import { ownedReqid, type SaSpec } from '../../../src/kernel/types.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('PF_KEY extensions', () => {
  it('sadb_msg: version 2, length in 64-bit words, host-order seq/pid', () => {
    expect(hex(encodeMessage({ type: SADB.ADD, errno: 0, satype: 3, seq: 0x01020304, pid: 0x0a0b0c0d }, []))).toBe('0203000302000000' + '04030201' + '0d0c0b0a');
  });
  it('sadb_sa: SPI in network order', () => {
    expect(hex(encodeSa({ spi: 0x11223344, replay: 32, state: 1, auth: 3, encrypt: 12, flags: 0 }))).toBe('0200010011223344' + '20' + '01' + '03' + '0c' + '00000000');
  });
  it('sadb_lifetime', () => {
    expect(hex(encodeLifetime(SADB_EXT.LIFETIME_SOFT, { allocations: 5, bytes: 6n, addtime: 7n, usetime: 8n }))).toBe('0400040005000000' + '0600000000000000' + '0700000000000000' + '0800000000000000');
  });
  it('sadb_address + sockaddr_in (24 bytes) and sockaddr_in6 (8 + 28 padded to 40)', () => {
    const v4 = encodeAddress(SADB_EXT.ADDRESS_SRC, { family: 2, addr: Uint8Array.of(10, 0, 0, 1), port: 5060, proto: 17, prefixlen: 32 });
    expect(hex(v4)).toBe('0300050011200000' + '0200' + '13c4' + '0a000001' + '0000000000000000');
    const v6 = encodeAddress(SADB_EXT.ADDRESS_DST, { family: 10, addr: new Uint8Array(16).fill(0xfd, 0, 1), port: 0, proto: 255, prefixlen: 128 });
    expect(v6.length).toBe(40);
    expect(hex(v6.subarray(0, 12))).toBe('05000600ff800000' + '0a000000');
    expect(decodeAddress(v6)).toMatchObject({ family: 10, proto: 255, prefixlen: 128, port: 0 });
  });
  it('sadb_key: bits, key padded to 8', () => {
    expect(hex(encodeKey(SADB_EXT.KEY_AUTH, Uint8Array.of(1, 2, 3)))).toBe('020008001800000001020300000000' + '00');
  });
  it('sadb_spirange, sadb_x_sa2, NAT-T type and port', () => {
    expect(hex(encodeSpirange(0x100, 0xffffffff))).toBe('0200100000010000ffffffff00000000');
    expect(hex(encodeSa2({ mode: 2, reqid: 0x3c07 }))).toBe('0200130002000000' + '00000000' + '073c0000');
    expect(hex(encodeNatTType(2))).toBe('0100140002000000');
    expect(hex(encodeNatTPort(SADB_EXT.X_NAT_T_DPORT, 4500))).toBe('01001600' + '1194' + '0000');
  });
  it('sadb_x_policy + ipsecrequest (byte length), tunnel endpoints round-trip', () => {
    const p = encodePolicy({ type: 2, dir: 2, id: 0, priority: 1000, requests: [{ proto: 50, mode: 1, level: 3, reqid: 0x3c07 }] });
    expect(hex(p)).toBe('0400120002000200' + '00000000' + 'e8030000' + '1000' + '3200' + '01' + '03' + '0000' + '073c0000' + '00000000');
    const t = encodePolicy({ type: 2, dir: 1, id: 9, priority: 0, requests: [{ proto: 50, mode: 2, level: 3, reqid: 0x3c00, tunnel: { src: { family: 2, addr: Uint8Array.of(1, 1, 1, 1), port: 0 }, dst: { family: 2, addr: Uint8Array.of(2, 2, 2, 2), port: 0 } } }] });
    expect(decodePolicy(t).requests[0]!.tunnel!.dst.addr).toEqual(Uint8Array.of(2, 2, 2, 2));
  });
  it('decodeMessage checks every length and always advances', () => {
    expect(() => decodeMessage(new Uint8Array(8))).toThrow(PfkeyDecodeError);
    const m = encodeMessage({ type: 3, errno: 0, satype: 3, seq: 1, pid: 1 }, [encodeSa2({ mode: 1, reqid: 1 })]);
    m[16] = 0; // zero extension length
    expect(() => decodeMessage(m)).toThrow(PfkeyDecodeError);
    m[16] = 9; // longer than the message
    expect(() => decodeMessage(m)).toThrow(PfkeyDecodeError);
  });
});

describe('PF_KEY messages', () => {
  const spec: SaSpec = {
    src: '10.0.0.1', dst: '10.0.0.2', spi: 0x4242, proto: 'esp', mode: 'transport', reqid: ownedReqid(7),
    suite: 'aes-cbc-128-hmac-sha1', keys: { encKey: new Uint8Array(16).fill(0xaa), authKey: new Uint8Array(20).fill(0xbb) },
    lifetimes: { softSeconds: 2, hardSeconds: 60 },
  };
  it('SADB_ADD carries SA, addresses, SA2 (mode, PF_KEY reqid), lifetimes and both keys; decodes back', () => {
    const msg = encodeAddSa(spec, { seq: 5, pid: 6 });
    const m = decodeMessage(msg);
    expect(m.type).toBe(SADB.ADD);
    expect([...m.exts.keys()].sort((a, b) => a - b)).toEqual([1, 3, 4, 5, 6, 8, 9, 19]);
    const info = decodeSaMessage(m, true);
    expect(info).toMatchObject({ id: { dst: '10.0.0.2', spi: 0x4242 }, src: '10.0.0.1', reqid: ownedReqid(7), owned: true, suite: 'aes-cbc-128-hmac-sha1', replayWindow: 32, lifetimes: { softSeconds: 2, hardSeconds: 60 } });
    expect(info.keys!.authKey).toEqual(new Uint8Array(20).fill(0xbb));
    expect(Object.keys(info)).not.toContain('keys');
  });
  it('refuses what Linux PF_KEY cannot do, before any syscall', () => {
    const bad = (s: Partial<SaSpec>) => () => encodeAddSa({ ...spec, ...s }, { seq: 1, pid: 1 });
    expect(bad({ suite: 'aes-gcm-128', keys: { encKey: new Uint8Array(20) } })).toThrow(/AEAD/);
    expect(bad({ suite: 'aes-cbc-128-hmac-sha256', keys: { encKey: new Uint8Array(16), authKey: new Uint8Array(32) } })).toThrow(/96-bit ICV/);
    expect(bad({ replayWindow: 33 })).toThrow(KernelValidationError);
    expect(bad({ mark: { value: 1, mask: 1 } })).toThrow(/marks/);
    expect(bad({ reqid: ownedReqid(0x400) })).toThrow(/0x3fff/);
    expect(bad({ lifetimes: { hardPackets: 1n << 32n } })).toThrow(/32 bits/);
  });
  it('reqid sub-range: ownedReqid(n) <-> 0x3c00 + n, others not owned', () => {
    expect(pfkeyReqid(ownedReqid(7))).toBe(PFKEY_REQID_BASE + 7);
    expect(reqidFromKernel(0x3c07)).toEqual({ reqid: ownedReqid(7), owned: true });
    expect(reqidFromKernel(0x4001)).toEqual({ reqid: 0x4001, owned: false });
    expect(reqidFromKernel(5)).toEqual({ reqid: 5, owned: false });
  });
  it('SADB_GET sends an unspecified source of the destination family', () => {
    const m = decodeMessage(encodeSaId(SADB.GET, { dst: 'fd00::2', spi: 0x100, proto: 'esp' }, { seq: 1, pid: 1 }));
    expect(decodeAddress(m.exts.get(SADB_EXT.ADDRESS_SRC)!)).toMatchObject({ family: 10, addr: new Uint8Array(16) });
  });
  it('SPDADD: selector proto any = 255, ipsecrequest level unique with the PF_KEY reqid; no SPI sent', () => {
    const m = decodeMessage(encodeSpdAdd({ selector: { src: '10.0.0.1', dst: '10.0.0.2/24' }, dir: 'out', action: 'allow', reqid: ownedReqid(1), template: { proto: 'esp', mode: 'transport', spi: 0x1234 } }, { seq: 1, pid: 1 }));
    expect(decodeAddress(m.exts.get(SADB_EXT.ADDRESS_DST)!)).toMatchObject({ proto: 255, prefixlen: 24 });
    expect(decodePolicy(m.exts.get(SADB_EXT.X_POLICY)!)).toMatchObject({ type: 2, dir: 2, priority: 1000, requests: [{ proto: 50, mode: 1, level: 3, reqid: 0x3c01 }] });
  });
  it('SADB_EXPIRE: hard iff LIFETIME_HARD', () => {
    const base = [encodeSa({ spi: 0x4242, replay: 0, state: 1, auth: 3, encrypt: 12, flags: 0 }),
      encodeAddress(SADB_EXT.ADDRESS_SRC, { family: 2, addr: Uint8Array.of(10, 0, 0, 1), port: 0, proto: 0, prefixlen: 32 }),
      encodeAddress(SADB_EXT.ADDRESS_DST, { family: 2, addr: Uint8Array.of(10, 0, 0, 2), port: 0, proto: 0, prefixlen: 32 }), encodeSa2({ mode: 1, reqid: 0x3c07 })];
    const lt = { allocations: 0, bytes: 0n, addtime: 2n, usetime: 0n };
    const soft = decodeExpire(decodeMessage(encodeMessage({ type: SADB.EXPIRE, errno: 0, satype: 3, seq: 0, pid: 0 }, [...base, encodeLifetime(SADB_EXT.LIFETIME_SOFT, lt)])));
    expect(soft).toMatchObject({ type: 'expire', hard: false, reqid: ownedReqid(7), owned: true, src: '10.0.0.1', sa: { dst: '10.0.0.2', spi: 0x4242 } });
    const hard = decodeExpire(decodeMessage(encodeMessage({ type: SADB.EXPIRE, errno: 0, satype: 3, seq: 0, pid: 0 }, [...base, encodeLifetime(SADB_EXT.LIFETIME_HARD, lt)])));
    expect(hard).toMatchObject({ hard: true });
  });
});
