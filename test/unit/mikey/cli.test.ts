import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMikey, type MikeyIo } from '../../../src/cli/mikey.js';
import { buildSipsecBody } from '../../../src/sip/multipart.js';
import { ALICE, BOB, PSK } from './modes-fixtures.js';

function io(stdin = ''): MikeyIo & { out: string; err: string } {
  const o = { out: '', err: '', stdin: async () => Uint8Array.from(Buffer.from(stdin)), stdout: (t: string) => void (o.out += t), stderr: (t: string) => void (o.err += t) };
  return o;
}

describe('sipsec mikey (in process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mikey-cli-'));
  const pskFile = join(dir, 'psk');
  writeFileSync(pskFile, Buffer.from(PSK).toString('hex') + '\n');

  it('offer -> decode with the PSK -> answer -> verify, keys equal', async () => {
    const state = join(dir, 'state.json');
    const a = io();
    expect(await runMikey(['offer', '--mode', 'psk', '--psk-file', pskFile, '--id', ALICE, '--peer-id', BOB, '--addr', '192.0.2.1', '--spi', '4096', '--state', state], a)).toBe(0);
    expect(statSync(state).mode & 0o777).toBe(0o600);
    const offer = a.out.trim();

    const d = io(offer);
    expect(await runMikey(['decode', '--psk-file', pskFile, '--show-keys'], d)).toBe(0);
    expect(d.out).toContain('CSB ID');
    expect(d.out).toContain('CS ID map type: 7');
    expect(d.out).toContain('MAC: verified');
    expect(d.out).toMatch(/TGK: [0-9a-f]{64}/);

    // The same offer inside a SIP INVITE body.
    const body = buildSipsecBody({ mikey: Uint8Array.from(Buffer.from(offer, 'base64')), sdp: 'v=0\r\n' });
    const sip = Buffer.concat([Buffer.from(`INVITE sip:bob@example.com SIP/2.0\r\nContent-Type: ${body.contentType}\r\nContent-Length: ${body.body.length}\r\n\r\n`), Buffer.from(body.body)]);
    const sipFile = join(dir, 'invite.sip');
    writeFileSync(sipFile, sip);
    const d2 = io();
    expect(await runMikey(['decode', sipFile], d2)).toBe(0);
    expect(d2.out).toContain(`ID: ${ALICE}`);
    expect(d2.out).not.toMatch(/TGK/);

    const b = io(offer);
    expect(await runMikey(['answer', '--psk-file', pskFile, '--id', BOB, '--peer-id', ALICE, '--addr', '192.0.2.2', '--spi', '8192', '--show-keys'], b)).toBe(0);
    const [response, ...bobSas] = b.out.trim().split('\n');
    const v = io(response);
    expect(await runMikey(['verify', '--state', state, '--show-keys'], v)).toBe(0);
    expect(existsSync(state)).toBe(false);
    const aliceSas = v.out.trim().split('\n');
    expect(aliceSas).toHaveLength(2);
    const keysOf = (l: string) => l.replace(/ (in|out) /, ' ');
    expect(aliceSas.map(keysOf)).toEqual(bobSas.map(keysOf));
  });

  for (const suite of ['aes-gcm-256', 'aes-cbc-128-hmac-sha256']) {
    it(`decode --show-keys prints the ESP keys the exchange installs (${suite})`, async () => {
      const a = io();
      const offerArgs = ['offer', '--mode', 'psk', '--psk-file', pskFile, '--suite', suite, '--id', ALICE, '--peer-id', BOB, '--addr', '192.0.2.1', '--spi', '4096', '--state', join(dir, `${suite}.state`)];
      expect(await runMikey(offerArgs, a)).toBe(0);
      const d = io(a.out);
      expect(await runMikey(['decode', '--psk-file', pskFile, '--show-keys'], d)).toBe(0);
      const b = io(a.out);
      expect(await runMikey(['answer', '--psk-file', pskFile, '--id', BOB, '--peer-id', ALICE, '--addr', '192.0.2.2', '--spi', '8192', '--show-keys'], b)).toBe(0);
      // decode: "CS#1 <suite> ESP encr: <hex> auth: <hex>"; answer: "CS#1 in spi=... <suite> encKey=<hex> authKey=<hex>".
      const decoded = [...d.out.matchAll(/^CS#(\d) \S+ ESP encr: ([0-9a-f]*) auth: ([0-9a-f]*)$/gm)].map((m) => [m[1], m[2], m[3]]);
      const answered = [...b.out.matchAll(/^CS#(\d) .* encKey=([0-9a-f]*) authKey=([0-9a-f]*)$/gm)].map((m) => [m[1], m[2], m[3]]);
      expect(decoded).toHaveLength(2);
      expect(decoded).toEqual(answered);
    });
  }

  it('takes its options from --config F (YAML), the command line winning', async () => {
    const offerCfg = join(dir, 'offer.yaml');
    writeFileSync(offerCfg, `mode: psk\npsk-file: ${pskFile}\nid: ${ALICE}\npeer-id: ${BOB}\naddr: 192.0.2.9\nspi: 4096\nstate: ${join(dir, 'cfg.state')}\n`);
    const a = io();
    expect(await runMikey(['offer', '--config', offerCfg, '--addr', '192.0.2.1'], a)).toBe(0);
    const d = io(a.out);
    expect(await runMikey(['decode', '--config', offerCfg], d)).toBe(0);
    expect(d.out).toContain('Dst addr: 192.0.2.1');
    expect(d.out).toContain('MAC: verified');
    const answerCfg = join(dir, 'answer.yaml');
    writeFileSync(answerCfg, `psk-file: ${pskFile}\nid: ${BOB}\npeer-id: ${ALICE}\naddr: 192.0.2.2\nspi: 8192\nshow-keys: true\n`);
    const b = io(a.out);
    expect(await runMikey(['answer', '--config', answerCfg], b)).toBe(0);
    expect(b.out).toMatch(/encKey=[0-9a-f]+/);
    writeFileSync(answerCfg, 'show-keys: yes please\n');
    expect(await runMikey(['answer', '--config', answerCfg], io(a.out))).toBe(2);
    writeFileSync(answerCfg, 'psk: 00\n');
    expect(await runMikey(['answer', '--config', answerCfg], io(a.out))).toBe(2);
  });

  it('answer refuses a wrong PSK with exit 1 and prints the error message', async () => {
    const state = join(dir, 'state2.json');
    const a = io();
    await runMikey(['offer', '--mode', 'psk', '--psk-file', pskFile, '--id', ALICE, '--peer-id', BOB, '--addr', '192.0.2.1', '--spi', '4096', '--state', state], a);
    const wrong = join(dir, 'wrong');
    writeFileSync(wrong, 'ff'.repeat(20));
    const b = io(a.out);
    expect(await runMikey(['answer', '--psk-file', wrong, '--id', BOB, '--peer-id', ALICE, '--addr', '192.0.2.2', '--spi', '8192'], b)).toBe(1);
    expect(b.err).toContain('Authentication failure');
    const d = io(b.out);
    expect(await runMikey(['decode'], d)).toBe(0);
    expect(d.out).toContain('Error no: 0 (Authentication failure)');
  });

  it('usage errors exit 2', async () => {
    expect(await runMikey([], io())).toBe(2);
    expect(await runMikey(['offer', '--mode', 'psk'], io())).toBe(2);
  });
});
