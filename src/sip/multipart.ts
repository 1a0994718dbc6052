/**
 * multipart/mixed bodies (RFC 2046 §5.1) and the sipsec SIP body: a MIKEY
 * message (application/mikey, seed 003 §5.2) next to the SDP.
 *
 * RFC 2046 §5.1.1 grammar (CRLF before a delimiter belongs to the delimiter):
 *
 *   multipart-body := [preamble CRLF]
 *                     dash-boundary transport-padding CRLF
 *                     body-part *encapsulation
 *                     close-delimiter transport-padding
 *                     [CRLF epilogue]
 *   encapsulation  := delimiter transport-padding CRLF body-part
 *   delimiter      := CRLF dash-boundary
 *   dash-boundary  := "--" boundary
 *   close-delimiter := delimiter "--"
 *   transport-padding := *LWSP-char
 *   body-part      := MIME-part-headers [CRLF *OCTET]
 *   boundary       := 0*69<bchars> bcharsnospace
 *   bchars         := bcharsnospace / " "
 *   bcharsnospace  := DIGIT / ALPHA / "'" / "(" / ")" / "+" / "_" / ","
 *                     / "-" / "." / "/" / ":" / "=" / "?"
 *
 * Example (what buildSipsecBody emits):
 *
 *   --sipsec-boundary CRLF
 *   Content-Type: application/mikey CRLF
 *   Content-Transfer-Encoding: base64 CRLF
 *   CRLF
 *   AQAFgM0X... CRLF          (76-char lines)
 *   --sipsec-boundary CRLF
 *   Content-Type: application/sdp CRLF
 *   CRLF
 *   v=0 CRLF ... CRLF         (the SDP, ending in its own CRLF)
 *   CRLF
 *   --sipsec-boundary-- CRLF
 *
 * Leniency (for minisip, seed 003 §5.2): an unquoted boundary holding "=",
 * bare LF line ends, a base64 MIKEY part without Content-Transfer-Encoding.
 */
import { decodeBase64Mime, encodeBase64Mime, looksLikeBase64 } from './base64.js';
import { SipBodyError } from './errors.js';
import { formatMediaType, isToken, latin1, parseMediaType, parseParams, splitTopLevel, type MediaType } from './grammar.js';
import { headerValues, parseHeaderLines, splitLines, type Header } from './headers.js';

export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_PARTS = 16;
export const MAX_PART_HEADERS = 32;

const malformed = (detail: string): never => {
  throw new SipBodyError(400, detail);
};
const unsupported = (detail: string): never => {
  throw new SipBodyError(415, detail);
};

export interface MimePart {
  readonly headers: readonly Header[];
  /** Content as carried, still transfer-encoded (see decodePartContent). */
  readonly content: Uint8Array;
}

export interface Multipart {
  readonly boundary: string;
  readonly preamble: Uint8Array;
  readonly parts: readonly MimePart[];
  readonly epilogue: Uint8Array;
}

const BOUNDARY_RE = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/** The boundary parameter of a multipart Content-Type, checked (§5.1.1). */
export function multipartBoundary(mt: MediaType): string {
  if (mt.type !== 'multipart') unsupported(`not a multipart type: ${mt.type}/${mt.subtype}`);
  const boundary = mt.params.get('boundary');
  if (boundary === undefined || boundary === null) return malformed('multipart without boundary parameter');
  if (!BOUNDARY_RE.test(boundary)) malformed('boundary has a forbidden character or length');
  return boundary;
}

/** Length of a line break (CRLF or bare LF) at `i`, else 0. */
function lineBreakAt(s: string, i: number): number {
  if (s[i] === '\n') return 1;
  if (s[i] === '\r' && s[i + 1] === '\n') return 2;
  return 0;
}

interface Delimiter {
  /** Index where the part before it ends (start of the delimiter's CRLF). */
  readonly partEnd: number;
  /** Index just after the delimiter line (after its CRLF, or after "--" padding). */
  readonly next: number;
  readonly close: boolean;
}

/**
 * Find the next delimiter line at or after `from`.  A dash-boundary only
 * counts at the start of the body (first delimiter) or right after a line
 * break that lies at or after `from`, and only when followed by padding and a
 * line break, or by "--" (close).  "--boundaryX" lines are content.
 */
function findDelimiter(s: string, dash: string, from: number, first: boolean): Delimiter | null {
  let idx = s.indexOf(dash, from);
  while (idx >= 0) {
    let partEnd = -1;
    if (first && idx === 0) partEnd = 0;
    else if (idx - 1 >= from && s[idx - 1] === '\n') partEnd = idx - 1 > from && s[idx - 2] === '\r' ? idx - 2 : idx - 1;
    if (partEnd >= 0) {
      let j = idx + dash.length;
      const close = s.startsWith('--', j);
      if (close) j += 2;
      while (s[j] === ' ' || s[j] === '\t') j++;
      const br = lineBreakAt(s, j);
      if (br > 0 || (close && j === s.length)) return { partEnd, next: j + br, close };
    }
    idx = s.indexOf(dash, idx + 1);
  }
  return null;
}

