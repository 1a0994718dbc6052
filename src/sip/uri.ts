/**
 * SIP URIs and name-addr values (RFC 3261 §19.1, §20.10, §25.1).
 *
 *   SIP-URI   = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
 *   SIPS-URI  = "sips:" [ userinfo ] hostport uri-parameters [ headers ]
 *   userinfo  = ( user / telephone-subscriber ) [ ":" password ] "@"
 *   hostport  = host [ ":" port ]
 *   host      = hostname / IPv4address / "[" IPv6address "]"
 *   uri-parameters = *( ";" pname [ "=" pvalue ] )
 *   headers   = "?" header *( "&" header )
 *
 *   name-addr    = [ display-name ] LAQUOT addr-spec RAQUOT
 *   display-name = *(token LWS) / quoted-string
 *   (From, To, Contact, Route: (name-addr / addr-spec) *( SEMI param ))
 *
 * No char of uri-parameters or headers may be a literal "@", so the last
 * "@" ends the userinfo ("sip:user;par=u%40example.net@example.com").
 */
import { isIPv6 } from 'node:net';
import { SipParseError } from './errors.js';
import { formatParams, isToken, quote, splitTopLevel, parseParams, unquote, type Params } from './grammar.js';

const fail = (detail: string): never => {
  throw new SipParseError(detail);
};

export interface SipUri {
  readonly scheme: 'sip' | 'sips';
  /** Percent-decoded user, or null. */
  readonly user: string | null;
  readonly password: string | null;
  /** Host name (lower-case), IPv4 literal, or IPv6 literal without brackets. */
  readonly host: string;
  readonly port: number | null;
  /** Percent-decoded parameters, names lower-case. */
  readonly params: Params;
  /** Percent-decoded headers, in order. */
  readonly headers: readonly (readonly [string, string])[];
}

/** Percent-decode (RFC 3986 §2.1); bad escapes or bad UTF-8 are malformed. */
function pctDecode(s: string): string {
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) fail('bad % escape in URI');
  try {
    return decodeURIComponent(s);
  } catch {
    return fail('% escapes in URI are not UTF-8');
  }
}

const USER_RE = /^[A-Za-z0-9\-_.!~*'()%&=+$,;?/]+$/;
const PASSWORD_RE = /^[A-Za-z0-9\-_.!~*'()%&=+$,]*$/;
const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9\-.]*[A-Za-z0-9.])?$/;
const PARAM_RE = /^[A-Za-z0-9\-_.!~*'()%[\]/:&+$]+$/;
const HEADER_RE = /^[A-Za-z0-9\-_.!~*'()%[\]/?:+$]*$/;

/** Parse `host[:port]` (§25.1 hostport); shared with Via sent-by. */
export function parseHostPort(text: string): { host: string; port: number | null } {
  let host: string;
  let rest: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) fail('unterminated IPv6 reference');
    host = text.slice(1, close);
    if (!isIPv6(host)) fail('bad IPv6 reference');
    rest = text.slice(close + 1);
  } else {
    const colon = text.indexOf(':');
    host = (colon < 0 ? text : text.slice(0, colon)).toLowerCase();
    rest = colon < 0 ? '' : text.slice(colon);
    if (!HOSTNAME_RE.test(host)) fail('bad host');
  }
  if (rest === '') return { host, port: null };
  if (!/^:[0-9]{1,5}$/.test(rest)) fail('bad port');
  const port = Number(rest.slice(1));
  if (port < 1 || port > 65535) fail('port out of range');
  return { host, port };
}

