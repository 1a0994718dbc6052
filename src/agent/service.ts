/**
 * What sipsecd does for each socket request: the MIKEY exchange on the
 * daemon's side of a call (offer / answer / confirm), the SAs it installs
 * through the per-peer registry, release, and the listings.
 *
 * Order of work for the callee (`answer`): the MIKEY offer is checked
 * (freshness, replay, MAC or signature, identity, policy) before anything is
 * reserved in the kernel; the SA pair and policies are installed before the
 * response is returned, so the UA sends its 200 OK only with the SAs in
 * place.  For the caller (`confirm`): the response is verified and the SAs
 * installed before the result is returned, so the UA sends ACK (and media)
 * only with the SAs in place.  No exchange failure leaves a reserved SPI or a
 * half-installed pair behind.
 *
 * A callee that rings splits `answer` in two: `prepare` (right after its 180:
 * the offer checked, the response made, both SAs installed, no policy, so the
 * host's traffic is unchanged) and `activate` (at accept: the policies, or
 * the make-before-break switch for a peer with SAs), leaving only the second
 * inside the answering delay.  A prepared call that ends (release) or is not
 * activated within PREPARED_TTL_MS gives its pair back.
 *
 * The caller splits `confirm` alike when the callee sends its answer in a
 * 183 while it rings: `confirm` with `early` verifies that copy and installs
 * both SAs, no policy (a copy that fails changes nothing: SIP does not
 * protect a 1xx, the 2xx's copy is then verified in full); the 2xx's
 * `confirm` finds the same bytes (RFC 3261 §13.2.1: the 2xx repeats the
 * answer) and only adds the policies, without a second verification.
 * Other bytes (a 2xx from another fork, RFC 3261 §13.2.2.4) give the early
 * pair back and are verified and installed in full: the offer's state is
 * kept, not wiped, from the early confirm until the 2xx for this.
 */
import { KernelAlgorithmError, KernelError } from '../kernel/errors.js';
import type { KernelIpsec } from '../kernel/types.js';
import { ErrNo, MikeyError, errNoName } from '../mikey/errors.js';
import { createOffer, verifyResponse, type InitiatorState } from '../mikey/initiator.js';
import type { Credentials } from '../mikey/modes/types.js';
import { normalizeSipUri } from '../mikey/pke.js';
import { policyForSuite, suiteNamed } from '../mikey/negotiate.js';
import type { ReplayCache } from '../mikey/replay.js';
import { refuseOffer, respond } from '../mikey/responder.js';
import type { ExchangeResult } from '../mikey/result.js';
import type { IpsecPolicy } from '../mikey/sp.js';
import { UDP_ENCAP_ESPINUDP } from '../mikey/sp.js';
import { CallOwnership, type Caller } from './authz.js';
import { CallTable, type PendingOffer } from './calls.js';
import { peerFor, type PeerConfig, type SipsecConfig } from './config.js';
import { credentialsOf } from './credentials.js';
import { RequestError } from './errors.js';
import type { Logger } from './log.js';
import type { NatKeepalives } from './nat.js';
import type { RequestPhases } from './phases.js';
import { planOf, selectorsFor } from './plan.js';
import { formatSpi, type CallInfo, type ParsedArgsOf, type ResultOf, type SaInfo } from './protocol.js';
import { RegistryError, type PairPlan, type PeerRegistry, type PeerSnapshot } from './registry.js';
import type { Handlers, RequestContext } from './server.js';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
/**
 * Longest a prepared call waits for `activate`: a little over RFC 3261
 * §16.6's Timer C (> 3 min), after which a proxy CANCELs a ringing branch.
 */
export const PREPARED_TTL_MS = 200_000;
const unspecified = (addr: string) => (addr.includes(':') ? '::' : '0.0.0.0');

export interface ServiceDeps {
  config: SipsecConfig;
  kernel: KernelIpsec;
  registry: PeerRegistry;
  replay: ReplayCache;
  log: Logger;
  /** Persist registry and replay state (after every change, before answering). */
  save: () => void;
  /** Why the last save failed, if it did (reported by `status`). */
  stateError?: () => string | undefined;
  /** Tell the UAs owning `calls` that they must rekey (event 'rekey-needed'). */
  rekeyNeeded: (calls: readonly string[], spi: number) => void;
  /** NAT traversal: our ESP-in-UDP port and the keepalives (absent: off, or its socket could not be opened). */
  nat?: { port: number; keepalives: NatKeepalives };
  now?: () => number;
  version: string;
}

