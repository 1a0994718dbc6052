// The per-peer registry on the lab kernel, daemon to daemon (issue 4): ten
// calls to one peer leave one SA pair; a call during the linger keeps the
// peer's entry alive past the linger's deadline; simultaneous offers (glare)
// converge on one SA pair that carries traffic both ways past the grace
// period; scope `media` protects every call's media flows and a release takes
// away only the policies of the call that ended.  Each test has its own
// address pair, so each starts from an empty peer entry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SipsecClient } from '../../src/client/client.js';
import { startFlow } from './helpers/flow.js';
import { ALICE, BOB, startPair, type Pair } from './helpers/sipsecd.js';

// [0] glare (the flow helper sends from each host's first address), [1] ten calls, [2] linger, [3] media,
// [4] glare while both ring, [5] glare while both ring and the callers confirm the 183s early.
const AS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'];
const BS = ['10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.14', '10.0.0.15', '10.0.0.16'];
const LINGER_S = 4;
/** PeerRegistry's inboundGraceMs default (not configurable): how long a replaced inbound SA stays. */
const GRACE_MS = 10_000;

let p: Pair;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (spi: number) => '0x' + spi.toString(16).padStart(8, '0');

/** `ip xfrm state` entries between two addresses (either direction), as "src dst spi". */
async function sasBetween(h: 'a' | 'b', x: string, y: string): Promise<string[]> {
  const text = await p.xfrm(h, 'state');
  return [...text.matchAll(/^src (\S+) dst (\S+)\n\tproto esp spi (0x[0-9a-f]+)/gm)]
    .filter((m) => (m[1] === x && m[2] === y) || (m[1] === y && m[2] === x))
    .map((m) => `${m[1]} ${m[2]} ${m[3]}`)
    .sort();
}

/** `ip xfrm policy` heads ("src ... dst ... [proto ... dport ...] dir ...") of policies naming address `x`. */
async function policiesOf(h: 'a' | 'b', x: string): Promise<string[]> {
  const text = await p.xfrm(h, 'policy');
  return text
    .split(/(?=^src )/m)
    .filter((b) => b.includes(` ${x}/`) || b.includes(`src ${x}/`))
    .map((b) => b.split('\n').slice(0, 2).join(' ').replace(/\s+/g, ' ').trim())
    .sort();
}

async function peerOf(c: SipsecClient, local: string, peer: string) {
  return (await c.peers()).peers.find((x) => x.local === local && x.peer === peer);
}

/** Both daemons hold both glare calls on one pair, the same pair seen from each end. */
async function onePairHoldsBoth(ca: SipsecClient, cb: SipsecClient, A: string, B: string, callIds: string[]) {
  const pa = (await peerOf(ca, A, B))!;
  const pb = (await peerOf(cb, B, A))!;
  expect([...pa.calls].sort()).toEqual(callIds);
  expect([...pb.calls].sort()).toEqual(callIds);
  expect(pa.outSpi).toBe(pb.inSpi);
  expect(pa.inSpi).toBe(pb.outSpi);
  return { pa, pb };
}

/** A minimal SDP offering one RTP stream at addr:port (RTCP on port + 1). */
const sdp = (addr: string, port: number) =>
  `v=0\r\no=- 1 1 IN IP4 ${addr}\r\ns=-\r\nc=IN IP4 ${addr}\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\n`;

/** Send `n` UDP datagrams from host h, source src:sport, to dst:dport (nothing listens: only the SAs count them). */
async function udp(h: 'a' | 'b', src: string, sport: number, dst: string, dport: number, n = 5): Promise<void> {
  const script = `const s = require('node:dgram').createSocket('udp4');
    s.bind(${sport}, '${src}', () => { let i = 0; const t = setInterval(() => { s.send(Buffer.alloc(32), ${dport}, '${dst}'); if (++i === ${n}) { clearInterval(t); setTimeout(() => s.close(), 200); } }, 20); });`;
  const r = await p.t.exec(h, [process.execPath, '-e', script]);
  expect(r.code, r.stderr).toBe(0);
}

/** The packet counters of the SA pair of `callId` on the host of client c. */
async function counters(c: SipsecClient, callId: string): Promise<{ in: number; out: number }> {
  const sas = (await c.sas(callId)).sas;
  return { in: sas.find((s) => s.direction === 'in')!.packets ?? 0, out: sas.find((s) => s.direction === 'out')!.packets ?? 0 };
}

