import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountDb, parseGroup, parsePasswd } from '../../../src/agent/accounts.js';
import { ConfigError, formatConfigErrors, loadConfig, parseConfig, peerFor, type ConfigIssue } from '../../../src/agent/config.js';

const accounts = new AccountDb(
  parsePasswd('root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\nsipsec:x:998:998::/:/usr/sbin/nologin\n'),
  parseGroup('root:x:0:\nsipsec:x:998:\nsipsec-users:x:990:alice,bob\nsipsec-admin:x:991:root\n'),
);

const PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';
const PSK_HEX = '000102030405060708090a0b0c0d0e0f10111213';

let dir: string;
function file(name: string, content: string | Buffer, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  chmodSync(p, mode);
  return p;
}

/** Parse `text` as a config file, expecting failure; returns its issues. */
function issuesOf(text: string): readonly ConfigIssue[] {
  try {
    parseConfig(text, join(dir, 'inline.yaml'), { accounts });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues;
  }
  throw new Error('config was accepted');
}

const MIN = 'identities:\n  - uri: sip:alice@example.org\n    addresses: [10.0.0.1]\n';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sipsec-config-'));
  file('alice-bob.psk', `${PSK_HEX}\n`);
  file('bob.psk', `${PSK_HEX}\n`);
  file('alice.crt', PEM_CERT, 0o644);
  file('ca.crt', PEM_CERT, 0o644);
  file('dave.crt', PEM_CERT, 0o644);
  file('alice.key', PEM_KEY);
  file('inline.yaml', '', 0o600);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('example configs', () => {
  for (const name of ['alice.yaml', 'bob.yaml', 'full.yaml']) {
    it(`config/${name} loads (credential paths moved to a temp dir)`, () => {
      const text = readFileSync(resolve('config', name), 'utf8').replaceAll('/etc/sipsec', dir);
      const cfg = loadConfig(file(`example-${name}`, text), { accounts });
      expect(cfg.identities.length).toBe(1);
      expect(cfg.peers.length).toBeGreaterThan(0);
      expect(cfg.socket).toMatchObject({ path: '/run/sipsec/sipsecd.sock', mode: 0o660 });
      expect(cfg.linger).toBe(32);
      const psk = cfg.peers[0]!.psk!;
      expect(Buffer.from(psk.bytes()).toString('hex')).toBe(PSK_HEX);
    });
  }

  it('full.yaml resolves names, certificates, keys and settings', () => {
    const text = readFileSync(resolve('config/full.yaml'), 'utf8').replaceAll('/etc/sipsec', dir);
    const cfg = loadConfig(file('full2.yaml', text), { accounts });
    expect(cfg.access).toEqual({ uids: [1000], gids: [990], adminGid: 991 });
    expect(cfg.socket.gid).toBe(990);
    expect(cfg.identities[0]!.addresses).toEqual(['192.0.2.10', '2001:db8::10']);
    expect(cfg.peers.map((p) => p.mode)).toEqual(['psk', 'dhhmac', 'dh', 'pke']);
    expect(cfg.peers[2]!.certificate!.pem).toBe(PEM_CERT);
    expect(cfg.peers[2]!.trustAnchors.map((a) => a.path)).toEqual([join(dir, 'ca.crt')]);
    expect(Buffer.from(cfg.peers[2]!.privateKey!.pem.bytes()).toString()).toBe(PEM_KEY);
    expect(cfg.algorithms.suites).toEqual(['aes-gcm-256', 'aes-gcm-128', 'aes-cbc-128-hmac-sha256']);
    expect(cfg.lifetimes).toEqual({ soft: { seconds: 3240, bytes: 0 }, hard: { seconds: 3600, bytes: 0 } });
  });
});

