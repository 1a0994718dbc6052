/**
 * MIKEY key derivation: RFC 3830 §4.1.3 (keys from the TGK), §4.1.4 (keys
 * protecting MIKEY messages from a pre-shared or envelope key) and the IPsec
 * profile of seed 003 §5.1 (ESP keys per crypto session, REFERENCE.md §2).
 *
 * Labels (all big-endian):
 *
 *   §4.1.3  label = constant(32) || cs_id(8)  || csb_id(32) || RAND
 *   §4.1.4  label = constant(32) || 0xFF(8)   || csb_id(32) || RAND
 *
 * inkey per mode:
 *   PSK    (§3.1): TGK from the KEMAC; KEMAC keys from the pre-shared key.
 *   PKE    (§3.2): TGK from the KEMAC; KEMAC keys from the envelope key.
 *   DH     (§3.3): TGK = the DH shared secret g^(xi*xr); no KEMAC (SIGN
 *                  authenticates), so no §4.1.4 keys.
 *   DHHMAC (RFC 4650 §3/§4): TGK = the DH shared secret; the KEMAC carries
 *                  only a MAC keyed with auth_key = PRF(PSK, 0x2D22AC75 ...)
 *                  exactly as §4.1.4 (`deriveKemacKeys(psk, ...).authKey`).
 *
 * Every returned buffer belongs to the caller, who wipes it (`wipeKeys`).
 *
 * Each function takes the inkey as bytes or as a `PrfKey` keyed once with
 * it: result.ts derives every ESP key of an exchange from one keyed TGK, and
 * `deriveKemacKeys` keys the PSK / envelope key once for its three keys.
 */
import { PrfKey } from './prf.js';
import { malformed } from './errors.js';

/** §4.1.3 / §4.1.4 / seed 003 constants. */
export const KeyConst = {
  /** §4.1.3 TEK (e.g. SRTP master key). */
  TEK: 0x2ad01c64,
  /** §4.1.3 TEK salting key. */
  TEK_SALT: 0x39a2c14b,
  /** §4.1.3 TEK encryption key; seed 003: ESP encryption key. */
  TEK_ENCR: 0x15798cef,
  /** §4.1.3 TEK authentication key; seed 003: ESP authentication key. */
  TEK_AUTH: 0x1b5c7973,
  /** §4.1.4 encr_key protecting the KEMAC. */
  KEMAC_ENCR: 0x150533e1,
  /** §4.1.4 auth_key for the MAC/V payloads (and RFC 4650's DHHMAC MAC). */
  KEMAC_AUTH: 0x2d22ac75,
  /** §4.1.4 salt_key (AES-CM IV of the KEMAC). */
  KEMAC_SALT: 0x29b88916,
} as const;

/** The cs_id byte that marks a §4.1.4 label. */
const MESSAGE_KEY_CS_ID = 0xff;

function u32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw malformed(`${what} ${v} is not a 32-bit unsigned integer`);
}

/** constant(32) || cs_id(8) || csb_id(32) || RAND. */
export function keyLabel(constant: number, csId: number, csbId: number, rand: Uint8Array): Uint8Array {
  u32(constant, 'key derivation constant');
  u32(csbId, 'CSB ID');
  if (!Number.isInteger(csId) || csId < 0 || csId > 0xff) throw malformed(`cs_id ${csId} is not an 8-bit value`);
  if (rand.length === 0) throw malformed('RAND is empty');
  const label = new Uint8Array(9 + rand.length);
  label[0] = constant >>> 24;
  label[1] = constant >>> 16;
  label[2] = constant >>> 8;
  label[3] = constant;
  label[4] = csId;
  label[5] = csbId >>> 24;
  label[6] = csbId >>> 16;
  label[7] = csbId >>> 8;
  label[8] = csbId;
  label.set(rand, 9);
  return label;
}

/** The PRF inkey as bytes (keyed for this call only) or already keyed (the caller wipes it). */
export type Inkey = Uint8Array | PrfKey;

/** Run `f` with `inkey` keyed; a key made here is wiped afterwards. */
function withPrfKey<T>(inkey: Inkey, f: (key: PrfKey) => T): T {
  if (inkey instanceof PrfKey) return f(inkey);
  const key = new PrfKey(inkey);
  try {
    return f(key);
  } finally {
    key.wipe();
  }
}

