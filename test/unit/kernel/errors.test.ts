// Which kernel refusals of an SA install mean "this kernel cannot do the suite"
// (algorithmFailure), and what the resulting error says.
import { describe, expect, it } from 'vitest';
import { suiteByName } from '../../../src/kernel/algorithms.js';
import { KernelAlgorithmError, KernelBatchError, KernelError, KernelValidationError, algorithmFailure, batchFailure, kernelAlgorithmNames } from '../../../src/kernel/errors.js';

const GCM = suiteByName('aes-gcm-256');
const CBC = suiteByName('aes-cbc-128-hmac-sha1');

describe('algorithmFailure', () => {
  it('names the suite and the kernel algorithms for ENOSYS (no usable algorithm-table entry) and ENOENT (crypto API cannot build it)', () => {
    const e = algorithmFailure(new KernelError(2, 'NEWSA'), GCM);
    expect(e).toBeInstanceOf(KernelAlgorithmError);
    expect(e).toBeInstanceOf(KernelError);
    const k = e as KernelAlgorithmError;
    expect([k.suite, k.algorithms, k.errno, k.code, k.op]).toEqual(['aes-gcm-256', ['rfc4106(gcm(aes))'], 2, 'ENOENT', 'NEWSA']);
    expect(k.message).toBe('kernel cannot do aes-gcm-256 (rfc4106(gcm(aes))): NEWSA failed with ENOENT - crypto module missing or not loadable?');
    const s = algorithmFailure(new KernelError(38, 'SADB_ADD'), CBC) as KernelAlgorithmError;
    expect(s.message).toBe('kernel cannot do aes-cbc-128-hmac-sha1 (cbc(aes), hmac(sha1)): SADB_ADD failed with ENOSYS - crypto module missing or not loadable?');
  });

  it('takes EINVAL only when the kernel says it is about an algorithm, and keeps its words', () => {
    const named = algorithmFailure(new KernelError(22, 'NEWSA', 'Requested AEAD algorithm not found'), GCM);
    expect(named).toBeInstanceOf(KernelAlgorithmError);
    expect((named as Error).message).toMatch(/with EINVAL - .* kernel says "Requested AEAD algorithm not found"$/);
    const other = new KernelError(22, 'NEWSA', 'Invalid replay window');
    expect(algorithmFailure(other, GCM)).toBe(other);
    const bare = new KernelError(22, 'NEWSA');
    expect(algorithmFailure(bare, GCM)).toBe(bare);
  });

  it('passes every other failure through unchanged', () => {
    for (const e of [new KernelError(17, 'NEWSA'), new KernelError(1, 'NEWSA'), new KernelValidationError('spi', 'zero'), new Error('x')]) {
      expect(algorithmFailure(e, CBC)).toBe(e);
    }
    const already = algorithmFailure(new KernelError(38, 'NEWSA'), CBC);
    expect(algorithmFailure(already, GCM)).toBe(already);
  });

  it('kernelAlgorithmNames lists the AEAD or the cipher then the integrity algorithm', () => {
    expect(kernelAlgorithmNames(suiteByName('null-hmac-sha256'))).toEqual(['ecb(cipher_null)', 'hmac(sha256)']);
    expect(kernelAlgorithmNames(suiteByName('aes-gcm-128'))).toEqual(['rfc4106(gcm(aes))']);
  });
});

describe('batchFailure', () => {
  it('gives the only refusal itself, an algorithm failure before others, else every refusal with the kernel text of each', () => {
    const exists = new KernelError(17, 'NEWPOLICY', 'Policy already exists');
    const noent = new KernelError(2, 'NEWPOLICY');
    expect(batchFailure([exists])).toBe(exists);
    const alg = algorithmFailure(new KernelError(38, 'NEWSA'), GCM) as KernelError;
    expect(batchFailure([exists, alg])).toBe(alg);
    const both = batchFailure([exists, noent]);
    expect(both).toBeInstanceOf(KernelBatchError);
    expect(both).toBeInstanceOf(KernelError);
    expect(both).toMatchObject({ code: 'EEXIST', op: 'NEWPOLICY', extack: 'Policy already exists', failures: [exists, noent] });
    expect(both.message).toContain('kernel says "Policy already exists"');
    expect(both.message).toContain('ENOENT');
  });
});
