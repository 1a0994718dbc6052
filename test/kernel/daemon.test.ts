// sipsecd end to end on the lab kernel: two hosts, one daemon each (real
// processes, in their own namespaces), a UA-side client driving a MIKEY-PSK
// exchange through the sockets, real ESP traffic, release and linger, the
// attacks a daemon must refuse, and a kill -9 restart under open calls.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SipsecClient, SipsecClientError } from '../../src/client/client.js';
import { createTopology, type Topology } from '../../src/lab/topology.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const A = '10.0.0.1';
const B = '10.0.0.2';
const ALICE = 'sip:alice@example.org';
const BOB = 'sip:bob@example.org';

let t: Topology;
let dir: string;
const daemons = new Map<string, ChildProcess>();

function config(host: 'a' | 'b'): string {
  const me = host === 'a' ? { uri: ALICE, addr: A } : { uri: BOB, addr: B };
  const peer = host === 'a' ? BOB : ALICE;
  const file = join(dir, `${host}.yaml`);
  writeFileSync(
    file,
    `identities:
  - uri: ${me.uri}
    addresses: [${me.addr}]
peers:
  - match: ${peer}
    mode: psk
    psk: { file: ${join(dir, 'psk')}, format: hex }
algorithms: { suites: [aes-gcm-128], minimum: aes-cbc-128-hmac-sha1 }
linger: 2
access: { users: [65534] }
socket: { path: ${join(dir, host, 'sipsecd.sock')}, mode: "0660" }
stateDir: ${join(dir, host, 'state')}
`,
    { mode: 0o600 },
  );
  return file;
}

