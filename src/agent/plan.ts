/**
 * From a completed MIKEY exchange to what the kernel installs: the two SA
 * specs of the pair and the traffic selectors of the protection scope
 * (`hosts`: everything between the two addresses, as seed 003; `media`: only
 * the media flows the peer's SDP announces, RTP and RTCP).
 */
import type { Selector } from '../kernel/types.js';
import type { ExchangeResult, SaDescription } from '../mikey/result.js';
import { mediaFlows } from '../sip/sdp.js';
import type { PairPlan } from './registry.js';

export type Scope = 'hosts' | 'media';

function saSpec(sa: SaDescription): PairPlan['out'] {
  return {
    src: sa.src,
    dst: sa.dst,
    spi: sa.spi,
    proto: 'esp',
    mode: sa.mode,
    suite: sa.suite,
    keys: sa.authKey.length ? { encKey: sa.encKey, authKey: sa.authKey } : { encKey: sa.encKey },
    replayWindow: sa.replayWindow,
    lifetimes: sa.lifetimes,
    ...(sa.encap ? { encap: { sport: sa.encap.sport, dport: sa.encap.dport } } : {}),
  };
}

/**
 * Selectors seen from us (outbound).  For `media`, one selector per port the
 * peer's SDP gives for media on its address (the peer's RTP and RTCP ports);
 * our side's ports are left open, so both directions of each flow match.
 */
export function selectorsFor(scope: Scope, local: string, peer: string, peerSdp: string | undefined): Selector[] {
  if (scope === 'hosts' || peerSdp === undefined) return [{ src: local, dst: peer }];
  const sel: Selector[] = [];
  for (const f of mediaFlows(peerSdp)) {
    for (const port of [f.port, f.rtcpPort]) {
      if (port !== null) sel.push({ src: local, dst: f.address === peer ? peer : f.address, proto: f.transport, dstPort: port });
    }
  }
  return sel.length ? sel : [{ src: local, dst: peer }];
}

/** The pair of a completed exchange.  The key buffers are the result's: wipe the result after install. */
export function planOf(result: ExchangeResult, role: NonNullable<PairPlan['role']>, selectors: Selector[]): PairPlan {
  const out = result.sas.find((s) => s.direction === 'out');
  const inb = result.sas.find((s) => s.direction === 'in');
  if (!out || !inb) throw new Error('MIKEY exchange produced no SA pair');
  return { local: result.localAddr, peer: result.peerAddr, out: saSpec(out), in: saSpec(inb), inViaUpdate: true, role, selectors };
}