export class SipsecService {
  readonly owners = new CallOwnership();
  readonly calls: CallTable;
  private readonly creds = new Map<PeerConfig, Credentials>();
  /** Prepared calls behind a NAT: the keepalives start at `activate` (registry key, peer, port). */
  private readonly natOnActivate = new Map<string, { key: string; peer: string; port: number }>();
  /** Our offers that lost a glare tie-break to an exchange we answered: their calls join the winner's pair at confirm. */
  private readonly glareLost = new WeakSet<PendingOffer>();
  /** Ringing calls whose prepared exchange lost a glare tie-break to one of our offers (`markGlare`). */
  private readonly preparedLostGlare = new Set<string>();
  private readonly now: () => number;
  private readonly startedAt: number;
  /**
   * Callers' calls whose pair a 1xx's answer installed (`confirm` early), until the 2xx's `confirm`: that
   * MIKEY message, and what glare detection needs of the spent offer (`markGlare`).
   */
  private readonly confirmedEarly = new Map<string, EarlyConfirm>();
  /** Per call id: the end of the requests on it that are queued or running (see inCallOrder). */
  private readonly callQueue = new Map<string, Promise<void>>();

  constructor(private readonly d: ServiceDeps) {
    this.now = d.now ?? Date.now;
    this.startedAt = this.now();
    this.calls = new CallTable((p) => this.d.kernel.deleteSa({ dst: p.localAddress, spi: p.inboundSpi, proto: 'esp' }));
    // Calls restored after a restart: their SAs never left the kernel.
    for (const c of d.registry.callSnapshots()) {
      this.owners.claim(c.callId, { uid: c.owner, admin: false });
      this.calls.established({ callId: c.callId, ownerUid: c.owner, localUri: c.localUri, peerUri: c.peerUri, state: 'established', createdAt: Math.floor(c.since / 1000) });
    }
  }

  handlers(): Handlers {
    return {
      offer: (a, ctx) => this.inCallOrder(a.callId, () => this.offer(a, ctx)),
      answer: (a, ctx) => this.inCallOrder(a.callId, () => this.answer(a, ctx)),
      prepare: (a, ctx) => this.inCallOrder(a.callId, () => this.prepare(a, ctx)),
      activate: (a, ctx) => this.inCallOrder(a.callId, () => this.activate(a, ctx)),
      confirm: (a, ctx) => this.inCallOrder(a.callId, () => this.confirm(a, ctx)),
      release: (a, ctx) => this.inCallOrder(a.callId, () => this.release(a, ctx)),
      status: async () => this.status(),
      peers: async (_a, ctx) => ({ peers: this.visiblePeers(who(ctx)) }),
      sas: (a, ctx) => this.sas(a, ctx),
      calls: async (_a, ctx) => ({ calls: this.calls.list().filter((c) => this.owners.visible(c.callId, who(ctx))) }),
      flush: (_a, ctx) => this.flush(ctx),
      rekey: async (a, ctx) => this.rekey(a, ctx),
    };
  }

  close(): void {
    this.calls.close();
  }

  /**
   * Run a request on a call after the requests on that call that arrived
   * before it.  Run at once, a `release` sent right behind an `answer` (a UA
   * whose answer timed out, a UA hanging up during call setup) ran while the
   * answer was still at work: it found no call yet, the answer then
   * installed its SAs and the call stayed for good, with no owner left to
   * release it (the load benchmark found 67 SAs left).  Different calls
   * still run concurrently.
   */
  private inCallOrder<T>(callId: string, work: () => Promise<T>): Promise<T> {
    const run = (this.callQueue.get(callId) ?? Promise.resolve()).then(work);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.callQueue.set(callId, tail);
    void tail.then(() => {
      if (this.callQueue.get(callId) === tail) this.callQueue.delete(callId);
    });
    return run;
  }

  // ---- the exchange --------------------------------------------------------

  private identity(uri: string, address: string | undefined) {
    const id = this.d.config.identities.find((i) => sameUri(i.uri, uri));
    if (!id) throw new RequestError('no-identity', `${uri} is not an identity of this host`, { sipStatus: 403 });
    const addr = address ?? id.addresses[0]!;
    if (!id.addresses.includes(addr)) throw new RequestError('bad-address', `${addr} is not an address of ${uri}`);
    return addr;
  }

  private peer(uri: string): { peer: PeerConfig; creds: Credentials } {
    const peer = peerFor(this.d.config, uri);
    if (!peer) {
      throw new RequestError('no-peer', `no credentials for ${uri}`, { sipStatus: 488, warning: '399 sipsec "no IPsec credentials for this peer"' });
    }
    let creds = this.creds.get(peer);
    if (!creds) this.creds.set(peer, (creds = credentialsOf(peer)));
    return { peer, creds };
  }

  /** The policy we offer: our most preferred suite, with configured lifetimes and replay window, and NAT-T unless off. */
  private policy(): IpsecPolicy {
    const c = this.d.config;
    const lt = c.lifetimes;
    return policyForSuite(suiteNamed(c.algorithms.suites[0]!), {
      ...(lt.soft.seconds ? { softLifetimeSeconds: lt.soft.seconds } : {}),
      ...(lt.hard.seconds ? { hardLifetimeSeconds: lt.hard.seconds } : {}),
      ...(lt.soft.bytes ? { softLifetimeBytes: BigInt(lt.soft.bytes) } : {}),
      ...(lt.hard.bytes ? { hardLifetimeBytes: BigInt(lt.hard.bytes) } : {}),
      replayWindow: c.replay.window,
      ...(this.d.nat ? { natT: { encapType: UDP_ENCAP_ESPINUDP, sport: this.d.nat.port, dport: this.d.nat.port } } : {}),
    });
  }

