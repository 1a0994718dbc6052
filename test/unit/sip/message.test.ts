import { describe, expect, it } from 'vitest';
import { SipError, SipParseError } from '../../../src/sip/errors.js';
import {
  callId,
  contacts,
  contentType,
  cseq,
  fromHeader,
  headerList,
  maxForwards,
  parseVia,
  singleHeader,
  toHeader,
  vias,
  warnings,
} from '../../../src/sip/fields.js';
import { frameFromStream, MAX_MESSAGE_BYTES, parseSipMessage, serializeSipMessage, type SipMessage } from '../../../src/sip/message.js';
import { extractSipsecParts } from '../../../src/sip/multipart.js';
import { formatNameAddr, formatSipUri, parseNameAddr, parseSipUri } from '../../../src/sip/uri.js';
import { MINISIP_SDP, minisipInvite } from './minisip-seed.js';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

function parseError(f: () => unknown): SipParseError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SipParseError);
    return e as SipParseError;
  }
  throw new Error('expected a SipParseError');
}

describe("minisip's INVITE (seed 003 §5.2)", () => {
  const msg = parseSipMessage(minisipInvite());

  it('parses the request line and the headers', () => {
    expect(msg.kind).toBe('request');
    if (msg.kind !== 'request') return;
    expect(msg.method).toBe('INVITE');
    expect(msg.uri).toBe('sip:orrblad@ssvl.kth.se;user=phone');
    expect(msg.headers.map((h) => h.name)).toEqual([
      'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'User-Agent', 'Content-Type', 'Via', 'Content-Length',
    ]);
  });

  it('gives typed header values', () => {
    const from = fromHeader(msg);
    expect(from.tag).toBe('952824928');
    expect(parseSipUri(from.uri)).toMatchObject({ user: 'joachim', host: 'ssvl.kth.se', params: new Map([['user', 'phone']]) });
    expect(toHeader(msg).tag).toBeNull();
    expect(callId(msg)).toBe('196120334@192.16.125.178');
    expect(cseq(msg)).toEqual({ seq: 401, method: 'INVITE' });
    const c = contacts(msg);
    expect(c).not.toBe('*');
    if (c === '*') return;
    expect(c[0].params.get('expires')).toBe('1000');
    expect(parseSipUri(c[0].uri)).toMatchObject({ host: '192.16.125.178', port: 5050 });
    expect(parseSipUri(c[0].uri).params.get('transport')).toBe('UDP');
    expect(vias(msg)).toMatchObject([{ transport: 'UDP', host: '192.16.125.178', port: 5050, branch: 'z9hG4bK697135402', rport: null }]);
    expect(maxForwards(msg)).toBeUndefined();
  });

  it('hands its body to extractSipsecParts', () => {
    const parts = extractSipsecParts(singleHeader(msg, 'content-type')!, msg.body);
    expect(parts.mikey?.length).toBe(310);
    expect(parts.sdp).toBe(`${MINISIP_SDP.join('\r\n')}\r\n`);
  });
});

