import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { aesCmIv, aesKeyUnwrap, aesKeyWrap, kemacEncrypt, kemacDecrypt } from '../../../src/mikey/kemac-crypto.js';
import { macCompute, macVerify, constantTimeEqual } from '../../../src/mikey/mac.js';
import { EncrAlg, MacAlg, macLength } from '../../../src/mikey/payloads/constants.js';
import { deriveKemacKeys } from '../../../src/mikey/keys.js';
import { ErrNo } from '../../../src/mikey/errors.js';
import { errNoOf, hex, unhex } from './helpers.js';


describe('AES-CM-128 KEMAC encryption (RFC 3830 §4.2.3)', () => {
  it('IV = (S XOR (0x0000 || CSB_ID || T)) || 0x0000', () => {
    const s = unhex('000102030405060708090a0b0c0d');
    const t = unhex('1122334455667788');
    expect(hex(aesCmIv(s, 0xdeadbeef, t))).toBe(
      '0001' + 'dcaebaea' + '17253b4d5f6d7b85' + '0000',
    );
  });

  it('a 4-byte COUNTER T is left-padded to 64 bits', () => {
    const s = new Uint8Array(14);
    expect(hex(aesCmIv(s, 1, unhex('0a0b0c0d')))).toBe('0000' + '00000001' + '000000000a0b0c0d' + '0000');
  });

  it('keystream equals RFC 3711 Appendix B.2 AES-CM test vector', () => {
    // IV F0F1...FD0000 is produced by salt F0..FD with CSB_ID = 0, T = 0.
    const key = unhex('2B7E151628AED2A6ABF7158809CF4F3C');
    const salt = unhex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD');
    const ks = kemacEncrypt(EncrAlg.AES_CM_128, key, salt, 0, new Uint8Array(8), new Uint8Array(48));
    expect(hex(ks)).toBe(
      'e03ead0935c95e80e166b16dd92b4eb4d23513162b02d0f72a43a2fe4a5f97ab41e95b3bb0a2e8dd477901e4fca894c0',
    );
  });

  it('round-trips with keys from §4.1.4, and a changed T changes the ciphertext', () => {
    const k = deriveKemacKeys(randomBytes(20), 0x12345678, randomBytes(16));
    const pt = randomBytes(37);
    const t = unhex('e000000000000001');
    const ct = kemacEncrypt(EncrAlg.AES_CM_128, k.encrKey, k.saltKey, 0x12345678, t, pt);
    expect(hex(ct)).not.toBe(hex(pt));
    expect(hex(kemacDecrypt(EncrAlg.AES_CM_128, k.encrKey, k.saltKey, 0x12345678, t, ct))).toBe(hex(pt));
    const ct2 = kemacEncrypt(EncrAlg.AES_CM_128, k.encrKey, k.saltKey, 0x12345678, unhex('e000000000000002'), pt);
    expect(hex(ct2)).not.toBe(hex(ct));
  });
});

