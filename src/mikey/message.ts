/**
 * Whole MIKEY message codec (RFC 3830 §6): the Common Header, then the chain
 * of payloads linked by each payload's first byte ("next payload"), ending
 * with next payload 0 (Last) or with a SIGN payload, which has no next field
 * and is always last.
 *
 *  HDR --next--> P1 --next--> P2 ... --0-->            (end)
 *  HDR --next--> P1 ... --4--> SIGN                    (end)
 *
 * Payload order is not checked here (that is mode policy); only the framing.
 *
 * MAC / signature: `decodeMessage` returns `spans`, one per payload (index 0
 * is the HDR), with `start`/`end` byte offsets and, for KEMAC, V and SIGN,
 * `macStart` = the offset of the MAC / signature field.  The bytes covered
 * are `bytes.subarray(0, macStart)` (RFC 3830 §5.2: "the entire MIKEY
 * message up to the MAC / except the signature").  `macInputLength` is the
 * `macStart` of the last such payload.  To produce a MAC: build the payload
 * with a zero MAC of `macLength(macAlg)` bytes (or a zero signature of the
 * signature's length), call `encodeMessageWithSpans`, compute over
 * `bytes.subarray(0, macStart)` and `bytes.set(mac, macStart)`.  The MAC is
 * the last field of its payload, so it is also `bytes.length - mac.length`
 * when that payload is last.
 */
import { malformed } from './errors.js';
import { type CsIdMapOptions } from './csidmap.js';
import { Reader, Writer } from './wire.js';
import { PayloadType } from './payloads/constants.js';
import { type HdrPayload, decodeHdrRest, decodeHdrStart, encodeHdr } from './payloads/hdr.js';
import { type KemacPayload, decodeKemac, encodeKemac } from './payloads/kemac.js';
import { type PkePayload, decodePke, encodePke } from './payloads/pke.js';
import { type DhPayload, decodeDh, encodeDh } from './payloads/dh.js';
import { type SignPayload, decodeSign, encodeSign } from './payloads/sign.js';
import { type TPayload, decodeT, encodeT } from './payloads/t.js';
import { type IdPayload, type CertPayload, type ChashPayload, decodeId, encodeId, decodeCert, encodeCert, decodeChash, encodeChash } from './payloads/id.js';
import { type VPayload, decodeV, encodeV } from './payloads/v.js';
import { type SpPayload, decodeSp, encodeSp } from './payloads/sp.js';
import { type RandPayload, decodeRand, encodeRand } from './payloads/rand.js';
import { type ErrPayload, decodeErr, encodeErr } from './payloads/err.js';
import { type ExtPayload, decodeExt, encodeExt } from './payloads/ext.js';

/** Largest message accepted or produced. */
export const MAX_MESSAGE_BYTES = 65536;
/** Most payloads after the HDR accepted or produced. */
export const MAX_PAYLOADS = 64;

/** Every payload that may follow the HDR in a message. */
export type MikeyPayload =
  | KemacPayload
  | PkePayload
  | DhPayload
  | SignPayload
  | TPayload
  | IdPayload
  | CertPayload
  | ChashPayload
  | VPayload
  | SpPayload
  | RandPayload
  | ErrPayload
  | ExtPayload;

export interface MikeyMessage {
  readonly hdr: HdrPayload;
  readonly payloads: readonly MikeyPayload[];
}

export interface PayloadSpan {
  readonly kind: HdrPayload['kind'] | MikeyPayload['kind'];
  readonly start: number;
  readonly end: number;
  /** KEMAC, V, SIGN only: offset of the MAC / signature field. */
  readonly macStart?: number;
}

export interface DecodedMessage extends MikeyMessage {
  /** spans[0] is the HDR, spans[i + 1] is payloads[i]. */
  readonly spans: readonly PayloadSpan[];
  /** macStart of the last KEMAC/V/SIGN, if any: bytes [0, macInputLength) are covered. */
  readonly macInputLength?: number;
}

export type CodecOptions = CsIdMapOptions;

interface Codec<P extends MikeyPayload> {
  readonly type: number;
  readonly decode: (r: Reader) => P;
  readonly encode: (w: Writer, p: P) => void;
  /** Length of the trailing MAC / signature field, for MAC-bearing payloads. */
  readonly macLen?: (p: P) => number;
}

