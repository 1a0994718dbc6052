// Mobility under a running flow, shared by the IPv4 (lifecycle) and IPv6
// suites: host a changes its address mid-call while a UDP flow runs to b;
// the re-INVITE's exchange (offer from the new address, answer, confirm:
// what the UA does) moves the call's SAs and policies.  Asserts what must
// hold and returns the loss figures for the report.
import { expect } from 'vitest';
import { startFlow } from './flow.js';
import type { Pair } from './sipsecd.js';

export interface MoveFigures {
  sent: number;
  /** Not received by b, in total / sent after the re-INVITE completed. */
  lost: number;
  lostAfterReinvite: number;
  /** Sent from deleting the old address to the end of the exchange / of those, lost. */
  sentDuringMove: number;
  lostDuringMove: number;
  /** Sends that failed locally (no source address for a moment). */
  sendErrors: number;
  /** ms from deleting the old address to the end of the exchange. */
  moveMs: number;
  /** Packets b received in clear: from the new address before its SAs existed (no policy matched). */
  clearAtB: number;
}

export interface MoveSpec {
  callId: string;
  oldA: string;
  newA: string;
  b: string;
  /** Prefix length of a's addresses. */
  plen: number;
}

export async function moveUnderFlow(p: Pair, m: MoveSpec): Promise<MoveFigures> {
  const v6 = m.oldA.includes(':');
  const { ca, cb } = await p.call(m.callId, m.oldA, m.b);
  const admin = { a: await p.client('a'), b: await p.client('b') };
  try {
    const oldSpis = new Set([...(await admin.a.sas()).sas, ...(await admin.b.sas()).sas].map((s) => s.spi));
    // ~50 packets/s for ~8 s (UML timers run slow: longer in practice).
    const flow = await startFlow(p.t, 'a', 'b', m.b, 400, 20);
    await new Promise((r) => setTimeout(r, 1500));
    if (!v6) await p.t.exec('a', ['sysctl', '-qw', 'net.ipv4.conf.eth0.promote_secondaries=1']);
    await p.t.exec('a', ['ip', 'addr', 'add', `${m.newA}/${m.plen}`, 'dev', 'eth0', ...(v6 ? ['nodad'] : [])]);
    const moveStart = Date.now();
    await p.t.exec('a', ['ip', 'addr', 'del', `${m.oldA}/${m.plen}`, 'dev', 'eth0']);
    // What b received over the old SA: its last count before the move removes it.
    const oldInAtB = (await admin.b.sas()).sas.filter((s) => s.direction === 'in' && oldSpis.has(s.spi)).reduce((n, s) => n + (s.packets ?? 0), 0);
    await p.rekey(ca, cb, m.callId, m.newA, m.b);
    const reinviteDone = Date.now();
    const r = await flow.done;

    const seen = new Set(r.seen);
    const lostSeqs = r.sentAt.map((_, i) => i).filter((i) => !seen.has(i));
    const afterReinvite = r.sentAt.map((t, i) => [t, i] as const).filter(([t]) => t > reinviteDone).map(([, i]) => i);
    const lostAfter = afterReinvite.filter((i) => !seen.has(i));
    // The flow ran past the re-INVITE, so the assertions below mean something.
    expect(afterReinvite.length).toBeGreaterThan(50);
    // Correctness: once the re-INVITE's exchange is done, no packet is lost, both ways.
    expect(lostAfter).toEqual([]);
    expect(afterReinvite.filter((i) => !r.echoed.includes(i))).toEqual([]);

    // The SAs moved: on both hosts the call's pair joins the new addresses, with new SPIs.
    for (const [h, c] of [['a', admin.a], ['b', admin.b]] as const) {
      const sas = (await c.sas(m.callId)).sas;
      expect(sas).toHaveLength(2);
      const local = h === 'a' ? m.newA : m.b;
      const peer = h === 'a' ? m.b : m.newA;
      const out = sas.find((s) => s.direction === 'out')!;
      const inn = sas.find((s) => s.direction === 'in')!;
      expect(out).toMatchObject({ src: local, dst: peer });
      expect(inn).toMatchObject({ src: peer, dst: local });
      expect(oldSpis.has(out.spi) || oldSpis.has(inn.spi)).toBe(false);
      // Every packet of the flow sent after the re-INVITE went a -> b over ESP on the new pair.
      expect((h === 'a' ? out : inn).packets ?? 0).toBeGreaterThanOrEqual(afterReinvite.length);
      expect((h === 'a' ? inn : out).packets ?? 0).toBeGreaterThanOrEqual(afterReinvite.length);
      // Nothing left on the old address: no SA, no policy (kernel view, not ours).
      const old = new RegExp(`\\b${m.oldA.replace(/[.]/g, '\\.')}(?![0-9a-f:.])`);
      expect(await p.xfrm(h, 'state')).not.toMatch(old);
      expect(await p.xfrm(h, 'policy')).not.toMatch(old);
      expect(await p.xfrm(h, 'state')).toContain(`src ${local} dst ${peer}`);
      // The call survived the move.
      expect((await c.calls()).calls.map((x) => x.callId)).toContain(m.callId);
      const peers = (await c.peers()).peers.filter((x) => x.calls.includes(m.callId));
      expect(peers.map((x) => x.peer)).toEqual([peer]);
    }
    const newInAtB = (await admin.b.sas(m.callId)).sas.find((s) => s.direction === 'in')!.packets ?? 0;
    await ca.release(m.callId);
    await cb.release(m.callId);
    ca.close();
    cb.close();
    return {
      sent: r.sentAt.length,
      lost: lostSeqs.length,
      lostAfterReinvite: lostAfter.length,
      sentDuringMove: r.sentAt.filter((t) => t >= moveStart && t <= reinviteDone).length,
      lostDuringMove: lostSeqs.filter((i) => r.sentAt[i]! >= moveStart && r.sentAt[i]! <= reinviteDone).length,
      sendErrors: r.errors.length,
      moveMs: reinviteDone - moveStart,
      clearAtB: Math.max(0, seen.size - oldInAtB - newInAtB),
    };
  } finally {
    admin.a.close();
    admin.b.close();
  }
}