describe('serializeSipMessage', () => {
  const msg: SipMessage = {
    kind: 'request',
    method: 'REGISTER',
    uri: 'sip:example.org',
    headers: [
      { name: 'Via', value: 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport' },
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: '<sip:alice@example.org>;tag=a1' },
      { name: 'To', value: '<sip:alice@example.org>' },
      { name: 'Call-ID', value: 'c1@192.0.2.1' },
      { name: 'CSeq', value: '1 REGISTER' },
      { name: 'Content-Length', value: '999' },
    ],
    body: bytes('hello'),
  };
  const wire =
    'REGISTER sip:example.org SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport\r\n' +
    'Max-Forwards: 70\r\n' +
    'From: <sip:alice@example.org>;tag=a1\r\n' +
    'To: <sip:alice@example.org>\r\n' +
    'Call-ID: c1@192.0.2.1\r\n' +
    'CSeq: 1 REGISTER\r\n' +
    'Content-Length: 5\r\n' +
    '\r\n' +
    'hello';

  it('writes CRLF lines and a Content-Length equal to the body (byte-exact)', () => {
    expect(text(serializeSipMessage(msg))).toBe(wire);
  });

  it('writes a status line and parses it back', () => {
    const res: SipMessage = { kind: 'response', status: 180, reason: 'Ringing Now', headers: [], body: new Uint8Array() };
    const out = serializeSipMessage(res);
    expect(text(out)).toBe('SIP/2.0 180 Ringing Now\r\nContent-Length: 0\r\n\r\n');
    expect(parseSipMessage(out)).toMatchObject({ kind: 'response', status: 180, reason: 'Ringing Now' });
  });

  it('refuses line breaks in header values (header injection)', () => {
    const bad: SipMessage = { ...msg, headers: [{ name: 'Subject', value: 'x\r\nVia: evil' }] };
    expect(parseError(() => serializeSipMessage(bad)).status).toBe(400);
    expect(parseError(() => serializeSipMessage({ ...msg, headers: [{ name: 'Bad: name', value: 'x' }] })).status).toBe(400);
    expect(parseError(() => serializeSipMessage({ ...msg, uri: 'sip:a b' })).status).toBe(400);
    expect(parseError(() => serializeSipMessage({ ...msg, method: 'IN VITE' })).status).toBe(400);
    const res: SipMessage = { kind: 'response', status: 99, reason: 'x', headers: [], body: new Uint8Array() };
    expect(parseError(() => serializeSipMessage(res)).status).toBe(400);
    expect(parseError(() => serializeSipMessage({ ...res, status: 200, reason: 'OK\r\nVia: x' })).status).toBe(400);
  });
});

