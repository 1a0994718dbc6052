import { describe, it, expect } from 'vitest';
import { createHmac } from 'node:crypto';
import { HmacSha1 } from '../../../src/mikey/hmac.js';
import { PrfKey, prf, prfP } from '../../../src/mikey/prf.js';
import { randomBytes, randomUint32 } from '../../../src/mikey/random.js';
import {
  KeyConst,
  keyLabel,
  deriveTek,
  deriveTekSalt,
  deriveEspKeys,
  deriveKemacKeys,
  deriveDhhmacAuthKey,
  wipeKeys,
} from '../../../src/mikey/keys.js';
import { MikeyError } from '../../../src/mikey/errors.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { hex, seq } from './helpers.js';


// REFERENCE.md §2 inputs.
const TGK = seq(16, 0x00);
const RAND = seq(16, 0x10);
const CSB_ID = 0x12345678;
const PSK = seq(20, 0x00);

describe('HMAC-SHA-1 keyed once (RFC 2104)', () => {
  it('matches noble hmac and node:crypto for key and message lengths around the block size, in parts', () => {
    for (const keyLen of [0, 1, 20, 32, 63, 64, 65, 100, 200]) {
      const key = seq(keyLen, keyLen);
      const h = new HmacSha1(key);
      for (const msgLen of [0, 1, 20, 45, 55, 56, 63, 64, 65, 119, 120, 200]) {
        const msg = seq(msgLen, 3 * msgLen);
        const want = createHmac('sha1', key).update(msg).digest('hex');
        expect(hex(h.mac(msg))).toBe(want);
        expect(hex(hmac(sha1, key, msg))).toBe(want);
        const cut = msgLen >> 1;
        expect(hex(h.mac(msg.subarray(0, cut), new Uint8Array(0), msg.subarray(cut)))).toBe(want); // parts = their concatenation
      }
      h.destroy();
    }
  });

  it('RFC 2202 test cases 1 and 6 (80-byte key, hashed first)', () => {
    expect(hex(new HmacSha1(new Uint8Array(20).fill(0x0b)).mac(Buffer.from('Hi There')))).toBe('b617318655057264e28bc0b6fb378c8ef146be00');
    expect(hex(new HmacSha1(new Uint8Array(80).fill(0xaa)).mac(Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First')))).toBe(
      'aa4ae5e15272d00e95705637ce8a3b55ed402112',
    );
  });

  it('macInto may write over one of its inputs; a destroyed key refuses to MAC', () => {
    const h = new HmacSha1(seq(20));
    const a = seq(20, 7);
    const want = hex(h.mac(a));
    h.macInto(a, 0, a);
    expect(hex(a)).toBe(want);
    h.destroy();
    expect(() => h.mac(a)).toThrow();
  });
});

describe('pooled CSPRNG (random.ts)', () => {
  it('hands out fresh, distinct bytes of the asked length, also across a pool refill and for large draws', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const b = randomBytes(16); // 600 × 16 B > the 4096-byte pool: refills at least twice
      expect(b.length).toBe(16);
      seen.add(hex(b));
    }
    expect(seen.size).toBe(600);
    expect(randomBytes(5000).length).toBe(5000);
    const u = new Set(Array.from({ length: 100 }, () => randomUint32()));
    expect(u.size).toBeGreaterThan(95);
    for (const v of u) expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).toBe(true);
  });

  it('a drawn buffer is the caller\'s own: wiping it does not touch later draws', () => {
    const a = randomBytes(32);
    a.fill(0);
    expect(randomBytes(32).some((x) => x !== 0)).toBe(true);
  });
});

