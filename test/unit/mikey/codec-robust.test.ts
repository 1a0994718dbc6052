import { describe, it, expect } from 'vitest';
import { MikeyError } from '../../../src/mikey/errors.js';
import { decodeMessage, encodeMessage, type MikeyMessage } from '../../../src/mikey/message.js';
import { fuzzOne } from '../../../src/mikey/fuzz-target.js';
import { ipsecPolicyToParams } from '../../../src/mikey/sp.js';
import { seq } from './helpers.js';


const valid: MikeyMessage = {
  hdr: {
    kind: 'hdr', version: 1, dataType: 0, v: true, prfFunc: 0, csbId: 0xdf8ba0ea,
    csIdMap: { type: 7, cs: [{ policyNo: 0, spi: 0x215e5ab3, spiSrcaddr: '0.0.0.0', spiDstaddr: '192.16.125.178' }, { policyNo: 0, spi: 0, spiSrcaddr: '192.16.125.178', spiDstaddr: '0.0.0.0' }] },
  },
  payloads: [
    { kind: 't', tsType: 0, tsValue: 0xc5c56d0e4fdf8f47n },
    { kind: 'sp', policyNo: 0, protType: 7, params: ipsecPolicyToParams({ satype: 3, mode: 1, flags: 0, ealg: 3, ekeyl: 24, aalg: 3, akeyl: 20 }) },
    { kind: 'rand', rand: seq(16) },
    { kind: 'id', idType: 1, id: seq(12) },
    { kind: 'dh', group: 1, value: seq(96), kv: { kvType: 2, validFrom: seq(2), validTo: seq(3) } },
    { kind: 'kemac', encrAlg: 1, encrData: seq(40), macAlg: 1, mac: seq(20) },
    { kind: 'sign', sType: 0, signature: seq(64) },
  ],
};

/** xorshift32: deterministic, seedable. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function onlyMikeyErrors(b: Uint8Array): void {
  try {
    decodeMessage(b);
  } catch (e) {
    if (!(e instanceof MikeyError)) throw e;
  }
}

describe('robustness', () => {
  it('every proper prefix of a valid message is a MikeyError', () => {
    const bytes = encodeMessage(valid);
    for (let n = 0; n < bytes.length; n++) {
      expect(() => decodeMessage(bytes.subarray(0, n)), `prefix ${n}`).toThrow(MikeyError);
    }
    expect(() => decodeMessage(bytes)).not.toThrow();
  });

  it('20 000 random inputs raise nothing but MikeyError; fuzzOne holds', () => {
    const next = prng(0x5eed);
    const bytes = encodeMessage(valid);
    for (let i = 0; i < 20000; i++) {
      let b: Uint8Array;
      if (i % 2 === 0) {
        // pure noise, with a plausible HDR start half of the time
        b = Uint8Array.from({ length: next() % 200 }, () => next() & 0xff);
        if (i % 4 === 0 && b.length > 2) [b[0], b[1]] = [1, next() % 11];
      } else {
        // mutate a valid message: flip 1-4 bytes
        b = bytes.slice();
        for (let k = 1 + (next() % 4); k > 0; k--) b[next() % b.length] = next() & 0xff;
      }
      onlyMikeyErrors(b);
      fuzzOne(b);
    }
  });

  it('fuzzOne accepts valid messages in both byte orders', () => {
    expect(() => fuzzOne(encodeMessage(valid))).not.toThrow();
    expect(() => fuzzOne(encodeMessage(valid, { minisipByteSwap: true }))).not.toThrow();
  });
});
