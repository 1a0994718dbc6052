// Shared fixtures of the MIKEY mode tests: a CA and two users' RSA
// certificates (SubjectAltName sip: URIs), PSK, clocks, option builders.
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { suiteByName } from '../../../src/kernel/algorithms.js';
import { type MikeyCertificate, loadPrivateKey, parseCertificate } from '../../../src/mikey/pke.js';
import { policyForSuite } from '../../../src/mikey/negotiate.js';
import { ReplayCache } from '../../../src/mikey/replay.js';
import type { Credentials } from '../../../src/mikey/modes/types.js';

export const ALICE = 'sip:alice@example.com';
export const BOB = 'sip:bob@example.com';
export const PSK = Uint8Array.from({ length: 20 }, (_, i) => i);
export const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);

function rsaPem(): { pub: string; priv: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { pub: publicKey.export({ type: 'spki', format: 'pem' }) as string, priv: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

function makeCert(subjectCn: string, uri: string | undefined, keys: { pub: string }, issuer: { cn: string; priv: string }, serial: string, isCa: boolean): string {
  const c = forge.pki.createCertificate();
  c.publicKey = forge.pki.publicKeyFromPem(keys.pub);
  c.serialNumber = serial;
  c.validity.notBefore = new Date(Math.min(T0, Date.now()) - 86400_000); // valid at T0 and now (the CLI uses the real clock)
  c.validity.notAfter = new Date(Math.max(T0, Date.now()) + 365 * 86400_000);
  c.setSubject([{ name: 'commonName', value: subjectCn }]);
  c.setIssuer([{ name: 'commonName', value: issuer.cn }]);
  const ext: object[] = [{ name: 'basicConstraints', cA: isCa }];
  if (uri) ext.push({ name: 'subjectAltName', altNames: [{ type: 6, value: uri }] });
  c.setExtensions(ext);
  c.sign(forge.pki.privateKeyFromPem(issuer.priv), forge.md.sha256.create());
  return forge.pki.certificateToPem(c);
}

export interface Pki {
  caPem: string;
  ca: MikeyCertificate;
  alice: { certPem: string; keyPem: string; cert: MikeyCertificate };
  bob: { certPem: string; keyPem: string; cert: MikeyCertificate };
}

let pki: Pki | undefined;
export function testPki(): Pki {
  if (pki) return pki;
  const caKeys = rsaPem();
  const caPem = makeCert('Test CA', undefined, caKeys, { cn: 'Test CA', priv: caKeys.priv }, '01', true);
  const user = (cn: string, uri: string, serial: string) => {
    const k = rsaPem();
    const certPem = makeCert(cn, uri, k, { cn: 'Test CA', priv: caKeys.priv }, serial, false);
    return { certPem, keyPem: k.priv, cert: parseCertificate(certPem) };
  };
  pki = { caPem, ca: parseCertificate(caPem), alice: user('alice', ALICE, '02'), bob: user('bob', BOB, '03') };
  return pki;
}

/** Credentials of `who` for every mode (PSK plus certificates). */
export function creds(who: 'alice' | 'bob', withPki: boolean): Credentials {
  if (!withPki) return { psk: PSK };
  const p = testPki();
  const me = p[who];
  const peer = who === 'alice' ? p.bob : p.alice;
  return { psk: PSK, certificate: me.cert, privateKey: loadPrivateKey(me.keyPem), peerCertificate: peer.cert, trustAnchors: [p.ca] };
}

export const policy = (suite = 'aes-cbc-128-hmac-sha256') => policyForSuite(suiteByName(suite));
export const cache = (now: () => number = () => T0) => new ReplayCache({ now });