export function parseSipUri(text: string): SipUri {
  const m = /^(sips?):(.*)$/is.exec(text);
  if (m === null) return fail('not a sip: or sips: URI');
  const scheme = m[1].toLowerCase() as 'sip' | 'sips';
  let rest = m[2];
  if (/[\s<>"]/.test(rest)) fail('forbidden character in SIP URI');
  let user: string | null = null;
  let password: string | null = null;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(':');
    const rawUser = colon < 0 ? userinfo : userinfo.slice(0, colon);
    if (!USER_RE.test(rawUser)) fail('bad user in SIP URI');
    user = pctDecode(rawUser);
    if (colon >= 0) {
      const rawPassword = userinfo.slice(colon + 1);
      if (!PASSWORD_RE.test(rawPassword)) fail('bad password in SIP URI');
      password = pctDecode(rawPassword);
    }
  }
  const q = rest.indexOf('?');
  const headerText = q < 0 ? null : rest.slice(q + 1);
  const beforeHeaders = q < 0 ? rest : rest.slice(0, q);
  const [hostport, ...paramPieces] = beforeHeaders.split(';');
  const { host, port } = parseHostPort(hostport);
  for (const p of paramPieces) if (!PARAM_RE.test(p.replace('=', ''))) fail('bad URI parameter');
  const rawParams = parseParams(paramPieces, fail);
  const params: Params = new Map();
  for (const [k, v] of rawParams) params.set(pctDecode(k), v === null ? null : pctDecode(v));
  const headers: [string, string][] = [];
  if (headerText !== null) {
    for (const h of headerText.split('&')) {
      const eq = h.indexOf('=');
      if (eq <= 0 || !HEADER_RE.test(h.slice(0, eq)) || !HEADER_RE.test(h.slice(eq + 1))) fail('bad URI header');
      headers.push([pctDecode(h.slice(0, eq)), pctDecode(h.slice(eq + 1))]);
    }
  }
  return { scheme, user, password, host, port, params, headers };
}

/** Escape every char outside `allowed` as %XX of its UTF-8 bytes. */
function pctEncode(s: string, allowed: RegExp): string {
  let out = '';
  for (const ch of s) {
    if (allowed.test(ch) && ch !== '%') out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const USER_CHAR = /^[A-Za-z0-9\-_.!~*'()&=+$,;?/]$/;
const PASSWORD_CHAR = /^[A-Za-z0-9\-_.!~*'()&=+$,]$/;
const PARAM_CHAR = /^[A-Za-z0-9\-_.!~*'()[\]/:&+$]$/;
const HEADER_CHAR = /^[A-Za-z0-9\-_.!~*'()[\]/?:+$]$/;

export function formatSipUri(uri: SipUri): string {
  let out = `${uri.scheme}:`;
  if (uri.user !== null) {
    out += pctEncode(uri.user, USER_CHAR);
    if (uri.password !== null) out += `:${pctEncode(uri.password, PASSWORD_CHAR)}`;
    out += '@';
  }
  out += uri.host.includes(':') ? `[${uri.host}]` : uri.host;
  if (uri.port !== null) out += `:${uri.port}`;
  for (const [k, v] of uri.params) {
    out += `;${pctEncode(k, PARAM_CHAR)}${v === null ? '' : `=${pctEncode(v, PARAM_CHAR)}`}`;
  }
  uri.headers.forEach(([k, v], i) => {
    out += `${i === 0 ? '?' : '&'}${pctEncode(k, HEADER_CHAR)}=${pctEncode(v, HEADER_CHAR)}`;
  });
  return out;
}

export interface NameAddr {
  readonly displayName: string | null;
  /** The URI as written (parse with parseSipUri when it is sip:/sips:). */
  readonly uri: string;
  /** Header parameters after the URI (e.g. tag), names lower-case. */
  readonly params: Params;
}

/** (name-addr / addr-spec) *( SEMI param ), e.g. `"Bob" <sip:bob@b.org>;tag=x`. */
export function parseNameAddr(text: string): NameAddr {
  const t = text.trim();
  let displayName: string | null = null;
  let afterName = t;
  if (t.startsWith('"')) {
    let i = 1;
    while (i < t.length && t[i] !== '"') i += t[i] === '\\' ? 2 : 1;
    if (i >= t.length) fail('unterminated display name');
    displayName = unquote(t.slice(0, i + 1), fail);
    afterName = t.slice(i + 1).trimStart();
    if (!afterName.startsWith('<')) fail('quoted display name without <URI>');
  }
  const lt = afterName.indexOf('<');
  if (lt >= 0) {
    if (displayName === null) {
      const name = afterName.slice(0, lt).trim();
      if (name !== '' && !name.split(/[ \t]+/).every(isToken)) fail('bad display name');
      if (name !== '') displayName = name;
    } else if (lt !== 0) fail('text between display name and <URI>');
    const gt = afterName.indexOf('>', lt);
    if (gt < 0) fail('unterminated <URI>');
    const uri = afterName.slice(lt + 1, gt);
    if (!/^[A-Za-z][A-Za-z0-9+\-.]*:\S+$/.test(uri)) fail('bad URI in name-addr');
    const tail = afterName.slice(gt + 1).trim();
    if (tail !== '' && !tail.startsWith(';')) fail('text after <URI>');
    return { displayName, uri, params: headerParams(tail) };
  }
  const semi = t.indexOf(';');
  const uri = (semi < 0 ? t : t.slice(0, semi)).trim();
  if (!/^[A-Za-z][A-Za-z0-9+\-.]*:[^\s,?]+$/.test(uri)) fail('bad addr-spec');
  return { displayName: null, uri, params: headerParams(semi < 0 ? '' : t.slice(semi)) };
}

function headerParams(tail: string): Params {
  if (tail === '') return new Map();
  return parseParams(splitTopLevel(tail.slice(1), ';', fail), fail);
}

export function formatNameAddr(na: NameAddr): string {
  const name = na.displayName === null ? '' : `${quote(na.displayName)} `;
  return `${name}<${na.uri}>${formatParams(na.params)}`;
}
