// IPv6 on the lab kernel: full calls between IPv6-only hosts (no IPv4
// address on any interface, loopback included) and between dual-stack hosts,
// through the reference UA, kamailio (listening on IPv6) and sipsecd on both
// hosts: SAs on the IPv6 addresses, ESP counters moving with the media, and
// the MIKEY offer and answer on the wire carrying CS ID map type 8
// (IPSEC6-ID).  Then, on IPv6-only hosts, a call that moves to a new address
// under a running flow.
import { type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSipLab, URI, type LabFamily, type SipLab, type UaEventLine } from '../../src/lab/demo-lab.js';
import { CsIdMapType, type IpsecCs } from '../../src/mikey/csidmap.js';
import { DataType } from '../../src/mikey/payloads/constants.js';
import { decodeMessage, type DecodedMessage } from '../../src/mikey/message.js';
import { captureSip } from './helpers/capture.js';
import { moveUnderFlow } from './helpers/mobility.js';
import { startPair, type Pair } from './helpers/sipsecd.js';

const ev = (events: UaEventLine[], name: string) => events.find((e) => e.event === name);

/** Every MIKEY message in a capture's SIP bodies (base64 parts of multipart/mixed, as buildSipsecBody writes them). */
function mikeyInCapture(bytes: Buffer): DecodedMessage[] {
  const text = bytes.toString('latin1');
  const parts = text.matchAll(/Content-Type: application\/mikey\r\nContent-Transfer-Encoding: base64\r\n\r\n([A-Za-z0-9+/=\r\n]+?)\r\n--/g);
  return [...parts].map((m) => decodeMessage(Buffer.from(m[1]!.replace(/\r\n/g, ''), 'base64')));
}

const espLines = (state: string) => [...state.matchAll(/^src (\S+) dst (\S+)\s+proto esp/gm)].map((m) => `${m[1]} -> ${m[2]}`);

