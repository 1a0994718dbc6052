/**
 * SIP message framing, parsing and serialization (RFC 3261 §7, §18.3, §25).
 *
 *   generic-message = start-line *message-header CRLF [ message-body ]
 *   Request-Line    = Method SP Request-URI SP SIP-Version CRLF
 *   Status-Line     = SIP-Version SP Status-Code SP Reason-Phrase CRLF
 *
 *   INVITE sip:bob@biloxi.com SIP/2.0 CRLF
 *   Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds CRLF
 *   ...                                                 CRLF
 *   Content-Length: 142 CRLF
 *   CRLF
 *   <142 bytes of body>
 *
 * Header names are case-insensitive; compact forms (§7.3.3) are expanded to
 * the long name on parse.  Over UDP (§18.3) Content-Length may be absent
 * (the body is the rest of the datagram) and extra bytes after it are
 * dropped; over a stream it is mandatory and frames the message.
 */
import { SipParseError } from './errors.js';
import { isToken, latin1 } from './grammar.js';
import { parseHeaderLines, splitLines, type Header } from './headers.js';

export type { Header } from './headers.js';

export const MAX_MESSAGE_BYTES = 64 * 1024;
export const MAX_HEADERS = 128;

const fail = (detail: string): never => {
  throw new SipParseError(detail);
};

export interface SipRequest {
  readonly kind: 'request';
  readonly method: string;
  readonly uri: string;
  readonly headers: readonly Header[];
  readonly body: Uint8Array;
}

export interface SipResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly Header[];
  readonly body: Uint8Array;
}

export type SipMessage = SipRequest | SipResponse;

/** RFC 3261 §7.3.3 compact forms. */
const COMPACT: Record<string, string> = {
  v: 'Via',
  f: 'From',
  t: 'To',
  i: 'Call-ID',
  m: 'Contact',
  l: 'Content-Length',
  c: 'Content-Type',
  k: 'Supported',
  s: 'Subject',
  e: 'Content-Encoding',
};

/** Canonical spelling of the header names we read or write. */
const CANONICAL = new Map(
  [
    'Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Max-Forwards', 'Content-Length',
    'Content-Type', 'Content-Encoding', 'Content-Disposition', 'Supported', 'Require', 'Subject',
    'Route', 'Record-Route', 'Allow', 'Accept', 'Expires', 'User-Agent', 'Server', 'Warning',
    'WWW-Authenticate', 'Proxy-Authenticate', 'Authorization', 'Proxy-Authorization', 'Unsupported',
  ].map((n) => [n.toLowerCase(), n]),
);

/** Long, canonical form of a header name as received. */
export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return COMPACT[lower] ?? CANONICAL.get(lower) ?? name;
}

const TOKEN = "[A-Za-z0-9\\-.!%*_+`'~]+";
const REQUEST_LINE = new RegExp(`^(${TOKEN}) ([A-Za-z][A-Za-z0-9+\\-.]*:\\S+) (SIP/[0-9]+\\.[0-9]+)$`, 'i');
const STATUS_LINE = /^(SIP\/[0-9]+\.[0-9]+) ([1-6][0-9]{2}) ([^\r\n]*)$/i;

function checkVersion(version: string): void {
  if (version.toUpperCase() !== 'SIP/2.0') throw new SipParseError(`unsupported version ${version.slice(0, 20)}`, 505);
}

/** Where the header section ends: index of the blank line and its length. */
function headerEnd(s: string): { at: number; len: number } | null {
  const m = /\r?\n\r?\n/.exec(s);
  return m === null ? null : { at: m.index, len: m[0].length };
}

/** Start line and headers of a message whose header section is `head` (no body yet). */
function parseHead(head: string): SipMessage {
  const text = Buffer.from(head, 'latin1').toString('utf8');
  const [startLine, ...lines] = splitLines(text);
  const headers = parseHeaderLines(lines, MAX_HEADERS, fail).map((h) => ({
    name: canonicalHeaderName(h.name),
    value: h.value,
  }));
  const start = parseStartLine(startLine) ?? fail('malformed start line');
  checkVersion(start.version);
  const body = new Uint8Array();
  return start.kind === 'request'
    ? { kind: 'request', method: start.method, uri: start.uri, headers, body }
    : { kind: 'response', status: start.status, reason: start.reason, headers, body };
}

type StartLine =
  | { kind: 'request'; method: string; uri: string; version: string }
  | { kind: 'response'; status: number; reason: string; version: string };

/** Request-Line or Status-Line (§7.1, §7.2), or null. */
function parseStartLine(line: string): StartLine | null {
  const req = REQUEST_LINE.exec(line);
  if (req !== null) return { kind: 'request', method: req[1], uri: req[2], version: req[3] };
  const res = STATUS_LINE.exec(line);
  if (res !== null) return { kind: 'response', status: Number(res[2]), reason: res[3], version: res[1] };
  return null;
}

