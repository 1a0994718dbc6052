// NAT traversal on the lab kernel (docs/PROFILE.md §NAT): alice (a, 192.168.1.2)
// calls bob (b, 10.0.0.2) through a masquerading NAT box (nat: 192.168.1.1 /
// 10.0.0.1).  Bob's UA saw the INVITE come from 10.0.0.1, so bob's sipsecd
// rewrites alice's map address and both sides install ESP-in-UDP SAs
// (RFC 3948, port 4500).  A call without NAT on the same daemons stays plain ESP.
// The NAT then rebinds alice's flow to a new port: bob's kernel reports it
// (XFRM_MSG_MAPPING) and bob's sipsecd moves his SAs to it.  A second
// topology puts the responder (bob) behind the NAT instead.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SipsecClient } from '../../src/client/client.js';
import type { SipsecEvent } from '../../src/agent/protocol.js';
import { ALICE, BOB, startPair, type Pair } from './helpers/sipsecd.js';

const ENCAP = /encap type espinudp sport 4500 dport 4500/g;

/** Masquerade everything leaving the NAT's public side (eth1): nftables, else iptables (the UML kernel has no nf_tables for IPv4). */
async function masquerade(p: Pair): Promise<string> {
  const nft = await p.t.exec('nat', ['nft', '-f', '-'], {
    input: 'table ip nat {\n chain post { type nat hook postrouting priority srcnat; oifname "eth1" masquerade; }\n}\n',
  });
  if (nft.code === 0) return 'nft';
  const ipt = await p.t.exec('nat', ['iptables-legacy', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'eth1', '-j', 'MASQUERADE']);
  if (ipt.code !== 0) throw new Error(`no NAT: nft: ${nft.stderr} iptables-legacy: ${ipt.stderr}`);
  return 'iptables-legacy';
}

/**
 * NAT rebinding: UDP leaving the public side now gets a source port in
 * 40000-40099, and bouncing the public link makes the masquerade target drop
 * the conntrack entries it made on it (nf_nat_masquerade, NETDEV_DOWN), so
 * the next packet of alice's flow gets a new mapping.
 */
async function rebind(p: Pair, tool: string): Promise<void> {
  const rule =
    tool === 'nft'
      ? await p.t.exec('nat', ['nft', 'insert', 'rule', 'ip', 'nat', 'post', 'oifname', 'eth1', 'meta', 'l4proto', 'udp', 'masquerade', 'to', ':40000-40099'])
      : await p.t.exec('nat', ['iptables-legacy', '-t', 'nat', '-I', 'POSTROUTING', '1', '-o', 'eth1', '-p', 'udp', '-j', 'MASQUERADE', '--to-ports', '40000-40099']);
  expect(rule.code, rule.stderr).toBe(0);
  for (const state of ['down', 'up']) {
    const r = await p.t.exec('nat', ['ip', 'link', 'set', 'eth1', state]);
    expect(r.code, r.stderr).toBe(0);
  }
  // The flush runs from a work queue: wait until the old mapping (public port 4500) is gone.
  const old = /src=10\.0\.0\.2 dst=10\.0\.0\.1 sport=4500 dport=4500/;
  const gone = await until(() => conntrack(p), (ct) => !old.test(ct));
  expect(gone).not.toMatch(old);
}

/** Polls `get` (every 100 ms, up to 10 s) until `ok` holds; returns the last value. */
async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await get();
  for (let i = 0; i < 100 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = await get();
  }
  return v;
}

/** The NAT host's connection-tracking table. */
async function conntrack(p: Pair): Promise<string> {
  return (await p.t.exec('nat', ['cat', '/proc/net/nf_conntrack'])).stdout;
}

/** Both of the call's SAs, as `c` reports them, counted at least `n` packets. */
async function expectEspPackets(clients: readonly SipsecClient[], callId: string, n: number): Promise<void> {
  for (const c of clients) {
    const sas = (await c.sas(callId)).sas;
    expect(sas.find((s) => s.direction === 'in')!.packets).toBeGreaterThanOrEqual(n);
    expect(sas.find((s) => s.direction === 'out')!.packets).toBeGreaterThanOrEqual(n);
  }
}

