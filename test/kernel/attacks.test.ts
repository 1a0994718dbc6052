// Attacks on sipsecd in the lab (issue 8): each refused with the right SIP
// and MIKEY error, nothing installed, and every daemon log line free of the
// PSK and of the SA keys the kernel holds.  Offers with a stale timestamp or
// a weak suite are crafted in-process with the same PSK, as a peer holding
// the key (or replaying an old message) would.
import { createConnection, type Socket } from 'node:net';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SipsecClientError, type SipsecClient } from '../../src/client/client.js';
import { ErrNo } from '../../src/mikey/errors.js';
import { createOffer } from '../../src/mikey/initiator.js';
import { policyForSuite, suiteNamed } from '../../src/mikey/negotiate.js';
import { ALICE, BOB, ROOT, startPair, type Pair } from './helpers/sipsecd.js';

const A = '10.0.0.1';
const B = '10.0.0.2';
const PSK_HEX = '00112233445566778899aabbccddeeff00112233';

let p: Pair;
/** Every SA key the kernels held during the suite (hex, without 0x). */
const keys = new Set<string>();

async function collectKeys(): Promise<void> {
  for (const h of ['a', 'b'] as const) {
    for (const m of (await p.xfrm(h, 'state')).matchAll(/(?:aead|enc|auth-trunc|auth) \S+ 0x([0-9a-f]+)/g)) keys.add(m[1]!);
  }
}

/** Wait until the SAs of earlier tests have lingered out, so "nothing installed" can be checked. */
async function settled(): Promise<void> {
  for (let i = 0; i < 100 && ((await p.xfrm('a', 'state')) !== '' || (await p.xfrm('b', 'state')) !== ''); i++) await new Promise((r) => setTimeout(r, 200));
  expect(await p.xfrm('b', 'state')).toBe('');
}

async function refused(c: SipsecClient, callId: string, mikey: string, peerUri = ALICE): Promise<SipsecClientError> {
  const e = await c.answer({ callId, localUri: BOB, peerUri, mikey, peerAddress: A, localAddress: B }).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(SipsecClientError);
  return e as SipsecClientError;
}

/** An offer from alice made outside the daemons with the shared PSK. */
function craftOffer(suite: string, now: () => number): string {
  const { message } = createOffer({
    mode: 'psk',
    localId: ALICE,
    peerId: BOB,
    localAddr: A,
    inboundSpi: 0x00c0ffee,
    policy: policyForSuite(suiteNamed(suite), { replayWindow: 32 }),
    credentials: { psk: Buffer.from(PSK_HEX, 'hex') },
    now,
  });
  return Buffer.from(message).toString('base64');
}

function rawConnect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the daemon sends until it closes the connection, and how long that took. */
function untilClosed(s: Socket): Promise<{ data: Buffer; ms: number }> {
  const t0 = Date.now();
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.on('error', () => {});
  return new Promise((resolve) => s.once('close', () => resolve({ data: Buffer.concat(chunks), ms: Date.now() - t0 })));
}

