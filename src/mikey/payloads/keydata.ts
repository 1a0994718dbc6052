/**
 * RFC 3830 §6.13 Key data sub-payload, and the chain of them that forms the
 * plaintext of the KEMAC "Encr data" field (§6.2).
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  !  Next Payload ! Type  ! KV    ! Key data len                  !
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  !                         Key data                              ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Salt len (optional)           ! Salt data (optional)          ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  !                        KV data (optional, §6.14)              ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Type: 0 TGK, 1 TGK+SALT, 2 TEK, 3 TEK+SALT (salt present for 1 and 3).
 * Next payload inside the chain: 20 (another Key data) or 0 (last).
 *
 * Public-key mode (§3.2 "KEMAC = E(encr_key, IDi || {TGK}) || MAC"; §6.2
 * "the Initiator's identity is added in the encrypted data.  This is done by
 * adding the ID payload as the first payload, which is then followed by the
 * Key data sub-payloads"): the plaintext is an ID payload (§6.7, its next
 * payload 20) followed by the chain — `encodePkeKemacPlaintext` /
 * `decodePkeKemacPlaintext`.
 *
 * Key and salt are secrets: decoded objects carry a redacting toJSON and
 * util.inspect hook, and `wipeKeyData` zeroes them when done.
 */
import { malformed } from '../errors.js';
import { Reader, Writer } from '../wire.js';
import { PayloadType, isOneOf } from './constants.js';
import { type IdPayload, decodeId, encodeId } from './id.js';
import { type KeyValidity, decodeKv, encodeKv } from './kv.js';

export const KeyDataType = { TGK: 0, TGK_SALT: 1, TEK: 2, TEK_SALT: 3 } as const;
export type KeyDataType = (typeof KeyDataType)[keyof typeof KeyDataType];

export interface KeyDataPayload {
  readonly kind: 'keydata';
  readonly type: KeyDataType;
  readonly key: Uint8Array;
  /** Present exactly when type is TGK_SALT or TEK_SALT. */
  readonly salt?: Uint8Array;
  readonly kv: KeyValidity;
}

/** Max sub-payloads in one chain (bounds the loop; RFC 3830 needs a handful). */
export const MAX_KEY_DATA = 64;

const hasSalt = (t: KeyDataType): boolean => t === KeyDataType.TGK_SALT || t === KeyDataType.TEK_SALT;

function redacted(kd: KeyDataPayload): object {
  return { kind: kd.kind, type: kd.type, key: `<${kd.key.length} bytes redacted>`, ...(kd.salt ? { salt: `<${kd.salt.length} bytes redacted>` } : {}), kv: kd.kv };
}

/**
 * Makes a Key data object safe to log: non-enumerable toJSON and
 * util.inspect.custom that never show key or salt (equality checks ignore them).
 */
export function protectKeyData(kd: KeyDataPayload): KeyDataPayload {
  Object.defineProperty(kd, 'toJSON', { value: () => redacted(kd), enumerable: false });
  Object.defineProperty(kd, Symbol.for('nodejs.util.inspect.custom'), { value: () => redacted(kd), enumerable: false });
  return kd;
}

/** Zeroes key and salt in place. */
export function wipeKeyData(chain: readonly KeyDataPayload[]): void {
  for (const kd of chain) {
    kd.key.fill(0);
    kd.salt?.fill(0);
  }
}

/** Reads Key data sub-payloads until the one whose next payload is Last. */
function readChain(r: Reader): KeyDataPayload[] {
  const out: KeyDataPayload[] = [];
  let next: number = PayloadType.KEY_DATA;
  while (next === PayloadType.KEY_DATA) {
    if (out.length >= MAX_KEY_DATA) throw malformed(`more than ${MAX_KEY_DATA} Key data sub-payloads`);
    next = r.u8('Key data next payload');
    if (next !== PayloadType.KEY_DATA && next !== PayloadType.LAST) throw malformed(`Key data followed by payload ${next}`);
    const typeKv = r.u8('Key data type/KV');
    const type = typeKv >>> 4;
    if (!isOneOf(KeyDataType, type)) throw malformed(`unknown Key data type ${type}`);
    const key = r.bytes(r.u16('Key data len'), 'Key data');
    const salt = hasSalt(type) ? r.bytes(r.u16('Salt len'), 'Salt data') : undefined;
    const kv = decodeKv(r, typeKv & 0x0f);
    out.push(protectKeyData({ kind: 'keydata', type, key, ...(salt ? { salt } : {}), kv }));
  }
  return out;
}

function writeChain(w: Writer, chain: readonly KeyDataPayload[]): void {
  if (chain.length === 0 || chain.length > MAX_KEY_DATA) throw malformed(`Key data chain needs 1..${MAX_KEY_DATA} entries`);
  chain.forEach((kd, i) => {
    if (!isOneOf(KeyDataType, kd.type)) throw malformed(`unknown Key data type ${kd.type}`);
    if (hasSalt(kd.type) !== (kd.salt !== undefined)) throw malformed(`Key data type ${kd.type}: salt ${kd.salt ? 'not allowed' : 'missing'}`);
    w.u8(i + 1 < chain.length ? PayloadType.KEY_DATA : PayloadType.LAST, 'next payload');
    w.u8((kd.type << 4) | kd.kv.kvType, 'type/KV').u16(kd.key.length, 'key data len').bytes(kd.key);
    if (kd.salt) w.u16(kd.salt.length, 'salt len').bytes(kd.salt);
    encodeKv(w, kd.kv);
  });
}

/** Decodes a KEMAC plaintext (PSK mode): one or more Key data sub-payloads, nothing after the last. */
export function decodeKeyDataChain(plain: Uint8Array): KeyDataPayload[] {
  const r = new Reader(plain);
  const out = readChain(r);
  r.expectEnd('KEMAC key data');
  return out;
}

/** Encodes the KEMAC plaintext (PSK mode); the caller encrypts it and wipes the result. */
export function encodeKeyDataChain(chain: readonly KeyDataPayload[]): Uint8Array {
  const w = new Writer();
  writeChain(w, chain);
  return w.finish();
}

/**
 * Decodes a public-key mode KEMAC plaintext (§6.2): the Initiator's ID
 * payload (next payload 20), then one or more Key data sub-payloads.
 *
 *   ! Next=20 ! ID type ! ID len (16) ! ID data ~ ! Key data sub-payload ... ~
 */
export function decodePkeKemacPlaintext(plain: Uint8Array): { idi: IdPayload; keyData: KeyDataPayload[] } {
  const r = new Reader(plain);
  const next = r.u8('encrypted IDi next payload');
  if (next !== PayloadType.KEY_DATA) throw malformed(`encrypted IDi followed by payload ${next}, expected Key data (20)`);
  const idi = decodeId(r);
  const keyData = readChain(r);
  r.expectEnd('KEMAC key data');
  return { idi, keyData };
}

/** Encodes a public-key mode KEMAC plaintext: IDi, then the chain (§3.2, §6.2). */
export function encodePkeKemacPlaintext(idi: IdPayload, chain: readonly KeyDataPayload[]): Uint8Array {
  const w = new Writer();
  w.u8(PayloadType.KEY_DATA, 'next payload');
  encodeId(w, idi);
  writeChain(w, chain);
  return w.finish();
}
