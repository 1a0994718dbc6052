// Prepared while ringing, on the lab kernel: the callee's sipsecd answers
// the offer at 180 (`prepare`: both SAs in, no policy) and switches traffic
// only at accept (`activate`).  During ringing the host's traffic is what it
// was (in clear, or on the peer's current pair); after accept it is ESP; a
// call that ends while ringing leaves nothing behind.  The caller's side of
// the 183 (the callee's answer before its 200 OK): `confirm` early installs
// alice's pair with no policy, the 200 OK's `confirm` adds the policies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SipsecClientError, type SipsecClient } from '../../src/client/client.js';
import { ReplayCache } from '../../src/mikey/replay.js';
import { respond } from '../../src/mikey/responder.js';
import { ALICE, BOB, LAB_PSK_HEX, startPair, type Pair } from './helpers/sipsecd.js';

const A = '10.0.0.1';
const B = '10.0.0.2';

let p: Pair;
const xfrm = (h: 'a' | 'b', what: 'state' | 'policy') => p.xfrm(h, what);

/** Packets counted by each SA of host `h`, by SPI ("0x..."). */
async function packets(h: 'a' | 'b'): Promise<Map<string, number>> {
  const out = (await p.t.exec(h, ['ip', '-s', 'xfrm', 'state'])).stdout;
  const m = new Map<string, number>();
  for (const block of out.split(/(?=^src )/m)) {
    const spi = /spi (0x[0-9a-f]+)/.exec(block)?.[1];
    const n = /lifetime current:\s*\n\s*\d+\(bytes\), (\d+)\(packets\)/.exec(block)?.[1];
    if (spi && n !== undefined) m.set(spi, Number(n));
  }
  return m;
}

const ping = async (n = 3) => (await p.t.exec('a', ['ping', '-c', String(n), '-i', '0.2', '-W', '2', B])).code;
/** A UDP datagram alice → bob's port 9 (discard): counted by the SAs when protected. */
const udp = async () => (await p.t.exec('a', [process.execPath, '-e', `const s=require('node:dgram').createSocket('udp4');s.send(Buffer.alloc(32),9,'${B}',()=>s.close())`])).code;

/** Alice offers, bob prepares (he rings). */
async function ring(ca: SipsecClient, cb: SipsecClient, callId: string) {
  const offer = await ca.offer({ callId, localUri: ALICE, peerUri: BOB, localAddress: A });
  return cb.prepare({ callId, localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: A, localAddress: B });
}

/** The SPIs of the ESP SAs on host `h`. */
async function spis(h: 'a' | 'b'): Promise<string[]> {
  return [...(await xfrm(h, 'state')).matchAll(/spi (0x[0-9a-f]+)/g)].map((m) => m[1]!).sort();
}