/** Content-Length (§20.14); repeated headers must agree. */
function contentLength(msg: SipMessage): number | null {
  const values = msg.headers.filter((h) => h.name === 'Content-Length').map((h) => h.value);
  if (values.length === 0) return null;
  if (values.some((v) => v !== values[0])) fail('conflicting Content-Length headers');
  if (!/^[0-9]{1,6}$/.test(values[0])) fail('bad Content-Length');
  return Number(values[0]);
}

/** Parse one SIP message carried in a datagram (RFC 3261 §18.3). */
export function parseSipMessage(datagram: Uint8Array): SipMessage {
  if (datagram.length > MAX_MESSAGE_BYTES) throw new SipParseError(`message over ${MAX_MESSAGE_BYTES} bytes`, 513);
  const s = latin1(datagram);
  const end = headerEnd(s);
  if (end === null) return fail('no blank line after headers');
  const msg = parseHead(s.slice(0, end.at));
  const bodyStart = end.at + end.len;
  const length = contentLength(msg);
  const available = datagram.length - bodyStart;
  if (length !== null && length > available) fail('Content-Length beyond end of datagram');
  return { ...msg, body: datagram.slice(bodyStart, bodyStart + (length ?? available)) };
}

export type FrameResult =
  | { readonly message: SipMessage; readonly rest: Uint8Array }
  | { readonly needMore: true; readonly rest: Uint8Array };

/**
 * Take one message off the front of a stream buffer (TCP/TLS, RFC 3261
 * §18.3): leading CRLFs (keep-alives, RFC 5626 §3.5.1) are skipped,
 * Content-Length is required.  Either a message and what follows it, or
 * `needMore` with the buffer minus the skipped CRLFs; in both cases the
 * caller continues with `rest` (so a stream of keep-alives does not pile up).
 */
export function frameFromStream(buffer: Uint8Array): FrameResult {
  let start = 0;
  while (start < buffer.length && (buffer[start] === 0x0d || buffer[start] === 0x0a)) start++;
  // Keep a lone trailing CR: it may be the first half of a CRLF keep-alive.
  if (start === buffer.length && start > 0 && buffer[start - 1] === 0x0d) start--;
  const needMore = { needMore: true, rest: buffer.subarray(start) } as const;
  const window = latin1(buffer.subarray(start, start + MAX_MESSAGE_BYTES + 4));
  const end = headerEnd(window);
  if (end === null) {
    if (window.length >= MAX_MESSAGE_BYTES) throw new SipParseError('header section over size limit', 513);
    return needMore;
  }
  const msg = parseHead(window.slice(0, end.at));
  const length = contentLength(msg);
  if (length === null) return fail('Content-Length missing on a stream transport');
  const total = end.at + end.len + length;
  if (total > MAX_MESSAGE_BYTES) throw new SipParseError(`message over ${MAX_MESSAGE_BYTES} bytes`, 513);
  if (buffer.length - start < total) return needMore;
  const bodyStart = start + end.at + end.len;
  return { message: { ...msg, body: buffer.slice(bodyStart, bodyStart + length) }, rest: buffer.subarray(start + total) };
}

/**
 * Serialize with CRLF line ends; Content-Length is always written last and
 * always equals the body length (any Content-Length in `headers` is dropped).
 */
export function serializeSipMessage(msg: SipMessage): Uint8Array {
  // Everything is checked against the grammar this module parses, so a
  // value cannot smuggle in a line (header injection).
  let head: string;
  if (msg.kind === 'request') {
    head = `${msg.method} ${msg.uri} SIP/2.0`;
  } else {
    if (!Number.isInteger(msg.status) || msg.status < 100 || msg.status > 699) fail('status code not 100-699');
    head = `SIP/2.0 ${msg.status} ${msg.reason}`;
  }
  if (/[\r\n]/.test(head) || parseStartLine(head) === null) fail('malformed start line');
  head += '\r\n';
  for (const h of msg.headers) {
    if (canonicalHeaderName(h.name) === 'Content-Length') continue;
    if (!isToken(h.name) || /[\r\n]/.test(h.value)) fail(`bad header ${h.name.slice(0, 40)}`);
    head += `${h.name}: ${h.value}\r\n`;
  }
  head += `Content-Length: ${msg.body.length}\r\n\r\n`;
  const out = new Uint8Array(Buffer.concat([Buffer.from(head, 'utf8'), msg.body]));
  if (out.length > MAX_MESSAGE_BYTES) throw new SipParseError(`message over ${MAX_MESSAGE_BYTES} bytes`, 513);
  return out;
}
