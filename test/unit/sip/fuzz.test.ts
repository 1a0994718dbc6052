/**
 * Deterministic mutation loops (~10k inputs per parser): only SipError
 * subclasses may escape, and the fuzz targets' round trips must hold.
 */
import { describe, expect, it } from 'vitest';
import { nextInput, Prng } from '../../../src/fuzz/mutate.js';
import { digestAuthorization } from '../../../src/sip/digest.js';
import { SipError } from '../../../src/sip/errors.js';
import { parseVia } from '../../../src/sip/fields.js';
import { fuzzOneMultipart, fuzzOneSipMessage } from '../../../src/sip/fuzz-target.js';
import { parseSipMessage } from '../../../src/sip/message.js';
import { buildSipsecBody, extractSipsecParts } from '../../../src/sip/multipart.js';
import { buildAudioSdp, mediaFlows } from '../../../src/sip/sdp.js';
import { parseNameAddr, parseSipUri } from '../../../src/sip/uri.js';
import { MINISIP_BODY_LINES, minisipInvite } from './minisip-seed.js';

const N = 10_000;
const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

/** Text-aware extra mutation: splice in a token the grammars care about. */
const DICT = ['\r\n', '\n', '\r\n\r\n', ' ', '\t', '"', '\\', '<', '>', ';', ',', ':', '=', '%', '%4', '@', '[', ']', '--', '--b', '--boun=_dry', '--boun=_dry--', 'Content-Length: 99999', 'l: 0', 'boundary=', 'base64', '=='];
function mutate(seeds: readonly Uint8Array[], r: Prng): Uint8Array {
  let d = nextInput(seeds, r);
  for (let k = r.below(3); k > 0; k--) {
    const tok = enc(DICT[r.below(DICT.length)]);
    const at = r.below(d.length + 1);
    const out = new Uint8Array(d.length + tok.length);
    out.set(d.subarray(0, at));
    out.set(tok, at);
    out.set(d.subarray(at), at + tok.length);
    d = out;
  }
  return d;
}

/** Run f on N mutated inputs; return the count that parsed, rethrow anything untyped. */
function loop(seeds: readonly Uint8Array[], seed: number, f: (d: Uint8Array) => void): number {
  const r = new Prng(seed);
  let ok = 0;
  for (let i = 0; i < N; i++) {
    const d = mutate(seeds, r);
    try {
      f(d);
      ok++;
    } catch (e) {
      if (!(e instanceof SipError)) throw new Error(`untyped ${String(e)} on input ${Buffer.from(d).toString('base64')}`);
    }
  }
  return ok;
}

const sipSeeds = [
  minisipInvite(),
  enc('SIP/2.0 401 Unauthorized\r\nv: SIP/2.0/UDP h;branch=z9hG4bKx;rport=5060;received=192.0.2.1\r\nf: "A" <sip:a@b>;tag=1\r\nt: <sip:b@c>\r\ni: x@y\r\nCSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm="r", nonce="n", qop="auth"\r\nWarning: 301 h "t"\r\nm: <sip:a@[::1]:5060>;expires=60, *\r\nl: 0\r\n\r\n'),
];
const sipsec = buildSipsecBody({ mikey: Uint8Array.from({ length: 100 }, (_, i) => i), sdp: buildAudioSdp({ address: '192.0.2.1', port: 4000, sessionId: '1' }) });
const multipartSeeds = [
  enc(`multipart/mixed; boundary=boun=_dry\n${MINISIP_BODY_LINES.join('\r\n')}`),
  new Uint8Array(Buffer.concat([Buffer.from(`${sipsec.contentType}\n`), sipsec.body])),
  enc('multipart/mixed; boundary="b b"\npre\r\n--b b \r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b b--\r\nepi'),
];

describe('fuzz loops (deterministic, 10k inputs each)', () => {
  it('fuzzOneSipMessage: parser, framing, accessors, serialize round trip', () => {
    const r = new Prng(1);
    for (let i = 0; i < N; i++) fuzzOneSipMessage(mutate(sipSeeds, r));
    // the loop reaches the parser's accepting paths, not only its rejections
    expect(loop(sipSeeds, 11, (d) => parseSipMessage(d))).toBeGreaterThan(N / 4);
  });

  it('fuzzOneMultipart: extract, parse, part accessors, build round trip', () => {
    const r = new Prng(2);
    for (let i = 0; i < N; i++) fuzzOneMultipart(mutate(multipartSeeds, r));
    const extract = (d: Uint8Array): unknown => {
      const nl = d.indexOf(0x0a);
      return extractSipsecParts(Buffer.from(d.subarray(0, Math.max(nl, 0))).toString('latin1'), d.subarray(nl + 1));
    };
    expect(loop(multipartSeeds, 12, extract)).toBeGreaterThan(N / 10);
  });

  it('URI, name-addr and Via parsers', () => {
    const seeds = ['sip:user;par=u%40example.net@example.com:5060;lr;x=y?h=v&a=b', '"A \\" b" <sips:[2001:db8::1]:5061;transport=tcp>;tag=x;q=0.5', 'SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1;rport;received=1.2.3.4'].map(enc);
    const text = (d: Uint8Array): string => Buffer.from(d).toString('utf8');
    expect(loop(seeds, 3, (d) => parseSipUri(text(d)))).toBeGreaterThan(0);
    expect(loop(seeds, 4, (d) => parseNameAddr(text(d)))).toBeGreaterThan(0);
    expect(loop(seeds, 5, (d) => parseVia(text(d)))).toBeGreaterThan(0);
  });

  it('digest challenge parser and SDP media flows', () => {
    const text = (d: Uint8Array): string => Buffer.from(d).toString('utf8');
    const ch = [enc('Digest realm="r@h", qop="auth,auth-int", nonce="abc", opaque="o", algorithm=SHA-256-sess, stale=TRUE')];
    const req = { method: 'INVITE', uri: 'sip:b@c', body: new Uint8Array(1) };
    expect(loop(ch, 6, (d) => digestAuthorization(text(d), { username: 'u', password: 'p' }, req, { cnonce: 'c' }))).toBeGreaterThan(0);
    const sdps = [enc('v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:4001\r\nm=video 4002 RTP/AVP 31\r\nc=IN IP6 ::1\r\na=rtcp-mux\r\n')];
    expect(loop(sdps, 7, (d) => mediaFlows(text(d)))).toBeGreaterThan(0);
  });
});
