/**
 * Lexical helpers shared by the SIP message, URI and MIME codecs.
 *
 * RFC 3261 §25.1 (basic rules) and RFC 2045 §5.1 (MIME parameters):
 *
 *   token         = 1*(alphanum / "-" / "." / "!" / "%" / "*"
 *                     / "_" / "+" / "`" / "'" / "~" )
 *   quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
 *   quoted-pair   = "\" (%x00-09 / %x0B-0C / %x0E-7F)
 *   generic-param = token [ EQUAL gen-value ]
 *   gen-value     = token / host / quoted-string
 *
 * Every function takes a `fail` callback that throws the caller's typed error
 * (SipParseError for messages, SipBodyError for bodies), so no helper ever
 * throws anything untyped.
 */

export type Fail = (detail: string) => never;

const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

export function isToken(s: string): boolean {
  return TOKEN_RE.test(s);
}

/**
 * Split `text` at every `sep` that is outside a quoted string and outside
 * angle brackets (RFC 3261 §7.3.1: "Contact: <sip:a@b;x=1,2>, ..." holds one
 * comma that does not separate values).  Pieces are trimmed; empty pieces are
 * kept so that callers can reject them.
 */
export function splitTopLevel(text: string, sep: ',' | ';', fail: Fail): string[] {
  const out: string[] = [];
  let start = 0;
  let inQuote = false;
  let inAngle = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inQuote) {
      if (c === '\\') i++;
      else if (c === '"') inQuote = false;
    } else if (c === '"') inQuote = true;
    else if (c === '<' && !inAngle) inAngle = true;
    else if (c === '>' && inAngle) inAngle = false;
    else if (c === sep && !inAngle) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (inQuote) fail('unterminated quoted string');
  if (inAngle) fail('unterminated <');
  out.push(text.slice(start).trim());
  return out;
}

/** Remove the quotes and quoted-pair escapes of a quoted-string (RFC 3261 §25.1). */
export function unquote(quoted: string, fail: Fail): string {
  if (quoted.length < 2 || quoted[0] !== '"' || quoted[quoted.length - 1] !== '"') {
    fail('malformed quoted string');
  }
  let out = '';
  for (let i = 1; i < quoted.length - 1; i++) {
    let c = quoted[i];
    if (c === '\\') {
      i++;
      if (i >= quoted.length - 1) fail('dangling escape in quoted string');
      c = quoted[i];
    } else if (c === '"') fail('unescaped quote inside quoted string');
    out += c;
  }
  return out;
}

/** Quote `value` (escaping `"` and `\`) unless it is a token. */
export function quoteIfNeeded(value: string): string {
  return isToken(value) ? value : quote(value);
}

export function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Parameters keyed by lower-case name; a flag parameter has value `null`. */
export type Params = Map<string, string | null>;

/**
 * Parse a parameter list that follows the first `;` of a value:
 * `name[=value]` pieces separated by `;`.  A quoted value is unquoted; an
 * unquoted value runs to the next `;` (lenient: minisip sends
 * `boundary=boun=_dry`, whose value holds a tspecial).  Names are
 * case-insensitive (lower-cased); a repeated name is malformed.
 */
export function parseParams(pieces: readonly string[], fail: Fail): Params {
  const params: Params = new Map();
  for (const piece of pieces) {
    const eq = piece.indexOf('=');
    const name = (eq < 0 ? piece : piece.slice(0, eq)).trim().toLowerCase();
    if (!isToken(name)) fail(`bad parameter name "${name.slice(0, 40)}"`);
    if (params.has(name)) fail(`repeated parameter "${name}"`);
    if (eq < 0) {
      params.set(name, null);
      continue;
    }
    const raw = piece.slice(eq + 1).trim();
    params.set(name, raw.startsWith('"') ? unquote(raw, fail) : raw);
  }
  return params;
}

/** Serialize parameters as `;name=value` (value quoted when not a token). */
export function formatParams(params: Params): string {
  let out = '';
  for (const [name, value] of params) {
    out += value === null ? `;${name}` : `;${name}=${quoteIfNeeded(value)}`;
  }
  return out;
}

/**
 * RFC 2045 §5.1 Content-Type:
 *   content := type "/" subtype *(";" parameter)
 * Type and subtype are case-insensitive and returned lower-case.
 */
export interface MediaType {
  readonly type: string;
  readonly subtype: string;
  readonly params: Params;
}

export function parseMediaType(value: string, fail: Fail): MediaType {
  const [head, ...rest] = splitTopLevel(value, ';', fail);
  const slash = head.indexOf('/');
  if (slash < 0) fail('media type without "/"');
  const type = head.slice(0, slash).trim().toLowerCase();
  const subtype = head.slice(slash + 1).trim().toLowerCase();
  if (!isToken(type) || !isToken(subtype)) fail('malformed media type');
  return { type, subtype, params: parseParams(rest, fail) };
}

export function formatMediaType(mt: MediaType): string {
  return `${mt.type}/${mt.subtype}${formatParams(mt.params)}`;
}

/** Latin-1 view of bytes: one char per byte, so indexes agree with the bytes. */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