  /**
   * A new offer or answer for a call id that exists is a rekey or move
   * (re-INVITE) of an established call of the same caller and peer; anything
   * else with a known call id is refused.
   */
  private callForRekey(callId: string, caller: Caller, peerUri: string): CallInfo | undefined {
    const existing = this.calls.get(callId);
    if (!existing) return undefined;
    this.owners.check(callId, caller);
    if (existing.state !== 'established' || normalizeSipUri(existing.peerUri) !== normalizeSipUri(peerUri)) {
      throw new RequestError('call-exists', `call ${callId} already exists`);
    }
    return existing;
  }

  private info(callId: string, ctx: Caller, localUri: string, peerUri: string, state: string): CallInfo {
    return { callId, ownerUid: ctx.uid, localUri, peerUri, state, createdAt: Math.floor(this.now() / 1000) };
  }

  private async offer(a: ParsedArgsOf<'offer'>, ctx: RequestContext): Promise<ResultOf<'offer'>> {
    const localAddress = this.identity(a.localUri, a.localAddress);
    const { peer, creds } = this.peer(a.peerUri);
    const existing = this.callForRekey(a.callId, who(ctx), a.peerUri);
    this.owners.claim(a.callId, who(ctx));
    let inboundSpi: number;
    try {
      inboundSpi = await this.d.kernel.allocSpi({ src: unspecified(localAddress), dst: localAddress, proto: 'esp' });
    } catch (e) {
      if (!existing) this.owners.release(a.callId);
      throw kernelFailure(e);
    }
    let state: InitiatorState;
    let message: Uint8Array;
    try {
      ({ message, state } = createOffer({
        mode: peer.mode,
        localId: a.localUri,
        peerId: a.peerUri,
        localAddr: localAddress,
        inboundSpi,
        policy: this.policy(),
        credentials: creds,
        ...(peer.dh ? { dhGroup: peer.dh.group } : {}),
        now: this.now,
      }));
    } catch (e) {
      if (!existing) this.owners.release(a.callId);
      await this.d.kernel.deleteSa({ dst: localAddress, spi: inboundSpi, proto: 'esp' }).catch(() => undefined);
      throw mikeyFailure(e);
    }
    const pending: PendingOffer = { state, inboundSpi, localAddress };
    const info = existing ?? this.info(a.callId, who(ctx), a.localUri, a.peerUri, 'offered');
    this.calls.offered(info, pending, Math.max(0, state.expiresAt - this.now()));
    this.d.log.info('offer', { callId: a.callId, peer: a.peerUri, mode: peer.mode, spi: formatSpi(inboundSpi) });
    return { mikey: b64(message), contentType: 'application/mikey' };
  }

  private async answer(a: ParsedArgsOf<'answer'>, ctx: RequestContext): Promise<ResultOf<'answer'>> {
    const existing = this.callForRekey(a.callId, who(ctx), a.peerUri);
    const { outcome, creds } = await this.respondTo(a, ctx, existing);
    const sas = await this.install(
      { callId: a.callId, owner: ctx.caller.uid, localUri: a.localUri, peerUri: a.peerUri },
      outcome.result,
      'responder',
      a.sdp,
      (call, plan) => this.d.registry.install(call, plan),
      () => {
        if (!existing) this.owners.release(a.callId);
      },
      ctx.phases,
    ).catch((e: unknown) => refuseUnsupported(e, a.mikey, creds, this.now()));
    this.markGlare(a.callId, this.identity(a.localUri, a.localAddress), { initiatorUri: a.peerUri, csbId: outcome.result.csbId });
    this.calls.established(existing ?? this.info(a.callId, who(ctx), a.localUri, a.peerUri, 'established'));
    return { mikey: b64(outcome.response), contentType: 'application/mikey', sas };
  }

  /** `answer` up to the SAs, without the policies: the callee rings.  Only for a new call (a re-INVITE does not ring). */
  private async prepare(a: ParsedArgsOf<'prepare'>, ctx: RequestContext): Promise<ResultOf<'prepare'>> {
    if (this.calls.get(a.callId)) throw new RequestError('call-exists', `call ${a.callId} already exists`);
    const { outcome, creds } = await this.respondTo(a, ctx, undefined);
    const call = { callId: a.callId, owner: ctx.caller.uid, localUri: a.localUri, peerUri: a.peerUri };
    const sas = await this.install(call, outcome.result, 'responder', a.sdp, (c, plan) => this.d.registry.prepare(c, plan), () => this.owners.release(a.callId)).catch(
      (e: unknown) => refuseUnsupported(e, a.mikey, creds, this.now()),
    );
    if (this.markGlare(a.callId, this.identity(a.localUri, a.localAddress), { initiatorUri: a.peerUri, csbId: outcome.result.csbId })) {
      this.preparedLostGlare.add(a.callId);
      this.d.log.info('glare: the ringing call\'s exchange loses to our offer', { callId: a.callId });
    }
    this.calls.prepared(this.info(a.callId, who(ctx), a.localUri, a.peerUri, 'prepared'), PREPARED_TTL_MS, () => this.unprepare(a.callId));
    return { mikey: b64(outcome.response), contentType: 'application/mikey', sas };
  }

