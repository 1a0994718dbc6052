import { describe, it, expect, beforeAll } from 'vitest';
import { randomBytes, constants, publicEncrypt } from 'node:crypto';
import { inspect } from 'node:util';
import {
  parseCertificate,
  parseCertificateBundle,
  verifyCertificateChain,
  checkCertificateIdentity,
  normalizeSipUri,
  loadPrivateKey,
  envelopeEncrypt,
  envelopeDecrypt,
  signMessage,
  verifyMessageSignature,
  DEFAULT_SIGN_HASH,
  type MikeyCertificate,
} from '../../../src/mikey/pke.js';
import { SignType } from '../../../src/mikey/payloads/sign.js';
import { ErrNo } from '../../../src/mikey/errors.js';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { errNoOf, hex } from './helpers.js';

let pki: TestPki;
let ca: MikeyCertificate;
let alice: MikeyCertificate;
let bob: MikeyCertificate;

beforeAll(() => {
  pki = makeTestPki(new Date(Date.UTC(2026, 10, 29)));
  ca = parseCertificate(pki.ca.certPem);
  alice = parseCertificate(pki.alice.certPem);
  bob = parseCertificate(pki.bob.certPem);
}, 60_000);

describe('certificates (RFC 3830 §6.7)', () => {
  it('parses PEM and DER alike and extracts the SIP URI SubjectAltName', () => {
    expect(alice.uris).toEqual(['sip:alice@example.com']);
    expect(alice.subjectCn).toBe('alice');
    const fromDer = parseCertificate(alice.der);
    expect(hex(fromDer.der)).toBe(hex(alice.der));
    expect(fromDer.uris).toEqual(alice.uris);
    expect(parseCertificateBundle(pki.ca.certPem + pki.alice.certPem)).toHaveLength(2);
  });

  it('garbage, truncated DER and trailing bytes are INVALID_CERT', () => {
    expect(errNoOf(() => parseCertificate(randomBytes(100)))).toBe(ErrNo.INVALID_CERT);
    expect(errNoOf(() => parseCertificate(alice.der.subarray(0, alice.der.length - 10)))).toBe(ErrNo.INVALID_CERT);
    expect(errNoOf(() => parseCertificate(Uint8Array.from([...alice.der, 0])))).toBe(ErrNo.INVALID_CERT);
    expect(errNoOf(() => parseCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'))).toBe(ErrNo.INVALID_CERT);
    expect(errNoOf(() => parseCertificateBundle('nothing'))).toBe(ErrNo.INVALID_CERT);
  });

  it('a leaf issued by the trusted CA verifies', () => {
    expect(() => verifyCertificateChain([alice], [ca], pki.now.getTime())).not.toThrow();
  });

  it('an untrusted issuer, an expired leaf, or no anchors is AUTH_FAILURE', () => {
    const rogue = parseCertificate(pki.rogueAlice.certPem);
    expect(errNoOf(() => verifyCertificateChain([rogue], [ca], pki.now.getTime()))).toBe(ErrNo.AUTH_FAILURE);
    const expired = parseCertificate(pki.expiredBob.certPem);
    expect(errNoOf(() => verifyCertificateChain([expired], [ca], pki.now.getTime()))).toBe(ErrNo.AUTH_FAILURE);
    expect(errNoOf(() => verifyCertificateChain([alice], [], pki.now.getTime()))).toBe(ErrNo.AUTH_FAILURE);
    expect(errNoOf(() => verifyCertificateChain([], [ca], pki.now.getTime()))).toBe(ErrNo.AUTH_FAILURE);
    // A leaf is not a CA: bob's certificate cannot vouch for anything.
    expect(errNoOf(() => verifyCertificateChain([alice], [bob], pki.now.getTime()))).toBe(ErrNo.AUTH_FAILURE);
  });

  it('identity check matches the SIP URI (host case-insensitive, params ignored) and nothing else', () => {
    expect(() => checkCertificateIdentity(alice, 'sip:alice@EXAMPLE.com;transport=tcp')).not.toThrow();
    expect(errNoOf(() => checkCertificateIdentity(alice, 'sip:bob@example.com'))).toBe(ErrNo.AUTH_FAILURE);
    expect(errNoOf(() => checkCertificateIdentity(alice, 'sip:Alice@example.com'))).toBe(ErrNo.AUTH_FAILURE);
    expect(errNoOf(() => checkCertificateIdentity(alice, 'sips:alice@example.com'))).toBe(ErrNo.AUTH_FAILURE);
    expect(errNoOf(() => checkCertificateIdentity(alice, 'alice'))).toBe(ErrNo.AUTH_FAILURE);
    expect(normalizeSipUri('SIP:bob@Host.Example:5060;lr?x=y')).toBe('sip:bob@host.example:5060');
  });
});

describe('envelope key (RFC 3830 §4.2.5, RSAES-PKCS1-v1_5)', () => {
  it('round-trips an envelope key to the responder', () => {
    const env = randomBytes(20);
    const ct = envelopeEncrypt(bob, env);
    expect(ct.length).toBe(256);
    const key = loadPrivateKey(pki.bob.keyPem);
    expect(hex(envelopeDecrypt(key, ct, 20))).toBe(hex(env));
  });

  it('a flipped bit, the wrong private key or a wrong length yields an unrelated random key (implicit rejection)', () => {
    const env = randomBytes(20);
    const ct = envelopeEncrypt(bob, env);
    const bad = Uint8Array.from(ct);
    bad[100]! ^= 0x01;
    const k1 = envelopeDecrypt(loadPrivateKey(pki.bob.keyPem), bad, 20);
    expect(k1.length).toBe(20);
    expect(hex(k1)).not.toBe(hex(env));
    const k2 = envelopeDecrypt(loadPrivateKey(pki.alice.keyPem), ct, 20);
    expect(hex(k2)).not.toBe(hex(env));
    const k3 = envelopeDecrypt(loadPrivateKey(pki.bob.keyPem), ct, 16);
    expect(k3.length).toBe(16);
    expect(hex(k3)).not.toBe(hex(env.subarray(0, 16)));
  });

  it('decrypts what a standard PKCS#1 v1.5 encryptor produced (node:crypto)', () => {
    const env = randomBytes(16);
    const ct = publicEncrypt({ key: bob.publicKey, padding: constants.RSA_PKCS1_PADDING }, env);
    expect(hex(envelopeDecrypt(loadPrivateKey(pki.bob.keyPem), ct, 16))).toBe(hex(env));
  });

  it('private keys do not print', () => {
    const key = loadPrivateKey(pki.bob.keyPem);
    expect(inspect(key)).not.toContain('PRIVATE');
    expect(JSON.stringify({ key })).not.toContain('PRIVATE');
    expect(errNoOf(() => loadPrivateKey('not a key'))).toBe(ErrNo.UNSPECIFIED);
  });
});

describe('signatures (RFC 3830 §4.2.6, SIGN §6.5)', () => {
  const msg = randomBytes(300);
  for (const [name, sType] of [['RSA/PKCS#1/1.5', SignType.RSA_PKCS1_1_5], ['RSA/PSS', SignType.RSA_PSS]] as const) {
    for (const hash of ['sha1', 'sha256'] as const) {
      it(`${name} with ${hash}: verifies, and a one-bit flip in signature or message is AUTH_FAILURE`, () => {
        const sig = signMessage(loadPrivateKey(pki.alice.keyPem), msg, sType, hash);
        expect(sig.length).toBe(256);
        expect(() => verifyMessageSignature(alice, msg, sig, sType, hash)).not.toThrow();
        const badSig = Uint8Array.from(sig);
        badSig[7]! ^= 0x04;
        expect(errNoOf(() => verifyMessageSignature(alice, msg, badSig, sType, hash))).toBe(ErrNo.AUTH_FAILURE);
        const badMsg = Uint8Array.from(msg);
        badMsg[299]! ^= 0x01;
        expect(errNoOf(() => verifyMessageSignature(alice, badMsg, sig, sType, hash))).toBe(ErrNo.AUTH_FAILURE);
        expect(errNoOf(() => verifyMessageSignature(bob, msg, sig, sType, hash))).toBe(ErrNo.AUTH_FAILURE);
      });
    }
  }

  it('PKCS#1 v1.5 signatures are deterministic; hash mismatch and S type mismatch fail', () => {
    const key = loadPrivateKey(pki.alice.keyPem);
    const a = signMessage(key, msg, SignType.RSA_PKCS1_1_5);
    expect(hex(signMessage(key, msg, SignType.RSA_PKCS1_1_5, DEFAULT_SIGN_HASH))).toBe(hex(a));
    expect(errNoOf(() => verifyMessageSignature(alice, msg, a, SignType.RSA_PKCS1_1_5, 'sha256'))).toBe(ErrNo.AUTH_FAILURE);
    expect(errNoOf(() => verifyMessageSignature(alice, msg, a, SignType.RSA_PSS))).toBe(ErrNo.AUTH_FAILURE);
    expect(errNoOf(() => signMessage(key, msg, 2))).toBe(ErrNo.UNSPECIFIED);
    expect(errNoOf(() => verifyMessageSignature(alice, msg, a.subarray(1), SignType.RSA_PKCS1_1_5))).toBe(ErrNo.AUTH_FAILURE);
  });
});
