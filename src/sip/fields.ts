/**
 * Typed accessors for the SIP header fields sipsec uses (RFC 3261 §20).
 *
 *   Via          = SIP/2.0/UDP host[:port] *(;via-params)     §20.42
 *                  via-params: branch, received, rport (RFC 3581), maddr, ttl
 *   From / To    = (name-addr / addr-spec) *(;tag=...)        §20.20 §20.39
 *   Call-ID      = word [ "@" word ]                          §20.8
 *   CSeq         = 1*DIGIT LWS Method                         §20.16
 *   Contact      = "*" / contact-param *(COMMA contact-param) §20.10
 *   Max-Forwards = 1*DIGIT                                    §20.22
 *   Content-Type = m-type "/" m-subtype *(;m-parameter)       §20.15
 *   Warning      = warn-code SP warn-agent SP warn-text        §20.43
 *
 * Values that may be comma lists are split outside quotes and <...>.
 * Every problem is a SipParseError (400).
 */
import { SipParseError } from './errors.js';
import { isToken, parseMediaType, parseParams, splitTopLevel, unquote, type MediaType, type Params } from './grammar.js';
import { headerValues } from './headers.js';
import type { SipMessage } from './message.js';
import { parseHostPort, parseNameAddr, type NameAddr } from './uri.js';

const fail = (detail: string): never => {
  throw new SipParseError(detail);
};

/** Values of a header that allows a comma-separated list (§7.3.1). */
export function headerList(msg: SipMessage, name: string): string[] {
  const out: string[] = [];
  for (const v of headerValues(msg.headers, name)) {
    for (const piece of splitTopLevel(v, ',', fail)) {
      if (piece === '') fail(`empty element in ${name} list`);
      out.push(piece);
    }
  }
  return out;
}

/** The single value of a header that must occur at most once. */
export function singleHeader(msg: SipMessage, name: string): string | undefined {
  const values = headerValues(msg.headers, name);
  if (values.length > 1) fail(`${name} occurs more than once`);
  return values[0];
}

function requiredHeader(msg: SipMessage, name: string): string {
  return singleHeader(msg, name) ?? fail(`${name} missing`);
}

export interface Via {
  readonly protocol: string;
  readonly version: string;
  /** Upper-case: UDP, TCP, TLS, SCTP, WS, WSS. */
  readonly transport: string;
  readonly host: string;
  readonly port: number | null;
  readonly branch: string | null;
  readonly received: string | null;
  /** RFC 3581: `true` when the flag is present without a value. */
  readonly rport: number | true | null;
  readonly params: Params;
}

const VIA_RE = new RegExp(
  "^([A-Za-z0-9\\-.!%*_+`'~]+)\\s*/\\s*([A-Za-z0-9\\-.!%*_+`'~]+)\\s*/\\s*([A-Za-z0-9\\-.!%*_+`'~]+)\\s+(\\S[^;]*)(;.*)?$",
  's',
);

export function parseVia(value: string): Via {
  const m = VIA_RE.exec(value);
  if (m === null) return fail('malformed Via');
  // sent-by = host [ COLON port ], COLON = SWS ":" SWS (split, not a regex:
  // "\s*:\s*" backtracks quadratically over long blank runs).
  const { host, port } = parseHostPort(m[4].split(':').map((p) => p.trim()).join(':'));
  const params = parseParams(m[5] === undefined ? [] : splitTopLevel(m[5].slice(1), ';', fail), fail);
  const branch = params.get('branch');
  if (branch === null || (branch !== undefined && !isToken(branch))) fail('bad Via branch');
  const received = params.get('received');
  if (received === null) fail('Via received without value');
  const rportRaw = params.get('rport');
  let rport: number | true | null = null;
  if (rportRaw === null) rport = true;
  else if (rportRaw !== undefined) {
    if (!/^[0-9]{1,5}$/.test(rportRaw) || Number(rportRaw) < 1 || Number(rportRaw) > 65535) fail('bad Via rport');
    rport = Number(rportRaw);
  }
  return {
    protocol: m[1].toUpperCase(),
    version: m[2],
    transport: m[3].toUpperCase(),
    host,
    port,
    branch: branch ?? null,
    received: received ?? null,
    rport,
    params,
  };
}

/** All Via values, topmost first. */
export function vias(msg: SipMessage): Via[] {
  return headerList(msg, 'Via').map(parseVia);
}

export interface Party extends NameAddr {
  readonly tag: string | null;
}

function party(msg: SipMessage, name: 'From' | 'To'): Party {
  const na = parseNameAddr(requiredHeader(msg, name));
  const tag = na.params.get('tag');
  if (tag === null) fail(`${name} tag without value`);
  return { ...na, tag: tag ?? null };
}

export const fromHeader = (msg: SipMessage): Party => party(msg, 'From');
export const toHeader = (msg: SipMessage): Party => party(msg, 'To');

export function callId(msg: SipMessage): string {
  const v = requiredHeader(msg, 'Call-ID');
  if (!/^[\x21-\x7e]+$/.test(v)) fail('bad Call-ID');
  return v;
}

export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

export function cseq(msg: SipMessage): CSeq {
  const m = /^([0-9]{1,10})\s+(\S+)$/.exec(requiredHeader(msg, 'CSeq'));
  if (m === null || !isToken(m[2])) return fail('malformed CSeq');
  const seq = Number(m[1]);
  if (seq >= 2 ** 31) fail('CSeq number not below 2**31');
  return { seq, method: m[2] };
}

/** Contact values, or '*' (REGISTER removing all bindings, §10.2.2). */
export function contacts(msg: SipMessage): NameAddr[] | '*' {
  const list = headerList(msg, 'Contact');
  if (list.length === 1 && list[0] === '*') return '*';
  return list.map(parseNameAddr);
}

export function maxForwards(msg: SipMessage): number | undefined {
  const v = singleHeader(msg, 'Max-Forwards');
  if (v === undefined) return undefined;
  if (!/^[0-9]{1,10}$/.test(v) || Number(v) > 255) fail('bad Max-Forwards');
  return Number(v);
}

export function contentType(msg: SipMessage): MediaType | undefined {
  const v = singleHeader(msg, 'Content-Type');
  return v === undefined ? undefined : parseMediaType(v, fail);
}

export interface Warning {
  readonly code: number;
  readonly agent: string;
  readonly text: string;
}

export function warnings(msg: SipMessage): Warning[] {
  return headerList(msg, 'Warning').map((w) => {
    const m = /^([0-9]{3})\s+(\S+)\s+(".*")$/s.exec(w);
    if (m === null) return fail('malformed Warning');
    return { code: Number(m[1]), agent: m[2], text: unquote(m[3], fail) };
  });
}
