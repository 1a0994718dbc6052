/**
 * The one table of ESP algorithm suites sipsec negotiates and installs.
 *
 * Each suite ties together:
 *  - its RFC 2367 PF_KEY numbers (SADB_EALG_* / SADB_AALG_*), which are also
 *    the values of the MIKEY IPsec SP parameters EALG (type 3) and AALG
 *    (type 5) of seed 003 §5.1: EALG DES 2, 3DES-CBC 3, NULL 11, AES-CBC 12,
 *    AES-GCM-16 20; AALG none 0, MD5 2, SHA1 3, SHA2-256 5;
 *  - the Linux crypto API names XFRM wants (XFRMA_ALG_CRYPT, XFRMA_ALG_AUTH_TRUNC
 *    or XFRMA_ALG_AEAD) and key/ICV lengths;
 *  - a strength rank, for "at least this strong" policies.
 *
 * AEAD keys (rfc4106) are the cipher key followed by the 4-byte salt
 * (RFC 4106 §8.1): `encKeyBytes` below includes the salt.
 */
import { KernelValidationError } from './errors.js';

export const SADB_EALG = { DES: 2, DES3_CBC: 3, NULL: 11, AES_CBC: 12, AES_GCM_16: 20 } as const;
export const SADB_AALG = { NONE: 0, MD5: 2, SHA1: 3, SHA2_256: 5 } as const;

export type SuiteName =
  | 'aes-gcm-128'
  | 'aes-gcm-256'
  | 'aes-cbc-128-hmac-sha256'
  | 'aes-cbc-256-hmac-sha256'
  | 'aes-cbc-128-hmac-sha1'
  | '3des-cbc-hmac-sha1'
  | 'null-hmac-sha256';

export interface AlgorithmSuite {
  readonly name: SuiteName;
  /** SADB_EALG_* (= MIKEY SP EALG). */
  readonly sadbEalg: number;
  /** SADB_AALG_* (= MIKEY SP AALG); 0 for AEAD suites. */
  readonly sadbAalg: number;
  /** Encryption (or AEAD) key length in bytes, including an AEAD salt. */
  readonly encKeyBytes: number;
  /** Authentication key length in bytes; 0 for AEAD suites. */
  readonly authKeyBytes: number;
  /** XFRMA_ALG_AEAD: name and ICV length in bits. */
  readonly aead?: { readonly xfrmName: string; readonly icvBits: number };
  /** XFRMA_ALG_CRYPT name. */
  readonly crypt?: { readonly xfrmName: string };
  /** XFRMA_ALG_AUTH_TRUNC: name and truncated ICV length in bits. */
  readonly auth?: { readonly xfrmName: string; readonly truncBits: number };
  /** Higher is stronger; equal ranks are equally acceptable. */
  readonly strength: number;
  /** The default of seed 003 / minisip. */
  readonly seedDefault?: true;
}