describe('RFC 4475-style torture cases', () => {
  // Unusual whitespace, folding, mixed case and compact forms, in the style
  // of RFC 4475 §3.1.1.1 ("A Short Tortuous INVITE").
  const tortuous = [
    'INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0',
    'TO :',
    ' sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n',
    'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>',
    '  ;',
    '  tag = 98asjd8',
    'MaX-fOrWaRdS: 0068',
    'Call-ID: wsinv.ndaksdj@192.0.2.1',
    'Content-Length   : 4',
    'cseq: 0009',
    '  INVITE',
    'Via  : SIP  /   2.0',
    ' /UDP',
    '    192.0.2.2;branch=390skdjuw',
    's :',
    'NewFangledHeader:   newfangled value',
    ' continued newfangled value',
    'UnknownHeaderWithUnusualValue: ;;,,;;,;',
    'c: application/sdp',
    'v:  SIP  / 2.0  / TCP     spindle.example.com   ;',
    '  branch  =   z9hG4bK9ikj8  ,',
    ' SIP  /    2.0   / UDP  192.168.255.111   ; branch=',
    ' z9hG4bK30239',
    'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =',
    '      newvalue ;',
    '  secondparam ; q = 0.33',
    '',
    'v=0\r\n',
  ].join('\r\n');
  const msg = parseSipMessage(bytes(tortuous));

  it('unfolds, expands compact forms and ignores name case', () => {
    expect(msg.body.length).toBe(4);
    expect(singleHeader(msg, 'subject')).toBe('');
    expect(singleHeader(msg, 'NEWFANGLEDHEADER')).toBe('newfangled value continued newfangled value');
    expect(singleHeader(msg, 'UnknownHeaderWithUnusualValue')).toBe(';;,,;;,;');
    expect(contentType(msg)).toEqual({ type: 'application', subtype: 'sdp', params: new Map() });
    expect(msg.headers.find((h) => h.value.startsWith('SIP  / 2.0'))?.name).toBe('Via');
  });

  it('reads the typed values through the whitespace', () => {
    expect(toHeader(msg)).toMatchObject({ uri: 'sip:vivekg@chair-dnrc.example.com', tag: '1918181833n', displayName: null });
    expect(fromHeader(msg)).toMatchObject({ displayName: 'J Rosenberg \\"', uri: 'sip:jdrosen@example.com', tag: '98asjd8' });
    expect(maxForwards(msg)).toBe(68);
    expect(cseq(msg)).toEqual({ seq: 9, method: 'INVITE' });
    expect(vias(msg).map((v) => [v.transport, v.host, v.branch])).toEqual([
      ['UDP', '192.0.2.2', '390skdjuw'],
      ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', 'z9hG4bK30239'],
    ]);
    const c = contacts(msg);
    if (c === '*') throw new Error('unexpected *');
    expect(c[0].displayName).toBe('Quoted string ""');
    expect([...c[0].params]).toEqual([['newparam', 'newvalue'], ['secondparam', null], ['q', '0.33']]);
  });

  it('decodes escaped user parts (RFC 4475 §3.1.1.2-style)', () => {
    expect(parseSipUri('sip:sips%3Auser%40example.com@example.net').user).toBe('sips:user@example.com');
    expect(parseSipUri('sip:%75se%72@example.com').user).toBe('user');
    expect(parseSipUri('sip:user;par=u%40example.net@example.com')).toMatchObject({ user: 'user;par=u@example.net', host: 'example.com' });
    expect(parseSipUri('sip:null-%00-null@example.com').user).toBe('null-\u0000-null');
    expect(parseError(() => parseSipUri('sip:bad%4@example.com')).status).toBe(400);
    expect(parseError(() => parseSipUri('sip:bad%C3@example.com')).status).toBe(400);
  });

  it('rejects malformed messages with 400, an unknown version with 505', () => {
    const base = 'Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n';
    expect(parseError(() => parseSipMessage(bytes(`INVITE  sip:a@b SIP/2.0\r\n${base}`))).status).toBe(400);
    expect(parseError(() => parseSipMessage(bytes(`INVITE sip:a@b; lr SIP/2.0\r\n${base}`))).status).toBe(400);
    expect(parseError(() => parseSipMessage(bytes(`INVITE sip:a@b SIP/7.0\r\n${base}`))).status).toBe(505);
    expect(parseError(() => parseSipMessage(bytes('INVITE sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n'))).status).toBe(400);
    expect(parseError(() => parseSipMessage(bytes('INVITE sip:a@b SIP/2.0\r\nl: 9\r\n\r\nshort'))).status).toBe(400);
    expect(parseError(() => parseSipMessage(bytes('INVITE sip:a@b SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nab'))).status).toBe(400);
    expect(parseError(() => parseSipMessage(bytes('INVITE sip:a@b SIP/2.0\r\nNo colon\r\n\r\n'))).status).toBe(400);
    expect(parseError(() => parseSipMessage(bytes('INVITE sip:a@b SIP/2.0\r\n continuation first\r\n\r\n'))).status).toBe(400);
    expect(parseError(() => parseSipMessage(bytes('INVITE sip:a@b SIP/2.0\r\nVia: x'))).status).toBe(400);
    expect(parseError(() => parseSipMessage(bytes('SIP/2.0 2000 OK\r\n\r\n'))).status).toBe(400);
  });

  it('rejects unbalanced quotes and brackets in typed values', () => {
    const m = (h: string): SipMessage => parseSipMessage(bytes(`OPTIONS sip:a@b SIP/2.0\r\n${h}\r\n\r\n`));
    expect(parseError(() => fromHeader(m('From: "Bob <sip:bob@b.org>;tag=1'))).status).toBe(400);
    expect(parseError(() => fromHeader(m('From: Bob <sip:bob@b.org;tag=1'))).status).toBe(400);
    expect(parseError(() => toHeader(m('To: sip:a@b, sip:c@d'))).status).toBe(400);
    expect(parseError(() => callId(m('X: y'))).status).toBe(400);
    expect(parseError(() => cseq(m('CSeq: 4294967296 INVITE'))).status).toBe(400);
    expect(parseError(() => maxForwards(m('Max-Forwards: 256'))).status).toBe(400);
    expect(parseError(() => vias(m('Via: SIP/2.0/UDP host:99999'))).status).toBe(400);
    expect(parseError(() => vias(m('Via: SIP/2.0/UDP [::1;branch=x'))).status).toBe(400);
  });

  it('bounds message size (513) and header count (400)', () => {
    expect(parseError(() => parseSipMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1))).status).toBe(513);
    const many = `OPTIONS sip:a@b SIP/2.0\r\n${'X: y\r\n'.repeat(129)}\r\n`;
    expect(parseError(() => parseSipMessage(bytes(many))).status).toBe(400);
  });
});