/** The SA blocks of `ip xfrm state` from `src` to `dst`. */
function sasBetween(state: string, src: string, dst: string): string[] {
  return state.split(/\n(?=src )/).filter((b) => b.startsWith(`src ${src} dst ${dst}\n`));
}

/** The offer / answer / confirm of one call; `seenFrom` is where bob's SIP saw alice. */
async function call(ca: SipsecClient, cb: SipsecClient, callId: string, aAddr: string, bAddr: string, seenFrom: string): Promise<void> {
  const offer = await ca.offer({ callId, localUri: ALICE, peerUri: BOB, localAddress: aAddr });
  const answer = await cb.answer({ callId, localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: seenFrom, localAddress: bAddr });
  await ca.confirm({ callId, mikey: answer.mikey, peerAddress: bAddr });
}

describe('NAT traversal: ESP in UDP through a masquerading NAT', () => {
  let p: Pair;
  let ca: SipsecClient;
  let cb: SipsecClient;
  let tool: string;
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    p = await startPair({
      prefix: 'nt-',
      a: ['192.168.1.2/24'],
      b: ['10.0.0.2/24', '10.0.1.2/24'],
      identityAddrs: { a: ['192.168.1.2', '10.0.1.1'], b: ['10.0.0.2', '10.0.1.2'] },
      topology: {
        hosts: [
          { name: 'a', addrs: ['192.168.1.2/24'], routes: ['192.168.1.1'] },
          { name: 'nat', forward: true },
          { name: 'b', addrs: ['10.0.0.2/24'] },
        ],
        links: [
          { type: 'veth', a: { host: 'nat', addrs: ['192.168.1.1/24'] }, b: 'a' },
          { type: 'veth', a: { host: 'nat', addrs: ['10.0.0.1/24'] }, b: 'b' },
          // A second, direct link between a and b: the call without NAT.
          { type: 'veth', a: { host: 'a', addrs: ['10.0.1.1/24'] }, b: { host: 'b', addrs: ['10.0.1.2/24'] } },
        ],
      },
    });
    tool = await masquerade(p);
    ca = await p.client('a');
    cb = await p.client('b');
  }, 600_000);
  afterAll(async () => {
    ca?.close();
    cb?.close();
    await p?.destroy();
  });

  it('a call from behind the NAT gets ESP-in-UDP SAs on both sides and passes traffic', async () => {
    await call(ca, cb, 'nat-1', '192.168.1.2', '10.0.0.2', '10.0.0.1');
    const aState = await p.xfrm('a', 'state');
    const bState = await p.xfrm('b', 'state');
    // Alice's kernel knows her by her own address, bob's by the NAT's public one.
    expect(aState).toMatch(/src 192\.168\.1\.2 dst 10\.0\.0\.2\s+proto esp/);
    expect(aState).toMatch(/src 10\.0\.0\.2 dst 192\.168\.1\.2\s+proto esp/);
    expect(bState).toMatch(/src 10\.0\.0\.1 dst 10\.0\.0\.2\s+proto esp/);
    expect(bState).toMatch(/src 10\.0\.0\.2 dst 10\.0\.0\.1\s+proto esp/);
    expect(aState.match(ENCAP)).toHaveLength(2);
    expect(bState.match(ENCAP)).toHaveLength(2);

    // Alice's keepalive (sent when her pair went in) opened the NAT mapping for UDP 4500, port kept.
    const ct = await conntrack(p);
    expect(ct).toMatch(/udp .*src=192\.168\.1\.2 dst=10\.0\.0\.2 sport=4500 dport=4500 .*src=10\.0\.0\.2 dst=10\.0\.0\.1 sport=4500 dport=4500/);

    const ping = await p.t.exec('a', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.0.0.2']);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    await expectEspPackets([ca, cb], 'nat-1', 3);
    // Nothing crossed the NAT as plain ESP: its only ESP-carrying flow is UDP 4500.
    const after = await conntrack(p);
    expect(after).not.toMatch(/unknown\s+50\b/);
    await ca.release('nat-1');
    await cb.release('nat-1');
  }, 600_000);

  it('a call without NAT (SIP saw the map address) stays plain ESP although NAT-T was offered', async () => {
    await call(ca, cb, 'plain-1', '10.0.1.1', '10.0.1.2', '10.0.1.1');
    const aState = await p.xfrm('a', 'state');
    const plain = aState.split(/\n(?=src )/).filter((s) => /src 10\.0\.1\.[12] dst 10\.0\.1\.[12]/.test(s));
    expect(plain).toHaveLength(2);
    for (const s of plain) expect(s).not.toMatch(/encap/);
    const ping = await p.t.exec('a', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.0.1.2']);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    const sas = (await ca.sas('plain-1')).sas;
    expect(sas.find((s) => s.direction === 'in')!.packets).toBeGreaterThanOrEqual(3);
    await ca.release('plain-1');
    await cb.release('plain-1');
  }, 600_000);

  it('a NAT rebinding to a new port: bob\'s kernel reports the mapping, his SAs follow it, traffic goes on', async () => {
    await cb.subscribe(['nat-rebound']);
    const events: SipsecEvent[] = [];
    cb.on('event', (e) => events.push(e));
    await call(ca, cb, 'nat-2', '192.168.1.2', '10.0.0.2', '10.0.0.1');
    const ping = await p.t.exec('a', ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.0.0.2']);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);

    await rebind(p, tool);
    // Alice's next packets leave the NAT from a new port; bob's replies go to the old one until
    // his SAs are updated, so some of these are lost.
    await p.t.exec('a', ['ping', '-c', '5', '-i', '0.2', '-W', '1', '10.0.0.2']);
    const ct = await conntrack(p);
    const m = /udp .*src=192\.168\.1\.2 dst=10\.0\.0\.2 sport=4500 dport=4500 .*src=10\.0\.0\.2 dst=10\.0\.0\.1 sport=4500 dport=(400\d\d)/.exec(ct);
    expect(m, ct).not.toBeNull();
    const port = m![1]!;
    // Bob's outbound SA now sends to the new port, his inbound SA expects it (so the kernel stops reporting it).
    const bState = await until(() => p.xfrm('b', 'state'), (st) => sasBetween(st, '10.0.0.1', '10.0.0.2').some((b) => b.includes(`sport ${port} dport 4500`)));
    const bOut = sasBetween(bState, '10.0.0.2', '10.0.0.1');
    const bIn = sasBetween(bState, '10.0.0.1', '10.0.0.2');
    expect(bOut.some((b) => b.includes(`encap type espinudp sport 4500 dport ${port}`)), bState).toBe(true);
    expect(bIn.some((b) => b.includes(`encap type espinudp sport ${port} dport 4500`)), bState).toBe(true);
    // Alice's side did not change: the NAT is invisible to her kernel.  (Her inbound SA of
    // nat-1's pair may still be retiring beside this call's pair: count only what changed.)
    const aEncaps = (await p.xfrm('a', 'state')).match(/encap type espinudp sport \d+ dport \d+/g) ?? [];
    expect(aEncaps.length).toBeGreaterThanOrEqual(2);
    for (const e of aEncaps) expect(e).toBe('encap type espinudp sport 4500 dport 4500');
    expect(p.log('b')).toMatch(/NAT rebinding: ESP-in-UDP SAs follow the new port/);
    expect(events).toContainEqual({ event: 'nat-rebound', data: { callId: 'nat-2', peerAddress: '10.0.0.1', port: Number(port) } });

    // Traffic flows again under ESP, both ways, every packet answered.
    const before = (await cb.sas('nat-2')).sas;
    const after = await p.t.exec('a', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.0.0.2']);
    expect(after.code, after.stdout + after.stderr).toBe(0);
    expect(after.stdout).toMatch(/3 received/);
    const sas = (await cb.sas('nat-2')).sas;
    for (const dir of ['in', 'out'] as const) {
      const was = before.find((s) => s.direction === dir)!.packets ?? 0;
      expect(sas.find((s) => s.direction === dir)!.packets).toBeGreaterThanOrEqual(was + 3);
    }
    const flows = await conntrack(p);
    expect(flows).not.toMatch(/unknown\s+50\b/);
    await ca.release('nat-2');
    await cb.release('nat-2');
  }, 600_000);
});

// Alice (a, 10.0.0.2, public) calls bob (b, 192.168.1.2) behind the NAT (10.0.0.1).
// Bob's UA knows his public address (Via received of his REGISTER's response), so
// he encapsulates and keeps the mapping open; alice's SIP sees his answer come from
// 10.0.0.1, so her SAs name him by it.
describe('NAT traversal: the responder behind the NAT', () => {
  let p: Pair;
  let ca: SipsecClient;
  let cb: SipsecClient;
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    p = await startPair({
      prefix: 'nr-',
      a: ['10.0.0.2/24'],
      b: ['192.168.1.2/24'],
      identityAddrs: { a: ['10.0.0.2'], b: ['192.168.1.2'] },
      topology: {
        hosts: [
          { name: 'a', addrs: ['10.0.0.2/24'] },
          { name: 'nat', forward: true },
          { name: 'b', addrs: ['192.168.1.2/24'], routes: ['192.168.1.1'] },
        ],
        links: [
          { type: 'veth', a: { host: 'nat', addrs: ['192.168.1.1/24'] }, b: 'b' },
          { type: 'veth', a: { host: 'nat', addrs: ['10.0.0.1/24'] }, b: 'a' },
        ],
      },
    });
    await masquerade(p);
    ca = await p.client('a');
    cb = await p.client('b');
  }, 600_000);
  afterAll(async () => {
    ca?.close();
    cb?.close();
    await p?.destroy();
  });

  it('both sides install ESP-in-UDP SAs, bob\'s keepalive opens the mapping, traffic passes both ways', async () => {
    const offer = await ca.offer({ callId: 'nr-1', localUri: ALICE, peerUri: BOB, localAddress: '10.0.0.2' });
    const answer = await cb.answer({ callId: 'nr-1', localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: '10.0.0.2', localAddress: '192.168.1.2', publicAddress: '10.0.0.1' });
    await ca.confirm({ callId: 'nr-1', mikey: answer.mikey, peerAddress: '10.0.0.1' });

    const aState = await p.xfrm('a', 'state');
    const bState = await p.xfrm('b', 'state');
    // Alice's kernel knows bob by the NAT's address, bob's kernel knows himself by his own.
    expect(sasBetween(aState, '10.0.0.2', '10.0.0.1')).toHaveLength(1);
    expect(sasBetween(aState, '10.0.0.1', '10.0.0.2')).toHaveLength(1);
    expect(sasBetween(bState, '192.168.1.2', '10.0.0.2')).toHaveLength(1);
    expect(sasBetween(bState, '10.0.0.2', '192.168.1.2')).toHaveLength(1);
    expect(aState.match(ENCAP)).toHaveLength(2);
    expect(bState.match(ENCAP)).toHaveLength(2);

    // Bob's keepalive (sent when his pair went in, before his answer) made the mapping, port kept.
    const ct = await conntrack(p);
    expect(ct).toMatch(/udp .*src=192\.168\.1\.2 dst=10\.0\.0\.2 sport=4500 dport=4500 .*src=10\.0\.0\.2 dst=10\.0\.0\.1 sport=4500 dport=4500/);

    // Alice to bob (she reaches him at the NAT's address) and bob to alice.
    const fromA = await p.t.exec('a', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.0.0.1']);
    expect(fromA.code, fromA.stdout + fromA.stderr).toBe(0);
    const fromB = await p.t.exec('b', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.0.0.2']);
    expect(fromB.code, fromB.stdout + fromB.stderr).toBe(0);
    await expectEspPackets([ca, cb], 'nr-1', 6);
    // Nothing crossed the NAT as plain ESP, and alice's kernel never saw bob move (no rebinding).
    expect(await conntrack(p)).not.toMatch(/unknown\s+50\b/);
    expect(p.log('a')).not.toMatch(/NAT rebinding/);
    await ca.release('nr-1');
    await cb.release('nr-1');
  }, 600_000);
});
