/**
 * Public-key building blocks of MIKEY's PKE mode (RFC 3830 §3.2) and of the
 * SIGN payload (DH mode §3.3, PKE mode): the envelope key encryption
 * (§4.2.5, PKE payload §6.3), digital signatures (§4.2.6, SIGN payload §6.5),
 * and the certificates that carry the keys (CERT payload §6.7).
 *
 *   Envelope key: RSAES-PKCS1-v1_5 (RFC 3447 §7.2).  RFC 3830 §4.2.5: "It
 *   is MANDATORY to support RSA PKCS#1, v1.5, and it is RECOMMENDED to also
 *   support RSA OAEP"; the PKE payload does not say which was used ("the
 *   encryption algorithm used is implicit from the certificate", §6.3), so
 *   we use the mandatory one only (OAEP: not implemented).  Decryption
 *   uses IMPLICIT REJECTION: a padding error or a wrong length yields a
 *   random key of the expected length instead of an error, so the failure
 *   shows up only later as a KEMAC MAC failure (AUTH_FAILURE).  That denies a
 *   Bleichenbacher/Marvin padding oracle.  (node:crypto refuses PKCS#1 v1.5
 *   decryption since CVE-2023-46809, so node-forge does the RSA here.)
 *
 *   SIGN "S type" (§6.5, Wireshark names; `SignType` in payloads/sign.ts):
 *     0 = RSA/PKCS#1/1.5 (RSASSA-PKCS1-v1_5),  1 = RSA/PSS (RSASSA-PSS,
 *     MGF1 with the same hash, salt length = hash length).
 *   The SIGN payload names no hash; RFC 3830 §4.2.1 "it is MANDATORY to
 *   implement SHA-1 as the default hash function", so `DEFAULT_SIGN_HASH`
 *   is 'sha1'; both ends may agree on 'sha256' by configuration.  What is
 *   signed is the caller's: §5.2 "the entire MIKEY message, except the
 *   MAC/Signature field" (modes/signed.ts).
 *
 *   Certificates: X.509v3, RSA keys, parsed and chain-checked with node-forge
 *   against configured trust anchors; the identity is taken from the
 *   SubjectAltName URIs (sip:/sips:) so the mode code can match it with IDi /
 *   IDr.
 *
 * Failures: unparsable or non-RSA certificates are INVALID_CERT; an
 * untrusted/expired chain, an identity mismatch or a bad signature are
 * AUTH_FAILURE; an unknown S type is UNSPECIFIED (RFC 3830 has no code).
 */
import { constants, createPrivateKey, createPublicKey, publicEncrypt, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { MikeyError, ErrNo, malformed } from './errors.js';
import { SignType } from './payloads/sign.js';
export type SignHash = 'sha1' | 'sha256';
export const DEFAULT_SIGN_HASH: SignHash = 'sha1';

/** A parsed X.509v3 certificate.  Holds public data only. */
export interface MikeyCertificate {
  /** The DER encoding (what goes in a CERT payload, type X.509v3). */
  readonly der: Uint8Array;
  /** The public key as a node KeyObject. */
  readonly publicKey: KeyObject;
  /** Subject common name, if any. */
  readonly subjectCn: string | undefined;
  /** SubjectAltName URIs (e.g. 'sip:alice@example.com'). */
  readonly uris: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** @internal node-forge's view, for chain checking. */
  readonly forgeCert: forge.pki.Certificate;
}

const certError = (detail: string): MikeyError => new MikeyError(ErrNo.INVALID_CERT, detail);
const authError = (detail: string): MikeyError => new MikeyError(ErrNo.AUTH_FAILURE, detail);

function isPem(input: Uint8Array | string): input is string {
  return typeof input === 'string';
}

/**
 * Parse one certificate from PEM text or DER bytes.  MikeyError(INVALID_CERT)
 * for anything that is not a well-formed X.509 certificate with an RSA key.
 */
export function parseCertificate(input: Uint8Array | string): MikeyCertificate {
  let fc: forge.pki.Certificate;
  let der: Uint8Array;
  try {
    der = isPem(input) ? new Uint8Array(Buffer.from(forge.pki.pemToDer(input).getBytes(), 'binary')) : new Uint8Array(input);
    // node-forge >= 1.3 takes an options object (its typings still say boolean).
    const fromDer = forge.asn1.fromDer as unknown as (b: forge.util.ByteStringBuffer, o: object) => forge.asn1.Asn1;
    const asn1 = fromDer(forge.util.createBuffer(Buffer.from(der).toString('binary')), { strict: true, parseAllBytes: true });
    fc = forge.pki.certificateFromAsn1(asn1);
  } catch {
    throw certError('certificate cannot be parsed as an X.509v3 certificate with an RSA key');
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(forge.pki.publicKeyToPem(fc.publicKey));
  } catch {
    throw certError('certificate public key is not a usable RSA key');
  }
  const cn = fc.subject.getField('CN') as { value?: unknown } | null;
  const san = fc.getExtension('subjectAltName') as { altNames?: { type: number; value: string }[] } | undefined;
  const uris = (san?.altNames ?? []).filter((n) => n.type === 6).map((n) => n.value);
  return {
    der,
    publicKey,
    subjectCn: typeof cn?.value === 'string' ? cn.value : undefined,
    uris,
    notBefore: fc.validity.notBefore,
    notAfter: fc.validity.notAfter,
    forgeCert: fc,
  };
}

/** Parse every certificate of a PEM bundle (trust anchors, chains). */
export function parseCertificateBundle(pem: string): MikeyCertificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) throw certError('no PEM certificate found');
  return blocks.map(parseCertificate);
}