describe('comma lists, name-addr, URIs, Via, Warning', () => {
  const m = parseSipMessage(
    bytes(
      'SIP/2.0 200 OK\r\n' +
        'Via: SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bKa;received=192.0.2.9;rport=40000, SIP/2.0/TCP b.example;branch=z9hG4bKb;rport\r\n' +
        'Via: SIP/2.0/TLS c.example\r\n' +
        'Contact: "Smith, Bob" <sip:bob@b.example;x=1,2>;expires=60, <sips:[2001:db8::2]:5061;transport=tcp>\r\n' +
        'Warning: 307 isi.edu "Session parameter \'foo\' not understood", 301 isi.edu "Incompatible network address type \'E.164\'"\r\n' +
        'Content-Length: 0\r\n\r\n',
    ),
  );

  it('splits lists outside quotes and angle brackets, across header lines', () => {
    expect(headerList(m, 'via')).toHaveLength(3);
    const c = contacts(m);
    if (c === '*') throw new Error('unexpected *');
    expect(c.map((x) => x.displayName)).toEqual(['Smith, Bob', null]);
    expect(c[0].uri).toBe('sip:bob@b.example;x=1,2');
  });

  it('reads Via received/rport/branch and IPv6 sent-by', () => {
    expect(vias(m).map((v) => [v.host, v.port, v.branch, v.received, v.rport])).toEqual([
      ['2001:db8::1', 5070, 'z9hG4bKa', '192.0.2.9', 40000],
      ['b.example', null, 'z9hG4bKb', null, true],
      ['c.example', null, null, null, null],
    ]);
    expect(parseVia('SIP / 2.0 / udp h : 5060 ;branch=z9hG4bK2')).toMatchObject({ transport: 'UDP', host: 'h', port: 5060 });
  });

  it('reads Warning values', () => {
    expect(warnings(m)).toEqual([
      { code: 307, agent: 'isi.edu', text: "Session parameter 'foo' not understood" },
      { code: 301, agent: 'isi.edu', text: "Incompatible network address type 'E.164'" },
    ]);
  });

  it('parses name-addr and addr-spec forms', () => {
    expect(parseNameAddr('"Bob" <sip:bob@example.org>;tag=x')).toEqual({
      displayName: 'Bob', uri: 'sip:bob@example.org', params: new Map([['tag', 'x']]),
    });
    expect(parseNameAddr('Bob  Smith <sip:bob@example.org>').displayName).toBe('Bob  Smith');
    // addr-spec: the ;tag belongs to the header, not to the URI (RFC 3261 §20.10)
    expect(parseNameAddr('sip:bob@example.org;tag=y')).toEqual({ displayName: null, uri: 'sip:bob@example.org', params: new Map([['tag', 'y']]) });
    expect(parseNameAddr('<tel:+1-201-555-0123>').uri).toBe('tel:+1-201-555-0123');
    expect(formatNameAddr(parseNameAddr('"B \\"x\\"" <sip:b@c>;tag=1'))).toBe('"B \\"x\\"" <sip:b@c>;tag=1');
    expect(contacts(parseSipMessage(bytes('REGISTER sip:a SIP/2.0\r\nm: *\r\n\r\n')))).toBe('*');
  });

  it('parses and formats SIP URIs', () => {
    const u = parseSipUri('SIPS:alice:secret@[2001:DB8::1]:5061;transport=tcp;lr?subject=project%20x&priority=urgent');
    expect(u).toEqual({
      scheme: 'sips', user: 'alice', password: 'secret', host: '2001:DB8::1', port: 5061,
      params: new Map([['transport', 'tcp'], ['lr', null]]),
      headers: [['subject', 'project x'], ['priority', 'urgent']],
    });
    expect(formatSipUri(u)).toBe('sips:alice:secret@[2001:DB8::1]:5061;transport=tcp;lr?subject=project%20x&priority=urgent');
    expect(formatSipUri(parseSipUri('sip:sips%3Auser%40example.com@Example.NET'))).toBe('sip:sips%3Auser%40example.com@example.net'); // ":" would start a password
    for (const bad of ['http://x', 'sip:', 'sip:a@', 'sip:a b@c', 'sip:a@b:0', 'sip:a@b:x', 'sip:a@[::1', 'sip:a@b;;x', 'sip:a@b?h']) {
      expect(parseError(() => parseSipUri(bad)).status).toBe(400);
    }
  });
});

