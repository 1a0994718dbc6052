/**
 * A throw-away CA and two user certificates (RSA-2048, SubjectAltName sip:
 * URI) for benchmarking the certificate modes (DH, PKE).  Made fresh per run.
 */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import type { Credentials } from '../mikey/modes/types.js';
import { loadPrivateKey, parseCertificate } from '../mikey/pke.js';

interface Pem {
  pub: string;
  priv: string;
}

function rsa(): Pem {
  const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { pub: k.publicKey.export({ type: 'spki', format: 'pem' }) as string, priv: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

function cert(cn: string, uri: string | undefined, key: Pem, issuer: { cn: string; priv: string }, serial: string): string {
  const c = forge.pki.createCertificate();
  c.publicKey = forge.pki.publicKeyFromPem(key.pub);
  c.serialNumber = serial;
  c.validity.notBefore = new Date(Date.now() - 86_400_000);
  c.validity.notAfter = new Date(Date.now() + 86_400_000);
  c.setSubject([{ name: 'commonName', value: cn }]);
  c.setIssuer([{ name: 'commonName', value: issuer.cn }]);
  c.setExtensions([{ name: 'basicConstraints', cA: uri === undefined }, ...(uri ? [{ name: 'subjectAltName', altNames: [{ type: 6, value: uri }] }] : [])]);
  c.sign(forge.pki.privateKeyFromPem(issuer.priv), forge.md.sha256.create());
  return forge.pki.certificateToPem(c);
}

/** PEM of a fresh CA and of alice's and bob's certificate + private key (for sipsecd config files). */
export function benchPkiPem(aliceUri: string, bobUri: string): { ca: string; alice: { cert: string; key: string }; bob: { cert: string; key: string } } {
  const caKey = rsa();
  const ca = cert('sipsec bench CA', undefined, caKey, { cn: 'sipsec bench CA', priv: caKey.priv }, '01');
  const user = (uri: string, serial: string) => {
    const k = rsa();
    return { cert: cert(uri, uri, k, { cn: 'sipsec bench CA', priv: caKey.priv }, serial), key: k.priv };
  };
  return { ca, alice: user(aliceUri, '02'), bob: user(bobUri, '03') };
}

/** Credentials for alice and bob (PSK plus certificates), each trusting the CA and knowing the other's certificate. */
export function benchPki(aliceUri: string, bobUri: string, psk: Uint8Array): { alice: Credentials; bob: Credentials } {
  const pem = benchPkiPem(aliceUri, bobUri);
  const ca = parseCertificate(pem.ca);
  const a = { cert: parseCertificate(pem.alice.cert), key: loadPrivateKey(pem.alice.key) };
  const b = { cert: parseCertificate(pem.bob.cert), key: loadPrivateKey(pem.bob.key) };
  return {
    alice: { psk, certificate: a.cert, privateKey: a.key, peerCertificate: b.cert, trustAnchors: [ca] },
    bob: { psk, certificate: b.cert, privateKey: b.key, peerCertificate: a.cert, trustAnchors: [ca] },
  };
}
