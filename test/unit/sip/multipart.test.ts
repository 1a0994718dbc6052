import { describe, expect, it } from 'vitest';
import { decodeBase64Mime, encodeBase64Mime } from '../../../src/sip/base64.js';
import { SipBodyError } from '../../../src/sip/errors.js';
import {
  buildMultipart,
  buildSipsecBody,
  decodePartContent,
  extractSipsecParts,
  MAX_BODY_BYTES,
  parseMultipart,
  partMediaType,
} from '../../../src/sip/multipart.js';
import { MINISIP_B64, MINISIP_BODY_LINES, MINISIP_SDP } from './minisip-seed.js';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const crlf = (lines: string[]): string => lines.join('\r\n');

function bodyError(f: () => unknown): SipBodyError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SipBodyError);
    return e as SipBodyError;
  }
  throw new Error('expected a SipBodyError');
}

describe('minisip body (seed 003 §5.2)', () => {
  const expectedPrefix = Buffer.from(MINISIP_B64.join('').slice(0, 412), 'base64');

  for (const [name, eol] of [['CRLF', '\r\n'], ['bare LF', '\n']] as const) {
    it(`extracts the base64 MIKEY part without CTE and the SDP (${name})`, () => {
      const body = bytes(MINISIP_BODY_LINES.join(eol));
      const got = extractSipsecParts('multipart/mixed; boundary=boun=_dry', body);
      expect(got.mikey).toBeDefined();
      expect(expectedPrefix.length).toBe(309);
      expect(got.mikey!.length).toBe(310);
      expect(Buffer.from(got.mikey!.subarray(0, 309)).equals(expectedPrefix)).toBe(true);
      expect(got.mikey![0]).toBe(0x01); // MIKEY version 1
      expect(got.sdp).toBe(MINISIP_SDP.join(eol) + eol);
    });
  }

  it('sees the lower-case "Content-type" header and the unquoted "=" boundary', () => {
    const mp = parseMultipart(bytes(crlf(MINISIP_BODY_LINES)), 'boun=_dry');
    expect(mp.parts).toHaveLength(2);
    expect(mp.parts.map((p) => partMediaType(p).subtype)).toEqual(['mikey', 'sdp']);
    expect(mp.parts[0].headers).toEqual([{ name: 'Content-type', value: 'application/mikey' }]);
    expect(text(mp.preamble)).toBe('');
    expect(text(mp.epilogue)).toBe('');
  });
});

describe('buildSipsecBody', () => {
  const mikey = Uint8Array.from({ length: 60 }, (_, i) => i + 1);
  const sdp = 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=sipsec\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

  it('emits the MIKEY part first with CTE base64, then the SDP (byte-exact)', () => {
    const b64 = Buffer.from(mikey).toString('base64');
    expect(b64.length).toBe(80);
    const { contentType, body } = buildSipsecBody({ mikey, sdp });
    expect(contentType).toBe('multipart/mixed;boundary=sipsec-mikey-sdp');
    expect(text(body)).toBe(
      '--sipsec-mikey-sdp\r\n' +
        'Content-Type: application/mikey\r\n' +
        'Content-Transfer-Encoding: base64\r\n' +
        '\r\n' +
        `${b64.slice(0, 76)}\r\n${b64.slice(76)}\r\n` +
        '--sipsec-mikey-sdp\r\n' +
        'Content-Type: application/sdp\r\n' +
        '\r\n' +
        sdp +
        '\r\n' +
        '--sipsec-mikey-sdp--\r\n',
    );
  });

  it('round-trips through extractSipsecParts', () => {
    const { contentType, body } = buildSipsecBody({ mikey, sdp });
    const got = extractSipsecParts(contentType, body);
    expect(Buffer.from(got.mikey!).equals(Buffer.from(mikey))).toBe(true);
    expect(got.sdp).toBe(sdp);
  });

  it('picks another boundary when the SDP contains the default one', () => {
    const tricky = `${sdp}a=x:--sipsec-mikey-sdp\r\n`;
    const { contentType, body } = buildSipsecBody({ mikey, sdp: tricky });
    expect(contentType).toBe('multipart/mixed;boundary=sipsec-mikey-sdp-1');
    expect(extractSipsecParts(contentType, body).sdp).toBe(tricky);
  });

  it('rejects an empty MIKEY message', () => {
    expect(bodyError(() => buildSipsecBody({ mikey: new Uint8Array(), sdp })).status).toBe(400);
  });
});