  /** A prepared call (either side) ends before its policies: its pair goes. */
  private async unprepare(callId: string): Promise<void> {
    this.natOnActivate.delete(callId);
    this.preparedLostGlare.delete(callId);
    this.forgetEarly(callId);
    this.owners.release(callId);
    if (await this.d.registry.discard(callId)) this.d.log.info('prepared sas given back', { callId });
  }

  /** The callee accepted a prepared call: its pair takes over the peer's traffic. */
  private async activate(a: ParsedArgsOf<'activate'>, ctx: RequestContext): Promise<ResultOf<'activate'>> {
    this.owners.check(a.callId, who(ctx));
    // A caller's pair confirmed early is activated by the 2xx's confirm, which checks its bytes first.
    if (this.confirmedEarly.has(a.callId)) throw new RequestError('not-prepared', `call ${a.callId} is a caller's early-confirmed call: confirm the 2xx`);
    return { sas: await this.activatePrepared(a.callId) };
  }

  /** A prepared pair (callee's `prepare`, caller's early `confirm`) takes over the peer's traffic: the policies. */
  private async activatePrepared(callId: string): Promise<SaInfo[]> {
    const info = this.calls.get(callId);
    if (!info || !this.calls.takePrepared(callId)) throw new RequestError('not-prepared', `call ${callId} has no prepared SAs`);
    this.forgetEarly(callId);
    let snap: PeerSnapshot;
    const lostGlare = this.preparedLostGlare.delete(callId);
    try {
      snap = await this.d.registry.activate(callId, { joinPair: lostGlare });
    } catch (e) {
      // Nothing of the call is left in the kernel (registry.activate): the call ends.
      await this.calls.drop(callId);
      this.natOnActivate.delete(callId);
      this.owners.release(callId);
      const failure = kernelFailure(e);
      this.d.log.error('sas not activated', { callId, peer: info.peerUri, code: failure.code, reason: failure.message });
      throw failure;
    } finally {
      this.d.save();
    }
    const nat = this.natOnActivate.get(callId);
    this.natOnActivate.delete(callId);
    if (nat) this.d.nat?.keepalives.track(nat.key, nat.peer, nat.port);
    this.calls.established({ ...info, state: 'established' });
    this.d.log.info('sas activated', { callId, peer: snap.peer, in: formatSpi(snap.inSpi), out: formatSpi(snap.outSpi) });
    return saInfos(snap, callId);
  }

  /**
   * The callee's half of the exchange: identity, credentials, the offer
   * checked and the response made (an SPI reserved for it).  A refusal is
   * thrown as `mikey-rejected` with the MIKEY error message, after giving
   * back what was reserved.
   */
  private async respondTo(a: ParsedArgsOf<'answer'>, ctx: RequestContext, existing: CallInfo | undefined) {
    const localAddress = this.identity(a.localUri, a.localAddress);
    const { peer, creds } = this.peer(a.peerUri);
    this.owners.claim(a.callId, who(ctx));
    let reserved: number | undefined;
    const outcome = await respond(Buffer.from(a.mikey, 'base64'), {
      localId: a.localUri,
      peerId: a.peerUri,
      localAddr: localAddress,
      allocSpi: async (peerAddr) => {
        ctx.phases?.lap('mikey');
        const spi = await this.d.kernel.allocSpi({ src: peerAddr, dst: localAddress, proto: 'esp' });
        ctx.phases?.lap('kernel');
        return (reserved = spi);
      },
      credentials: creds,
      modes: [peer.mode],
      minSuite: this.d.config.algorithms.minimum,
      ...(peer.dh ? { dhGroups: [peer.dh.group] } : {}),
      replayCache: this.d.replay,
      now: this.now,
      // The address SIP saw the caller at: differing from its map address, it means a NAT.
      observedPeerAddr: a.peerAddress,
      // Our public address, differing from our private one, means we are the NATed side.
      ...(a.publicAddress !== undefined ? { localPublicAddr: a.publicAddress } : {}),
      ...(this.d.nat ? { natPort: this.d.nat.port } : {}),
    }).catch((e: unknown) => {
      if (!existing) this.owners.release(a.callId);
      throw kernelFailure(e);
    });
    ctx.phases?.lap('mikey');
    // Only authenticated messages enter the replay cache; it is saved before any answer
    // goes out: here for a refusal, by `install` (one save with the SAs) for success.
    if (!outcome.ok) {
      this.d.save();
      if (!existing) this.owners.release(a.callId);
      if (reserved) await this.d.kernel.deleteSa({ dst: localAddress, spi: reserved, proto: 'esp' }).catch(() => undefined);
      this.d.log.warn('answer rejected', { callId: a.callId, peer: a.peerUri, mikeyErr: outcome.error.errNo, reason: outcome.error.detail });
      throw new RequestError('mikey-rejected', outcome.error.message, {
        sipStatus: 488,
        mikeyErr: outcome.error.errNo,
        mikey: b64(outcome.errorResponse),
        warning: `399 sipsec "MIKEY: ${errNoName(outcome.error.errNo)}"`,
      });
    }
    return { outcome, creds };
  }