describe('frameFromStream (RFC 3261 §18.3)', () => {
  const one = 'OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 3\r\n\r\nabc';
  const two = 'SIP/2.0 200 OK\r\nCall-ID: 2\r\nl: 0\r\n\r\n';

  it('takes messages off the front, skipping keep-alive CRLFs', () => {
    const buf = bytes(`\r\n\r\n${one}${two}OPT`);
    const r1 = frameFromStream(buf);
    if ('needMore' in r1) throw new Error('needMore');
    expect(text(r1.message.body)).toBe('abc');
    expect(callId(r1.message)).toBe('1');
    const r2 = frameFromStream(r1.rest);
    if ('needMore' in r2) throw new Error('needMore');
    expect(r2.message).toMatchObject({ kind: 'response', status: 200 });
    expect(text(r2.rest)).toBe('OPT');
    expect(frameFromStream(r2.rest)).toEqual({ needMore: true, rest: r2.rest });
  });

  it('asks for more until the header section and the body are complete', () => {
    for (let cut = 0; cut < one.length; cut++) {
      const part = bytes(one.slice(0, cut));
      expect(frameFromStream(part)).toEqual({ needMore: true, rest: part });
    }
    expect('message' in frameFromStream(bytes(one))).toBe(true);
  });

  it('drops keep-alive CRLFs while waiting, keeping a lone trailing CR', () => {
    expect(text(frameFromStream(bytes('\r\n\r\n')).rest)).toBe('');
    expect(text(frameFromStream(bytes('\r\n\r')).rest)).toBe('\r');
    expect(text(frameFromStream(bytes('\r\nOPT')).rest)).toBe('OPT');
  });

  it('requires Content-Length and bounds the size', () => {
    expect(parseError(() => frameFromStream(bytes('OPTIONS sip:a@b SIP/2.0\r\n\r\n'))).status).toBe(400);
    expect(parseError(() => frameFromStream(bytes('OPTIONS sip:a@b SIP/2.0\r\nl: 70000\r\n\r\n'))).status).toBe(513);
    expect(parseError(() => frameFromStream(new Uint8Array(MAX_MESSAGE_BYTES + 10).fill(0x41))).status).toBe(513);
  });

  it('over UDP, treats a missing Content-Length as "rest of datagram" and drops bytes beyond it', () => {
    expect(text(parseSipMessage(bytes('OPTIONS sip:a@b SIP/2.0\r\n\r\nxyz')).body)).toBe('xyz');
    expect(text(parseSipMessage(bytes('OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\n\r\nxyz')).body)).toBe('x');
  });

  it('throws only SipError subclasses', () => {
    expect(parseError(() => parseSipMessage(bytes('garbage'))) instanceof SipError).toBe(true);
  });
});
