/**
 * Certificates and signatures of the PKE (RFC 3830 §3.2) and DH (§3.3)
 * modes: our CERT payloads (leaf then intermediates, type X.509v3), the SIGN
 * payload covering the whole message up to the signature (§5.2), and the
 * peer's side: chain to a trust anchor, the leaf names the sender's ID
 * payload, signature valid (all AUTH_FAILURE otherwise, pke.ts).
 */
import { ErrNo, MikeyError } from '../errors.js';
import type { DecodedMessage } from '../message.js';
import { type CertPayload, CertType } from '../payloads/id.js';
import { type SignPayload, SignType } from '../payloads/sign.js';
import {
  type MikeyCertificate,
  checkCertificateIdentity,
  parseCertificate,
  signMessage,
  verifyCertificateChain,
  verifyMessageSignature,
} from '../pke.js';
import { coveredBytes, required } from './common.js';
import type { Credentials } from './types.js';

function ownKey(creds: Credentials): { cert: MikeyCertificate; key: NonNullable<Credentials['privateKey']> } {
  if (!creds.certificate || !creds.privateKey) throw new MikeyError(ErrNo.INVALID_CERT, 'no certificate and private key configured');
  return { cert: creds.certificate, key: creds.privateKey };
}

/** Our CERT payloads: leaf first, then the configured intermediates. */
export function certPayloads(creds: Credentials): CertPayload[] {
  const { cert } = ownKey(creds);
  return [cert, ...(creds.chain ?? [])].map((c) => ({ kind: 'cert', certType: CertType.X509V3, cert: c.der }));
}

/** A SIGN payload with a zero signature of our key's size, to be filled by `signer`. */
export function signPlaceholder(creds: Credentials): SignPayload {
  const bits = ownKey(creds).key.asymmetricKeyDetails?.modulusLength;
  if (!bits) throw new MikeyError(ErrNo.INVALID_CERT, 'private key has no RSA modulus');
  return { kind: 'sign', sType: creds.signType ?? SignType.RSA_PKCS1_1_5, signature: new Uint8Array(Math.ceil(bits / 8)) };
}

export function signer(creds: Credentials): (covered: Uint8Array) => Uint8Array {
  const { key } = ownKey(creds);
  return (covered) => signMessage(key, covered, creds.signType ?? SignType.RSA_PKCS1_1_5, creds.signHash);
}

/**
 * The sender's certificate from its CERT payloads, checked against our
 * trust anchors at `nowMs` and against the identity `claimedId` (the
 * sender's ID payload); then the SIGN payload (which must be last).
 */
export function verifySigned(bytes: Uint8Array, msg: DecodedMessage, creds: Credentials, claimedId: string, nowMs: number): MikeyCertificate {
  const certs = msg.payloads.filter((p): p is CertPayload => p.kind === 'cert');
  if (certs.length === 0) throw new MikeyError(ErrNo.INVALID_CERT, 'no CERT payload');
  for (const c of certs) {
    if (c.certType !== CertType.X509V3 && c.certType !== CertType.X509V3_SIGN) {
      throw new MikeyError(ErrNo.INVALID_CERT, `certificate type ${c.certType} not supported`);
    }
  }
  const chain = certs.map((c) => parseCertificate(c.cert));
  verifyCertificateChain(chain, creds.trustAnchors ?? [], nowMs);
  checkCertificateIdentity(chain[0]!, claimedId);
  const sign = required(msg, 'sign');
  verifyMessageSignature(chain[0]!, coveredBytes(bytes, msg), sign.signature, sign.sType, creds.signHash);
  return chain[0]!;
}