  private async confirm(a: ParsedArgsOf<'confirm'>, ctx: RequestContext): Promise<ResultOf<'confirm'>> {
    this.owners.check(a.callId, who(ctx));
    if (a.early) return this.confirmEarly(a, ctx);
    const early = this.confirmedEarly.get(a.callId);
    if (early) return this.confirmAfterEarly(a, early, ctx);
    const info = this.calls.get(a.callId);
    const pending = this.calls.takePending(a.callId);
    if (!info || !pending) throw new RequestError('not-offered', `call ${a.callId} has no offer waiting for a response`);
    const rekey = info.state === 'established';
    // A failed first exchange ends the call; a failed rekey leaves it on its current SAs.
    const fail = async () => {
      await this.d.kernel.deleteSa({ dst: pending.localAddress, spi: pending.inboundSpi, proto: 'esp' }).catch(() => undefined);
      if (rekey) return;
      await this.calls.drop(a.callId);
      this.owners.release(a.callId);
    };
    return this.completeOffer(a, ctx, info, pending.state, { lostGlare: this.glareLost.delete(pending), fail });
  }

  /**
   * The initiator's end of an exchange: the responder's message verified
   * with the offer's `state` (which is wiped), then the pair installed, or
   * joined in place when the offer lost a glare tie-break.  `fail` undoes the
   * call on a refusal.  `freshInboundSa`: the reserved inbound SPI was used
   * and given back (an early pair), so the inbound SA is added, not updated.
   */
  private async completeOffer(
    a: ParsedArgsOf<'confirm'>,
    ctx: RequestContext,
    info: CallInfo,
    state: InitiatorState,
    o: { lostGlare: boolean; fail: () => Promise<void>; freshInboundSa?: boolean },
  ): Promise<ResultOf<'confirm'>> {
    const { creds } = this.peer(info.peerUri);
    let result: ExchangeResult;
    try {
      // Where SIP saw the responder: differing from its private map address, it is behind a NAT.
      result = verifyResponse(state, Buffer.from(a.mikey, 'base64'), { credentials: creds, now: this.now, observedPeerAddr: a.peerAddress });
    } catch (e) {
      await o.fail();
      throw mikeyFailure(e);
    }
    ctx.phases?.lap('mikey');
    const sas = await this.install(
      { callId: a.callId, owner: ctx.caller.uid, localUri: info.localUri, peerUri: info.peerUri },
      result,
      'initiator',
      a.sdp,
      async (call, planned) => {
        const plan = o.freshInboundSa ? { ...planned, inViaUpdate: false } : planned;
        if (!o.lostGlare) return this.d.registry.install(call, plan);
        const snap = await this.d.registry.joinPair(call, plan);
        this.d.log.info('glare: call joins the winning pair', { callId: call.callId, peer: snap.peer });
        return snap;
      },
      o.fail,
      ctx.phases,
    );
    this.calls.established({ ...info, state: 'established' });
    return { sas };
  }

  /**
   * `confirm` of a 1xx's answer: verified as the 2xx's would be, both SAs
   * installed under the peer's reqid, no policy (registry `prepare`); the
   * call is `prepared` until the 2xx's `confirm`.  A message that fails
   * leaves the offer waiting (`keepOnFailure`).  Only for a new call whose
   * offer did not lose a glare tie-break (its pair would not be installed,
   * see `markGlare`): `not-early` otherwise, nothing changed.
   */
  private async confirmEarly(a: ParsedArgsOf<'confirm'>, ctx: RequestContext): Promise<ResultOf<'confirm'>> {
    const info = this.calls.get(a.callId);
    const pending = this.calls.pendingOf(a.callId);
    if (!info || !pending) throw new RequestError('not-offered', `call ${a.callId} has no offer waiting for a response`);
    if (info.state !== 'offered' || this.glareLost.has(pending)) {
      throw new RequestError('not-early', `call ${a.callId} cannot be confirmed early (${info.state === 'offered' ? 'glare' : 'a rekey'}): confirm the 2xx`);
    }
    const { creds } = this.peer(info.peerUri);
    const mikey = Buffer.from(a.mikey, 'base64');
    let result: ExchangeResult;
    try {
      result = verifyResponse(pending.state, mikey, { credentials: creds, now: this.now, observedPeerAddr: a.peerAddress, keep: 'always' });
    } catch (e) {
      const failure = mikeyFailure(e);
      this.d.log.warn('early answer rejected', { callId: a.callId, peer: info.peerUri, reason: failure.message });
      throw failure;
    }
    ctx.phases?.lap('mikey');
    this.calls.takePending(a.callId);
    // Seen by markGlare from now on: a crossing answer during the install below must weigh this offer.
    this.confirmedEarly.set(a.callId, { mikey, csbId: pending.state.facts.csbId, localAddress: pending.localAddress, state: pending.state });
    const sas = await this.install(
      { callId: a.callId, owner: ctx.caller.uid, localUri: info.localUri, peerUri: info.peerUri },
      result,
      'initiator',
      a.sdp,
      (call, plan) => this.d.registry.prepare(call, plan),
      async () => {
        this.forgetEarly(a.callId);
        this.preparedLostGlare.delete(a.callId);
        await this.d.kernel.deleteSa({ dst: pending.localAddress, spi: pending.inboundSpi, proto: 'esp' }).catch(() => undefined);
        await this.calls.drop(a.callId);
        this.owners.release(a.callId);
      },
      ctx.phases,
    );
    this.calls.prepared({ ...info, state: 'prepared' }, PREPARED_TTL_MS, () => this.unprepare(a.callId));
    return { sas };
  }