describe('sipsecd per-peer registry in the lab', () => {
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    p = await startPair({
      prefix: 'reg-',
      a: AS.map((x) => `${x}/24`),
      b: BS.map((x) => `${x}/24`),
      extra: `linger: ${LINGER_S}\nprotection: { scope: media }`,
    });
  }, 180_000);

  afterAll(async () => p?.destroy());

  it('ten calls to one peer leave exactly one SA pair, removed after the last release and the linger', async () => {
    const [A, B] = [AS[1]!, BS[1]!];
    const ca = await p.client('a');
    const cb = await p.client('b');
    const ids = Array.from({ length: 10 }, (_, i) => `ten-${i}`);
    for (const id of ids) await p.rekey(ca, cb, id, A, B);
    expect([...(await peerOf(ca, A, B))!.calls].sort()).toEqual([...ids].sort());
    expect([...(await peerOf(cb, B, A))!.calls].sort()).toEqual([...ids].sort());
    // Each new call replaced the pair make-before-break (b, the responder, switches its outbound SA
    // at the first packet on its new inbound one or after a timeout); once the replaced inbound SAs'
    // grace is over, the kernels hold exactly one pair for this address pair, the same seen from each end.
    await sleep(GRACE_MS + 1000);
    const pa = (await peerOf(ca, A, B))!;
    const pb = (await peerOf(cb, B, A))!;
    expect(pa.outSpi).toBe(pb.inSpi);
    expect(pa.inSpi).toBe(pb.outSpi);
    const pair = [`${A} ${B} ${hex(pa.outSpi)}`, `${B} ${A} ${hex(pa.inSpi)}`].sort();
    expect(await sasBetween('a', A, B)).toEqual(pair);
    expect(await sasBetween('b', A, B)).toEqual(pair);
    expect((await p.t.exec('a', ['ping', '-c', '2', '-i', '0.2', '-W', '2', '-I', A, B])).code).toBe(0);
    for (const id of ids) {
      await ca.release(id);
      await cb.release(id);
    }
    await sleep(LINGER_S * 1000 + 1500);
    expect(await sasBetween('a', A, B)).toEqual([]);
    expect(await sasBetween('b', A, B)).toEqual([]);
    expect(await policiesOf('a', A)).toEqual([]);
    ca.close();
    cb.close();
  }, 180_000);

  it('a call during the linger revives the entry: its pair outlives the first linger deadline, with the same reqid and policies', async () => {
    const [A, B] = [AS[2]!, BS[2]!];
    const { ca, cb } = await p.call('lg-1', A, B);
    const before = (await peerOf(ca, A, B))!;
    const policiesBefore = await policiesOf('a', A);
    await ca.release('lg-1');
    await cb.release('lg-1');
    const lingering = (await peerOf(ca, A, B))!;
    expect(lingering.lingerUntil).toBeGreaterThan(Date.now());
    const deadline = Math.max(lingering.lingerUntil!, (await peerOf(cb, B, A))!.lingerUntil!);
    // A new call before the linger ends: the entry is taken back (no linger), same reqid, same policies.
    await p.rekey(ca, cb, 'lg-2', A, B);
    expect(Date.now()).toBeLessThan(deadline);
    const revived = (await peerOf(ca, A, B))!;
    expect(revived.lingerUntil).toBeUndefined();
    expect(revived.reqid).toBe(before.reqid);
    expect([...revived.calls]).toEqual(['lg-2']);
    expect(await policiesOf('a', A)).toEqual(policiesBefore);
    // Past the first deadline (and the replaced inbound SA's grace) the revived pair is in place and carries traffic.
    await sleep(Math.max(deadline - Date.now(), GRACE_MS) + 1500);
    const after = (await peerOf(ca, A, B))!;
    expect([after.inSpi, after.outSpi]).toEqual([revived.inSpi, revived.outSpi]);
    expect(await sasBetween('a', A, B)).toEqual([`${A} ${B} ${hex(revived.outSpi)}`, `${B} ${A} ${hex(revived.inSpi)}`].sort());
    expect((await p.t.exec('a', ['ping', '-c', '2', '-i', '0.2', '-W', '2', '-I', A, B])).code).toBe(0);
    const { in: inPackets, out: outPackets } = await counters(ca, 'lg-2');
    expect(inPackets).toBeGreaterThanOrEqual(2);
    expect(outPackets).toBeGreaterThanOrEqual(2);
    await ca.release('lg-2');
    await cb.release('lg-2');
    ca.close();
    cb.close();
  }, 120_000);

  it('simultaneous offers (glare) converge on one SA pair that carries UDP and ping both ways past the grace period', async () => {
    const [A, B] = [AS[0]!, BS[0]!];
    const ca = await p.client('a');
    const cb = await p.client('b');
    // Each side offers before it answers the other's offer; both answers, then both confirms, in crossing order.
    const offerX = await ca.offer({ callId: 'glare-x', localUri: ALICE, peerUri: BOB, localAddress: A });
    const offerY = await cb.offer({ callId: 'glare-y', localUri: BOB, peerUri: ALICE, localAddress: B });
    const answerX = await cb.answer({ callId: 'glare-x', localUri: BOB, peerUri: ALICE, mikey: offerX.mikey, peerAddress: A, localAddress: B });
    const answerY = await ca.answer({ callId: 'glare-y', localUri: ALICE, peerUri: BOB, mikey: offerY.mikey, peerAddress: B, localAddress: A });
    await ca.confirm({ callId: 'glare-x', mikey: answerX.mikey, peerAddress: B });
    await cb.confirm({ callId: 'glare-y', mikey: answerY.mikey, peerAddress: A });
    const { pa } = await onePairHoldsBoth(ca, cb, A, B, ['glare-x', 'glare-y']);
    // UDP both ways (sent from a, echoed by b) for longer than the grace period of the replaced inbound SA.
    const flow = await startFlow(p.t, 'a', 'b', B, Math.ceil((GRACE_MS + 3000) / 100), 100);
    const r = await flow.done;
    const late = r.sentAt.map((t, n) => ({ t, n })).filter((x) => x.t - r.sentAt[0]! > GRACE_MS + 500).map((x) => x.n);
    expect(late.length).toBeGreaterThan(10);
    for (const n of late) {
      expect(r.seen, `datagram ${n} not received by b`).toContain(n);
      expect(r.echoed, `echo ${n} not received by a`).toContain(n);
    }
    // alice < bob: alice's exchange (glare-x) wins; b's own offer (glare-y) lost and its call joined that pair.
    expect(p.logRecords('b', 'glare: our offer loses to the exchange answered').map((x) => x.callId)).toEqual(['glare-y']);
    expect(p.logRecords('a', 'glare: our offer loses to the exchange answered')).toEqual([]);
    // Exactly one pair left in each kernel, and it is encrypting in both directions.
    const pair = [`${A} ${B} ${hex(pa.outSpi)}`, `${B} ${A} ${hex(pa.inSpi)}`].sort();
    expect(await sasBetween('a', A, B)).toEqual(pair);
    expect(await sasBetween('b', A, B)).toEqual(pair);
    const ka = await counters(ca, 'glare-x');
    const kb = await counters(cb, 'glare-y');
    expect(ka.out).toBeGreaterThanOrEqual(late.length);
    expect(kb.in).toBeGreaterThanOrEqual(late.length);
    expect(kb.out).toBeGreaterThanOrEqual(late.length);
    expect(ka.in).toBeGreaterThanOrEqual(late.length);
    expect((await p.t.exec('a', ['ping', '-c', '2', '-i', '0.2', '-W', '2', '-I', A, B])).code).toBe(0);
    expect((await p.t.exec('b', ['ping', '-c', '2', '-i', '0.2', '-W', '2', '-I', B, A])).code).toBe(0);
    for (const id of ['glare-x', 'glare-y']) {
      await ca.release(id);
      await cb.release(id);
    }
    ca.close();
    cb.close();
  }, 180_000);

  it('simultaneous offers while both callees ring (prepare, then activate before the confirms) converge on the winning pair', async () => {
    const [A, B] = [AS[4]!, BS[4]!];
    const ca = await p.client('a');
    const cb = await p.client('b');
    // Both offer, both ring (prepare), both users accept (activate), then both 200 OKs arrive (confirm).
    const offerX = await ca.offer({ callId: 'ring-glare-x', localUri: ALICE, peerUri: BOB, localAddress: A });
    const offerY = await cb.offer({ callId: 'ring-glare-y', localUri: BOB, peerUri: ALICE, localAddress: B });
    const prepX = await cb.prepare({ callId: 'ring-glare-x', localUri: BOB, peerUri: ALICE, mikey: offerX.mikey, peerAddress: A, localAddress: B });
    const prepY = await ca.prepare({ callId: 'ring-glare-y', localUri: ALICE, peerUri: BOB, mikey: offerY.mikey, peerAddress: B, localAddress: A });
    await cb.activate('ring-glare-x');
    await ca.activate('ring-glare-y');
    await ca.confirm({ callId: 'ring-glare-x', mikey: prepX.mikey, peerAddress: B });
    await cb.confirm({ callId: 'ring-glare-y', mikey: prepY.mikey, peerAddress: A });
    // alice < bob: alice's exchange (x) wins.  b prepared the winner and its own offer (y) lost: y's
    // confirm joins x's pair.  a prepared the loser (y), activated it, and replaced it with x at confirm.
    expect(p.logRecords('b', 'glare: our offer loses to the exchange answered').map((x) => x.callId)).toContain('ring-glare-y');
    expect(p.logRecords('a', "glare: the ringing call's exchange loses to our offer").map((x) => x.callId)).toEqual(['ring-glare-y']);
    const { pa, pb } = await onePairHoldsBoth(ca, cb, A, B, ['ring-glare-x', 'ring-glare-y']);
    const x = prepX.sas; // b's view of x's pair: its in SA is a's out SA
    expect(hex(pb.inSpi)).toBe(x.find((s) => s.direction === 'in')!.spi);
    // Past the grace period of every replaced inbound SA: one pair per kernel, and it carries traffic both ways.
    await sleep(GRACE_MS + 1000);
    const pair = [`${A} ${B} ${hex(pa.outSpi)}`, `${B} ${A} ${hex(pa.inSpi)}`].sort();
    expect(await sasBetween('a', A, B)).toEqual(pair);
    expect(await sasBetween('b', A, B)).toEqual(pair);
    expect((await p.t.exec('a', ['ping', '-c', '2', '-i', '0.2', '-W', '2', '-I', A, B])).code).toBe(0);
    expect((await p.t.exec('b', ['ping', '-c', '2', '-i', '0.2', '-W', '2', '-I', B, A])).code).toBe(0);
    const ka = await counters(ca, 'ring-glare-x');
    expect(ka.out).toBeGreaterThanOrEqual(2);
    expect(ka.in).toBeGreaterThanOrEqual(2);
    for (const id of ['ring-glare-x', 'ring-glare-y']) {
      await ca.release(id);
      await cb.release(id);
    }
    ca.close();
    cb.close();
  }, 180_000);

  it('glare while both ring, each caller confirming the other\'s 183 early: the early-confirmed offers are weighed too, both converge on the winning pair', async () => {
    const [A, B] = [AS[5]!, BS[5]!];
    const ca = await p.client('a');
    const cb = await p.client('b');
    const offerX = await ca.offer({ callId: 'early-glare-x', localUri: ALICE, peerUri: BOB, localAddress: A });
    const offerY = await cb.offer({ callId: 'early-glare-y', localUri: BOB, peerUri: ALICE, localAddress: B });
    // a rings for y first (its offer x pending: x wins, y will join at activate); b confirms a's 183 (y) early,
    // before it answers x: its early-confirmed offer y is then weighed against x when it prepares x, and loses.
    const prepY = await ca.prepare({ callId: 'early-glare-y', localUri: ALICE, peerUri: BOB, mikey: offerY.mikey, peerAddress: B, localAddress: A });
    await cb.confirm({ callId: 'early-glare-y', mikey: prepY.mikey, peerAddress: A, early: true });
    const prepX = await cb.prepare({ callId: 'early-glare-x', localUri: BOB, peerUri: ALICE, mikey: offerX.mikey, peerAddress: A, localAddress: B });
    await ca.confirm({ callId: 'early-glare-x', mikey: prepX.mikey, peerAddress: B, early: true });
    // b accepts x, a's 200 OK for x comes back (policies only), then a accepts y and b gets its 200 OK.
    await cb.activate('early-glare-x');
    await ca.confirm({ callId: 'early-glare-x', mikey: prepX.mikey, peerAddress: B });
    await ca.activate('early-glare-y');
    await cb.confirm({ callId: 'early-glare-y', mikey: prepY.mikey, peerAddress: A });
    const { pa, pb } = await onePairHoldsBoth(ca, cb, A, B, ['early-glare-x', 'early-glare-y']);
    expect(hex(pb.inSpi)).toBe(prepX.sas.find((s) => s.direction === 'in')!.spi); // x's pair
    expect(p.logRecords('b', 'glare: our offer confirmed early loses to the exchange answered').map((x) => x.callId)).toEqual(['early-glare-y']);
    await sleep(GRACE_MS + 1000);
    const pair = [`${A} ${B} ${hex(pa.outSpi)}`, `${B} ${A} ${hex(pa.inSpi)}`].sort();
    expect(await sasBetween('a', A, B)).toEqual(pair);
    expect(await sasBetween('b', A, B)).toEqual(pair);
    expect((await p.t.exec('a', ['ping', '-c', '2', '-i', '0.2', '-W', '2', '-I', A, B])).code).toBe(0);
    for (const id of ['early-glare-x', 'early-glare-y']) {
      await ca.release(id);
      await cb.release(id);
    }
    ca.close();
    cb.close();
  }, 180_000);

  it('scope media: each call to a peer brings its media flows, both are encrypted, and a release takes away only its own policies', async () => {
    const [A, B] = [AS[3]!, BS[3]!];
    const ca = await p.client('a');
    const cb = await p.client('b');
    /** A call whose media is a:aPort <-> b:bPort (each side's policies come from the other's SDP). */
    const media = async (callId: string, aPort: number, bPort: number) => {
      const offer = await ca.offer({ callId, localUri: ALICE, peerUri: BOB, localAddress: A });
      const answer = await cb.answer({ callId, localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: A, localAddress: B, sdp: sdp(A, aPort) });
      await ca.confirm({ callId, mikey: answer.mikey, peerAddress: B, sdp: sdp(B, bPort) });
    };
    await media('m-1', 30000, 40000);
    const one = await policiesOf('a', A);
    // RTP and RTCP of the first call, in and out.
    expect(one).toHaveLength(4);
    await media('m-2', 30010, 40010);
    const both = await policiesOf('a', A);
    expect(both).toHaveLength(8);
    expect(both.filter((x) => /dport 4001[01]/.test(x) || /sport 4001[01]/.test(x))).toHaveLength(4);
    expect(await policiesOf('b', B)).toHaveLength(8);
    const pa = (await peerOf(ca, A, B))!;
    expect(pa.selectors.map((s) => s.dstPort).sort()).toEqual([40000, 40001, 40010, 40011]);
    // Each call's flow goes out under ESP from a and arrives under ESP on b; traffic outside both (ping) does not.
    for (const [aPort, bPort] of [
      [30000, 40000],
      [30010, 40010],
    ] as const) {
      const a0 = await counters(ca, 'm-2');
      const b0 = await counters(cb, 'm-2');
      await udp('a', A, aPort, B, bPort);
      await udp('b', B, bPort, A, aPort);
      const a1 = await counters(ca, 'm-2');
      const b1 = await counters(cb, 'm-2');
      expect(a1.out - a0.out, `a:${aPort} -> b:${bPort}`).toBe(5);
      expect(b1.in - b0.in, `a:${aPort} -> b:${bPort} at b`).toBe(5);
      expect(b1.out - b0.out, `b:${bPort} -> a:${aPort}`).toBe(5);
      expect(a1.in - a0.in, `b:${bPort} -> a:${aPort} at a`).toBe(5);
    }
    const c0 = await counters(ca, 'm-2');
    expect((await p.t.exec('a', ['ping', '-c', '1', '-W', '2', '-I', A, B])).code).toBe(0);
    expect((await counters(ca, 'm-2')).out).toBe(c0.out);
    // The first call ends on both sides: its four policies go, the second call's stay and still encrypt.
    await ca.release('m-1');
    await cb.release('m-1');
    const left = await policiesOf('a', A);
    expect(left).toEqual(both.filter((x) => !one.includes(x)));
    expect(left).toHaveLength(4);
    expect(await policiesOf('b', B)).toHaveLength(4);
    const d0 = await counters(ca, 'm-2');
    await udp('a', A, 30000, B, 40000);
    await udp('a', A, 30010, B, 40010);
    expect((await counters(ca, 'm-2')).out - d0.out).toBe(5);
    await ca.release('m-2');
    await cb.release('m-2');
    ca.close();
    cb.close();
  }, 120_000);
});
