// Offer, answer and verify in three separate node processes through the
// built CLI (`sipsec mikey`, bin/sipsec.js → dist/cli/sipsec.js).  Depends on the build: `npm test` runs
// `tsc -p tsconfig.json` before vitest (scripts/test.mjs); when running this
// file alone, run `npm run build` first.
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ALICE, BOB, PSK, testPki } from './modes-fixtures.js';

const MAIN = resolve(import.meta.dirname, '../../../dist/cli/sipsec.js');
const BIN = resolve(import.meta.dirname, '../../../bin/sipsec.js');
const cli = (args: string[], input?: string): string => execFileSync(process.execPath, [BIN, 'mikey', ...args], { input: input ?? '', encoding: 'utf8' });

describe('sipsec mikey across three processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mikey-proc-'));
  const f = (name: string, content: string) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  let pskFile = '';
  let alice: string[] = [];
  let bob: string[] = [];

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} missing: run npm run build (npm test builds first)`);
    pskFile = f('psk', Buffer.from(PSK).toString('hex'));
    const pki = testPki();
    const ca = f('ca.pem', pki.caPem);
    alice = ['--cert', f('a.pem', pki.alice.certPem), '--key', f('a.key', pki.alice.keyPem), '--ca', ca, '--peer-cert', f('b.pem', pki.bob.certPem)];
    bob = ['--cert', f('b2.pem', pki.bob.certPem), '--key', f('b.key', pki.bob.keyPem), '--ca', ca];
  });

  for (const mode of ['psk', 'dh', 'dhhmac'] as const) {
    it(`${mode}: keys equal on both sides`, () => {
      const state = join(dir, `${mode}.state`);
      const creds = (who: 'a' | 'b') => (mode === 'dh' ? (who === 'a' ? alice : bob) : ['--psk-file', pskFile]);
      const offer = cli(['offer', '--mode', mode, '--id', ALICE, '--peer-id', BOB, '--addr', '10.0.0.1', '--spi', '4096', '--state', state, ...creds('a')]);
      const [response, ...bobSas] = cli(['answer', '--id', BOB, '--peer-id', ALICE, '--addr', '10.0.0.2', '--spi', '8192', '--show-keys', ...creds('b')], offer).trim().split('\n');
      const aliceSas = cli(['verify', '--state', state, '--show-keys', ...creds('a')], response).trim().split('\n');
      const norm = (l: string) => l.replace(/ (in|out) /, ' ');
      expect(aliceSas).toHaveLength(2);
      expect(aliceSas[0]).toMatch(/^CS#1 in spi=0x00001000 10\.0\.0\.2 -> 10\.0\.0\.1 \S+ encKey=[0-9a-f]{32} authKey=[0-9a-f]{64}$/);
      expect(aliceSas.map(norm)).toEqual(bobSas.map(norm));
    });
  }
});