  /**
   * The 2xx's `confirm` after an early one: the same message (byte for
   * byte) adds the policies.  Another message is another fork's answer to
   * the same offer (RFC 3261 §13.2.2.4: the fork that picked up is not the
   * one whose 183 came first): the early pair goes, and that answer is
   * verified in full with the offer's state, kept for this until the 2xx,
   * and installed; if it fails, the call ends.
   */
  private async confirmAfterEarly(a: ParsedArgsOf<'confirm'>, early: EarlyConfirm, ctx: RequestContext): Promise<ResultOf<'confirm'>> {
    if (early.mikey.equals(Buffer.from(a.mikey, 'base64'))) return { sas: await this.activatePrepared(a.callId) };
    this.confirmedEarly.delete(a.callId); // its state is spent (and wiped) by completeOffer
    const lostGlare = this.preparedLostGlare.delete(a.callId);
    const info = this.calls.get(a.callId);
    if (!info || !this.calls.takePrepared(a.callId)) {
      early.state.wipe();
      throw new RequestError('not-offered', `call ${a.callId} has no offer waiting for a response`);
    }
    await this.d.registry.discard(a.callId);
    this.d.log.info('2xx from another fork than the early answer: the early pair goes, its answer is verified', { callId: a.callId });
    const fail = async () => {
      await this.calls.drop(a.callId);
      this.owners.release(a.callId);
      this.d.save();
    };
    return this.completeOffer(a, ctx, info, early.state, { lostGlare, fail, freshInboundSa: true });
  }

  /** Forget a caller's early confirm, wiping the offer's state it kept for another fork's 2xx. */
  private forgetEarly(callId: string): void {
    this.confirmedEarly.get(callId)?.state.wipe();
    this.confirmedEarly.delete(callId);
  }

  /**
   * Put a completed exchange's pair in the kernel for the call with `place`
   * (registry install, or prepare: the keepalives then wait for activate);
   * always wipes the result's keys.  `phases`: the request's phase clock (kernel, journal).
   */
  private async install(
    call: Parameters<PeerRegistry['install']>[0],
    result: ExchangeResult,
    role: NonNullable<PairPlan['role']>,
    peerSdp: string | undefined,
    place: (call: Parameters<PeerRegistry['install']>[0], plan: PairPlan) => Promise<PeerSnapshot>,
    onFailure: () => unknown,
    phases?: RequestPhases,
  ): Promise<SaInfo[]> {
    try {
      const plan = planOf(result, role, selectorsFor(this.d.config.protection.scope, result.localAddr, result.peerAddr, peerSdp));
      const snap = await place(call, plan);
      phases?.lap('kernel');
      const prepared = this.d.registry.isPrepared(call.callId);
      if (plan.out.encap) {
        // The side behind the NAT keeps its mapping open (RFC 3948 §2.3, docs/PROFILE.md §10).  The
        // public side sends none: its packet to a mapping not yet made would occupy the mapping's port.
        const keepalive = { key: snap.key, peer: snap.peer, port: plan.out.encap.dport };
        if (result.natKeepalives && prepared) this.natOnActivate.set(call.callId, keepalive);
        else if (result.natKeepalives) this.d.nat?.keepalives.track(keepalive.key, keepalive.peer, keepalive.port);
        this.d.log.info('NAT traversal: ESP in UDP', { peer: snap.peer, sport: plan.out.encap.sport, dport: plan.out.encap.dport });
      }
      this.d.log.info(prepared ? 'sas prepared' : 'sas installed', { callId: call.callId, peer: snap.peer, in: formatSpi(snap.inSpi), out: formatSpi(snap.outSpi), suite: snap.suite });
      return saInfos(snap, call.callId);
    } catch (e) {
      await onFailure();
      const failure = kernelFailure(e);
      this.d.log.error('sas not installed', { callId: call.callId, peer: call.peerUri, code: failure.code, reason: failure.message });
      throw failure;
    } finally {
      result.wipe();
      phases?.lap('handler');
      // One save per exchange, before the UA gets its answer: the SAs and the replay cache.
      this.d.save();
      phases?.lap('journal');
    }
  }