describe('extractSipsecParts: single-part bodies', () => {
  it('accepts a bare application/sdp body', () => {
    expect(extractSipsecParts('application/sdp', bytes('v=0\r\n'))).toEqual({ sdp: 'v=0\r\n' });
  });
  it('accepts a bare application/mikey body, binary or base64', () => {
    const raw = Uint8Array.of(1, 0, 5, 0xff, 0x80);
    expect(extractSipsecParts('application/mikey', raw).mikey).toEqual(raw);
    const b64 = bytes(Buffer.from(raw).toString('base64') + '\r\n');
    expect(extractSipsecParts('Application/MIKEY', b64).mikey).toEqual(raw);
  });
  it('answers 415 for other media types and multipart subtypes', () => {
    expect(bodyError(() => extractSipsecParts('text/plain', bytes('x'))).status).toBe(415);
    expect(bodyError(() => extractSipsecParts('multipart/alternative;boundary=x', bytes('x'))).status).toBe(415);
  });
  it('answers 400 for a malformed Content-Type and for non-UTF-8 SDP', () => {
    expect(bodyError(() => extractSipsecParts('application', bytes('x'))).status).toBe(400);
    expect(bodyError(() => extractSipsecParts('application/sdp; x="unterminated', bytes('x'))).status).toBe(400);
    expect(bodyError(() => extractSipsecParts('application/sdp', Uint8Array.of(0xc3, 0x28))).status).toBe(400);
  });
});