/** §4.1.3: PRF(TGK, constant || cs_id || csb_id || RAND, len) for cs_id 0..254. */
export function deriveFromTgk(
  tgk: Inkey,
  constant: number,
  csId: number,
  csbId: number,
  rand: Uint8Array,
  len: number,
): Uint8Array {
  if (csId === MESSAGE_KEY_CS_ID) throw malformed('cs_id 255 would collide with the §4.1.4 label (0xFF)');
  const label = keyLabel(constant, csId, csbId, rand);
  return withPrfKey(tgk, (key) => key.derive(label, len));
}

/** §4.1.3 TEK and salt for crypto session `csId` (SRTP-style; 16 + 14 bytes by default). */
export function deriveTek(tgk: Inkey, csId: number, csbId: number, rand: Uint8Array, len = 16): Uint8Array {
  return deriveFromTgk(tgk, KeyConst.TEK, csId, csbId, rand, len);
}
export function deriveTekSalt(tgk: Inkey, csId: number, csbId: number, rand: Uint8Array, len = 14): Uint8Array {
  return deriveFromTgk(tgk, KeyConst.TEK_SALT, csId, csbId, rand, len);
}

export interface EspKeys {
  /** ESP encryption key, EKEYL bytes (SP param 4). */
  encrKey: Uint8Array;
  /** ESP authentication key, AKEYL bytes (SP param 6); empty when AKEYL = 0 (AEAD). */
  authKey: Uint8Array;
}

/**
 * Seed 003 §5.1 / minisip: the ESP SA keys of crypto session `csId`
 * (1-based, the index in the IPSEC4-ID map).  `encrKeyLen`/`authKeyLen` in
 * bytes; 0 gives an empty key (e.g. NULL encryption, or AEAD without auth).
 */
export function deriveEspKeys(
  tgk: Inkey,
  csId: number,
  csbId: number,
  rand: Uint8Array,
  encrKeyLen: number,
  authKeyLen: number,
): EspKeys {
  return withPrfKey(tgk, (key) => {
    const one = (c: number, n: number): Uint8Array => (n === 0 ? new Uint8Array(0) : deriveFromTgk(key, c, csId, csbId, rand, n));
    return { encrKey: one(KeyConst.TEK_ENCR, encrKeyLen), authKey: one(KeyConst.TEK_AUTH, authKeyLen) };
  });
}

export interface KemacKeys {
  /** §4.1.4 encr_key (KEMAC encryption). */
  encrKey: Uint8Array;
  /** §4.1.4 auth_key (KEMAC/V MAC; DHHMAC MAC). */
  authKey: Uint8Array;
  /** §4.1.4 salt_key (AES-CM IV). */
  saltKey: Uint8Array;
}

/** Default lengths for AES-CM-128 / HMAC-SHA-1-160 (§4.2.3, §4.2.4): 16, 20, 14 bytes. */
export const KEMAC_KEY_LENGTHS = { encr: 16, auth: 20, salt: 14 } as const;

/**
 * §4.1.4: keys protecting MIKEY messages, inkey = pre-shared key (PSK,
 * DHHMAC) or envelope key (PKE); label = constant || 0xFF || csb_id || RAND.
 */
export function deriveKemacKeys(
  inkey: Inkey,
  csbId: number,
  rand: Uint8Array,
  lengths: { encr: number; auth: number; salt: number } = KEMAC_KEY_LENGTHS,
): KemacKeys {
  return withPrfKey(inkey, (key) => {
    const one = (c: number, n: number): Uint8Array =>
      n === 0 ? new Uint8Array(0) : key.derive(keyLabel(c, MESSAGE_KEY_CS_ID, csbId, rand), n);
    return {
      encrKey: one(KeyConst.KEMAC_ENCR, lengths.encr),
      authKey: one(KeyConst.KEMAC_AUTH, lengths.auth),
      saltKey: one(KeyConst.KEMAC_SALT, lengths.salt),
    };
  });
}

/**
 * RFC 4650 (DHHMAC): the KEMAC carries NULL-encrypted data and an HMAC keyed
 * with the §4.1.4 auth_key of the pre-shared key (RAND and CSB ID of the
 * initiator's message; the responder's message uses the same values).
 */
export function deriveDhhmacAuthKey(psk: Inkey, csbId: number, rand: Uint8Array, len: number = KEMAC_KEY_LENGTHS.auth): Uint8Array {
  const label = keyLabel(KeyConst.KEMAC_AUTH, MESSAGE_KEY_CS_ID, csbId, rand);
  return withPrfKey(psk, (key) => key.derive(label, len));
}

/** Zero every key buffer of a derived key set. */
export function wipeKeys(keys: EspKeys | KemacKeys): void {
  for (const v of Object.values(keys) as Uint8Array[]) v.fill(0);
}