  private async release(a: ParsedArgsOf<'release'>, ctx: RequestContext): Promise<ResultOf<'release'>> {
    this.owners.check(a.callId, who(ctx));
    await this.calls.drop(a.callId); // a prepared call's pair goes here
    if (this.d.registry.hasCall(a.callId)) await this.d.registry.release(a.callId);
    this.owners.release(a.callId);
    this.d.save();
    return { released: true };
  }

  /**
   * Glare: we just answered (and installed) an exchange from a peer to which
   * one of our own offers is still waiting for its response, both on the same
   * local address.  Left alone, each side would install its answered pair
   * first and then, at its own confirm, replace it make-before-break with the
   * pair of its own offer: each then sends on the SA the other has retired,
   * and both directions die when the grace period ends.
   *
   * Both daemons must pick the same pair without a message more, so the
   * choice depends only on what both know about both exchanges: the one whose
   * initiator has the lower SIP URI (normalised) wins; same URI on both sides
   * (one user on two hosts), the lower CSB ID (RFC 3830 §6.1, random per
   * exchange).  URIs rather than addresses, since behind a NAT the two sides
   * see different addresses for the same host; the URIs and CSB IDs are in
   * the MAC-covered messages both sides processed.
   *
   * Each side completes the exchange it answered first and its own at
   * confirm.  So the winner is completed last on one side and first on the
   * other: (1) the answered exchange lost: it is installed as usual now (the
   * call is protected at once) and our offer, which wins, replaces it at
   * confirm (outbound switched at once, the loser's inbound SA retired);
   * (2) the answered exchange won: it is installed now and our losing offer,
   * at its confirm, installs nothing: its call joins the pair in place
   * (`PeerRegistry.joinPair`) and its reserved SPI is given back.  Both sides
   * end on the winner's pair; the loser's SAs are never sent on after that
   * and are deleted.
   *
   * A ringing callee (`prepare`) completes the answered exchange only at
   * accept (`activate`), which may come after its own offer's confirm.  So a
   * prepared exchange that lost is remembered (the returned `true`): at
   * activate it joins the peer's pair in place if our winning offer's pair is
   * already there, and its prepared SAs go; if not, it is activated as usual
   * and our confirm replaces it, as above.  Our offer confirmed early
   * (`confirmEarly`, its state spent) is a prepared call too: it is compared
   * by the CSB ID kept for it, a loss is remembered the same way, and its
   * 2xx's `confirm` activates it as above.
   *
   * This covers the crossing both daemons see: each side's offer went out
   * before it answered the other's (two INVITEs in flight at once).  A half
   * crossing, where one side answered before it offered and the other
   * answered while its offer was out, is seen by one side only; it is left
   * to the usual last-exchange-wins order (no local rule can settle it:
   * the side that sees it cannot tell which pair the other ended on).
   */
  private markGlare(callId: string, localAddress: string, answered: { initiatorUri: string; csbId: number }): boolean {
    let answeredLost = false;
    for (const { info, pending } of this.calls.offering()) {
      if (info.callId === callId || pending.localAddress !== localAddress || !sameUri(info.peerUri, answered.initiatorUri)) continue;
      const ours = { initiatorUri: info.localUri, csbId: pending.state.facts.csbId };
      if (glareWinner(ours, answered) === answered) {
        this.glareLost.add(pending);
        this.d.log.info('glare: our offer loses to the exchange answered', { callId: info.callId, answered: callId });
      } else {
        answeredLost = true;
      }
    }
    // Our offers confirmed early are prepared calls: one that loses joins the winner's pair at its 2xx's confirm.
    for (const [id, early] of this.confirmedEarly) {
      const info = this.calls.get(id);
      if (id === callId || !info || early.localAddress !== localAddress || !sameUri(info.peerUri, answered.initiatorUri)) continue;
      if (glareWinner({ initiatorUri: info.localUri, csbId: early.csbId }, answered) === answered) {
        this.preparedLostGlare.add(id);
        this.d.log.info('glare: our offer confirmed early loses to the exchange answered', { callId: id, answered: callId });
      } else {
        answeredLost = true;
      }
    }
    return answeredLost;
  }

  // ---- listings --------------------------------------------------------------

  private status(): ResultOf<'status'> {
    const stateError = this.d.stateError?.();
    return {
      version: this.d.version,
      protocol: 1,
      uptimeSeconds: Math.floor((this.now() - this.startedAt) / 1000),
      backend: this.d.config.kernel.backend,
      calls: this.calls.size,
      sas: this.d.registry.peerSnapshots().length * 2,
      ...(stateError ? { stateError } : {}),
    };
  }

  private visiblePeers(ctx: Caller): PeerSnapshot[] {
    const all = this.d.registry.peerSnapshots();
    return ctx.admin ? all : all.filter((p) => p.calls.some((c) => this.owners.visible(c, ctx)));
  }