describe('parseMultipart (RFC 2046 §5.1)', () => {
  // The example of RFC 2046 §5.1.1: quoted boundary with a space, preamble,
  // a part without headers, a part without final line break, epilogue.
  const rfcExample = crlf([
    'This is the preamble.  It is to be ignored, though it',
    'is a handy place for composition agents to include an',
    'explanatory note to non-MIME conformant readers.',
    '',
    '--simple boundary',
    '',
    'This is implicitly typed plain US-ASCII text.',
    'It does NOT end with a linebreak.',
    '--simple boundary',
    'Content-type: text/plain; charset=us-ascii',
    '',
    'This is explicitly typed plain US-ASCII text.',
    'It DOES end with a linebreak.',
    '',
    '--simple boundary--',
    '',
    'This is the epilogue.  It is also to be ignored.',
  ]);

  it('parses the RFC 2046 §5.1.1 example', () => {
    const mp = parseMultipart(bytes(rfcExample), 'simple boundary');
    expect(text(mp.preamble)).toBe(
      'This is the preamble.  It is to be ignored, though it\r\nis a handy place for composition agents to include an\r\nexplanatory note to non-MIME conformant readers.\r\n',
    );
    expect(mp.parts[0].headers).toEqual([]);
    expect(text(mp.parts[0].content)).toBe('This is implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak.');
    expect(partMediaType(mp.parts[0])).toEqual({ type: 'text', subtype: 'plain', params: new Map([['charset', 'us-ascii']]) });
    expect(text(mp.parts[1].content)).toBe('This is explicitly typed plain US-ASCII text.\r\nIt DOES end with a linebreak.\r\n');
    // close-delimiter transport-padding [CRLF epilogue]: the blank line is the epilogue's.
    expect(text(mp.epilogue)).toBe('\r\nThis is the epilogue.  It is also to be ignored.');
  });

  it('takes the quoted boundary from the Content-Type', () => {
    const got = extractSipsecParts('multipart/mixed; boundary="simple boundary"', bytes(rfcExample));
    expect(got).toEqual({}); // only text/plain parts: nothing for sipsec, no error
  });

  it('accepts transport padding after a delimiter and after the close delimiter', () => {
    const mp = parseMultipart(bytes('--b \t\r\n\r\nA\r\n--b\t\r\n\r\nB\r\n--b-- \r\n'), 'b');
    expect(mp.parts.map((p) => text(p.content))).toEqual(['A', 'B']);
  });

  it('keeps boundary-like lines that are not delimiters inside a part', () => {
    const body = crlf(['--b', '', '--bx', 'x--b', '--b-x', ' --b', '--b', '', 'two', '--b--']);
    const mp = parseMultipart(bytes(body), 'b');
    expect(mp.parts.map((p) => text(p.content))).toEqual(['--bx\r\nx--b\r\n--b-x\r\n --b', 'two']);
  });

  it('keeps binary content and an empty part', () => {
    const body = Buffer.concat([Buffer.from('--b\r\n\r\n\r\n--b\r\n\r\n'), Buffer.from([0, 0xff, 13, 10, 13]), Buffer.from('\r\n--b--')]);
    const mp = parseMultipart(new Uint8Array(body), 'b');
    expect(mp.parts[0].content.length).toBe(0);
    expect([...mp.parts[1].content]).toEqual([0, 0xff, 13, 10, 13]);
  });

  it('rejects a body without close delimiter, without delimiter, or without parts', () => {
    expect(bodyError(() => parseMultipart(bytes('--b\r\n\r\nA\r\n--b\r\n\r\nB\r\n'), 'b')).status).toBe(400);
    expect(bodyError(() => parseMultipart(bytes('just text'), 'b')).status).toBe(400);
    expect(bodyError(() => parseMultipart(bytes('--b--\r\n'), 'b')).status).toBe(400);
  });

  it('rejects a part whose headers are not ended by a blank line, and bad part headers', () => {
    expect(bodyError(() => parseMultipart(bytes('--b\r\nContent-Type: a/b\r\n--b--'), 'b')).status).toBe(400);
    expect(bodyError(() => parseMultipart(bytes('--b\r\nno colon here\r\n\r\nx\r\n--b--'), 'b')).status).toBe(400);
  });

  it('checks the boundary parameter: present, 1-70 bchars, no trailing space', () => {
    const body = bytes('--b\r\n\r\nx\r\n--b--');
    expect(bodyError(() => extractSipsecParts('multipart/mixed', body)).status).toBe(400);
    expect(bodyError(() => extractSipsecParts('multipart/mixed;boundary="a@b"', body)).status).toBe(400);
    expect(bodyError(() => extractSipsecParts('multipart/mixed;boundary="ab "', body)).status).toBe(400);
    expect(bodyError(() => extractSipsecParts(`multipart/mixed;boundary=${'x'.repeat(71)}`, body)).status).toBe(400);
    expect(() => parseMultipart(bytes(`--${'x'.repeat(70)}\r\n\r\nx\r\n--${'x'.repeat(70)}--`), 'x'.repeat(70))).not.toThrow();
  });

  it('bounds the body size and the part count (413)', () => {
    expect(bodyError(() => parseMultipart(new Uint8Array(MAX_BODY_BYTES + 1), 'b')).status).toBe(413);
    const many = `${'--b\r\n\r\nx\r\n'.repeat(17)}--b--`;
    expect(bodyError(() => parseMultipart(bytes(many), 'b')).status).toBe(413);
  });
});

