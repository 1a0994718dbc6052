import { describe, it, expect } from 'vitest';
import { inspect } from 'node:util';
import {
  dhGenerate,
  dhCompute,
  dhValueLength,
  dhPrime,
  oakleyGroupOfCode,
  mikeyDhGroupCode,
  DhGroupCode,
  type OakleyGroup,
} from '../../../src/mikey/dh.js';
import { MikeyError, ErrNo } from '../../../src/mikey/errors.js';

function errNoOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof MikeyError) return e.errNo;
    throw e;
  }
  return undefined;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('Diffie-Hellman (RFC 3830 §3.3, §6.4)', () => {
  for (const group of [1, 2, 5, 14] as OakleyGroup[]) {
    it(`both sides agree in OAKLEY group ${group}, values padded to ${dhValueLength(group)} bytes`, () => {
      const i = dhGenerate(group);
      const r = dhGenerate(group);
      expect(i.publicValue.length).toBe(dhValueLength(group));
      expect(r.publicValue.length).toBe(dhValueLength(group));
      const si = dhCompute(i, r.publicValue);
      const sr = dhCompute(r, i.publicValue);
      expect(si.length).toBe(dhValueLength(group));
      expect(hex(si)).toBe(hex(sr));
      expect(si.some((b) => b !== 0)).toBe(true);
      i.wipe();
      r.wipe();
    }, 30_000);
  }

  it('rejects 0, 1, p-1, p and a short value with INVALID_DH', () => {
    const kp = dhGenerate(1);
    const len = dhValueLength(1);
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

  it('maps §6.4 DH-Group codes to OAKLEY groups; unknown code/group is INVALID_DH', () => {
    expect(oakleyGroupOfCode(DhGroupCode.OAKLEY_5)).toBe(5);
    expect(oakleyGroupOfCode(1)).toBe(1);
    expect(oakleyGroupOfCode(2)).toBe(2);
    expect(mikeyDhGroupCode(5)).toBe(0);
    expect(errNoOf(() => oakleyGroupOfCode(3))).toBe(ErrNo.INVALID_DH);
    expect(errNoOf(() => mikeyDhGroupCode(14))).toBe(ErrNo.INVALID_DH);
    expect(errNoOf(() => dhGenerate(3 as OakleyGroup))).toBe(ErrNo.INVALID_DH);
  });

  it('inspect and JSON show no private state', () => {
    const kp = dhGenerate(1);
    expect(inspect(kp)).toBe('DhKeyPair { group: 1 }');
    expect(Object.keys(JSON.parse(JSON.stringify(kp))).sort()).toEqual(['group', 'publicValue']);
  });
});