const CODECS: { readonly [K in MikeyPayload['kind']]: Codec<Extract<MikeyPayload, { kind: K }>> } = {
  kemac: { type: PayloadType.KEMAC, decode: decodeKemac, encode: encodeKemac, macLen: (p) => p.mac.length },
  pke: { type: PayloadType.PKE, decode: decodePke, encode: encodePke },
  dh: { type: PayloadType.DH, decode: decodeDh, encode: encodeDh },
  sign: { type: PayloadType.SIGN, decode: decodeSign, encode: encodeSign, macLen: (p) => p.signature.length },
  t: { type: PayloadType.T, decode: decodeT, encode: encodeT },
  id: { type: PayloadType.ID, decode: decodeId, encode: encodeId },
  cert: { type: PayloadType.CERT, decode: decodeCert, encode: encodeCert },
  chash: { type: PayloadType.CHASH, decode: decodeChash, encode: encodeChash },
  v: { type: PayloadType.V, decode: decodeV, encode: encodeV, macLen: (p) => p.mac.length },
  sp: { type: PayloadType.SP, decode: decodeSp, encode: encodeSp },
  rand: { type: PayloadType.RAND, decode: decodeRand, encode: encodeRand },
  err: { type: PayloadType.ERR, decode: decodeErr, encode: encodeErr },
  ext: { type: PayloadType.GENERAL_EXT, decode: decodeExt, encode: encodeExt },
};

const BY_TYPE = new Map<number, Codec<MikeyPayload>>(Object.values(CODECS).map((c) => [c.type, c as Codec<MikeyPayload>]));

function codecOf(p: MikeyPayload): Codec<MikeyPayload> {
  const c = (CODECS as Record<string, Codec<MikeyPayload> | undefined>)[p.kind];
  if (!c) throw malformed(`unknown payload kind ${String(p.kind)}`);
  return c;
}

export function decodeMessage(bytes: Uint8Array, opts: CodecOptions = {}): DecodedMessage {
  if (bytes.length > MAX_MESSAGE_BYTES) throw malformed(`message of ${bytes.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  const r = new Reader(bytes);
  const start = decodeHdrStart(r);
  let next = r.u8('HDR next payload');
  const hdr = decodeHdrRest(r, start, opts);
  const spans: PayloadSpan[] = [{ kind: 'hdr', start: 0, end: r.offset }];
  const payloads: MikeyPayload[] = [];
  let macInputLength: number | undefined;
  while (next !== PayloadType.LAST) {
    if (payloads.length >= MAX_PAYLOADS) throw malformed(`more than ${MAX_PAYLOADS} payloads`);
    const codec = BY_TYPE.get(next);
    if (!codec) throw malformed(`unknown or misplaced next payload type ${next}`);
    const begin = r.offset;
    const isSign = next === PayloadType.SIGN;
    next = isSign ? PayloadType.LAST : r.u8('next payload');
    const p = codec.decode(r);
    payloads.push(p);
    const macStart = codec.macLen ? r.offset - codec.macLen(p) : undefined;
    if (macStart !== undefined) macInputLength = macStart;
    spans.push({ kind: p.kind, start: begin, end: r.offset, ...(macStart !== undefined ? { macStart } : {}) });
  }
  r.expectEnd('MIKEY message');
  return { hdr, payloads, spans, ...(macInputLength !== undefined ? { macInputLength } : {}) };
}

/** Encodes and reports where each payload (and its MAC field) landed. */
export function encodeMessageWithSpans(msg: MikeyMessage, opts: CodecOptions = {}): { bytes: Uint8Array; spans: PayloadSpan[] } {
  if (msg.payloads.length > MAX_PAYLOADS) throw malformed(`more than ${MAX_PAYLOADS} payloads`);
  const signAt = msg.payloads.findIndex((p) => p.kind === 'sign');
  if (signAt >= 0 && signAt !== msg.payloads.length - 1) throw malformed('SIGN must be the last payload');
  const typeAt = (i: number): number => (i < msg.payloads.length ? codecOf(msg.payloads[i]!).type : PayloadType.LAST);
  const w = new Writer();
  encodeHdr(w, msg.hdr, typeAt(0), opts);
  const spans: PayloadSpan[] = [{ kind: 'hdr', start: 0, end: w.length }];
  msg.payloads.forEach((p, i) => {
    const codec = codecOf(p);
    const begin = w.length;
    if (p.kind !== 'sign') w.u8(typeAt(i + 1), 'next payload');
    codec.encode(w, p);
    const macStart = codec.macLen ? w.length - codec.macLen(p) : undefined;
    spans.push({ kind: p.kind, start: begin, end: w.length, ...(macStart !== undefined ? { macStart } : {}) });
  });
  if (w.length > MAX_MESSAGE_BYTES) throw malformed(`message of ${w.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  return { bytes: w.finish(), spans };
}

export function encodeMessage(msg: MikeyMessage, opts: CodecOptions = {}): Uint8Array {
  return encodeMessageWithSpans(msg, opts).bytes;
}
