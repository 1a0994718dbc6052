/**
 * MIKEY credentials of each configured peer, built once at start-up from the
 * config (PSK bytes, certificates, private key, trust anchors).  The PSK and
 * private key stay in the config's `Secret`s; nothing here copies them.
 */
import type { Credentials } from '../mikey/modes/types.js';
import { loadPrivateKey, parseCertificate, parseCertificateBundle } from '../mikey/pke.js';
import type { PeerConfig } from './config.js';

export function credentialsOf(peer: PeerConfig): Credentials {
  const chain = peer.certificate ? parseCertificateBundle(peer.certificate.pem) : [];
  return {
    ...(peer.psk ? { psk: peer.psk.bytes() } : {}),
    ...(chain[0] ? { certificate: chain[0], chain: chain.slice(1) } : {}),
    ...(peer.privateKey ? { privateKey: loadPrivateKey(new TextDecoder().decode(peer.privateKey.pem.bytes())) } : {}),
    ...(peer.peerCertificate ? { peerCertificate: parseCertificate(peer.peerCertificate.pem) } : {}),
    trustAnchors: peer.trustAnchors.flatMap((a) => parseCertificateBundle(a.pem)),
  };
}