export const SUITES: readonly AlgorithmSuite[] = [
  {
    name: 'aes-gcm-256',
    sadbEalg: SADB_EALG.AES_GCM_16,
    sadbAalg: SADB_AALG.NONE,
    encKeyBytes: 32 + 4,
    authKeyBytes: 0,
    aead: { xfrmName: 'rfc4106(gcm(aes))', icvBits: 128 },
    strength: 4,
  },
  {
    name: 'aes-cbc-256-hmac-sha256',
    sadbEalg: SADB_EALG.AES_CBC,
    sadbAalg: SADB_AALG.SHA2_256,
    encKeyBytes: 32,
    authKeyBytes: 32,
    crypt: { xfrmName: 'cbc(aes)' },
    auth: { xfrmName: 'hmac(sha256)', truncBits: 128 },
    strength: 4,
  },
  {
    name: 'aes-gcm-128',
    sadbEalg: SADB_EALG.AES_GCM_16,
    sadbAalg: SADB_AALG.NONE,
    encKeyBytes: 16 + 4,
    authKeyBytes: 0,
    aead: { xfrmName: 'rfc4106(gcm(aes))', icvBits: 128 },
    strength: 3,
  },
  {
    name: 'aes-cbc-128-hmac-sha256',
    sadbEalg: SADB_EALG.AES_CBC,
    sadbAalg: SADB_AALG.SHA2_256,
    encKeyBytes: 16,
    authKeyBytes: 32,
    crypt: { xfrmName: 'cbc(aes)' },
    auth: { xfrmName: 'hmac(sha256)', truncBits: 128 },
    strength: 3,
  },
  {
    name: 'aes-cbc-128-hmac-sha1',
    sadbEalg: SADB_EALG.AES_CBC,
    sadbAalg: SADB_AALG.SHA1,
    encKeyBytes: 16,
    authKeyBytes: 20,
    crypt: { xfrmName: 'cbc(aes)' },
    auth: { xfrmName: 'hmac(sha1)', truncBits: 96 },
    strength: 2,
  },
  {
    name: '3des-cbc-hmac-sha1',
    sadbEalg: SADB_EALG.DES3_CBC,
    sadbAalg: SADB_AALG.SHA1,
    encKeyBytes: 24,
    authKeyBytes: 20,
    crypt: { xfrmName: 'cbc(des3_ede)' },
    auth: { xfrmName: 'hmac(sha1)', truncBits: 96 },
    strength: 1,
    seedDefault: true,
  },
  {
    name: 'null-hmac-sha256',
    sadbEalg: SADB_EALG.NULL,
    sadbAalg: SADB_AALG.SHA2_256,
    encKeyBytes: 0,
    authKeyBytes: 32,
    crypt: { xfrmName: 'ecb(cipher_null)' },
    auth: { xfrmName: 'hmac(sha256)', truncBits: 128 },
    strength: 0,
  },
];

export function suiteByName(name: string): AlgorithmSuite {
  const s = SUITES.find((x) => x.name === name);
  if (!s) throw new KernelValidationError('suite', `unknown algorithm suite "${name}"`);
  return s;
}

/**
 * Map PF_KEY / MIKEY SP numbers (EALG, EKEYL bytes, AALG) to a suite.
 * EKEYL is needed to tell AES-128 from AES-256; for AES-GCM it may be given
 * with or without the 4-byte salt.  Returns undefined when nothing matches.
 */
export function suiteBySadb(ealg: number, encKeyBytes: number, aalg: number): AlgorithmSuite | undefined {
  return SUITES.find(
    (s) =>
      s.sadbEalg === ealg &&
      s.sadbAalg === aalg &&
      (s.encKeyBytes === encKeyBytes || (s.aead !== undefined && s.encKeyBytes - 4 === encKeyBytes)),
  );
}

/**
 * Legacy / short names the kernel accepts and replaces by its canonical name
 * (net/xfrm/xfrm_algo.c `compat` entries), so a dump may show either.
 */
const XFRM_ALIASES: Record<string, string> = {
  aes: 'cbc(aes)',
  des3_ede: 'cbc(des3_ede)',
  cipher_null: 'ecb(cipher_null)',
  sha1: 'hmac(sha1)',
  sha256: 'hmac(sha256)',
  md5: 'hmac(md5)',
  'rfc4106(gcm(aes))': 'rfc4106(gcm(aes))',
};

export function normalizeXfrmName(name: string): string {
  return XFRM_ALIASES[name] ?? name;
}

/**
 * Identify the suite of an SA read back from the kernel, from its algorithm
 * names and key lengths (in bits, as xfrm_algo reports them).
 */
export function suiteFromXfrm(alg: {
  aead?: { name: string; keyBits: number };
  crypt?: { name: string; keyBits: number };
  auth?: { name: string; keyBits: number };
}): AlgorithmSuite | undefined {
  return SUITES.find((s) => {
    if (s.aead) {
      return alg.aead !== undefined && normalizeXfrmName(alg.aead.name) === s.aead.xfrmName && alg.aead.keyBits === s.encKeyBytes * 8;
    }
    return (
      alg.crypt !== undefined &&
      alg.auth !== undefined &&
      normalizeXfrmName(alg.crypt.name) === s.crypt?.xfrmName &&
      alg.crypt.keyBits === s.encKeyBytes * 8 &&
      normalizeXfrmName(alg.auth.name) === s.auth?.xfrmName
    );
  });
}

/** Suites at least as strong as `min`, strongest first. */
export function suitesAtLeast(min: SuiteName): AlgorithmSuite[] {
  const floor = suiteByName(min).strength;
  return SUITES.filter((s) => s.strength >= floor);
}
