/**
 * HTTP Digest authentication for SIP REGISTER/INVITE (RFC 3261 §22.4,
 * RFC 2617 §3.2, RFC 7616 §3.4): answer a WWW-Authenticate or
 * Proxy-Authenticate challenge with an Authorization/Proxy-Authorization
 * value.
 *
 *   challenge = "Digest" LWS digest-cln *(COMMA digest-cln)
 *   digest-cln = realm / domain / nonce / opaque / stale / algorithm
 *                / qop-options / auth-param
 *
 *   A1       = username ":" realm ":" password
 *              (-sess: H(A1) ":" nonce ":" cnonce)
 *   A2       = Method ":" digest-uri     (auth-int: ... ":" H(body))
 *   response = H( H(A1) ":" nonce ":" nc ":" cnonce ":" qop ":" H(A2) )
 *              (no qop, RFC 2069 style: H( H(A1) ":" nonce ":" H(A2) ))
 *
 * The password and H(A1) never leave this module (not in errors, not in
 * return values other than the digest response).
 */
import { createHash, randomBytes } from 'node:crypto';
import { DigestError } from './errors.js';
import { parseParams, quote, splitTopLevel } from './grammar.js';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess';

const HASH: Record<string, string> = { md5: 'md5', 'sha-256': 'sha256', 'sha-512-256': 'sha512-256' };

export interface DigestChallenge {
  readonly realm: string;
  readonly nonce: string;
  readonly opaque: string | null;
  readonly algorithm: DigestAlgorithm;
  /** qop options offered, lower-case; empty when the challenge has no qop. */
  readonly qop: readonly string[];
  readonly stale: boolean;
}

const fail = (detail: string): never => {
  throw new DigestError(detail);
};

const ALGORITHMS: readonly DigestAlgorithm[] = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess', 'SHA-512-256', 'SHA-512-256-sess'];

/** Parse one Digest challenge (the value of one WWW-/Proxy-Authenticate header). */
export function parseDigestChallenge(value: string): DigestChallenge {
  const m = /^digest\s+(.*)$/is.exec(value.trim());
  if (m === null) return fail('not a Digest challenge');
  const params = parseParams(splitTopLevel(m[1], ',', fail), fail);
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  if (realm === undefined || realm === null) return fail('challenge without realm');
  if (nonce === undefined || nonce === null || nonce === '') return fail('challenge without nonce');
  const algRaw = params.get('algorithm') ?? 'MD5';
  const algorithm = ALGORITHMS.find((a) => a.toLowerCase() === algRaw.toLowerCase());
  if (algorithm === undefined) return fail(`digest algorithm ${algRaw.slice(0, 30)} not supported`);
  const qopRaw = params.get('qop');
  const qop = qopRaw === undefined || qopRaw === null ? [] : qopRaw.split(',').map((q) => q.trim().toLowerCase());
  return {
    realm,
    nonce,
    opaque: params.get('opaque') ?? null,
    algorithm,
    qop,
    stale: (params.get('stale') ?? '').toLowerCase() === 'true',
  };
}

export interface DigestCredentials {
  readonly username: string;
  readonly password: string;
}

export interface DigestRequest {
  readonly method: string;
  /** digest-uri: the Request-URI as sent. */
  readonly uri: string;
  /** Message body, needed only when the server offers qop=auth-int alone. */
  readonly body?: Uint8Array;
}

export interface DigestOptions {
  /** Client nonce; random 128-bit hex when omitted. */
  readonly cnonce?: string;
  /** Nonce count (how often this nonce was used, starting at 1). */
  readonly nc?: number;
}

/**
 * Compute the credentials value (for Authorization or Proxy-Authorization)
 * answering `challenge`.  qop=auth is preferred; auth-int is used only when
 * it is all the server offers and a body is given.
 */
export function digestAuthorization(
  challenge: string | DigestChallenge,
  creds: DigestCredentials,
  req: DigestRequest,
  opts: DigestOptions = {},
): string {
  const ch = typeof challenge === 'string' ? parseDigestChallenge(challenge) : challenge;
  const base = ch.algorithm.replace(/-sess$/, '').toLowerCase();
  const hashName = HASH[base] ?? fail('digest algorithm not supported');
  const H = (s: string | Uint8Array): string => createHash(hashName).update(s).digest('hex');
  let qop: 'auth' | 'auth-int' | null = null;
  if (ch.qop.includes('auth')) qop = 'auth';
  else if (ch.qop.includes('auth-int')) {
    if (req.body === undefined) fail('qop=auth-int needs the message body');
    qop = 'auth-int';
  } else if (ch.qop.length > 0) fail('no supported qop offered');
  const nc = opts.nc ?? 1;
  if (!Number.isInteger(nc) || nc < 1 || nc > 0xffffffff) fail('nonce count out of range');
  const ncHex = nc.toString(16).padStart(8, '0');
  const cnonce = opts.cnonce ?? randomBytes(16).toString('hex');
  if (cnonce === '' || /["\\\r\n]/.test(cnonce)) fail('bad cnonce');
  if (/[\r\n]/.test(creds.username + req.uri + req.method)) fail('line break in digest input');

  let ha1 = H(`${creds.username}:${ch.realm}:${creds.password}`);
  if (ch.algorithm.endsWith('-sess')) ha1 = H(`${ha1}:${ch.nonce}:${cnonce}`);
  const a2 = qop === 'auth-int' ? `${req.method}:${req.uri}:${H(req.body ?? new Uint8Array())}` : `${req.method}:${req.uri}`;
  const response =
    qop === null ? H(`${ha1}:${ch.nonce}:${H(a2)}`) : H(`${ha1}:${ch.nonce}:${ncHex}:${cnonce}:${qop}:${H(a2)}`);

  const fields = [
    `username=${quote(creds.username)}`,
    `realm=${quote(ch.realm)}`,
    `nonce=${quote(ch.nonce)}`,
    `uri=${quote(req.uri)}`,
    `response="${response}"`,
    `algorithm=${ch.algorithm}`,
  ];
  if (qop !== null) fields.push(`cnonce=${quote(cnonce)}`);
  if (ch.opaque !== null) fields.push(`opaque=${quote(ch.opaque)}`);
  if (qop !== null) fields.push(`qop=${qop}`, `nc=${ncHex}`);
  return `Digest ${fields.join(', ')}`;
}