for (const family of ['ipv6', 'dual'] as const satisfies readonly LabFamily[]) {
  describe(`a call through kamailio between ${family === 'ipv6' ? 'IPv6-only' : 'dual-stack'} hosts`, () => {
    let lab: SipLab;
    let capture: ChildProcess;
    let pcap: string;

    beforeAll(async () => {
      expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
      lab = await startSipLab({ prefix: family === 'ipv6' ? 'v6o-' : 'v6d-', family, aliceMovesTo: ['fd00::11'] });
      ({ pcap, process: capture } = await captureSip(lab));
    }, 400_000);

    afterAll(async () => {
      capture?.kill('SIGKILL');
      await lab?.stop();
    });

    it('has the addresses it claims', async () => {
      for (const h of ['alice', 'bob', 'proxy'] as const) {
        const v4 = (await lab.t.exec(h, ['ip', '-4', '-o', 'addr', 'show'])).stdout;
        if (family === 'ipv6') expect(v4).toBe('');
        else expect(v4).toMatch(/ inet 10\.0\.0\.\d\/24 /);
        expect((await lab.t.exec(h, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout).toContain(` inet6 ${lab.addr[h]}/64 `);
      }
      expect(lab.addr.alice).toBe('fd00::1');
    });

    it('calls bob over IPv6: SAs on the IPv6 addresses before 200 OK / ACK, media over ESP, CS ID map 8 on the wire', async () => {
      const bob = lab.ua('bob', lab.uaConfig('bob'), ['answer', '--count', '1', '--timeout', '120']);
      await bob.waitFor('register-done', 180_000, (e) => e.status === 200); // node starts slowly in a loaded UML
      const alice = lab.ua('alice', lab.uaConfig('alice'), ['call', URI.bob, '--duration', '3']);
      await alice.waitFor('media-start', 180_000);
      await new Promise((r) => setTimeout(r, 1000));
      // Mid-call: one ESP pair per host, both on the IPv6 addresses (`ip -6 xfrm state`: the kernel's view).
      const pair = ['fd00::1 -> fd00::2', 'fd00::2 -> fd00::1'];
      for (const h of ['alice', 'bob'] as const) {
        expect(espLines((await lab.t.exec(h, ['ip', '-6', 'xfrm', 'state'])).stdout).sort()).toEqual(pair);
        expect(espLines((await lab.t.exec(h, ['ip', '-4', 'xfrm', 'state'])).stdout)).toEqual([]);
      }
      expect(await alice.exit).toBe(0);
      expect(await bob.exit).toBe(0);
      const a = alice.events;
      const b = bob.events;
      expect(ev(a, 'ua-start')).toMatchObject({ sip: 'fd00::1:5060' });
      expect(ev(a, 'media-start')).toMatchObject({ to: 'fd00::2:40002', encrypted: true });
      expect(ev(b, 'media-start')).toMatchObject({ to: 'fd00::1:40000', encrypted: true });
      expect(ev(b, 'sas-installed')!.t).toBeLessThan(ev(b, '200-sent')!.t);
      expect(ev(a, 'sas-installed')!.t).toBeLessThan(ev(a, 'ack-sent')!.t);
      const ma = ev(a, 'media-stats')!;
      const mb = ev(b, 'media-stats')!;
      expect(ma.received as number).toBeGreaterThan(20);
      expect(mb.received as number).toBeGreaterThan(20);
      expect(ma.lostAtStart).toBe(0);
      expect(mb.lostAtStart).toBe(0);
      // sipsecd's view (listSas; the SAs linger after BYE): the media went through them, both ways, on both hosts.
      for (const h of ['alice', 'bob'] as const) {
        const c = await lab.client(h);
        const sas = (await c.sas()).sas;
        c.close();
        expect(sas).toHaveLength(2);
        const local = lab.addr[h];
        const received = (h === 'alice' ? ma : mb).received as number;
        const sent = (h === 'alice' ? ma : mb).sent as number;
        expect(sas.find((s) => s.direction === 'out')).toMatchObject({ src: local });
        expect(sas.find((s) => s.direction === 'in')).toMatchObject({ dst: local });
        expect(sas.find((s) => s.direction === 'in')!.packets!).toBeGreaterThanOrEqual(received);
        expect(sas.find((s) => s.direction === 'out')!.packets!).toBeGreaterThanOrEqual(sent > 0 ? Math.min(sent, received) : 1);
      }
      // The MIKEY exchange as it crossed the proxy: an offer and an answer, both with an IPSEC6-ID map
      // holding the IPv6 addresses.
      await new Promise((r) => setTimeout(r, 500));
      const mikey = mikeyInCapture(readFileSync(pcap));
      expect(mikey.some((m) => m.hdr.dataType === DataType.PSK_INIT)).toBe(true);
      expect(mikey.some((m) => m.hdr.dataType === DataType.PSK_RESP)).toBe(true);
      for (const m of mikey) {
        expect(m.hdr.csIdMap.type).toBe(CsIdMapType.IPSEC6_ID);
      }
      const cs = mikey.find((m) => m.hdr.dataType === DataType.PSK_RESP)!.hdr.csIdMap.cs as readonly IpsecCs[];
      expect(cs.map((c) => `${c.spiSrcaddr} -> ${c.spiDstaddr}`).sort()).toEqual(pair);
      // SIP itself as it crossed the proxy: bracketed IPv6 literals in Via and Contact, c=IN IP6 in the SDP.
      const sip = readFileSync(pcap).toString('latin1');
      expect(sip).toMatch(/\r\nVia: SIP\/2\.0\/(UDP|TCP) \[fd00::1\]:5060;/);
      expect(sip).toMatch(/\r\nContact: <sip:bob@\[fd00::2\]:5060>\r\n/);
      expect(sip).toMatch(/\r\nc=IN IP6 fd00::1\r\n/);
      expect(sip).toMatch(/\r\nc=IN IP6 fd00::2\r\n/);
    }, 480_000);

    it("moves the call when alice's address changes mid-call: her UA re-INVITEs from the new address, media follows over ESP", async () => {
      const bob = lab.ua('bob', lab.uaConfig('bob'), ['answer', '--count', '1', '--timeout', '300']);
      await bob.waitFor('register-done', 180_000, (e) => e.status === 200); // node starts slowly in a loaded UML
      const cfg = lab.uaConfig('alice');
      const alice = lab.ua('alice', cfg, ['call', URI.bob, '--duration', '30']);
      await alice.waitFor('media-start', 180_000);
      await new Promise((r) => setTimeout(r, 2000));
      // The host's address changes; the UA learns the new one from its config (SIGUSR2 = `sipsec ua move`).
      writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^address: .*$/m, 'address: fd00::11'));
      await lab.t.exec('alice', ['ip', 'addr', 'add', 'fd00::11/64', 'dev', 'eth0', 'nodad']);
      await lab.t.exec('alice', ['ip', 'addr', 'del', 'fd00::1/64', 'dev', 'eth0']);
      alice.child.kill('SIGUSR2');
      const moved = await alice.waitFor('move-done', 120_000);
      expect(moved.calls).toHaveLength(1);
      await bob.waitFor('media-moved', 60_000);
      expect(ev(bob.events, 'media-moved')).toMatchObject({ to: '[fd00::11]:40000' });
      // The media keeps flowing, protected, at the new address: the new SAs' counters move both ways.
      const counts = async () => {
        const out: number[] = [];
        for (const h of ['alice', 'bob'] as const) {
          const c = await lab.client(h);
          const sas = (await c.sas()).sas;
          c.close();
          expect(sas).toHaveLength(2);
          out.push(...sas.map((x) => x.packets ?? 0));
        }
        return out;
      };
      const before = await counts();
      await new Promise((r) => setTimeout(r, 1500));
      const after = await counts();
      after.forEach((n, i) => expect(n).toBeGreaterThan(before[i]!));
      // After the move: one pair per host, on the new address; nothing names the old one.
      const pair = ['fd00::11 -> fd00::2', 'fd00::2 -> fd00::11'];
      const old = /\bfd00::1(?![0-9a-f:])/;
      for (const h of ['alice', 'bob'] as const) {
        const state = (await lab.t.exec(h, ['ip', '-6', 'xfrm', 'state'])).stdout;
        expect(espLines(state).sort()).toEqual(pair);
        expect(state).not.toMatch(old);
        expect(await lab.xfrm(h, 'policy')).not.toMatch(old);
      }
      expect(await alice.exit).toBe(0);
      expect(await bob.exit).toBe(0);
      const ma = ev(alice.events, 'media-stats')!;
      const mb = ev(bob.events, 'media-stats')!;
      expect(ev(alice.events, 'rekey-done')).toBeTruthy();
      expect(ev(bob.events, 'rekey-done')).toBeTruthy();
      expect(ev(alice.events, 'bye-done')).toMatchObject({ status: 200 });
      // Loss during the move (no address, then SAs not yet at the new one): reported, not asserted.
      console.log(`UA mobility IPv6 (${family}): alice ${JSON.stringify(ma)} bob ${JSON.stringify(mb)} move ${(moved.t - ev(alice.events, 'move-start')!.t).toFixed(0)} ms`);
    }, 480_000);
  });
}

