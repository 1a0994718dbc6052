/**
 * SIP dialogs (RFC 3261 §12): the state both ends keep from the INVITE and
 * its 2xx, and the requests sent inside a dialog.
 *
 *   dialog id  = Call-ID + local tag + remote tag               §12
 *   route set  = Record-Route of the 2xx, reversed (UAC)        §12.1.2
 *                Record-Route of the INVITE, in order (UAS)      §12.1.1
 *   remote target = Contact of the 2xx (UAC) / the INVITE (UAS)
 *   in-dialog request (§12.2.1.1): loose routing (;lr) -> R-URI = remote
 *   target, Route = route set; strict -> R-URI = first route, Route = rest
 *   plus the remote target.  CSeq: local sequence + 1 (ACK reuses the
 *   INVITE's number, §13.2.2.4).
 */
import { callId, contacts, cseq, fromHeader, headerList, toHeader } from '../fields.js';
import type { Header } from '../headers.js';
import type { SipMessage, SipRequest, SipResponse } from '../message.js';
import { parseNameAddr, parseSipUri } from '../uri.js';
import { isIP } from 'node:net';
import { header } from './build.js';
import type { Target, TransportName } from './transport.js';

export interface Dialog {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  /** From (UAC) / To (UAS) header value without the tag. */
  readonly localParty: string;
  readonly remoteParty: string;
  localSeq: number;
  remoteSeq: number;
  remoteTarget: string;
  readonly routeSet: readonly string[];
}

const withoutTag = (value: string): string => value.replace(/;\s*tag=[^;]*/i, '');

function contactUri(msg: SipMessage): string {
  const c = contacts(msg);
  if (c === '*' || c.length === 0) return '';
  return c[0]!.uri;
}

/** The dialog a UAC gets from a 2xx (or 1xx with tag) to its INVITE (§12.1.2). */
export function uacDialog(invite: SipRequest, res: SipResponse): Dialog {
  return {
    callId: callId(res),
    localTag: fromHeader(invite).tag ?? '',
    remoteTag: toHeader(res).tag ?? '',
    localParty: withoutTag(header(invite, 'From') ?? ''),
    remoteParty: withoutTag(header(res, 'To') ?? ''),
    localSeq: cseq(invite).seq,
    remoteSeq: 0,
    remoteTarget: contactUri(res) || invite.uri,
    routeSet: headerList(res, 'Record-Route').reverse(),
  };
}

/** The dialog a UAS makes when it answers an INVITE with `localTag` (§12.1.1). */
export function uasDialog(invite: SipRequest, localTag: string): Dialog {
  return {
    callId: callId(invite),
    localTag,
    remoteTag: fromHeader(invite).tag ?? '',
    localParty: withoutTag(header(invite, 'To') ?? ''),
    remoteParty: withoutTag(header(invite, 'From') ?? ''),
    localSeq: 0,
    remoteSeq: cseq(invite).seq,
    remoteTarget: contactUri(invite),
    routeSet: headerList(invite, 'Record-Route'),
  };
}

/** Target refresh (§12.2.1.2, §12.2.2): a re-INVITE or its 2xx with a Contact moves the remote target there. */
export function refreshTarget(d: Dialog, msg: SipMessage): void {
  const c = contactUri(msg);
  if (c !== '') d.remoteTarget = c;
}

/** Does `msg` (a request received by us) belong to dialog `d`? */
export function inDialog(d: Dialog, msg: SipMessage): boolean {
  try {
    return callId(msg) === d.callId && fromHeader(msg).tag === d.remoteTag && toHeader(msg).tag === d.localTag;
  } catch {
    return false;
  }
}

const isLoose = (route: string): boolean => parseSipUri(parseNameAddr(route).uri).params.has('lr');

/** A request inside the dialog (§12.2.1.1); CSeq is `seq` or the next local number. */
export function dialogRequest(d: Dialog, method: string, extra: readonly Header[], body: Uint8Array, seq?: number): SipRequest {
  let n = seq;
  if (n === undefined) {
    d.localSeq += 1;
    n = d.localSeq;
  }
  let uri = d.remoteTarget;
  let routes = [...d.routeSet];
  if (routes.length > 0 && !isLoose(routes[0]!)) {
    uri = parseNameAddr(routes[0]!).uri;
    routes = [...routes.slice(1), `<${d.remoteTarget}>`];
  }
  return {
    kind: 'request',
    method,
    uri,
    headers: [
      ...routes.map((r) => ({ name: 'Route', value: r })),
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: `${d.localParty};tag=${d.localTag}` },
      { name: 'To', value: `${d.remoteParty};tag=${d.remoteTag}` },
      { name: 'Call-ID', value: d.callId },
      { name: 'CSeq', value: `${n} ${method}` },
      ...extra,
    ],
    body,
  };
}

/**
 * Where a SIP URI points: host must be an IP literal (the lab has no DNS;
 * names are reached through the outbound proxy), port 5060 by default,
 * ;transport=tcp honoured.
 */
export function uriTarget(uri: string): Target | undefined {
  try {
    const u = parseSipUri(uri);
    if (isIP(u.host) === 0) return undefined;
    const t = (u.params.get('transport') ?? 'udp').toLowerCase();
    return { transport: (t === 'tcp' ? 'tcp' : 'udp') as TransportName, address: u.host, port: u.port ?? 5060 };
  } catch {
    return undefined;
  }
}

/** Next hop of an in-dialog request: the first Route, else the remote target. */
export function dialogNextHop(req: SipRequest): Target | undefined {
  const route = header(req, 'Route');
  return uriTarget(route === undefined ? req.uri : parseNameAddr(route).uri);
}
