import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestAuthorization, parseDigestChallenge } from '../../../src/sip/digest.js';
import { DigestError } from '../../../src/sip/errors.js';

const response = (header: string): string => /response="([0-9a-f]+)"/.exec(header)![1];

describe('digest, RFC 2617 §3.5 example (MD5, qop=auth)', () => {
  const challenge =
    'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"';

  it('parses the challenge', () => {
    expect(parseDigestChallenge(challenge)).toEqual({
      realm: 'testrealm@host.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      opaque: '5ccc069c403ebaf9f0171e9517f40e41',
      algorithm: 'MD5',
      qop: ['auth', 'auth-int'],
      stale: false,
    });
  });

  it('computes the response of the RFC and the full header (byte-exact)', () => {
    const h = digestAuthorization(
      challenge,
      { username: 'Mufasa', password: 'Circle Of Life' },
      { method: 'GET', uri: '/dir/index.html' },
      { cnonce: '0a4f113b', nc: 1 },
    );
    expect(h).toBe(
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
        'uri="/dir/index.html", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", ' +
        'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001',
    );
  });
});

describe('digest, RFC 7616 §3.9.1 example', () => {
  const ch = (alg: string): string =>
    `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${alg}, ` +
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
  const creds = { username: 'Mufasa', password: 'Circle of Life' };
  const req = { method: 'GET', uri: '/dir/index.html' };
  const opts = { cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ', nc: 1 };

  it('SHA-256', () => {
    const h = digestAuthorization(ch('SHA-256'), creds, req, opts);
    expect(response(h)).toBe('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
    expect(h).toContain('algorithm=SHA-256,');
  });

  it('MD5', () => {
    expect(response(digestAuthorization(ch('MD5'), creds, req, opts))).toBe('8ca523f5e9506fed4657c9700eebdbec');
  });
});

describe('digest variants and errors', () => {
  const creds = { username: 'alice', password: 'pw' };
  const req = { method: 'REGISTER', uri: 'sip:example.org' };
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

  it('without qop uses the RFC 2069 form and omits cnonce/nc', () => {
    const h = digestAuthorization('Digest realm="r", nonce="n"', creds, req);
    const expected = md5(`${md5('alice:r:pw')}:n:${md5('REGISTER:sip:example.org')}`);
    expect(h).toBe(`Digest username="alice", realm="r", nonce="n", uri="sip:example.org", response="${expected}", algorithm=MD5`);
  });

  it('MD5-sess hashes nonce and cnonce into HA1', () => {
    const h = digestAuthorization('Digest realm="r", nonce="n", qop=auth, algorithm=MD5-sess', creds, req, { cnonce: 'c', nc: 2 });
    const ha1 = md5(`${md5('alice:r:pw')}:n:c`);
    expect(response(h)).toBe(md5(`${ha1}:n:00000002:c:auth:${md5('REGISTER:sip:example.org')}`));
  });

  it('qop=auth-int alone covers the body', () => {
    const body = new Uint8Array(Buffer.from('v=0\r\n'));
    const h = digestAuthorization('Digest realm="r", nonce="n", qop="auth-int"', creds, { ...req, body }, { cnonce: 'c' });
    expect(response(h)).toBe(md5(`${md5('alice:r:pw')}:n:00000001:c:auth-int:${md5(`REGISTER:sip:example.org:${md5('v=0\r\n')}`)}`));
    expect(() => digestAuthorization('Digest realm="r", nonce="n", qop="auth-int"', creds, req)).toThrow(DigestError);
  });

  it('draws a random cnonce when none is given', () => {
    const a = digestAuthorization('Digest realm="r", nonce="n", qop=auth', creds, req);
    const b = digestAuthorization('Digest realm="r", nonce="n", qop=auth', creds, req);
    expect(/cnonce="([0-9a-f]{32})"/.test(a)).toBe(true);
    expect(a).not.toBe(b);
  });

  it('rejects what it cannot answer, without leaking the password', () => {
    const bad = [
      'Basic realm="r"',
      'Digest nonce="n"',
      'Digest realm="r"',
      'Digest realm="r", nonce="n", algorithm=SHA-1',
      'Digest realm="r", nonce="n", qop="auth-conf"',
      'Digest realm="r, nonce="n"',
    ];
    for (const c of bad) {
      try {
        digestAuthorization(c, { username: 'u', password: 'hunter2-secret' }, req);
        throw new Error(`accepted ${c}`);
      } catch (e) {
        expect(e).toBeInstanceOf(DigestError);
        expect(String((e as Error).message)).not.toContain('hunter2');
      }
    }
  });
});