/**
 * Check `chain` (leaf first, then intermediates, as received in CERT
 * payloads) against `trustAnchors` at time `nowMs`: signatures, validity
 * dates, CA basic constraints.  MikeyError(AUTH_FAILURE) if it does not lead
 * to an anchor.
 */
export function verifyCertificateChain(
  chain: readonly MikeyCertificate[],
  trustAnchors: readonly MikeyCertificate[],
  nowMs: number = Date.now(),
): void {
  if (chain.length === 0) throw authError('empty certificate chain');
  if (trustAnchors.length === 0) throw authError('no trust anchors configured');
  let ok = false;
  try {
    const store = forge.pki.createCaStore(trustAnchors.map((a) => a.forgeCert));
    ok = forge.pki.verifyCertificateChain(
      store,
      chain.map((c) => c.forgeCert),
      { validityCheckDate: new Date(nowMs) },
    );
  } catch (e) {
    const msg = (e as { message?: unknown }).message;
    throw authError(`certificate chain rejected${typeof msg === 'string' ? `: ${msg}` : ''}`);
  }
  if (!ok) throw authError('certificate chain rejected');
}

/** Normalise a SIP/SIPS URI for identity comparison: scheme and host lower-cased, parameters and headers dropped. */
export function normalizeSipUri(uri: string): string | undefined {
  const m = /^(sips?):(?:([^@;?]+)@)?([^;?]+)/i.exec(uri.trim());
  if (!m) return undefined;
  const [, scheme, user, host] = m as unknown as [string, string, string | undefined, string];
  return `${scheme.toLowerCase()}:${user !== undefined ? `${user}@` : ''}${host.toLowerCase()}`;
}

/**
 * The certificate names `id` (a SIP URI from an ID payload or the SIP
 * From/To header) in a SubjectAltName URI.  MikeyError(AUTH_FAILURE) if not.
 */
export function checkCertificateIdentity(cert: MikeyCertificate, id: string): void {
  const want = normalizeSipUri(id);
  if (want !== undefined && cert.uris.some((u) => normalizeSipUri(u) === want)) return;
  throw authError(`certificate does not name ${JSON.stringify(id)}`);
}

/** A private RSA key as a node KeyObject (prints as "KeyObject", never the key). */
export function loadPrivateKey(pem: string): KeyObject {
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'rsa') throw new Error('not RSA');
    return key;
  } catch {
    throw malformed('private key is not an RSA key in PEM form');
  }
}

/** §4.2.5: encrypt the envelope key to the responder's certificate (RSAES-PKCS1-v1_5). */
export function envelopeEncrypt(recipient: MikeyCertificate, envKey: Uint8Array): Uint8Array {
  try {
    return new Uint8Array(publicEncrypt({ key: recipient.publicKey, padding: constants.RSA_PKCS1_PADDING }, envKey));
  } catch {
    throw malformed('envelope key does not fit the recipient RSA key');
  }
}

/**
 * §4.2.5: decrypt the PKE payload's data.  Implicit rejection: returns a
 * random key of `envKeyLen` bytes when the padding or the length is wrong,
 * so that the KEMAC MAC check fails instead (see the module comment).
 */
export function envelopeDecrypt(privateKey: KeyObject, data: Uint8Array, envKeyLen: number): Uint8Array {
  if (!Number.isInteger(envKeyLen) || envKeyLen <= 0) throw malformed(`envelope key length ${envKeyLen} invalid`);
  const fallback = new Uint8Array(randomBytes(envKeyLen));
  let plain: string | undefined;
  let fk: forge.pki.rsa.PrivateKey | undefined;
  let pem: string | undefined;
  try {
    pem = privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
    fk = forge.pki.privateKeyFromPem(pem);
    plain = fk.decrypt(Buffer.from(data).toString('binary'), 'RSAES-PKCS1-V1_5');
  } catch {
    plain = undefined;
  }
  pem = undefined;
  fk = undefined;
  if (plain === undefined || plain.length !== envKeyLen) return fallback;
  const key = new Uint8Array(Buffer.from(plain, 'binary'));
  fallback.fill(0);
  return key;
}

function signOptions(sType: number, key: KeyObject): { key: KeyObject; padding: number; saltLength?: number } {
  switch (sType) {
    case SignType.RSA_PKCS1_1_5:
      return { key, padding: constants.RSA_PKCS1_PADDING };
    case SignType.RSA_PSS:
      return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
    default:
      throw malformed(`SIGN S type ${sType} is not supported`);
  }
}

/** §4.2.6: sign `data` (the message up to the SIGN payload's signature field). */
export function signMessage(privateKey: KeyObject, data: Uint8Array, sType: number, hash: SignHash = DEFAULT_SIGN_HASH): Uint8Array {
  return new Uint8Array(sign(hash, data, signOptions(sType, privateKey)));
}

/** §4.2.6: verify a SIGN payload's signature with the signer's certificate; MikeyError(AUTH_FAILURE) if bad. */
export function verifyMessageSignature(
  signer: MikeyCertificate,
  data: Uint8Array,
  signature: Uint8Array,
  sType: number,
  hash: SignHash = DEFAULT_SIGN_HASH,
): void {
  const opts = signOptions(sType, signer.publicKey);
  let ok = false;
  try {
    ok = verify(hash, data, opts, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw authError('signature verification failed');
}