describe('extractSipsecParts: multipart rules', () => {
  const mp = (parts: string[]): Uint8Array => bytes(`${parts.map((p) => `--b\r\n${p}\r\n`).join('')}--b--\r\n`);
  const ct = 'multipart/mixed;boundary=b';

  it('decodes a base64 MIKEY part with CTE and keeps a binary one', () => {
    const b64 = mp(['Content-Type: application/mikey\r\nContent-Transfer-Encoding: BASE64\r\n\r\nAQID\r\nBA==']);
    expect([...extractSipsecParts(ct, b64).mikey!]).toEqual([1, 2, 3, 4]);
    const bin = mp(['Content-Type: application/mikey\r\nContent-Transfer-Encoding: binary\r\n\r\n\x01\x00\x05']);
    expect([...extractSipsecParts(ct, bin).mikey!]).toEqual([1, 0, 5]);
  });

  it('rejects invalid base64 (400) and unsupported transfer encodings (415)', () => {
    const bad = mp(['Content-Type: application/mikey\r\nContent-Transfer-Encoding: base64\r\n\r\nAQ!D']);
    expect(bodyError(() => extractSipsecParts(ct, bad)).status).toBe(400);
    const qp = mp(['Content-Type: application/sdp\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nv=3D0']);
    expect(bodyError(() => extractSipsecParts(ct, qp)).status).toBe(415);
  });

  it('ignores unknown optional parts, refuses unknown required parts (415)', () => {
    const optional = mp(['Content-Type: text/plain\r\n\r\nhi', 'Content-Type: application/sdp\r\n\r\nv=0']);
    expect(extractSipsecParts(ct, optional)).toEqual({ sdp: 'v=0' });
    const required = mp(['Content-Type: application/foo\r\nContent-Disposition: session;handling=required\r\n\r\nhi']);
    expect(bodyError(() => extractSipsecParts(ct, required)).status).toBe(415);
  });

  it('rejects two MIKEY parts or two SDP parts', () => {
    const two = mp(['Content-Type: application/sdp\r\n\r\nv=0', 'Content-Type: application/sdp\r\n\r\nv=0']);
    expect(bodyError(() => extractSipsecParts(ct, two)).status).toBe(400);
    const twoMikey = mp(['Content-Type: application/mikey\r\n\r\nAQID', 'Content-Type: application/mikey\r\n\r\nAQID']);
    expect(bodyError(() => extractSipsecParts(ct, twoMikey)).status).toBe(400);
  });

  it('reads the part Content-Type case-insensitively and rejects two of them', () => {
    expect(extractSipsecParts(ct, mp(['CONTENT-TYPE: Application/SDP\r\n\r\nv=0'])).sdp).toBe('v=0');
    const dup = mp(['Content-Type: application/sdp\r\ncontent-type: application/sdp\r\n\r\nv=0']);
    expect(bodyError(() => extractSipsecParts(ct, dup)).status).toBe(400);
  });
});

describe('buildMultipart', () => {
  it('serializes parts byte-exactly and parses back', () => {
    const parts = [
      { headers: [{ name: 'Content-Type', value: 'text/plain' }], content: bytes('one') },
      { headers: [], content: bytes('two\r\n') },
    ];
    const out = buildMultipart(parts, 'xyz');
    expect(text(out)).toBe('--xyz\r\nContent-Type: text/plain\r\n\r\none\r\n--xyz\r\n\r\ntwo\r\n\r\n--xyz--\r\n');
    const back = parseMultipart(out, 'xyz').parts;
    expect(back.map((p) => text(p.content))).toEqual(['one', 'two\r\n']);
    expect(decodePartContent(back[0])).toEqual(bytes('one'));
  });

  it('refuses content with a line starting with the dash-boundary, and bad boundaries', () => {
    expect(bodyError(() => buildMultipart([{ headers: [], content: bytes('a\r\n--xyz') }], 'xyz')).status).toBe(400);
    expect(bodyError(() => buildMultipart([{ headers: [], content: bytes('a') }], 'x y ')).status).toBe(400);
    expect(bodyError(() => buildMultipart([], 'xyz')).status).toBe(400);
    const injected = { headers: [{ name: 'Content-Type', value: 'a/b\r\n\r\n--xyz--' }], content: bytes('a') };
    expect(bodyError(() => buildMultipart([injected], 'xyz')).status).toBe(400);
    expect(bodyError(() => buildMultipart([{ headers: [{ name: 'Bad Name', value: 'x' }], content: bytes('a') }], 'xyz')).status).toBe(400);
  });
});

describe('base64 transfer encoding (RFC 2045 §6.8)', () => {
  it('encodes in 76-char CRLF lines', () => {
    const enc = encodeBase64Mime(new Uint8Array(120));
    expect(enc.split('\r\n').map((l) => l.length)).toEqual([76, 76, 8]);
    expect(decodeBase64Mime(enc)).toEqual(new Uint8Array(120));
  });
  it('ignores whitespace, accepts missing padding, rejects garbage and a lone final char', () => {
    expect(decodeBase64Mime(' AQ\r\nID\tBA ')).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(decodeBase64Mime('AQIDBA')).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(decodeBase64Mime('AQIDBA==')).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(decodeBase64Mime('AQ*D')).toBeNull();
    expect(decodeBase64Mime('AQIDB')).toBeNull();
    expect(decodeBase64Mime('AQ==ID')).toBeNull();
    expect(decodeBase64Mime('AQ===')).toBeNull();
  });
});