describe('attacks on sipsecd', () => {
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    // Any user of example.org may call: the identity check must then come from the MIKEY IDi.
    p = await startPair({ prefix: 'atk-', a: [`${A}/24`], b: [`${B}/24`], peerMatch: '*@example.org', daemonArgs: ['--log-level', 'debug'] });
  }, 120_000);

  afterAll(async () => p?.destroy());

  it('refuses a tampered MAC (488, Authentication failure), then a replayed I_MESSAGE (488, Invalid timestamp)', async () => {
    const ca = await p.client('a');
    const cb = await p.client('b');
    const offer = await ca.offer({ callId: 'atk-1', localUri: ALICE, peerUri: BOB, localAddress: A });
    const bytes = Buffer.from(offer.mikey, 'base64');
    bytes[bytes.length - 1] ^= 0x01;
    const tampered = await refused(cb, 'atk-1', bytes.toString('base64'));
    expect([tampered.code, tampered.sipStatus, tampered.mikeyErr]).toEqual(['mikey-rejected', 488, ErrNo.AUTH_FAILURE]);
    expect(tampered.mikey).toBeTruthy();
    expect(await p.xfrm('b', 'state')).toBe('');
    await cb.answer({ callId: 'atk-1', localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: A, localAddress: B });
    await collectKeys();
    const replay = await refused(cb, 'atk-1-replay', offer.mikey);
    expect([replay.code, replay.sipStatus, replay.mikeyErr]).toEqual(['mikey-rejected', 488, ErrNo.INVALID_TS]);
    await ca.release('atk-1');
    await cb.release('atk-1');
    ca.close();
    cb.close();
  }, 60_000);

  it('refuses an offer whose timestamp is outside the skew window (10 min old): 488, Invalid timestamp', async () => {
    await settled();
    const cb = await p.client('b');
    const e = await refused(cb, 'atk-2', craftOffer('aes-gcm-128', () => Date.now() - 10 * 60 * 1000));
    expect([e.code, e.sipStatus, e.mikeyErr]).toEqual(['mikey-rejected', 488, ErrNo.INVALID_TS]);
    expect(await p.xfrm('b', 'state')).toBe('');
    cb.close();
  }, 60_000);

  it('refuses a downgrade to a suite below the configured minimum: 488, SP parameter not supported', async () => {
    await settled();
    const cb = await p.client('b');
    const e = await refused(cb, 'atk-3', craftOffer('3des-cbc-hmac-sha1', Date.now));
    expect([e.code, e.sipStatus, e.mikeyErr]).toEqual(['mikey-rejected', 488, ErrNo.INVALID_SPPAR]);
    expect(await p.xfrm('b', 'state')).toBe('');
    cb.close();
  }, 60_000);

  it('refuses an offer whose IDi is not the SIP identity it came with: 488, ID not supported', async () => {
    await settled();
    const ca = await p.client('a');
    const cb = await p.client('b');
    const offer = await ca.offer({ callId: 'atk-4', localUri: ALICE, peerUri: BOB, localAddress: A });
    const e = await refused(cb, 'atk-4', offer.mikey, 'sip:mallory@example.org');
    expect([e.code, e.sipStatus, e.mikeyErr]).toEqual(['mikey-rejected', 488, ErrNo.INVALID_ID]);
    expect(await p.xfrm('b', 'state')).toBe('');
    await ca.release('atk-4');
    ca.close();
    cb.close();
  }, 60_000);

  it('refuses users not in the config, and a UA releasing or inspecting another UA\'s call', async () => {
    const sock = p.sock('b');
    chmodSync(p.dir, 0o755);
    chmodSync(join(p.dir, 'b'), 0o755);
    chmodSync(sock, 0o666);
    const script = (op: string) => `import('${ROOT}/dist/client/client.js').then(async ({ SipsecClient }) => {
      try { const c = await SipsecClient.connect(process.argv[1]); ${op}; console.log('done'); c.close(); }
      catch (e) { console.log(e.code); }
    })`;
    const as = (uid: number, op: string) =>
      p.t.exec('b', [process.execPath, '-e', script(op), sock], { user: { uid, gid: uid } }).then((r) => r.stdout.trim());
    expect(await as(12345, 'await c.ping()')).toBe('forbidden');
    const { ca, cb } = await p.call('atk-5');
    await collectKeys();
    expect(await as(65534, "await c.release('atk-5')")).toBe('forbidden');
    expect(await as(65534, "await c.sas('atk-5')")).toBe('forbidden');
    expect(await as(65534, 'const r = await c.peers(); if (r.peers.length) throw Object.assign(new Error(), { code: "leak" })')).toBe('done');
    expect((await cb.calls()).calls.map((c) => c.callId)).toContain('atk-5');
    await ca.release('atk-5');
    await cb.release('atk-5');
    ca.close();
    cb.close();
  }, 240_000);

  it('closes an oversized frame at once and a slowloris frame after the partial-frame timeout, serving others meanwhile', async () => {
    const big = await rawConnect(p.sock('b'));
    const bigDone = untilClosed(big);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(64 * 1024 + 1);
    big.write(Buffer.concat([header, Buffer.from('{"v":1,')]));
    const { data } = await bigDone;
    const reply = JSON.parse(data.subarray(4, 4 + data.readUInt32BE(0)).toString()) as { ok: boolean; error: { code: string } };
    expect(reply).toMatchObject({ ok: false, error: { code: 'frame-too-large' } });

    const slow = await rawConnect(p.sock('b'));
    const slowDone = untilClosed(slow);
    header.writeUInt32BE(100);
    slow.write(Buffer.concat([header, Buffer.from('{"v":1,"id":1,')]));
    // One more byte a second: the timer counts from the frame's first byte, so trickling does not extend it.
    const trickle = setInterval(() => slow.writable && slow.write(' '), 1000);
    const cb = await p.client('b');
    expect((await cb.ping()).pong).toBe(true);
    const { ms, data: slowData } = await slowDone;
    clearInterval(trickle);
    expect(slowData.length).toBe(0);
    expect(ms).toBeGreaterThan(4000);
    expect(ms).toBeLessThan(8000);
    expect((await cb.ping()).pong).toBe(true);
    cb.close();
    expect(p.logRecords('b', 'closing connection: bad framing').map((r) => r.code)).toContain('frame-too-large');
    expect(p.log('b')).toMatch(/incomplete frame timed out/);
  }, 60_000);

  it('logged every refusal without the PSK or any SA key', async () => {
    expect(keys.size).toBeGreaterThanOrEqual(4);
    const logs = p.log('a') + p.log('b');
    expect(logs).toMatch(/answer rejected/);
    expect(logs).toMatch(/"mikeyErr":1\b/);
    expect(logs).toMatch(/"mikeyErr":10\b/);
    expect(logs.toLowerCase()).not.toContain(PSK_HEX);
    expect(logs.toLowerCase()).not.toContain(PSK_HEX.slice(0, 16));
    for (const k of keys) {
      expect(logs.toLowerCase()).not.toContain(k.slice(0, 16));
      expect(logs).not.toContain(Buffer.from(k, 'hex').toString('base64').slice(0, 12));
    }
  }, 10_000);
});