/** Parse a multipart body (RFC 2046 §5.1.1) delimited by `boundary`. */
export function parseMultipart(body: Uint8Array, boundary: string): Multipart {
  if (body.length > MAX_BODY_BYTES) throw new SipBodyError(413, `body over ${MAX_BODY_BYTES} bytes`);
  if (!BOUNDARY_RE.test(boundary)) malformed('boundary has a forbidden character or length');
  const s = latin1(body);
  const dash = `--${boundary}`;
  const firstDelim = findDelimiter(s, dash, 0, true);
  if (firstDelim === null) return malformed('no boundary delimiter in multipart body');
  if (firstDelim.close) malformed('multipart body without parts');
  const parts: MimePart[] = [];
  let pos = firstDelim.next;
  for (;;) {
    const d = findDelimiter(s, dash, pos, false);
    if (d === null) return malformed('multipart body without close delimiter');
    if (parts.length >= MAX_PARTS) throw new SipBodyError(413, `more than ${MAX_PARTS} body parts`);
    parts.push(parsePart(body, s, pos, d.partEnd));
    pos = d.next;
    if (d.close) break;
  }
  return {
    boundary,
    preamble: body.subarray(0, firstDelim.partEnd),
    parts,
    epilogue: body.subarray(pos),
  };
}

/** body-part := MIME-part-headers [CRLF *OCTET], in s[start, end). */
function parsePart(body: Uint8Array, s: string, start: number, end: number): MimePart {
  const region = s.slice(start, end);
  const leading = lineBreakAt(region, 0);
  if (leading > 0) return { headers: [], content: body.subarray(start + leading, end) };
  const blank = /\r?\n\r?\n/.exec(region);
  if (blank === null) return malformed('body part without blank line after its headers');
  // Header text is read as UTF-8 (as SIP headers are), so buildMultipart,
  // which writes UTF-8, reproduces the same bytes.
  const headerText = Buffer.from(region.slice(0, blank.index), 'latin1').toString('utf8');
  const headers = parseHeaderLines(splitLines(headerText), MAX_PART_HEADERS, malformed);
  return { headers, content: body.subarray(start + blank.index + blank[0].length, end) };
}

/**
 * Serialize parts (§5.1.1).  No line of a part may start with the
 * dash-boundary (§5.1.1: "must not appear ... as the prefix of any line").
 */
export function buildMultipart(parts: readonly MimePart[], boundary: string): Uint8Array {
  if (!BOUNDARY_RE.test(boundary)) malformed('boundary has a forbidden character or length');
  if (parts.length === 0 || parts.length > MAX_PARTS) malformed('a multipart body needs 1 to 16 parts');
  const dash = `--${boundary}`;
  const chunks: Uint8Array[] = [];
  for (const part of parts) {
    const text = latin1(part.content);
    if (text.startsWith(dash) || text.includes(`\n${dash}`)) malformed('body part contains the boundary');
    let head = `${dash}\r\n`;
    for (const h of part.headers) {
      if (!isToken(h.name) || /[\r\n]/.test(h.value)) malformed('bad part header (name not a token or value with a line break)');
      head += `${h.name}: ${h.value}\r\n`;
    }
    chunks.push(Buffer.from(`${head}\r\n`, 'utf8'), part.content, Buffer.from('\r\n', 'latin1'));
  }
  chunks.push(Buffer.from(`${dash}--\r\n`, 'latin1'));
  const out = new Uint8Array(Buffer.concat(chunks));
  if (out.length > MAX_BODY_BYTES) throw new SipBodyError(413, `body over ${MAX_BODY_BYTES} bytes`);
  return out;
}

const DEFAULT_PART_TYPE = 'text/plain; charset=us-ascii';

/** A part's media type; RFC 2045 §5.2 default when it has no Content-Type. */
export function partMediaType(part: MimePart): MediaType {
  const values = headerValues(part.headers, 'content-type');
  if (values.length > 1) malformed('body part with several Content-Type headers');
  return parseMediaType(values[0] ?? DEFAULT_PART_TYPE, malformed);
}

/** A part's content with its Content-Transfer-Encoding (RFC 2045 §6) undone. */
export function decodePartContent(part: MimePart): Uint8Array {
  const values = headerValues(part.headers, 'content-transfer-encoding');
  if (values.length > 1) malformed('body part with several Content-Transfer-Encoding headers');
  const cte = (values[0] ?? '7bit').toLowerCase();
  if (cte === '7bit' || cte === '8bit' || cte === 'binary') return part.content;
  if (cte !== 'base64') return unsupported(`Content-Transfer-Encoding ${cte.slice(0, 40)} not supported`);
  return decodeBase64Mime(latin1(part.content)) ?? malformed('invalid base64 in body part');
}