describe('AES-KW-128 and NULL', () => {
  it('wraps the RFC 3394 §4.1 vector (default IV A6A6A6A6A6A6A6A6) and unwraps it', () => {
    const kek = unhex('000102030405060708090A0B0C0D0E0F');
    const data = unhex('00112233445566778899AABBCCDDEEFF');
    const iv = unhex('A6A6A6A6A6A6A6A6');
    const ct = aesKeyWrap(kek, iv, data);
    expect(hex(ct)).toBe('1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5');
    expect(hex(aesKeyUnwrap(kek, iv, ct)!)).toBe(hex(data));
    expect(aesKeyUnwrap(kek, new Uint8Array(8), ct)).toBeUndefined();
  });

  it('RFC 3830 §4.2.3: the KEMAC key wrap IV is the 64-bit salt S (first 8 bytes of the §4.1.4 salt_key)', () => {
    const kek = unhex('000102030405060708090A0B0C0D0E0F');
    const data = unhex('00112233445566778899AABBCCDDEEFF');
    const salt = unhex('0102030405060708090a0b0c0d0e');
    const ct = kemacEncrypt(EncrAlg.AES_KW_128, kek, salt, 0, new Uint8Array(8), data);
    expect(hex(ct)).toBe(hex(aesKeyWrap(kek, salt.subarray(0, 8), data)));
    expect(hex(ct)).not.toBe('1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5');
    expect(hex(kemacDecrypt(EncrAlg.AES_KW_128, kek, salt, 0, new Uint8Array(8), ct))).toBe(hex(data));
    expect(errNoOf(() => kemacDecrypt(EncrAlg.AES_KW_128, kek, new Uint8Array(14), 0, new Uint8Array(8), ct))).toBe(ErrNo.AUTH_FAILURE);
  });

  it('a one-bit flip in AES-KW ciphertext fails with AUTH_FAILURE', () => {
    const kek = randomBytes(16);
    const ct = kemacEncrypt(EncrAlg.AES_KW_128, kek, new Uint8Array(14), 0, new Uint8Array(8), randomBytes(32));
    ct[5]! ^= 0x01;
    expect(errNoOf(() => kemacDecrypt(EncrAlg.AES_KW_128, kek, new Uint8Array(14), 0, new Uint8Array(8), ct))).toBe(
      ErrNo.AUTH_FAILURE,
    );
  });

  it('AES-KW refuses plaintext that is not 8-byte aligned with a MikeyError', () => {
    expect(errNoOf(() => kemacEncrypt(EncrAlg.AES_KW_128, randomBytes(16), new Uint8Array(14), 0, new Uint8Array(8), randomBytes(20)))).toBe(
      ErrNo.UNSPECIFIED,
    );
  });

  it('NULL encryption copies the data', () => {
    const pt = randomBytes(10);
    expect(hex(kemacEncrypt(EncrAlg.NULL, new Uint8Array(0), new Uint8Array(0), 0, new Uint8Array(0), pt))).toBe(hex(pt));
  });

  it('unknown algorithm is INVALID_EA; bad key/salt/T lengths are typed errors', () => {
    const t8 = new Uint8Array(8);
    expect(errNoOf(() => kemacEncrypt(3, randomBytes(16), new Uint8Array(14), 0, t8, randomBytes(16)))).toBe(ErrNo.INVALID_EA);
    expect(errNoOf(() => kemacDecrypt(9, randomBytes(16), new Uint8Array(14), 0, t8, randomBytes(16)))).toBe(ErrNo.INVALID_EA);
    expect(errNoOf(() => kemacEncrypt(EncrAlg.AES_CM_128, randomBytes(15), new Uint8Array(14), 0, t8, randomBytes(16)))).toBe(ErrNo.UNSPECIFIED);
    expect(errNoOf(() => kemacEncrypt(EncrAlg.AES_CM_128, randomBytes(16), new Uint8Array(13), 0, t8, randomBytes(16)))).toBe(ErrNo.UNSPECIFIED);
    expect(errNoOf(() => kemacEncrypt(EncrAlg.AES_CM_128, randomBytes(16), new Uint8Array(14), 0, new Uint8Array(7), randomBytes(16)))).toBe(ErrNo.UNSPECIFIED);
  });
});

describe('MAC HMAC-SHA-1-160 (RFC 3830 §4.2.4)', () => {
  it('matches RFC 2202 HMAC-SHA-1 test case 2', () => {
    const mac = macCompute(MacAlg.HMAC_SHA_1_160, Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'));
    expect(hex(mac)).toBe('effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
    expect(macLength(MacAlg.HMAC_SHA_1_160)).toBe(20);
  });

  it('verifies a good MAC; a one-bit flip in the MAC or the data fails with AUTH_FAILURE', () => {
    const key = randomBytes(20);
    const data = randomBytes(100);
    const mac = macCompute(MacAlg.HMAC_SHA_1_160, key, data);
    expect(() => macVerify(MacAlg.HMAC_SHA_1_160, key, data, mac)).not.toThrow();
    const badMac = mac.slice();
    badMac[19]! ^= 0x80;
    expect(errNoOf(() => macVerify(MacAlg.HMAC_SHA_1_160, key, data, badMac))).toBe(ErrNo.AUTH_FAILURE);
    const badData = Uint8Array.from(data);
    badData[0]! ^= 0x01;
    expect(errNoOf(() => macVerify(MacAlg.HMAC_SHA_1_160, key, badData, mac))).toBe(ErrNo.AUTH_FAILURE);
    expect(errNoOf(() => macVerify(MacAlg.HMAC_SHA_1_160, key, data, mac.subarray(0, 12)))).toBe(ErrNo.AUTH_FAILURE);
  });

  it('NULL MAC computes to nothing but never verifies; unknown alg is INVALID_MAC', () => {
    expect(macCompute(MacAlg.NULL, new Uint8Array(0), randomBytes(4)).length).toBe(0);
    expect(errNoOf(() => macVerify(MacAlg.NULL, new Uint8Array(0), randomBytes(4), new Uint8Array(0)))).toBe(ErrNo.AUTH_FAILURE);
    expect(errNoOf(() => macCompute(2, randomBytes(20), randomBytes(4)))).toBe(ErrNo.INVALID_MAC);
  });

  it('constantTimeEqual handles unequal lengths', () => {
    expect(constantTimeEqual(unhex('0102'), unhex('0102'))).toBe(true);
    expect(constantTimeEqual(unhex('0102'), unhex('010203'))).toBe(false);
  });

  it('MikeyError messages carry no key bytes', () => {
    const key = randomBytes(20);
    try {
      macVerify(MacAlg.HMAC_SHA_1_160, key, randomBytes(8), new Uint8Array(20));
    } catch (e) {
      expect(String(e)).not.toContain(Buffer.from(key).toString('hex'));
      expect(JSON.stringify(e)).not.toContain(Buffer.from(key).toString('hex'));
    }
    expect.assertions(2);
  });
});
