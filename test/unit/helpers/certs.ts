/**
 * Test PKI for MIKEY PKE/SIGN tests: a CA and leaf certificates with SIP URI
 * SubjectAltNames, made at test time.  RSA keys come from node:crypto
 * (native, fast); node-forge builds and signs the certificates.  Nothing here
 * is used outside tests.
 */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface TestIdentity {
  certPem: string;
  keyPem: string;
}

export interface TestPki {
  ca: TestIdentity;
  alice: TestIdentity;
  bob: TestIdentity;
  /** A second, untrusted CA and a leaf it issued claiming alice's URI. */
  rogueCa: TestIdentity;
  rogueAlice: TestIdentity;
  /** Bob's key in a certificate that expired a day before `now`. */
  expiredBob: TestIdentity;
  now: Date;
}

function rsaKeyPem(bits = 2048): string {
  return generateKeyPairSync('rsa', { modulusLength: bits }).privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
}

let serial = 1;

function makeCert(opts: {
  cn: string;
  keyPem: string;
  issuer?: { cert: forge.pki.Certificate; keyPem: string };
  sipUri?: string;
  isCa: boolean;
  notBefore: Date;
  notAfter: Date;
}): forge.pki.Certificate {
  const key = forge.pki.privateKeyFromPem(opts.keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = (serial++).toString(16).padStart(2, '0');
  cert.validity.notBefore = opts.notBefore;
  cert.validity.notAfter = opts.notAfter;
  const subject = [{ name: 'commonName', value: opts.cn }];
  cert.setSubject(subject);
  cert.setIssuer(opts.issuer ? opts.issuer.cert.subject.attributes : subject);
  const exts: object[] = [{ name: 'basicConstraints', cA: opts.isCa, critical: true }];
  exts.push(
    opts.isCa
      ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
  );
  if (opts.sipUri) exts.push({ name: 'subjectAltName', altNames: [{ type: 6, value: opts.sipUri }] });
  cert.setExtensions(exts);
  cert.sign(forge.pki.privateKeyFromPem(opts.issuer ? opts.issuer.keyPem : opts.keyPem), forge.md.sha256.create());
  return cert;
}

/** Build the whole test PKI (5 RSA-2048 key generations). */
export function makeTestPki(now = new Date()): TestPki {
  const day = 86_400_000;
  const from = new Date(now.getTime() - day);
  const to = new Date(now.getTime() + 365 * day);
  const ident = (cert: forge.pki.Certificate, keyPem: string): TestIdentity => ({
    certPem: forge.pki.certificateToPem(cert),
    keyPem,
  });

  const caKey = rsaKeyPem();
  const caCert = makeCert({ cn: 'sipsec test CA', keyPem: caKey, isCa: true, notBefore: from, notAfter: to });
  const aliceKey = rsaKeyPem();
  const bobKey = rsaKeyPem();
  const issuer = { cert: caCert, keyPem: caKey };
  const aliceCert = makeCert({ cn: 'alice', keyPem: aliceKey, issuer, sipUri: 'sip:alice@example.com', isCa: false, notBefore: from, notAfter: to });
  const bobCert = makeCert({ cn: 'bob', keyPem: bobKey, issuer, sipUri: 'sip:bob@example.com', isCa: false, notBefore: from, notAfter: to });
  const expiredBob = makeCert({
    cn: 'bob',
    keyPem: bobKey,
    issuer,
    sipUri: 'sip:bob@example.com',
    isCa: false,
    notBefore: new Date(now.getTime() - 30 * day),
    notAfter: from,
  });
  const rogueKey = rsaKeyPem();
  const rogueCert = makeCert({ cn: 'rogue CA', keyPem: rogueKey, isCa: true, notBefore: from, notAfter: to });
  const rogueAlice = makeCert({
    cn: 'alice',
    keyPem: aliceKey,
    issuer: { cert: rogueCert, keyPem: rogueKey },
    sipUri: 'sip:alice@example.com',
    isCa: false,
    notBefore: from,
    notAfter: to,
  });
  return {
    ca: ident(caCert, caKey),
    alice: ident(aliceCert, aliceKey),
    bob: ident(bobCert, bobKey),
    rogueCa: ident(rogueCert, rogueKey),
    rogueAlice: ident(rogueAlice, aliceKey),
    expiredBob: ident(expiredBob, bobKey),
    now,
  };
}