describe('PRF (RFC 3830 §4.1.2)', () => {
  it('P(s, label, m) is HMAC(s, A_i || label) with A_i = HMAC(s, A_(i-1))', () => {
    const s = seq(7, 1);
    const label = seq(5, 9);
    const a1 = hmac(sha1, s, label);
    const a2 = hmac(sha1, s, a1);
    const expected = Buffer.concat([
      hmac(sha1, s, Buffer.concat([a1, label])),
      hmac(sha1, s, Buffer.concat([a2, label])),
    ]);
    expect(hex(prfP(s, label, 2))).toBe(hex(expected));
  });

  it('a 40-byte inkey is split into 32 + 8 byte chunks and the P outputs XORed (REFERENCE vector)', () => {
    const label = keyLabel(KeyConst.TEK, 1, CSB_ID, RAND);
    expect(hex(prf(seq(40, 0x40), label, 48))).toBe(
      '46a49285e6b0caafb9865b367b7e13cb9c99625da171df18d1dc97ccf3060a99f001f523da8219b2e42d5783560d689d',
    );
    const m = Math.ceil(48 / 20);
    const p1 = prfP(seq(32, 0x40), label, m);
    const p2 = prfP(seq(8, 0x60), label, m);
    const x = p1.map((b, i) => b ^ p2[i]!).slice(0, 48);
    expect(hex(prf(seq(40, 0x40), label, 48))).toBe(hex(x));
  });

  it('a 32-byte inkey is ONE chunk (minisip adds an empty one: we do not) (REFERENCE vector)', () => {
    const label = keyLabel(KeyConst.TEK, 1, CSB_ID, RAND);
    const out = prf(seq(32, 0x80), label, 16);
    expect(hex(out)).toBe('9cc380fe5b3f1ff77c4086f5b4c60845');
    expect(hex(out)).toBe(hex(prfP(seq(32, 0x80), label, 1).slice(0, 16)));
  });

  it('a PrfKey keyed once derives what prf() derives, for every label, and refuses use after wipe()', () => {
    for (const inkey of [seq(16, 1), seq(32, 0x80), seq(40, 0x40), seq(70, 5)]) {
      const key = new PrfKey(inkey);
      for (const [c, len] of [
        [KeyConst.TEK, 16],
        [KeyConst.TEK_SALT, 14],
        [KeyConst.TEK_ENCR, 48],
        [KeyConst.TEK_AUTH, 20],
      ] as const) {
        const label = keyLabel(c, 1, CSB_ID, RAND);
        expect(hex(key.derive(label, len))).toBe(hex(prf(inkey, label, len)));
      }
      key.wipe();
      expect(() => key.derive(RAND, 16)).toThrow();
    }
  });

  it('rejects a zero output length and an empty inkey with a MikeyError', () => {
    expect(() => prf(TGK, RAND, 0)).toThrow(MikeyError);
    expect(() => prf(new Uint8Array(0), RAND, 16)).toThrow(MikeyError);
  });
});

describe('key derivation (RFC 3830 §4.1.3, §4.1.4, seed 003 §5.1)', () => {
  it('label layout is const(32) || cs_id(8) || csb_id(32) || RAND', () => {
    expect(hex(keyLabel(0x2ad01c64, 1, CSB_ID, seq(2, 0xaa)))).toBe('2ad01c640112345678aaab');
  });

  it('TEK and salt of CS 1 match REFERENCE.md §2', () => {
    expect(hex(deriveTek(TGK, 1, CSB_ID, RAND))).toBe('838f7dea3e6c733fb7755a665bfab763');
    expect(hex(deriveTekSalt(TGK, 1, CSB_ID, RAND))).toBe('c8512869cd0d1abaa797c728327b');
  });

  it('ESP encryption/authentication keys of CS 1 and CS 2 match REFERENCE.md §2', () => {
    const cs1 = deriveEspKeys(TGK, 1, CSB_ID, RAND, 24, 20);
    expect(hex(cs1.encrKey)).toBe('5a2d1ccf00e863ad6f01585cdbe40015671720d7d3514557');
    expect(hex(cs1.authKey)).toBe('d500bcfc41238b366cfd1167c6f9e7f388ce5537');
    const cs2 = deriveEspKeys(TGK, 2, CSB_ID, RAND, 24, 20);
    expect(hex(cs2.encrKey)).toBe('bb37ba7c0385ff5882be139509314bdcf35da94a67d0eb13');
    expect(hex(cs2.authKey)).toBe('6d6d213f90204fb2e640e3ea17ab787baa5091d0');
  });

  it('a zero key length gives an empty key (AEAD ESP without separate auth key)', () => {
    expect(deriveEspKeys(TGK, 1, CSB_ID, RAND, 20, 0).authKey.length).toBe(0);
  });

  it('KEMAC encr/auth/salt keys from the PSK match REFERENCE.md §2', () => {
    const k = deriveKemacKeys(PSK, CSB_ID, RAND);
    expect(hex(k.encrKey)).toBe('95c269e40f1ab9c4596f7babca84495c');
    expect(hex(k.authKey)).toBe('397e502d79f9db5612405470d0df1fb7fddf1370');
    expect(hex(k.saltKey)).toBe('49ba56a11fdcb3fd6b8a041cad97');
  });

  it('the DHHMAC auth key (RFC 4650) is the §4.1.4 auth_key of the PSK', () => {
    expect(hex(deriveDhhmacAuthKey(PSK, CSB_ID, RAND))).toBe('397e502d79f9db5612405470d0df1fb7fddf1370');
  });

  it('wipeKeys zeroes every buffer', () => {
    const k = deriveKemacKeys(PSK, CSB_ID, RAND);
    wipeKeys(k);
    for (const v of [k.encrKey, k.authKey, k.saltKey]) expect(v.every((b) => b === 0)).toBe(true);
  });

  it('rejects out-of-range cs_id / csb_id and an empty RAND with a MikeyError', () => {
    expect(() => deriveTek(TGK, 256, CSB_ID, RAND)).toThrow(MikeyError);
    expect(() => deriveTek(TGK, 0xff, CSB_ID, RAND)).toThrow(MikeyError);
    expect(() => deriveTek(TGK, 1, 2 ** 32, RAND)).toThrow(MikeyError);
    expect(() => deriveTek(TGK, 1, CSB_ID, new Uint8Array(0))).toThrow(MikeyError);
  });
});
