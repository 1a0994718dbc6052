/**
 * Fuzz entry points for the SIP-side parsers (the src/fuzz loop calls them
 * with mutated inputs).  Each throws only on a bug: an error that is not a
 * SipError escaped, or a round trip changed what was parsed.  A SipError on
 * bad input is the expected outcome and is swallowed.
 */
import { isDeepStrictEqual } from 'node:util';
import { SipError } from './errors.js';
import { callId, contacts, contentType, cseq, fromHeader, maxForwards, toHeader, vias, warnings } from './fields.js';
import { frameFromStream, parseSipMessage, serializeSipMessage, type SipMessage } from './message.js';
import { buildMultipart, decodePartContent, extractSipsecParts, parseMultipart, partMediaType, type MimePart } from './multipart.js';

/** Run `f`; a SipError becomes `undefined`, anything else propagates. */
function typed<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof SipError) return undefined;
    throw e;
  }
}

const comparable = (m: SipMessage): unknown => ({
  ...m,
  headers: m.headers.filter((h) => h.name !== 'Content-Length'),
  body: Buffer.from(m.body).toString('hex'),
});

/** SIP parser, stream framing, every typed accessor, serialize/reparse. */
export function fuzzOneSipMessage(data: Uint8Array): void {
  typed(() => frameFromStream(data));
  const msg = typed(() => parseSipMessage(data));
  if (msg === undefined) return;
  for (const accessor of [vias, fromHeader, toHeader, callId, cseq, contacts, maxForwards, contentType, warnings]) {
    typed(() => accessor(msg));
  }
  const wire = typed(() => serializeSipMessage(msg));
  if (wire === undefined) return;
  if (!isDeepStrictEqual(comparable(parseSipMessage(wire)), comparable(msg))) {
    throw new Error('SIP serialize/parse round trip changed the message');
  }
}

const partsHex = (parts: readonly MimePart[]): unknown =>
  parts.map((p) => ({ headers: p.headers, content: Buffer.from(p.content).toString('hex') }));

/**
 * Multipart parser: the first line of `data` is the Content-Type, the rest
 * the body (so mutations reach both).  Also the part accessors and a
 * build/reparse round trip of the parts.
 */
export function fuzzOneMultipart(data: Uint8Array): void {
  const nl = data.indexOf(0x0a);
  const contentTypeText = Buffer.from(nl < 0 ? data : data.subarray(0, nl)).toString('latin1').trim();
  const body = nl < 0 ? new Uint8Array() : data.subarray(nl + 1);
  typed(() => extractSipsecParts(contentTypeText, body));
  const boundary = /boundary="?([^";]*)/i.exec(contentTypeText)?.[1];
  if (boundary === undefined) return;
  const mp = typed(() => parseMultipart(body, boundary));
  if (mp === undefined) return;
  for (const part of mp.parts) {
    typed(() => partMediaType(part));
    typed(() => decodePartContent(part));
  }
  const rebuilt = typed(() => buildMultipart(mp.parts, boundary));
  if (rebuilt === undefined) return;
  if (!isDeepStrictEqual(partsHex(parseMultipart(rebuilt, boundary).parts), partsHex(mp.parts))) {
    throw new Error('multipart build/parse round trip changed the parts');
  }
}