describe('mobility between IPv6-only hosts', () => {
  let p: Pair;
  beforeAll(async () => {
    p = await startPair({
      prefix: 'v6m-',
      a: ['fd01::1/64'],
      b: ['fd01::2/64'],
      identityAddrs: { a: ['fd01::1', 'fd01::11'], b: ['fd01::2'] },
    });
    for (const h of ['a', 'b'] as const) await p.t.exec(h, ['ip', 'addr', 'del', '127.0.0.1/8', 'dev', 'lo']);
  }, 120_000);
  afterAll(async () => p?.destroy());

  it('offers and answers with CS ID map 8 (the exchange as the UAs carry it)', async () => {
    const ca = await p.client('a');
    const cb = await p.client('b');
    const offer = await ca.offer({ callId: 'v6-map', localUri: p.a.uri, peerUri: p.b.uri, localAddress: 'fd01::1' });
    const answer = await cb.answer({ callId: 'v6-map', localUri: p.b.uri, peerUri: p.a.uri, mikey: offer.mikey, peerAddress: 'fd01::1', localAddress: 'fd01::2' });
    await ca.confirm({ callId: 'v6-map', mikey: answer.mikey, peerAddress: 'fd01::2' });
    for (const m of [offer.mikey, answer.mikey]) expect(decodeMessage(Buffer.from(m, 'base64')).hdr.csIdMap.type).toBe(CsIdMapType.IPSEC6_ID);
    expect((await p.t.exec('a', ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd01::2'])).code).toBe(0);
    expect((await ca.sas('v6-map')).sas.find((s) => s.direction === 'in')!.packets).toBeGreaterThanOrEqual(3);
    await ca.release('v6-map');
    await cb.release('v6-map');
    ca.close();
    cb.close();
  }, 120_000);

  it('moves a call under a running flow when the host changes its IPv6 address', async () => {
    // Let the previous test's released pair linger out (linger 2 s).
    await new Promise((r) => setTimeout(r, 3000));
    const f = await moveUnderFlow(p, { callId: 'v6-mv', oldA: 'fd01::1', newA: 'fd01::11', b: 'fd01::2', plen: 64 });
    console.log(`mobility IPv6: ${JSON.stringify(f)}`);
  }, 180_000);
});