// --- the sipsec body: MIKEY + SDP (seed 003 §5.2) ---------------------------

export interface SipsecParts {
  readonly mikey?: Uint8Array;
  readonly sdp?: string;
}

const SIPSEC_BOUNDARY = 'sipsec-mikey-sdp';

/**
 * Build the body of an INVITE/200 OK: the MIKEY part first, base64 with an
 * explicit Content-Transfer-Encoding (so Wireshark decodes it), then the SDP.
 * The boundary is deterministic: the first of sipsec-mikey-sdp,
 * sipsec-mikey-sdp-1, ... that the SDP does not contain.
 */
export function buildSipsecBody(input: { mikey: Uint8Array; sdp: string }): { contentType: string; body: Uint8Array } {
  if (input.mikey.length === 0) malformed('empty MIKEY message');
  const sdp = Buffer.from(input.sdp, 'utf8');
  let boundary = SIPSEC_BOUNDARY;
  for (let n = 1; sdp.toString('latin1').includes(`--${boundary}`); n++) boundary = `${SIPSEC_BOUNDARY}-${n}`;
  const body = buildMultipart(
    [
      {
        headers: [
          { name: 'Content-Type', value: 'application/mikey' },
          { name: 'Content-Transfer-Encoding', value: 'base64' },
        ],
        content: Buffer.from(encodeBase64Mime(input.mikey), 'latin1'),
      },
      { headers: [{ name: 'Content-Type', value: 'application/sdp' }], content: sdp },
    ],
    boundary,
  );
  return { contentType: `multipart/mixed;boundary=${boundary}`, body };
}

/**
 * Take the MIKEY message and the SDP out of a SIP body.  Accepts
 * multipart/mixed (parts in any order; other parts ignored unless marked
 * `handling=required`), a bare application/sdp body and a bare
 * application/mikey body.  A MIKEY part without Content-Transfer-Encoding is
 * base64 when it consists of base64 characters only (minisip); a binary
 * MIKEY message starts with version byte 0x01, never a base64 character.
 */
export function extractSipsecParts(contentType: string, body: Uint8Array): SipsecParts {
  if (body.length > MAX_BODY_BYTES) throw new SipBodyError(413, `body over ${MAX_BODY_BYTES} bytes`);
  const mt = parseMediaType(contentType, malformed);
  const kind = `${mt.type}/${mt.subtype}`;
  if (kind === 'application/mikey') return { mikey: mikeyBytes(body, false) };
  if (kind === 'application/sdp') return { sdp: sdpText(body) };
  if (kind !== 'multipart/mixed') return unsupported(`body type ${formatMediaType({ ...mt, params: new Map() })} not supported`);
  const mp = parseMultipart(body, multipartBoundary(mt));
  let mikey: Uint8Array | undefined;
  let sdp: string | undefined;
  for (const part of mp.parts) {
    const pt = partMediaType(part);
    const partKind = `${pt.type}/${pt.subtype}`;
    if (partKind === 'application/mikey') {
      if (mikey !== undefined) malformed('two application/mikey parts');
      mikey = mikeyBytes(decodePartContent(part), hasTransferEncoding(part));
    } else if (partKind === 'application/sdp') {
      if (sdp !== undefined) malformed('two application/sdp parts');
      sdp = sdpText(decodePartContent(part));
    } else if (isRequired(part)) {
      unsupported(`required body part of type ${partKind} not supported`);
    }
  }
  return { ...(mikey !== undefined ? { mikey } : {}), ...(sdp !== undefined ? { sdp } : {}) };
}

function hasTransferEncoding(part: MimePart): boolean {
  return headerValues(part.headers, 'content-transfer-encoding').some((v) => v.toLowerCase() === 'base64');
}

/** RFC 3261 §20.11 / RFC 5621: Content-Disposition ...;handling=required. */
function isRequired(part: MimePart): boolean {
  const cd = headerValues(part.headers, 'content-disposition')[0];
  if (cd === undefined) return false;
  const params = parseParams(splitTopLevel(cd, ';', malformed).slice(1), malformed);
  return params.get('handling')?.toLowerCase() === 'required';
}

function mikeyBytes(content: Uint8Array, alreadyDecoded: boolean): Uint8Array {
  let bytes = content;
  if (!alreadyDecoded) {
    const text = latin1(content);
    if (looksLikeBase64(text)) bytes = decodeBase64Mime(text) ?? malformed('invalid base64 in MIKEY body');
  }
  if (bytes.length === 0) malformed('empty MIKEY message');
  return bytes;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function sdpText(content: Uint8Array): string {
  try {
    return utf8.decode(content);
  } catch {
    return malformed('SDP body is not UTF-8');
  }
}