async function startDaemon(host: 'a' | 'b'): Promise<void> {
  const sock = join(dir, host, 'sipsecd.sock');
  const child = t.spawn(host, [process.execPath, join(ROOT, 'bin/sipsecd.js'), '--config', join(dir, `${host}.yaml`)]);
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  daemons.set(host, child);
  // The socket file may be a stale one of a killed daemon: wait until it answers
  // (node starts slowly in UML, slower still on a loaded machine).
  for (let i = 0; i < 1200; i++) {
    const c = existsSync(sock) ? await SipsecClient.connect(sock).catch(() => undefined) : undefined;
    if (c) {
      await c.ping();
      c.close();
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sipsecd on ${host} did not start: ${err}`);
}

async function xfrm(host: string, what: 'state' | 'policy'): Promise<string> {
  return (await t.exec(host, ['ip', 'xfrm', what])).stdout;
}

const client = (host: 'a' | 'b') => SipsecClient.connect(join(dir, host, 'sipsecd.sock'));

/** One call from alice (a) to bob (b), as a UA pair drives it. */
async function call(callId: string): Promise<{ ca: SipsecClient; cb: SipsecClient }> {
  const ca = await client('a');
  const cb = await client('b');
  const offer = await ca.offer({ callId, localUri: ALICE, peerUri: BOB, localAddress: A });
  const answer = await cb.answer({ callId, localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: A, localAddress: B });
  await ca.confirm({ callId, mikey: answer.mikey, peerAddress: B });
  return { ca, cb };
}

describe('sipsecd in the lab', () => {
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    t = await createTopology({
      hosts: [
        { name: 'a', addrs: [`${A}/24`] },
        { name: 'b', addrs: [`${B}/24`] },
      ],
      links: [{ type: 'veth', a: 'a', b: 'b' }],
    }, 'dmn-');
    dir = mkdtempSync('/tmp/sipsecd-');
    for (const h of ['a', 'b']) mkdirSync(join(dir, h), { recursive: true });
    writeFileSync(join(dir, 'psk'), '00112233445566778899aabbccddeeff00112233\n', { mode: 0o600 });
    chmodSync(join(dir, 'psk'), 0o600);
    config('a');
    config('b');
    await startDaemon('a');
    await startDaemon('b');
  }, 60_000);

  afterAll(async () => {
    for (const d of daemons.values()) d.kill('SIGKILL');
    await t?.destroy();
  });

  it('sets up a call: SAs on both hosts before 200 OK / ACK, and ESP traffic passes', async () => {
    const { ca, cb } = await call('call-1');
    const sa = await xfrm('a', 'state');
    expect(sa).toMatch(/proto esp spi 0x[0-9a-f]+ reqid (\d+)/);
    expect(sa).toContain('rfc4106(gcm(aes))');
    expect((await xfrm('b', 'state')).match(/proto esp/g)).toHaveLength(2);
    expect((await xfrm('a', 'policy')).match(/dir (in|out)/g)?.sort()).toEqual(['dir in', 'dir out']);
    const ping = await t.exec('a', ['ping', '-c', '3', '-i', '0.2', '-W', '2', B]);
    expect(ping.code).toBe(0);
    const sas = (await ca.sas('call-1')).sas;
    expect(sas).toHaveLength(2);
    expect(sas.find((s) => s.direction === 'out')!.packets).toBeGreaterThanOrEqual(3);
    expect(sas.find((s) => s.direction === 'in')!.packets).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(sas)).not.toMatch(/key/i);
    ca.close();
    cb.close();
  }, 120_000);

  it('shares one SA pair per peer between calls, and keeps it until the last call plus the linger', async () => {
    const { ca, cb } = await call('call-2');
    const peers = (await ca.peers()).peers;
    expect(peers).toHaveLength(1);
    expect([...peers[0]!.calls].sort()).toEqual(['call-1', 'call-2']);
    // The new exchange replaced the pair (make-before-break): new in + out, and the old inbound SA
    // kept for the grace period so packets the peer sent under the old keys still arrive.
    expect((await xfrm('a', 'state')).match(/proto esp/g)).toHaveLength(3);
    expect((await t.exec('a', ['ping', '-c', '1', '-W', '2', B])).code).toBe(0);
    await ca.release('call-1');
    await cb.release('call-1');
    expect((await xfrm('a', 'state')).match(/proto esp/g)).toHaveLength(3);
    await ca.release('call-2');
    await cb.release('call-2');
    expect((await ca.peers()).peers[0]!.lingerUntil).toBeGreaterThan(Date.now());
    await new Promise((r) => setTimeout(r, 3000));
    expect(await xfrm('a', 'state')).toBe('');
    expect(await xfrm('a', 'policy')).toBe('');
    expect(await xfrm('b', 'state')).toBe('');
    ca.close();
    cb.close();
  }, 60_000);

  it('refuses a tampered offer with 488 and a MIKEY error, installs nothing, and refuses a replay', async () => {
    const ca = await client('a');
    const cb = await client('b');
    const offer = await ca.offer({ callId: 'call-3', localUri: ALICE, peerUri: BOB, localAddress: A });
    const bytes = Buffer.from(offer.mikey, 'base64');
    bytes[bytes.length - 1] ^= 1;
    const err = await cb
      .answer({ callId: 'call-3', localUri: BOB, peerUri: ALICE, mikey: bytes.toString('base64'), peerAddress: A, localAddress: B })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SipsecClientError);
    expect((err as SipsecClientError).code).toBe('mikey-rejected');
    expect((err as SipsecClientError).sipStatus).toBe(488);
    expect((err as SipsecClientError).mikey).toBeTruthy();
    expect(await xfrm('b', 'state')).toBe('');
    // The genuine offer is accepted once, then refused as a replay.
    await cb.answer({ callId: 'call-3', localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: A, localAddress: B });
    const replay = await cb
      .answer({ callId: 'call-3b', localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: A, localAddress: B })
      .catch((e: unknown) => e);
    expect((replay as SipsecClientError).code).toBe('mikey-rejected');
    await ca.release('call-3');
    await cb.release('call-3');
    ca.close();
    cb.close();
  }, 60_000);

  it('lets a UA touch only its own calls, and refuses users not in the config', async () => {
    const script = `import('${ROOT}/dist/client/client.js').then(async ({ SipsecClient }) => {
      try { const c = await SipsecClient.connect(process.argv[1]); await c.ping(); console.log('connected'); c.close(); }
      catch (e) { console.log(e.code); }
    })`;
    const sock = join(dir, 'a', 'sipsecd.sock');
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'a'), 0o755);
    chmodSync(sock, 0o666);
    const denied = await t.exec('a', [process.execPath, '-e', script, sock], { user: { uid: 12345, gid: 12345 } });
    expect(denied.stdout.trim()).toBe('forbidden');
    const allowed = await t.exec('a', [process.execPath, '-e', script, sock], { user: { uid: 65534, gid: 65534 } });
    expect(allowed.stdout.trim()).toBe('connected');
    const release = `import('${ROOT}/dist/client/client.js').then(async ({ SipsecClient }) => {
      const c = await SipsecClient.connect(process.argv[1]);
      try { await c.release('call-4'); console.log('released'); } catch (e) { console.log(e.code); } c.close();
    })`;
    const { ca, cb } = await call('call-4');
    const other = await t.exec('a', [process.execPath, '-e', release, sock], { user: { uid: 65534, gid: 65534 } });
    expect(other.stdout.trim()).toBe('forbidden');
    await ca.release('call-4');
    await cb.release('call-4');
    ca.close();
    cb.close();
  }, 60_000);

  it('tells the UA to rekey on demand (sipsec rekey), and lists SAs without keys (sipsec sas)', async () => {
    const { ca, cb } = await call('call-6');
    await ca.subscribe(['rekey-needed']);
    const got = new Promise((resolve) => ca.once('event', resolve));
    const sock = join(dir, 'a', 'sipsecd.sock');
    const rekey = await t.exec('a', [process.execPath, join(ROOT, 'bin/sipsec.js'), 'rekey', B, '--socket', sock]);
    expect(rekey.code).toBe(0);
    expect(await got).toMatchObject({ event: 'rekey-needed', data: { callId: 'call-6' } });
    const sas = await t.exec('a', [process.execPath, join(ROOT, 'bin/sipsec.js'), 'sas', '--json', '--socket', sock]);
    expect(sas.code).toBe(0);
    const listed = JSON.parse(sas.stdout) as { sas: { spi: string }[] };
    expect(listed.sas).toHaveLength(2);
    const state = await xfrm('a', 'state');
    for (const key of state.matchAll(/aead \S+ (0x[0-9a-f]+)/g)) expect(sas.stdout).not.toContain(key[1]!.slice(2, 18));
    await ca.release('call-6');
    await cb.release('call-6');
    ca.close();
    cb.close();
  }, 60_000);

  it('keeps live calls and their SAs across kill -9 and restart', async () => {
    const { ca, cb } = await call('call-5');
    ca.close();
    const before = await xfrm('a', 'state');
    daemons.get('a')!.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    await startDaemon('a');
    expect(await xfrm('a', 'state')).toBe(before);
    const ca2 = await client('a');
    expect((await ca2.calls()).calls.map((c) => c.callId)).toContain('call-5');
    expect((await t.exec('a', ['ping', '-c', '1', '-W', '2', B])).code).toBe(0);
    await ca2.release('call-5');
    await cb.release('call-5');
    ca2.close();
    cb.close();
  }, 60_000);
});