describe('defaults', () => {
  it('a minimal config gets every default', () => {
    const cfg = parseConfig(MIN, join(dir, 'inline.yaml'), { accounts });
    expect(cfg.peers).toEqual([]);
    expect(cfg.algorithms.minimum).toBe('aes-cbc-128-hmac-sha1');
    expect(cfg.algorithms.suites).not.toContain('3des-cbc-hmac-sha1');
    expect(cfg.algorithms.suites[0]).toMatch(/256/);
    expect(cfg.protection.scope).toBe('hosts');
    expect(cfg.linger).toBe(32);
    expect(cfg.replay).toEqual({ window: 32, clockSkew: 60 });
    expect(cfg.socket).toEqual({ path: '/run/sipsec/sipsecd.sock', mode: 0o660, maxConnections: 64 });
    expect(cfg.stateDir).toBe('/var/lib/sipsec');
    expect(cfg.kernel.backend).toBe('xfrm');
    expect(cfg.runAs).toBeUndefined();
  });

  it('dh group defaults to 14; runAs resolves uid, gid and supplementary groups', () => {
    const cfg = parseConfig(`${MIN}peers:\n  - match: "*@example.org"\n    mode: dhhmac\n    psk: { file: ${join(dir, 'bob.psk')} }\nrunAs:\n  user: alice\n`, join(dir, 'inline.yaml'), { accounts });
    expect(cfg.peers[0]!.dh?.group).toBe(14);
    expect(cfg.runAs).toEqual({ user: 'alice', uid: 1000, gid: 1000, groups: [990] });
  });
});

