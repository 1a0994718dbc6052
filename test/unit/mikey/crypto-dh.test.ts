import { describe, it, expect } from 'vitest';
import { inspect } from 'node:util';
import {
  dhGenerate,
  dhCompute,
  groupValueLength,
  dhPrime,
  oakleyGroupOfCode,
  dhGroupCode,
  DhKeyPair,
  type OakleyGroup,
} from '../../../src/mikey/dh.js';
import { DhGroup, dhValueLength } from '../../../src/mikey/payloads/dh.js';
import { MikeyError, ErrNo } from '../../../src/mikey/errors.js';
import { errNoOf, hex } from './helpers.js';

describe('Diffie-Hellman (RFC 3830 §3.3, §6.4)', () => {
  for (const group of [1, 2, 5, 14] as OakleyGroup[]) {
    it(`both sides agree in OAKLEY group ${group}, values padded to ${groupValueLength(group)} bytes`, () => {
      const i = dhGenerate(group);
      const r = dhGenerate(group);
      expect(i.publicValue.length).toBe(groupValueLength(group));
      expect(r.publicValue.length).toBe(groupValueLength(group));
      const si = dhCompute(i, r.publicValue);
      const sr = dhCompute(r, i.publicValue);
      expect(si.length).toBe(groupValueLength(group));
      expect(hex(si)).toBe(hex(sr));
      expect(si.some((b) => b !== 0)).toBe(true);
      i.wipe();
      r.wipe();
    }, 30_000);

    it(`group ${group}: the public value is 2^x mod p for a fresh 256-bit x; a restored pair computes the same secret`, () => {
      const big = (b: Uint8Array): bigint => BigInt(`0x${hex(b)}`);
      const modPow = (b: bigint, e: bigint, m: bigint): bigint => {
        let r = 1n;
        for (b %= m; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
        return r;
      };
      const a = dhGenerate(group);
      const b = dhGenerate(group);
      const x = a.exportPrivateKey();
      expect(x.length).toBe(32);
      expect(x[0]! & 0x80).toBe(0x80);
      expect(big(a.publicValue)).toBe(modPow(2n, big(x), big(dhPrime(group))));
      const restored = new DhKeyPair(group, { privateKey: x, publicValue: a.publicValue });
      expect(hex(dhCompute(restored, b.publicValue))).toBe(hex(dhCompute(b, a.publicValue)));
      for (const k of [a, b, restored]) k.wipe();
    });
  }

  it('rejects 0, 1, p-1, p and a short value with INVALID_DH', () => {
    const kp = dhGenerate(1);
    const len = groupValueLength(1);
    const p = dhPrime(1);
    const one = new Uint8Array(len);
    one[len - 1] = 1;
    const pMinus1 = Uint8Array.from(p);
    pMinus1[len - 1]! -= 1; // the MODP primes are odd
    expect(errNoOf(() => dhCompute(kp, new Uint8Array(len)))).toBe(ErrNo.INVALID_DH);
    expect(errNoOf(() => dhCompute(kp, one))).toBe(ErrNo.INVALID_DH);
    expect(errNoOf(() => dhCompute(kp, pMinus1))).toBe(ErrNo.INVALID_DH);
    expect(errNoOf(() => dhCompute(kp, p))).toBe(ErrNo.INVALID_DH);
    expect(errNoOf(() => dhCompute(kp, new Uint8Array(len).fill(0xff)))).toBe(ErrNo.INVALID_DH);
    expect(errNoOf(() => dhCompute(kp, dhGenerate(1).publicValue.subarray(1)))).toBe(ErrNo.INVALID_DH);
    expect(errNoOf(() => dhCompute(kp, dhGenerate(2).publicValue))).toBe(ErrNo.INVALID_DH);
  });

  it('a wiped key pair refuses to compute', () => {
    const a = dhGenerate(2);
    const b = dhGenerate(2);
    a.wipe();
    expect(() => dhCompute(a, b.publicValue)).toThrow(MikeyError);
  });

  it('maps RFC 3830 Table 6.4 DH-Group codes (OAKLEY 5 = 0, 1 = 1, 2 = 2) and our 14 to OAKLEY groups; unknown is INVALID_DH', () => {
    expect([0, 1, 2, 14].map(oakleyGroupOfCode)).toEqual([5, 1, 2, 14]);
    expect(([5, 1, 2, 14] as OakleyGroup[]).map(dhGroupCode)).toEqual([DhGroup.OAKLEY_5, DhGroup.OAKLEY_1, DhGroup.OAKLEY_2, DhGroup.MODP_2048]);
    expect([0, 1, 2, 14]).toEqual([DhGroup.OAKLEY_5, DhGroup.OAKLEY_1, DhGroup.OAKLEY_2, DhGroup.MODP_2048]);
    expect(errNoOf(() => oakleyGroupOfCode(3))).toBe(ErrNo.INVALID_DH);
    expect(errNoOf(() => dhGenerate(3 as OakleyGroup))).toBe(ErrNo.INVALID_DH);
  });

  it('the DH value lengths come from the one payload table (§6.4: 1536, 768, 1024 bits; 2048 for 14)', () => {
    for (const g of [5, 1, 2, 14] as OakleyGroup[]) {
      expect(groupValueLength(g)).toBe(dhValueLength(dhGroupCode(g)));
      expect(groupValueLength(g)).toBe(dhPrime(g).length);
    }
    expect([5, 1, 2, 14].map((g) => groupValueLength(g as OakleyGroup) * 8)).toEqual([1536, 768, 1024, 2048]);
  });

  it('inspect and JSON show no private state', () => {
    const kp = dhGenerate(1);
    expect(inspect(kp)).toBe('DhKeyPair { group: 1 }');
    expect(Object.keys(JSON.parse(JSON.stringify(kp))).sort()).toEqual(['group', 'publicValue']);
  });
});