describe('prepared while ringing', () => {
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    p = await startPair({ prefix: 'rng-', a: [`${A}/24`], b: [`${B}/24`] });
  }, 120_000);

  afterAll(async () => p?.destroy());

  it('rings with both SAs in and no policy (traffic in clear, unchanged); at accept the policies go in and ping/UDP pass encrypted', async () => {
    const ca = await p.client('a');
    const cb = await p.client('b');
    const prep = await ring(ca, cb, 'ring-1');
    expect(prep.sas.map((s) => s.direction).sort()).toEqual(['in', 'out']);
    expect((await xfrm('b', 'state')).match(/proto esp/g)).toHaveLength(2);
    expect(await xfrm('b', 'policy')).toBe('');
    expect((await cb.calls()).calls.find((c) => c.callId === 'ring-1')?.state).toBe('prepared');
    expect(await ping()).toBe(0);
    expect(await udp()).toBe(0);
    expect([...(await packets('b')).values()]).toEqual([0, 0]); // in clear: no SA saw them

    const act = await cb.activate('ring-1');
    expect(act.sas.map((s) => s.spi).sort()).toEqual(prep.sas.map((s) => s.spi).sort());
    expect((await xfrm('b', 'policy')).match(/dir (in|out)/g)?.sort()).toEqual(['dir in', 'dir out']);
    await ca.confirm({ callId: 'ring-1', mikey: prep.mikey, peerAddress: B });
    expect(await ping()).toBe(0);
    expect(await udp()).toBe(0);
    const b = await packets('b');
    for (const sa of prep.sas) expect(b.get(sa.spi)).toBeGreaterThanOrEqual(sa.direction === 'in' ? 4 : 3); // 3 pings (+ the UDP datagram in)
    expect((await cb.calls()).calls.find((c) => c.callId === 'ring-1')?.state).toBe('established');
    await ca.release('ring-1');
    await cb.release('ring-1');
    await new Promise((r) => setTimeout(r, 3000)); // linger: 2 s
    expect(await xfrm('b', 'state')).toBe('');
    ca.close();
    cb.close();
  }, 120_000);

  it('a call that ends while ringing (CANCEL, reject) leaves nothing: no SA, no policy, and cannot be activated', async () => {
    const ca = await p.client('a');
    const cb = await p.client('b');
    await ring(ca, cb, 'ring-2');
    expect((await xfrm('b', 'state')).match(/proto esp/g)).toHaveLength(2);
    expect(await cb.release('ring-2')).toEqual({ released: true });
    await ca.release('ring-2');
    expect(await xfrm('b', 'state')).toBe('');
    expect(await xfrm('b', 'policy')).toBe('');
    expect(await xfrm('a', 'state')).toBe(''); // alice's reserved SPI given back too
    expect((await cb.calls()).calls).toEqual([]);
    expect((await cb.peers()).peers).toEqual([]);
    const late = await cb.activate('ring-2').catch((e: unknown) => e);
    expect(late).toBeInstanceOf(SipsecClientError);
    expect(await ping()).toBe(0);
    ca.close();
    cb.close();
  }, 60_000);

  it('caller: the 183\'s answer installs alice\'s pair with no policy while bob rings; the 200 OK\'s same message adds only the policies', async () => {
    const ca = await p.client('a');
    const cb = await p.client('b');
    const prep = await ring(ca, cb, 'early-1');
    const early = await ca.confirm({ callId: 'early-1', mikey: prep.mikey, peerAddress: B, early: true });
    expect(early.sas.map((s) => s.direction).sort()).toEqual(['in', 'out']);
    // Both sides: SAs in, no policy, the host's traffic unchanged (in clear) while bob rings.
    expect(await spis('a')).toEqual(early.sas.map((s) => s.spi).sort());
    expect(await xfrm('a', 'policy')).toBe('');
    expect(await xfrm('b', 'policy')).toBe('');
    expect((await ca.calls()).calls.find((c) => c.callId === 'early-1')?.state).toBe('prepared');
    expect(await ping()).toBe(0);
    expect([...(await packets('a')).values()]).toEqual([0, 0]);

    await cb.activate('early-1'); // bob accepts: his 200 OK carries the same MIKEY message
    const done = await ca.confirm({ callId: 'early-1', mikey: prep.mikey, peerAddress: B });
    expect(done.sas.map((s) => s.spi).sort()).toEqual(early.sas.map((s) => s.spi).sort()); // no new pair: the early one
    expect(await spis('a')).toEqual(early.sas.map((s) => s.spi).sort());
    expect((await xfrm('a', 'policy')).match(/dir (in|out)/g)?.sort()).toEqual(['dir in', 'dir out']);
    expect((await ca.calls()).calls.find((c) => c.callId === 'early-1')?.state).toBe('established');
    expect(await ping()).toBe(0);
    const a = await packets('a');
    for (const sa of early.sas) expect(a.get(sa.spi)).toBeGreaterThanOrEqual(3);
    await ca.release('early-1');
    await cb.release('early-1');
    await new Promise((r) => setTimeout(r, 3000)); // linger: 2 s
    expect(await xfrm('a', 'state')).toBe('');
    ca.close();
    cb.close();
  }, 120_000);

  it('caller: a reject while bob rings leaves nothing after an early confirm; a forged 183 changes nothing; a 2xx answering another offer ends the call', async () => {
    const ca = await p.client('a');
    const cb = await p.client('b');
    // Rejected (486) while ringing: both release.
    const prep = await ring(ca, cb, 'early-2');
    await ca.confirm({ callId: 'early-2', mikey: prep.mikey, peerAddress: B, early: true });
    expect((await spis('a')).length).toBe(2);
    await cb.release('early-2');
    await ca.release('early-2');
    for (const h of ['a', 'b'] as const) {
      expect(await xfrm(h, 'state')).toBe('');
      expect(await xfrm(h, 'policy')).toBe('');
    }
    expect((await ca.calls()).calls).toEqual([]);
    expect((await ca.peers()).peers).toEqual([]);

    // A forged 183 (tampered MIKEY): refused, nothing installed, the offer kept for the 200 OK.
    const next = await ring(ca, cb, 'early-3');
    const reserved = await spis('a'); // alice's larval inbound SA (ALLOCSPI)
    const forged = Buffer.from(next.mikey, 'base64');
    forged[forged.length - 1]! ^= 1;
    const bad = await ca.confirm({ callId: 'early-3', mikey: forged.toString('base64'), peerAddress: B, early: true }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'mikey-rejected' });
    expect(await spis('a')).toEqual(reserved);
    await cb.activate('early-3');
    const full = await ca.confirm({ callId: 'early-3', mikey: next.mikey, peerAddress: B });
    expect((await xfrm('a', 'policy')).match(/dir (in|out)/g)?.sort()).toEqual(['dir in', 'dir out']);
    expect(await spis('a')).toEqual(full.sas.map((s) => s.spi).sort());
    await ca.release('early-3');
    await cb.release('early-3');
    await new Promise((r) => setTimeout(r, 3000));

    // The 200 OK's message is not the 183's and answers another offer (early-3's): the early pair
    // goes, the message fails its full verification, the call ends with nothing left.
    const third = await ring(ca, cb, 'early-4');
    await ca.confirm({ callId: 'early-4', mikey: third.mikey, peerAddress: B, early: true });
    expect((await spis('a')).length).toBe(2);
    const other = await ca.confirm({ callId: 'early-4', mikey: next.mikey, peerAddress: B }).catch((e: unknown) => e);
    expect(other).toMatchObject({ code: 'mikey-rejected' });
    expect(await xfrm('a', 'state')).toBe('');
    expect(await xfrm('a', 'policy')).toBe('');
    expect((await ca.calls()).calls).toEqual([]);
    await cb.release('early-4');
    expect(await xfrm('b', 'state')).toBe('');
    ca.close();
    cb.close();
  }, 120_000);

  it("caller: another fork's 2xx after an early confirm: the early pair goes, that fork's answer is verified and its pair installed", async () => {
    const ca = await p.client('a');
    const cb = await p.client('b');
    const offer = await ca.offer({ callId: 'fork-1', localUri: ALICE, peerUri: BOB, localAddress: A });
    const fork1 = await cb.prepare({ callId: 'fork-1', localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: A, localAddress: B });
    await ca.confirm({ callId: 'fork-1', mikey: fork1.mikey, peerAddress: B, early: true });
    const early = await spis('a');
    expect(early.length).toBe(2);
    // Fork 2 (bob's other device: the same PSK, its own replay cache and SPI) answers the same offer.
    const fork2 = await respond(Buffer.from(offer.mikey, 'base64'), {
      localId: BOB,
      peerId: ALICE,
      localAddr: B,
      allocSpi: () => 0x0f0e0d0c,
      credentials: { psk: Buffer.from(LAB_PSK_HEX, 'hex') },
      modes: ['psk'],
      replayCache: new ReplayCache(),
    });
    if (!fork2.ok) throw fork2.error;
    fork2.result.wipe();
    const done = await ca.confirm({ callId: 'fork-1', mikey: Buffer.from(fork2.response).toString('base64'), peerAddress: B });
    // Alice's pair is fork 2's: out to its SPI, in on her offer's SPI (added anew); the early pair is gone.
    const now = await spis('a');
    expect(now).toEqual(done.sas.map((s) => s.spi).sort());
    expect(done.sas.find((s) => s.direction === 'out')!.spi).toBe('0x0f0e0d0c');
    expect(now).not.toContain(early.find((x) => x !== done.sas.find((s) => s.direction === 'in')!.spi));
    expect((await xfrm('a', 'policy')).match(/dir (in|out)/g)?.sort()).toEqual(['dir in', 'dir out']);
    expect((await ca.calls()).calls.find((c) => c.callId === 'fork-1')?.state).toBe('established');
    await ca.release('fork-1');
    await cb.release('fork-1');
    ca.close();
    cb.close();
  }, 120_000);

  it('a peer with SAs keeps its pair and policies while another call rings; a reject gives back only the new pair; an accept switches make-before-break', async () => {
    const { ca, cb } = await p.call('ring-3');
    const policy = await xfrm('b', 'policy');
    const before = await packets('b');
    expect(before.size).toBe(2);

    const prep = await ring(ca, cb, 'ring-4');
    expect((await packets('b')).size).toBe(4);
    expect(await xfrm('b', 'policy')).toBe(policy); // nothing switched while ringing
    expect(await ping()).toBe(0);
    const ringing = await packets('b');
    for (const sa of prep.sas) expect(ringing.get(sa.spi)).toBe(0);
    for (const [spi, n] of before) expect(ringing.get(spi)).toBeGreaterThan(n); // the current pair carries it
    await cb.release('ring-4');
    await ca.release('ring-4');
    expect([...(await packets('b')).keys()].sort()).toEqual([...before.keys()].sort());
    expect(await xfrm('b', 'policy')).toBe(policy);
    expect(await ping()).toBe(0);

    const next = await ring(ca, cb, 'ring-5');
    await cb.activate('ring-5');
    await ca.confirm({ callId: 'ring-5', mikey: next.mikey, peerAddress: B });
    const peer = (await cb.peers()).peers[0]!;
    expect([...peer.calls].sort()).toEqual(['ring-3', 'ring-5']);
    expect(peer.inSpi).toBe(Number(next.sas.find((s) => s.direction === 'in')!.spi));
    expect(await ping(5)).toBe(0);
    const after = await packets('b');
    const newIn = next.sas.find((s) => s.direction === 'in')!.spi;
    const newOut = next.sas.find((s) => s.direction === 'out')!.spi;
    expect(after.get(newIn)).toBeGreaterThanOrEqual(5);
    // bob switches his outbound SA at the first packet on the new inbound one (make-before-break)
    expect(after.get(newOut)).toBeGreaterThan(0);
    for (const id of ['ring-3', 'ring-5']) {
      await ca.release(id);
      await cb.release(id);
    }
    ca.close();
    cb.close();
  }, 120_000);
});