describe('errors carry path and line:column', () => {
  it('reports a YAML syntax error with its position', () => {
    const issues = issuesOf('identities:\n  - uri: [sip:a@b\nfoo: : bar\n');
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]!.message).toMatch(/^YAML: /);
    expect(issues[0]!.line).toBeGreaterThanOrEqual(2);
  });

  it('wrong value: points at the value node', () => {
    const issues = issuesOf(`${MIN}linger: soon\n`);
    expect(issues).toEqual([expect.objectContaining({ path: 'linger', line: 4, column: 9 })]);
  });

  it('unknown key: points at the key', () => {
    const issues = issuesOf(`${MIN}protection:\n  scope: hosts\n  scop: media\n`);
    expect(issues).toEqual([expect.objectContaining({ path: 'protection.scop', line: 6, column: 3, message: 'unknown key "scop"' })]);
  });

  it('missing required key: points at the parent mapping', () => {
    const issues = issuesOf('identities:\n  - addresses: [10.0.0.1]\n');
    expect(issues).toEqual([expect.objectContaining({ path: 'identities[0].uri', line: 2, column: 5, message: 'missing required key "uri"' })]);
  });

  it('bad address inside a flow sequence: points at the element', () => {
    const issues = issuesOf('identities:\n  - uri: sip:alice@example.org\n    addresses: [10.0.0.1, 10.0.0.300]\n');
    expect(issues).toEqual([expect.objectContaining({ path: 'identities[0].addresses[1]', line: 3, column: 27 })]);
  });

  it('unknown suite, unknown group, bad mode, bad DH group, cross-field rules', () => {
    const text = [
      MIN.trimEnd(),
      'algorithms:',
      '  suites: [aes-gcm-128, rot13]',
      'socket:',
      '  mode: 0660',
      'access:',
      '  groups: [nosuchgroup]',
      'peers:',
      '  - match: sip:bob@example.org',
      '    mode: dh',
      '    dh: { group: 3 }',
      'lifetimes:',
      '  soft: { seconds: 4000 }',
      '',
    ].join('\n');
    const issues = issuesOf(text);
    const at = (path: string): ConfigIssue | undefined => issues.find((i) => i.path === path);
    expect(at('algorithms.suites[1]')).toMatchObject({ line: 5, column: 25 });
    expect(at('socket.mode')).toMatchObject({ line: 7, column: 9 });
    expect(at('socket.mode')!.message).toMatch(/quoted octal/);
    expect(at('peers[0].dh.group')).toMatchObject({ line: 13, column: 18 });
    expect(at('peers[0].certificate')!.message).toBe('missing required key "certificate"');
    expect(at('peers[0].privateKey')).toBeDefined();
    expect(at('peers[0].trustAnchors')).toBeDefined();
    expect(at('lifetimes.soft.seconds')).toMatchObject({ line: 15, column: 20 });
    // the unknown group is a second-pass error, reported only once the schema passes
    expect(at('access.groups[0]')).toBeUndefined();
    // every issue is reported, in file order
    expect(issues.length).toBeGreaterThanOrEqual(7);
    expect(issues.map((i) => i.line)).toEqual([...issues.map((i) => i.line)].sort((a, b) => a - b));
  });

  it('second pass: unknown user/group names, all of them, with positions', () => {
    const issues = issuesOf(`${MIN}access:\n  users: [alice, mallory]\n  groups: [nosuchgroup]\n  adminGroup: sipsec-admin\n`);
    expect(issues).toEqual([
      expect.objectContaining({ path: 'access.users[1]', line: 5, column: 18, message: 'no user "mallory" in /etc/passwd' }),
      expect.objectContaining({ path: 'access.groups[0]', line: 6, column: 12, message: 'no group "nosuchgroup" in /etc/group' }),
    ]);
  });

  it('each MIKEY mode needs its own credentials', () => {
    const issues = issuesOf(`${MIN}peers:\n  - match: sip:bob@example.org\n    mode: pke\n    psk: { hex: "${PSK_HEX}" }\n`);
    expect(issues.map((i) => [i.path, i.message])).toEqual([
      ['peers[0].certificate', 'missing required key "certificate"'],
      ['peers[0].privateKey', 'missing required key "privateKey"'],
      ['peers[0].trustAnchors', 'missing required key "trustAnchors"'],
      ['peers[0].peerCertificate', 'missing required key "peerCertificate"'],
      ['peers[0].psk', 'unknown key "psk"'],
    ]);
    expect(issuesOf(`${MIN}peers:\n  - match: sip:bob@example.org\n    mode: ike\n`)[0]).toMatchObject({ path: 'peers[0].mode', line: 6, column: 11 });
  });

  it('a suite weaker than the minimum is refused', () => {
    const issues = issuesOf(`${MIN}algorithms:\n  suites: [aes-gcm-128, 3des-cbc-hmac-sha1]\n`);
    expect(issues).toEqual([expect.objectContaining({ path: 'algorithms.suites[1]', message: expect.stringMatching(/weaker than the minimum/) })]);
  });

  it('duplicate peers are refused', () => {
    const peer = `  - match: sip:bob@example.org\n    mode: psk\n    psk: { hex: "${PSK_HEX}" }\n`;
    const issues = issuesOf(`${MIN}peers:\n${peer}${peer}`);
    expect(issues).toEqual([expect.objectContaining({ path: 'peers[1].match', line: 8, message: expect.stringMatching(/duplicate/) })]);
  });

  it('formatConfigErrors gives file:line:column: path: message lines', () => {
    const issues = issuesOf(`${MIN}linger: soon\nstateDir: var/lib\n`);
    const text = formatConfigErrors('x.yaml', issues);
    expect(text.split('\n')).toEqual([expect.stringMatching(/^x\.yaml:4:9: linger: /), expect.stringMatching(/^x\.yaml:5:11: stateDir: /)]);
  });

  it('a missing file is a ConfigError too', () => {
    expect(() => loadConfig(join(dir, 'nope.yaml'), { accounts })).toThrow(ConfigError);
  });
});

