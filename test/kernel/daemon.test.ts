// sipsecd end to end on the lab kernel: two hosts, one daemon each (real
// processes, in their own namespaces), a UA-side client driving a MIKEY-PSK
// exchange through the sockets, real ESP traffic, release and linger, the
// attacks a daemon must refuse, and a kill -9 restart under open calls.
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SipsecClientError } from '../../src/client/client.js';
import { ALICE, BOB, ROOT, startPair, type Pair } from './helpers/sipsecd.js';

const A = '10.0.0.1';
const B = '10.0.0.2';

let p: Pair;
const xfrm = (h: 'a' | 'b', what: 'state' | 'policy') => p.xfrm(h, what);
const client = (h: 'a' | 'b') => p.client(h);
const call = (callId: string) => p.call(callId);

describe('sipsecd in the lab', () => {
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    p = await startPair({ prefix: 'dmn-', a: [`${A}/24`], b: [`${B}/24`] });
  }, 120_000);

  afterAll(async () => p?.destroy());

  it('sets up a call: SAs on both hosts before 200 OK / ACK, and ESP traffic passes', async () => {
    const { ca, cb } = await call('call-1');
    const sa = await xfrm('a', 'state');
    expect(sa).toMatch(/proto esp spi 0x[0-9a-f]+ reqid (\d+)/);
    expect(sa).toContain('rfc4106(gcm(aes))');
    expect((await xfrm('b', 'state')).match(/proto esp/g)).toHaveLength(2);
    expect((await xfrm('a', 'policy')).match(/dir (in|out)/g)?.sort()).toEqual(['dir in', 'dir out']);
    const ping = await p.t.exec('a', ['ping', '-c', '3', '-i', '0.2', '-W', '2', B]);
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
    expect((await p.t.exec('a', ['ping', '-c', '1', '-W', '2', B])).code).toBe(0);
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

  it('a release sent right behind an answer ends the call (requests on one call run in order)', async () => {
    // Pipelined, the release once ran while the answer was still at work: it found no call, the
    // answer then installed its SAs and the call stayed, with no owner left to release it.
    const ca = await client('a');
    const cb = await client('b');
    const offer = await ca.offer({ callId: 'call-r', localUri: ALICE, peerUri: BOB, localAddress: A });
    const answered = cb.answer({ callId: 'call-r', localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: A, localAddress: B });
    const released = cb.release('call-r');
    await answered;
    expect(await released).toEqual({ released: true });
    expect((await cb.calls()).calls).toEqual([]);
    await ca.release('call-r');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await xfrm('b', 'state')).toBe('');
    expect(await xfrm('a', 'state')).toBe('');
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
    const sock = p.sock('a');
    chmodSync(p.dir, 0o755);
    chmodSync(join(p.dir, 'a'), 0o755);
    chmodSync(sock, 0o666);
    const denied = await p.t.exec('a', [process.execPath, '-e', script, sock], { user: { uid: 12345, gid: 12345 } });
    expect(denied.stdout.trim()).toBe('forbidden');
    const allowed = await p.t.exec('a', [process.execPath, '-e', script, sock], { user: { uid: 65534, gid: 65534 } });
    expect(allowed.stdout.trim()).toBe('connected');
    const release = `import('${ROOT}/dist/client/client.js').then(async ({ SipsecClient }) => {
      const c = await SipsecClient.connect(process.argv[1]);
      try { await c.release('call-4'); console.log('released'); } catch (e) { console.log(e.code); } c.close();
    })`;
    const { ca, cb } = await call('call-4');
    const other = await p.t.exec('a', [process.execPath, '-e', release, sock], { user: { uid: 65534, gid: 65534 } });
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
    const sock = p.sock('a');
    const rekey = await p.t.exec('a', [process.execPath, join(ROOT, 'bin/sipsec.js'), 'rekey', B, '--socket', sock]);
    expect(rekey.code).toBe(0);
    expect(await got).toMatchObject({ event: 'rekey-needed', data: { callId: 'call-6' } });
    const sas = await p.t.exec('a', [process.execPath, join(ROOT, 'bin/sipsec.js'), 'sas', '--json', '--socket', sock]);
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
    p.kill('a');
    await new Promise((r) => setTimeout(r, 300));
    await p.start('a');
    expect(await xfrm('a', 'state')).toBe(before);
    const ca2 = await client('a');
    expect((await ca2.calls()).calls.map((c) => c.callId)).toContain('call-5');
    expect((await p.t.exec('a', ['ping', '-c', '1', '-W', '2', B])).code).toBe(0);
    await ca2.release('call-5');
    await cb.release('call-5');
    ca2.close();
    cb.close();
  }, 60_000);

  it('gives back the SPI an offer reserved when its call is released before the answer (CANCEL)', async () => {
    const ca = await client('a');
    const spis = async () => [...(await xfrm('a', 'state')).matchAll(/proto esp spi (0x[0-9a-f]+)/g)].map((m) => m[1]!).sort();
    const before = await spis();
    await ca.offer({ callId: 'cancel-1', localUri: ALICE, peerUri: BOB });
    const reserved = (await spis()).filter((s) => !before.includes(s));
    expect(reserved).toHaveLength(1); // the kernel holds the inbound SPI of the offer (a larval SA)
    expect(await ca.release('cancel-1')).toEqual({ released: true });
    // The daemon deletes it right after answering the release: wait for that, not for a time.
    for (let i = 0; i < 100 && (await spis()).includes(reserved[0]!); i++) await new Promise((r) => setTimeout(r, 20));
    // Nothing of ours that was not there before (an earlier test's lingering pair may have gone meanwhile).
    expect((await spis()).filter((s) => !before.includes(s))).toEqual([]);
    expect((await ca.calls()).calls.map((c) => c.callId)).not.toContain('cancel-1');
    ca.close();
  }, 60_000);
});