  private async sas(a: ParsedArgsOf<'sas'>, ctx: RequestContext): Promise<ResultOf<'sas'>> {
    if (a.callId) this.owners.check(a.callId, who(ctx));
    const peers = this.visiblePeers(who(ctx)).filter((p) => !a.callId || p.calls.includes(a.callId));
    const out: SaInfo[] = [];
    for (const p of peers) {
      for (const sa of saInfos(p, a.callId)) {
        const info = await this.d.kernel
          .getSa({ dst: sa.dst, spi: Number(sa.spi), proto: 'esp' })
          .catch(() => undefined);
        out.push(info ? { ...sa, bytes: Number(info.counters.bytes), packets: Number(info.counters.packets), addedAt: info.counters.addTime } : sa);
      }
    }
    return { sas: out };
  }

  private rekey(a: ParsedArgsOf<'rekey'>, ctx: RequestContext): ResultOf<'rekey'> {
    const peer = this.visiblePeers(who(ctx)).find((p) => p.peer === a.peer);
    if (!peer) throw new RequestError('no-such-peer', `no SAs with ${a.peer} that you may rekey`);
    this.d.rekeyNeeded(peer.calls, peer.outSpi);
    return { calls: peer.calls };
  }

  private async flush(ctx: RequestContext): Promise<ResultOf<'flush'>> {
    if (!ctx.admin) throw new RequestError('forbidden', 'flush needs root or the admin group');
    for (const p of this.d.registry.peerSnapshots()) await this.d.registry.remove(p.key, 'flushed');
    for (const c of this.calls.list()) {
      await this.calls.drop(c.callId);
      this.owners.release(c.callId);
    }
    const r = await this.d.kernel.flushOwned();
    this.d.save();
    return { removed: r.sas + r.policies };
  }
}

const who = (ctx: RequestContext): Caller => ({ uid: ctx.caller.uid, admin: ctx.admin });

function sameUri(a: string, b: string): boolean {
  const na = normalizeSipUri(a);
  return na !== undefined && na === normalizeSipUri(b);
}

/** A caller's offer confirmed early (a 1xx's answer): that message, and what the 2xx's confirm and markGlare need. */
interface EarlyConfirm {
  mikey: Buffer;
  csbId: number;
  localAddress: string;
  /** The offer's state, kept (not wiped) in case another fork's 2xx carries another answer. */
  state: InitiatorState;
}

/** The tie-break of two crossing exchanges (see `SipsecService.markGlare`): lower initiator URI, then lower CSB ID. */
export function glareWinner<T extends { initiatorUri: string; csbId: number }>(x: T, y: T): T {
  const ux = normalizeSipUri(x.initiatorUri) ?? x.initiatorUri;
  const uy = normalizeSipUri(y.initiatorUri) ?? y.initiatorUri;
  if (ux !== uy) return ux < uy ? x : y;
  return x.csbId <= y.csbId ? x : y;
}

function saInfos(p: PeerSnapshot, callId: string | undefined): SaInfo[] {
  const base = { ...(callId ? { callId } : {}), suite: p.suite };
  return [
    { ...base, direction: 'out', spi: formatSpi(p.outSpi), src: p.local, dst: p.peer },
    { ...base, direction: 'in', spi: formatSpi(p.inSpi), src: p.peer, dst: p.local },
  ];
}

/** The kernel cannot do the suite we accepted: refuse the offer in MIKEY too (Err 10, SP parameter not supported). */
function refuseUnsupported(e: unknown, offer: string, creds: Credentials, nowMs: number): never {
  if (!(e instanceof RequestError) || e.code !== 'unsupported-suite') throw e;
  const refusal = refuseOffer(Buffer.from(offer, 'base64'), ErrNo.INVALID_SPPAR, { credentials: creds, nowMs });
  throw new RequestError(e.code, e.message, { ...e.extra, mikeyErr: ErrNo.INVALID_SPPAR, mikey: b64(refusal) });
}

function mikeyFailure(e: unknown): RequestError {
  if (e instanceof MikeyError) {
    return new RequestError('mikey-rejected', e.message, { mikeyErr: e.errNo, warning: `399 sipsec "MIKEY: ${errNoName(e.errNo)}"` });
  }
  if (e instanceof RequestError) return e;
  throw e;
}

/**
 * A kernel refusal as the UA sees it.  A suite this kernel cannot do refuses
 * the offer with 488 (RFC 3261 §21.4.26: the session description is not
 * acceptable here) and names the suite; the daemon never falls back to
 * another suite on its own.
 */
function kernelFailure(e: unknown): RequestError {
  if (e instanceof RequestError) return e;
  if (e instanceof KernelAlgorithmError) {
    return new RequestError('unsupported-suite', e.message, {
      sipStatus: 488,
      suite: e.suite,
      algorithms: e.algorithms,
      errno: e.code,
      warning: `399 sipsec "this host's kernel cannot do ${e.suite}"`,
    });
  }
  if (e instanceof KernelError) return new RequestError('kernel', e.message, { sipStatus: 500, errno: e.code });
  if (e instanceof MikeyError) return mikeyFailure(e);
  // The registry's refusals (call-exists, unknown-call, not-updatable): the call's state, not the kernel's.
  if (e instanceof RegistryError) return new RequestError(e.code, e.message, { sipStatus: 500 });
  throw e;
}