describe('credential files', () => {
  const peerWith = (psk: string): string => `${MIN}peers:\n  - match: sip:bob@example.org\n    mode: psk\n    psk: ${psk}\n`;

  it('refuses a PSK file readable by group or others', () => {
    const p = file('open.psk', PSK_HEX, 0o644);
    const issues = issuesOf(peerWith(`{ file: ${p} }`));
    expect(issues).toEqual([expect.objectContaining({ path: 'peers[0].psk.file', line: 7, column: 18, message: expect.stringMatching(/mode 0644\): chmod 600/) })]);
  });

  it('accepts 0400, reads raw and hex files, rejects short and non-hex keys', () => {
    const raw = file('raw.psk', Buffer.alloc(20, 7), 0o400);
    const cfg = parseConfig(peerWith(`{ file: ${raw}, format: raw }`), join(dir, 'inline.yaml'), { accounts });
    expect(Buffer.from(cfg.peers[0]!.psk!.bytes())).toEqual(Buffer.alloc(20, 7));
    expect(issuesOf(peerWith(`{ file: ${file('short.psk', '0011')} }`))[0]!.message).toMatch(/at least 16/);
    expect(issuesOf(peerWith(`{ file: ${file('bad.psk', 'zz'.repeat(20))} }`))[0]!.message).toMatch(/hex digits/);
    expect(issuesOf(peerWith(`{ file: ${join(dir, 'missing.psk')} }`))[0]!.message).toMatch(/ENOENT/);
  });

  it('refuses an inline PSK in a config file others may read', () => {
    const cfgFile = file('open.yaml', peerWith(`{ hex: "${PSK_HEX}" }`), 0o644);
    try {
      loadConfig(cfgFile, { accounts });
      throw new Error('accepted');
    } catch (e) {
      expect((e as ConfigError).issues).toEqual([expect.objectContaining({ path: 'peers[0].psk.hex', line: 7, column: 17 })]);
    }
    chmodSync(cfgFile, 0o600);
    expect(loadConfig(cfgFile, { accounts }).peers[0]!.psk!.length).toBe(20);
  });

  it('refuses an open private key and a file that is no certificate', () => {
    const key = file('open.key', PEM_KEY, 0o640);
    const text = `${MIN}peers:\n  - match: sip:bob@example.org\n    mode: dh\n    certificate: ${join(dir, 'alice.key')}\n    privateKey: ${key}\n    trustAnchors: [${join(dir, 'ca.crt')}]\n`;
    const issues = issuesOf(text);
    expect(issues.map((i) => i.path)).toEqual(['peers[0].certificate', 'peers[0].privateKey']);
  });

  it('secrets never show in JSON or inspect output', () => {
    const cfg = parseConfig(peerWith(`{ file: ${join(dir, 'bob.psk')} }`), join(dir, 'inline.yaml'), { accounts });
    expect(JSON.stringify(cfg)).not.toMatch(/0001020304/);
    expect(inspect(cfg, { depth: 10 })).not.toMatch(/0001020304|\b0, 1, 2, 3\b/);
    expect(String(cfg.peers[0]!.psk)).toBe('<secret 20 bytes>');
  });
});

describe('peerFor', () => {
  it('exact URI first, then the domain; host case-insensitive; params ignored', () => {
  const cfg = parseConfig(
    `${MIN}peers:\n  - match: "*@Example.org"\n    mode: psk\n    psk: { hex: "${PSK_HEX}" }\n  - match: sip:bob@example.org\n    mode: dhhmac\n    psk: { hex: "${PSK_HEX}" }\n`,
    join(dir, 'inline.yaml'),
    { accounts },
  );
    expect(peerFor(cfg, 'sip:bob@EXAMPLE.org;transport=udp')?.mode).toBe('dhhmac');
    expect(peerFor(cfg, '<sips:carol@example.org>')?.mode).toBe('psk');
    expect(peerFor(cfg, 'sip:Bob@example.org')?.mode).toBe('psk');
    expect(peerFor(cfg, 'sip:bob@example.net')).toBeUndefined();
    expect(peerFor(cfg, 'garbage')).toBeUndefined();
  });
});
