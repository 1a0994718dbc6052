// NAT traversal on the lab kernel (docs/PROFILE.md §NAT): alice (a, 192.168.1.2)
// calls bob (b, 10.0.0.2) through a masquerading NAT box (nat: 192.168.1.1 /
// 10.0.0.1).  Bob's UA saw the INVITE come from 10.0.0.1, so bob's sipsecd
// rewrites alice's map address and both sides install ESP-in-UDP SAs
// (RFC 3948, port 4500).  A call without NAT on the same daemons stays plain ESP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SipsecClient } from '../../src/client/client.js';
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
    await masquerade(p);
    ca = await p.client('a');
    cb = await p.client('b');
  }, 120_000);
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
    const ct = (await p.t.exec('nat', ['cat', '/proc/net/nf_conntrack'])).stdout;
    expect(ct).toMatch(/udp .*src=192\.168\.1\.2 dst=10\.0\.0\.2 sport=4500 dport=4500 .*src=10\.0\.0\.2 dst=10\.0\.0\.1 sport=4500 dport=4500/);

    const ping = await p.t.exec('a', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.0.0.2']);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    for (const c of [ca, cb]) {
      const sas = (await c.sas('nat-1')).sas;
      expect(sas.find((s) => s.direction === 'in')!.packets).toBeGreaterThanOrEqual(3);
      expect(sas.find((s) => s.direction === 'out')!.packets).toBeGreaterThanOrEqual(3);
    }
    // Nothing crossed the NAT as plain ESP: its only ESP-carrying flow is UDP 4500.
    const after = (await p.t.exec('nat', ['cat', '/proc/net/nf_conntrack'])).stdout;
    expect(after).not.toMatch(/unknown\s+50\b/);
    await ca.release('nat-1');
    await cb.release('nat-1');
  }, 120_000);

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
  }, 120_000);
});
