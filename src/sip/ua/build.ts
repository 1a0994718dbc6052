/**
 * Building SIP requests and responses (RFC 3261 §8.1.1, §8.2.6, §12.1.1)
 * and the identifiers in them: branch (§8.1.1.7, magic cookie z9hG4bK), tags
 * (§19.3), Call-ID (§8.1.1.4).
 */
import { randomBytes } from 'node:crypto';
import { headerValues, type Header } from '../headers.js';
import type { SipMessage, SipRequest, SipResponse } from '../message.js';

export const BRANCH_COOKIE = 'z9hG4bK';
export const newBranch = (): string => `${BRANCH_COOKIE}${randomBytes(8).toString('hex')}`;
export const newTag = (): string => randomBytes(6).toString('hex');
export const newCallId = (host: string): string => `${randomBytes(10).toString('hex')}@${host}`;

export const header = (msg: SipMessage, name: string): string | undefined => headerValues(msg.headers, name)[0];

/** Replace (or append) every header called `name` by one with `value`. */
export function withHeader(headers: readonly Header[], name: string, value: string): Header[] {
  const lower = name.toLowerCase();
  const i = headers.findIndex((h) => h.name.toLowerCase() === lower);
  const rest = headers.filter((h) => h.name.toLowerCase() !== lower);
  const at = i < 0 ? rest.length : i;
  return [...rest.slice(0, at), { name, value }, ...rest.slice(at)];
}

export const REASONS: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  481: 'Call/Transaction Does Not Exist',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  500: 'Server Internal Error',
  503: 'Service Unavailable',
  505: 'Version Not Supported',
  513: 'Message Too Large',
};

export interface ResponseOptions {
  readonly toTag?: string;
  readonly headers?: readonly Header[];
  readonly body?: Uint8Array;
  readonly reason?: string;
}

/**
 * A response to `req` (§8.2.6.2): Via, From, Call-ID and CSeq copied, To
 * copied with our tag added when it has none (not for 100, §8.2.6.2), and
 * Record-Route copied for dialog-creating responses (§12.1.1).
 */
export function buildResponse(req: SipRequest, status: number, opts: ResponseOptions = {}): SipResponse {
  const copy = (name: string): Header[] => req.headers.filter((h) => h.name.toLowerCase() === name.toLowerCase());
  let to = header(req, 'To') ?? '';
  if (status > 100 && opts.toTag !== undefined && !/;\s*tag=/i.test(to)) to += `;tag=${opts.toTag}`;
  const recordRoute = req.method === 'INVITE' && status > 100 && status < 300 ? copy('Record-Route') : [];
  return {
    kind: 'response',
    status,
    reason: opts.reason ?? REASONS[status] ?? 'Unknown',
    headers: [
      ...copy('Via'),
      ...recordRoute,
      ...copy('From'),
      { name: 'To', value: to },
      ...copy('Call-ID'),
      ...copy('CSeq'),
      ...(opts.headers ?? []),
    ],
    body: opts.body ?? new Uint8Array(),
  };
}
