// Calls between the same two hosts through kamailio on the lab kernel:
// while bob rings, his 183 keys alice (her SAs in before his 200 OK, her
// policies only after it; a call cancelled while ringing leaves nothing);
// two calls up at once share one SA pair (sipsecd's per-peer registry), and
// a re-INVITE carrying a new MIKEY offer rekeys a call under a counted UDP
// flow without losing a packet (make-before-break).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFlow } from './helpers/flow.js';
import { startSipLab, URI, type SipLab, type UaEventLine, type UaHost } from '../../src/lab/demo-lab.js';

let lab: SipLab;

const ev = (events: UaEventLine[], name: string) => events.find((e) => e.event === name);
const espCount = (state: string) => (state.match(/proto esp/g) ?? []).length;
/** The directions of the SPD's policies (sipsecd's ESP-in-UDP socket policies, "socket in/out", left out). */
const policyDirs = (policy: string) => (policy.match(/\bdir (in|out)\b/g) ?? []).sort();

/** The SA pair sipsecd on `host` holds for the peer that carries `callId`. */
async function pairOf(host: UaHost, callId: string): Promise<{ inSpi: number; outSpi: number; calls: readonly string[]; peers: number }> {
  const c = await lab.client(host);
  try {
    const peers = (await c.peers()).peers;
    const p = peers.find((x) => x.calls.includes(callId));
    if (!p) throw new Error(`${host}: no peer carries call ${callId}: ${JSON.stringify(peers)}`);
    return { inSpi: p.inSpi, outSpi: p.outSpi, calls: p.calls, peers: peers.length };
  } finally {
    await c.close();
  }
}

describe('calls between the same two hosts through kamailio', () => {
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    lab = await startSipLab({ prefix: 'sipc-' });
  }, 400_000);

  afterAll(async () => {
    await lab?.stop();
  });

  it('bob\'s 183 keys alice while he rings: her SAs are in before his 200 OK, her policies only after; a call cancelled while ringing leaves no SA', async () => {
    const bob = lab.ua('bob', lab.uaConfig('bob'), ['answer', '--count', '2', '--timeout', '400', '--ring', '6']);
    await bob.waitFor('register-done', 180_000, (e) => e.status === 200);
    const alice = lab.ua('alice', lab.uaConfig('alice'), ['call', URI.bob, '--duration', '1']);
    const early = await alice.waitFor('sas-prepared', 120_000);
    expect(ev(bob.events, 'progress-sent')).toMatchObject({ callId: early.callId, status: 183 });
    expect(ev(alice.events, '2xx-received')).toBeUndefined(); // bob still rings
    expect(espCount(await lab.xfrm('alice', 'state'))).toBe(2);
    expect(policyDirs(await lab.xfrm('alice', 'policy'))).toEqual([]); // alice's traffic unchanged while bob rings
    expect(policyDirs(await lab.xfrm('bob', 'policy'))).toEqual([]);
    await alice.waitFor('media-start', 120_000);
    expect(ev(alice.events, 'confirm-request')).toMatchObject({ early: true });
    expect(policyDirs(await lab.xfrm('alice', 'policy'))).toEqual(['dir in', 'dir out']);
    expect(await alice.exit).toBe(0);
    expect(await lab.waitNoSas(120_000)).toBe(true); // the linger ran out

    // Cancelled 4 s after dialling, while bob rings (6 s): alice's early pair and bob's prepared one go.
    const cancelled = lab.ua('alice', lab.uaConfig('alice'), ['call', URI.bob, '--cancel-after', '4000']);
    await cancelled.waitFor('sas-prepared', 120_000);
    expect(espCount(await lab.xfrm('alice', 'state'))).toBe(2);
    expect(await cancelled.exit).toBe(0);
    await bob.waitFor('cancelled', 60_000);
    await new Promise((r) => setTimeout(r, 1000)); // bob's release follows his 487
    for (const h of ['alice', 'bob'] as const) {
      expect(await lab.xfrm(h, 'state')).toBe('');
      expect(policyDirs(await lab.xfrm(h, 'policy'))).toEqual([]);
    }
    bob.child.kill('SIGTERM');
  }, 600_000);

  it('two calls up at once between alice and bob share one SA pair: 2 SAs per host, both media flows pass', async () => {
    // bob's UA answers both; its second call gets the next media port (40004).
    const bob = lab.ua('bob', lab.uaConfig('bob'), ['answer', '--count', '2', '--timeout', '400']);
    await bob.waitFor('register-done', 180_000, (e) => e.status === 200);
    const first = lab.ua('alice', lab.uaConfig('alice'), ['call', URI.bob, '--duration', '60']);
    const start1 = await first.waitFor('media-start', 180_000);
    // A second UA on alice's host (its own SIP and media ports, not registered) calls bob as well.
    const second = lab.ua('alice', lab.uaConfig('alice', { port: '5062', media: '{ port: 40010, rate: 50 }', register: 'false' }), ['call', URI.bob, '--duration', '30']);
    const start2 = await second.waitFor('media-start', 180_000);
    expect(ev(first.events, 'call-ended')).toBeUndefined(); // both calls are up
    expect([start1.to, start2.to].sort()).toEqual([`${lab.addr.bob}:40002`, `${lab.addr.bob}:40004`]);
    const [id1, id2] = [start1.callId!, start2.callId!];

    // One peer entry per host, carrying both calls.
    for (const h of ['alice', 'bob'] as const) {
      const p = await pairOf(h, id1);
      expect(p.peers).toBe(1);
      expect([...p.calls].sort()).toEqual([id1, id2].sort());
    }
    // The second call's exchange replaced the pair make-before-break; once the old inbound SA's
    // grace (10 s) is over, exactly one pair is left on each host while both calls are still up.
    const end = Date.now() + 60_000;
    let counts = [0, 0];
    while (Date.now() < end) {
      counts = [espCount(await lab.xfrm('alice', 'state')), espCount(await lab.xfrm('bob', 'state'))];
      if (counts[0] === 2 && counts[1] === 2) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(counts).toEqual([2, 2]);
    expect(ev(first.events, 'call-ended')).toBeUndefined();
    expect(ev(second.events, 'call-ended')).toBeUndefined();
    // The pair both hosts hold is one and the same: alice's outbound SPI is bob's inbound one.
    const pa = await pairOf('alice', id2);
    const pb = await pairOf('bob', id2);
    expect(pa.outSpi).toBe(pb.inSpi);
    expect(pa.inSpi).toBe(pb.outSpi);

    expect(await second.exit).toBe(0);
    expect(await first.exit).toBe(0);
    expect(await bob.exit).toBe(0);
    // Both media flows passed, both ways (UML's timers run slow: only ask for a steady flow).
    const stats = [first, second].flatMap((a) => {
      const id = ev(a.events, 'media-start')!.callId;
      return [ev(a.events, 'media-stats')!, bob.events.find((e) => e.event === 'media-stats' && e.callId === id)!];
    });
    for (const s of stats) expect(s.received as number).toBeGreaterThan(20);
    console.log(`two calls, one pair: media (received, lost inside) ${stats.map((s) => `${s.received}/${s.lostInside}`).join(' ')}`);
  }, 600_000);

  it('rekeys a call by re-INVITE with a new MIKEY offer: a UDP flow across it loses no packet, the SPIs change', async () => {
    const bob = lab.ua('bob', lab.uaConfig('bob'), ['answer', '--count', '1', '--timeout', '400']);
    await bob.waitFor('register-done', 180_000, (e) => e.status === 200);
    const alice = lab.ua('alice', lab.uaConfig('alice'), ['call', URI.bob, '--duration', '60']);
    const callId = (await alice.waitFor('media-start', 180_000)).callId!;
    const before = { alice: await pairOf('alice', callId), bob: await pairOf('bob', callId) };
    // ~50 packets/s, each echoed back: counted on both ends.
    const flow = await startFlow(lab.t, 'alice', 'bob', lab.addr.bob, 750, 20);
    await flow.sending;
    await new Promise((r) => setTimeout(r, 4000));
    alice.child.kill('SIGUSR1'); // `sipsec ua rekey --pid`: re-INVITE every call with a fresh MIKEY offer
    const started = await alice.waitFor('rekey-start', 60_000);
    const done = await alice.waitFor('rekey-done', 120_000, (e) => e.callId === callId);
    await bob.waitFor('rekey-done', 60_000, (e) => e.callId === callId);
    const after = { alice: await pairOf('alice', callId), bob: await pairOf('bob', callId) };
    const r = await flow.done;

    // The flow ran across the re-INVITE ...
    expect(r.sentAt.filter((t) => t < started.t).length).toBeGreaterThan(10);
    expect(r.sentAt.filter((t) => t > done.t).length).toBeGreaterThan(50);
    // ... and lost nothing, either way.
    const seen = new Set(r.seen);
    const echoed = new Set(r.echoed);
    expect(r.errors).toEqual([]);
    expect(r.sentAt.map((_, i) => i).filter((i) => !seen.has(i))).toEqual([]);
    expect(r.sentAt.map((_, i) => i).filter((i) => !echoed.has(i))).toEqual([]);
    // New SPIs both ways, and both hosts agree on the new pair.
    for (const h of ['alice', 'bob'] as const) {
      expect(after[h].inSpi).not.toBe(before[h].inSpi);
      expect(after[h].outSpi).not.toBe(before[h].outSpi);
    }
    expect(after.alice.outSpi).toBe(after.bob.inSpi);
    expect(after.alice.inSpi).toBe(after.bob.outSpi);
    const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
    for (const h of ['alice', 'bob'] as const) expect(await lab.xfrm(h, 'state')).toContain(`spi ${hex(after[h].inSpi)}`);

    expect(await alice.exit).toBe(0);
    expect(await bob.exit).toBe(0);
    const ma = ev(alice.events, 'media-stats')!;
    const mb = ev(bob.events, 'media-stats')!;
    console.log(`rekey by re-INVITE: flow ${r.sentAt.length} sent, ${seen.size} received, ${echoed.size} echoed; re-INVITE ${(done.t - started.t).toFixed(0)} ms; media alice ${JSON.stringify(ma)} bob ${JSON.stringify(mb)}`);
  }, 600_000);
});
