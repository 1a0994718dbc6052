/**
 * The per-peer SA registry: one SA pair and one set of policies per
 * (local address, peer address), shared by every call and every UA on the
 * host that talks to that peer.
 *
 * - A call that completes a MIKEY exchange with a peer `install`s the pair its
 *   exchange produced.  For a new peer the SAs and policies go in as one
 *   transaction (any failure leaves nothing of ours behind).  For a peer that
 *   already has SAs the new pair goes in first, the outbound policy is then
 *   pointed at the new outbound SPI, and only then do the old SAs go
 *   (make-before-break): the old inbound SA stays `inboundGraceMs` so that
 *   packets the peer sent under the old keys still arrive.
 * - A callee that rings first may `prepare` the pair of its call: both SAs
 *   go in under the peer's reqid but no policy changes, so the host's traffic
 *   is what it was (in clear, or on the peer's current pair).  At accept
 *   `activate` adds the policies (new peer) or switches to the prepared pair
 *   make-before-break (peer with SAs); a call that is never accepted is
 *   `discard`ed: its two SAs go, nothing else changed.  While a call is
 *   prepared its peer entry does not linger away.
 * - `release` drops a call; when the last call of a peer is gone the entry
 *   lingers `lingerMs` (default 32 s, SIP Timer J) before its SAs and
 *   policies are removed, so a retransmitted BYE or a quick re-call finds
 *   them in place.
 * - The kernel will not hold the same policy twice, so policies are counted
 *   here, in user space, not in the kernel: each call brings its selectors
 *   (scope `media`: its SDP's flows) and the peer's policies are the union of
 *   its live calls' (`syncSelectors`).
 * - Glare: a call whose exchange lost the tie-break of simultaneous offers
 *   (service.ts, `markGlare`) joins the pair in place (`joinPair`) instead of
 *   replacing it.
 * - Every kernel operation of one peer is serialised; different peers run
 *   concurrently.
 *
 * Nothing here holds keys after `install` returns: the SaSpecs it is given are
 * wiped by the caller.
 */
import { EventEmitter } from 'node:events';
import type { KernelIpsec, PolicySpec, SaInfo, SaSpec, Selector } from '../kernel/types.js';
import { ownedReqid } from '../kernel/types.js';
import type { PeerRecord, PersistedState, StateRecord } from './state.js';

/** What one completed exchange asks the kernel for. */
export interface PairPlan {
  local: string;
  peer: string;
  /** SA from us to the peer (spi chosen by the peer). */
  out: Omit<SaSpec, 'reqid'>;
  /** SA from the peer to us (spi we allocated with allocSpi). */
  in: Omit<SaSpec, 'reqid'>;
  /** True when `in.spi` came from allocSpi (complete it with UPDSA). */
  inViaUpdate: boolean;
  /** Our role in the exchange: decides when a rekey switches outbound traffic (default initiator: at once). */
  role?: 'initiator' | 'responder';
  /** Traffic protected, seen from us (outbound direction); default the host pair. */
  selectors?: Selector[];
}

/** See `PeerRegistry.saOf`. */
export type SaOwner = { peerKey: string } & ({ role: 'current' | 'switching' } | { role: 'prepared'; callId: string });

export interface PeerSnapshot {
  key: string;
  local: string;
  peer: string;
  reqid: number;
  inSpi: number;
  outSpi: number;
  suite: string;
  calls: string[];
  /** Epoch ms at which a lingering entry is torn down, if it is lingering. */
  lingerUntil?: number;
  installedAt: number;
  selectors: Selector[];
}

export interface CallSnapshot {
  callId: string;
  owner: number;
  peerKey: string;
  since: number;
  localUri: string;
  peerUri: string;
  /** The traffic this call needs protected (scope `media`: its SDP's flows); absent in state saved before per-call selectors: all of its peer's. */
  selectors?: Selector[];
}

export type RegistryEvent =
  | { type: 'peer-sas-replaced'; peerKey: string; calls: string[]; inSpi: number; outSpi: number }
  | { type: 'peer-removed'; peerKey: string; reason: RemoveReason }
  /** The responder's deferred switch (make-before-break) to its new outbound SA happened. */
  | { type: 'peer-out-switched'; peerKey: string; outSpi: number }
  /** The NAT in front of the peer rebound to a new port: the peer's SAs now use it. */
  | { type: 'peer-nat-rebound'; peerKey: string; peer: string; calls: string[]; port: number };

export type RemoveReason = 'linger' | 'expired' | 'flushed' | 'moved';

type CallRef = { callId: string; owner: number; localUri: string; peerUri: string };

/** A call's pair installed by `prepare`, waiting for `activate` or `discard` (no keys kept). */
interface Prepared {
  call: CallRef;
  key: string;
  inSpi: number;
  outSpi: number;
  suite: PeerEntry['suite'];
  mode: SaSpec['mode'];
  role: NonNullable<PairPlan['role']>;
  selectors: Selector[];
}

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  constructor(
    readonly code: 'unknown-call' | 'not-updatable' | 'call-exists',
    message: string,
  ) {
    super(message);
  }
}

/** A peer's live state: what a snapshot shows, plus the working parts. */
interface PeerEntry extends Omit<PeerSnapshot, 'calls'> {
  mode: SaSpec['mode'];
  calls: Set<string>;
  /** Responder side of a rekey: the new outbound SPI, until the switch to it. */
  pendingOut?: number;
  /** Inbound SPIs of replaced pairs, kept for `inboundGraceMs` after a rekey. */
  retiring: Set<number>;
  /**
   * The NAT port the current pair was (or is being) rebound to: the kernel
   * reports every packet from it until the update is in, and those reports
   * need no second read of the SAs.  Unset when the pair changes.
   */
  natPort?: number;
  lingerTimer?: NodeJS.Timeout;
  /** Serialises this peer's kernel operations. */
  chain: Promise<unknown>;
}

type CallEntry = CallSnapshot;

export interface RegistryOptions {
  lingerMs: number;
  inboundGraceMs?: number;
  /** Longest a responder waits for traffic on its new inbound SA before switching outbound anyway. */
  switchTimeoutMs?: number;
  now?: () => number;
  /** Policy priority of our entries (lower wins); default 1000. */
  priority?: number;
}

export function peerKey(local: string, peer: string): string {
  return `${local}|${peer}`;
}

/** Reqids in the owned range, one per peer, reused after release. */
class ReqidPool {
  private next = 1;
  private readonly free: number[] = [];
  take(): number {
    return ownedReqid(this.free.pop() ?? this.next++);
  }
  give(reqid: number): void {
    this.free.push(reqid & 0xffffff);
  }
  /** Mark reqids found in the kernel at start-up as used. */
  reserve(reqid: number): void {
    const n = reqid & 0xffffff;
    if (n >= this.next) this.next = n + 1;
  }
}

/** What a plan protects: its selectors, or the host pair. */
function selectorsOf(plan: PairPlan): Selector[] {
  return plan.selectors ?? [{ src: plan.local, dst: plan.peer }];
}

/** Identity of a selector, for sets (one kernel policy per selector and direction). */
function selectorKey(s: Selector): string {
  return `${s.src}|${s.dst}|${s.proto ?? ''}|${s.srcPort ?? ''}|${s.dstPort ?? ''}`;
}

function wipeKeys(sa: SaInfo): void {
  sa.keys?.encKey.fill(0);
  sa.keys?.authKey?.fill(0);
}

/** The spec that re-states an SA read back with its keys (ours: its suite is known), for UPDSA. */
function specOf(sa: SaInfo): SaSpec {
  if (!sa.suite || !sa.keys) throw new RegistryError('not-updatable', `SA 0x${sa.id.spi.toString(16)} has no known suite or keys`);
  return {
    ...sa.id,
    src: sa.src,
    mode: sa.mode,
    reqid: sa.reqid,
    suite: sa.suite,
    keys: sa.keys,
    replayWindow: sa.replayWindow,
    lifetimes: sa.lifetimes,
    ...(sa.encap ? { encap: { sport: sa.encap.sport, dport: sa.encap.dport } } : {}),
  };
}

function peerRecord(e: PeerEntry): PeerRecord {
  return {
    local: e.local,
    peer: e.peer,
    reqid: e.reqid,
    inSpi: e.inSpi,
    outSpi: e.outSpi,
    suite: e.suite,
    mode: e.mode,
    selectors: e.selectors,
    installedAt: e.installedAt,
    retiring: [...e.retiring],
  };
}

export class PeerRegistry extends EventEmitter<{ event: [RegistryEvent] }> {
  private readonly peers = new Map<string, PeerEntry>();
  private readonly calls = new Map<string, CallEntry>();
  /** Calls whose pair is in but not yet used (`prepare` until `activate` or `discard`), by call id. */
  private readonly prepared = new Map<string, Prepared>();
  private readonly reqids = new ReqidPool();
  private readonly now: () => number;
  /** Peers and calls changed since the last `takeChanges` (the state journal's next records). */
  private readonly changedPeers = new Set<string>();
  private readonly changedCalls = new Set<string>();

  constructor(
    private readonly kernel: KernelIpsec,
    private readonly opts: RegistryOptions,
  ) {
    super();
    this.now = opts.now ?? Date.now;
  }

  hasCall(callId: string): boolean {
    return this.calls.has(callId);
  }

  /**
   * Install the pair a call's exchange produced.  A new call joins (or
   * creates) its peer's entry.  A call that already has SAs is being rekeyed
   * (a re-INVITE with a new offer): same addresses, its peer's pair is
   * replaced make-before-break; new addresses (mobility), the call moves to
   * the new peer entry and the old one goes when no other call uses it.
   */
  async install(call: CallRef, plan: PairPlan): Promise<PeerSnapshot> {
    const key = peerKey(plan.local, plan.peer);
    const e = this.peers.get(key) ?? this.newEntry(key, plan);
    return this.join(call, e, () => (e.inSpi === 0 ? this.installNew(e, plan) : this.replace(e, plan)), selectorsOf(plan));
  }

  /**
   * Glare (service.ts, `markGlare`): this call's exchange lost the tie-break
   * and completed after the winning exchange, whose pair is already the
   * peer's.  The call joins that pair (and brings its selectors); the losing
   * pair is never installed and the inbound SPI reserved for it goes back to
   * the kernel.  With no pair to join (the winner failed, or the pair was
   * removed meanwhile) the exchange installs as usual.
   */
  async joinPair(call: CallRef, plan: PairPlan): Promise<PeerSnapshot> {
    const e = this.peers.get(peerKey(plan.local, plan.peer));
    const previous = this.calls.get(call.callId);
    if (!e || e.inSpi === 0 || (previous && previous.peerKey !== e.key)) return this.install(call, plan);
    // Decided when the op runs, after the peer's queued work: a removal queued before us leaves no pair to join.
    const joinOrInstall = () =>
      e.inSpi === 0
        ? this.installNew(e, plan)
        : this.kernel.deleteSa({ dst: plan.in.dst, spi: plan.in.spi, proto: 'esp' }).then(
            () => undefined,
            () => undefined,
          );
    return this.join(call, e, joinOrInstall, selectorsOf(plan));
  }

  /** Count `call` on the peer `e` once `op` (its kernel work, serialised with the peer's) succeeded. */
  private async join(call: CallRef, e: PeerEntry, op: () => Promise<void>, selectors: Selector[]): Promise<PeerSnapshot> {
    const { callId } = call;
    const key = e.key;
    const previous = this.calls.get(callId);
    this.changedCalls.add(callId);
    if (previous) this.changedPeers.add(previous.peerKey);
    // Claim the call now, so a concurrent release of the peer's last call cannot tear it down under us.
    this.calls.set(callId, { ...call, peerKey: key, since: previous?.since ?? this.now(), selectors });
    e.calls.add(callId);
    this.stopLinger(e);
    try {
      await this.serial(e, op);
      await this.serial(e, () => this.syncSelectors(e));
    } catch (err) {
      if (previous) this.calls.set(callId, previous);
      else this.calls.delete(callId);
      if (previous?.peerKey !== key) e.calls.delete(callId);
      this.settle(e);
      throw err;
    }
    if (previous && previous.peerKey !== key) {
      const old = this.peers.get(previous.peerKey);
      old?.calls.delete(callId);
      if (old && old.calls.size === 0) await this.remove(old.key, 'moved');
      else if (old) await this.serial(old, () => this.syncSelectors(old));
    }
    return this.snapshotPeer(e);
  }

  /**
   * A ringing callee's pair: both SAs go in (under the peer's reqid), no
   * policy is added or changed, the call is not counted yet.  `activate` at
   * accept, `discard` when the call ends first.  Returns the prepared pair as
   * a snapshot of the peer (its SPIs are the prepared ones).
   */
  async prepare(call: CallRef, plan: PairPlan): Promise<PeerSnapshot> {
    const { callId } = call;
    if (this.prepared.has(callId) || this.calls.has(callId)) throw new RegistryError('call-exists', `call ${callId} already has SAs`);
    const key = peerKey(plan.local, plan.peer);
    const e = this.peers.get(key) ?? this.newEntry(key, plan);
    const p: Prepared = {
      call,
      key,
      inSpi: plan.in.spi,
      outSpi: plan.out.spi,
      suite: plan.out.suite,
      mode: plan.out.mode,
      role: plan.role ?? 'initiator',
      selectors: plan.selectors ?? [{ src: plan.local, dst: plan.peer }],
    };
    // Claimed before the kernel work: the peer cannot linger away under it.
    this.prepared.set(callId, p);
    this.stopLinger(e);
    try {
      await this.serial(e, () => this.kernel.installPair({ ...plan.out, reqid: e.reqid }, { ...plan.in, reqid: e.reqid }, { inViaUpdate: plan.inViaUpdate }));
    } catch (err) {
      this.prepared.delete(callId);
      this.settle(e);
      throw err;
    }
    return { ...this.snapshotPeer(e), inSpi: p.inSpi, outSpi: p.outSpi, suite: p.suite, calls: [callId] };
  }

  isPrepared(callId: string): boolean {
    return this.prepared.has(callId);
  }

  /**
   * The ringing call was accepted: its prepared pair becomes the peer's.  A
   * peer without SAs gets the policies (any failure takes the prepared SAs
   * out too); a peer with SAs switches to the new pair make-before-break, as
   * `install` does for a rekey.  With `joinPair` (the prepared exchange lost
   * a glare tie-break, service.ts `markGlare`), a peer with SAs keeps them:
   * the call joins that pair and the prepared SAs go.
   */
  async activate(callId: string, opts: { joinPair?: boolean } = {}): Promise<PeerSnapshot> {
    const p = this.prepared.get(callId);
    const e = p && this.peers.get(p.key);
    if (!p || !e) throw new RegistryError('unknown-call', `call ${callId} has no prepared SAs`);
    this.prepared.delete(callId);
    const take = () => (e.inSpi === 0 ? this.addPolicies(e, p) : opts.joinPair ? this.deletePair(e, p) : this.adopt(e, p));
    try {
      return await this.join(p.call, e, take, p.selectors);
    } catch (err) {
      // Not adopted (policies refused): take the prepared SAs out too.  Adopted, they are the peer's now.
      if (e.inSpi !== p.inSpi) await this.serial(e, () => this.deletePair(e, p)).catch(() => undefined);
      throw err; // `join` has settled the entry
    }
  }

  /** The ringing call ended before accept (CANCEL, reject, timeout): its two SAs go; false if it had none. */
  async discard(callId: string): Promise<boolean> {
    const p = this.prepared.get(callId);
    if (!p) return false;
    this.prepared.delete(callId);
    const e = this.peers.get(p.key);
    if (e) {
      await this.serial(e, () => this.deletePair(e, p));
      this.settle(e);
    }
    return true;
  }

  private newEntry(key: string, plan: PairPlan): PeerEntry {
    const e: PeerEntry = {
      key,
      local: plan.local,
      peer: plan.peer,
      reqid: this.reqids.take(),
      inSpi: 0,
      outSpi: 0,
      suite: plan.out.suite,
      mode: plan.out.mode,
      selectors: plan.selectors ?? [{ src: plan.local, dst: plan.peer }],
      calls: new Set(),
      retiring: new Set(),
      installedAt: this.now(),
      chain: Promise.resolve(),
    };
    this.peers.set(key, e);
    return e;
  }

  /**
   * The call ended: the peer's SAs linger after its last call.  While other
   * calls go on, the policies only this call needed go now (scope `media`);
   * the returned promise settles when they are gone.
   */
  release(callId: string): Promise<void> {
    const c = this.calls.get(callId);
    if (!c) throw new RegistryError('unknown-call', `no call ${callId}`);
    this.calls.delete(callId);
    this.changedCalls.add(callId);
    const e = this.peers.get(c.peerKey);
    if (!e) return Promise.resolve();
    e.calls.delete(callId);
    if (e.calls.size === 0) {
      this.startLinger(e);
      return Promise.resolve();
    }
    return this.serial(e, () => this.syncSelectors(e));
  }

  /** After a call left `e` without joining it: a peer nobody uses any more lingers, or goes if it never had SAs. */
  private settle(e: PeerEntry): void {
    if (e.calls.size > 0 || this.preparedOn(e)) return;
    if (e.inSpi === 0) this.forget(e);
    else this.startLinger(e);
  }

  private preparedOn(e: PeerEntry): boolean {
    for (const p of this.prepared.values()) if (p.key === e.key) return true;
    return false;
  }

  /** Remove a peer's SAs and policies now (hard expiry without rekey, admin flush). */
  async remove(key: string, reason: RemoveReason): Promise<void> {
    const e = this.peers.get(key);
    if (!e) return;
    this.stopLinger(e);
    for (const id of e.calls) {
      this.calls.delete(id);
      this.changedCalls.add(id);
    }
    e.calls.clear();
    await this.serial(e, () => this.teardown(e));
    // A ringing call's prepared pair stays: at accept it becomes the peer's first pair again.  A call
    // that joined while the teardown waited keeps the entry too: its own work, queued behind, installs anew.
    if (!this.preparedOn(e) && e.calls.size === 0) this.forget(e);
    this.emit('event', { type: 'peer-removed', peerKey: key, reason });
  }

  /** The peer whose SA (dst, spi) this is, if it is one of ours. */
  peerOfSa(dst: string, spi: number): string | undefined {
    return this.saOf(dst, spi)?.peerKey;
  }

  /**
   * What the SA (dst, spi) is to us: a peer's `current` pair, one half of a
   * make-before-break switch (`switching`: an inbound SA retiring after a
   * rekey, an outbound SA waiting for the peer's first packet), or the pair
   * `prepared` for a ringing call.  A kernel event about one of them
   * concerns only that: the expiry of a prepared SA is the ringing call's,
   * not the peer's live pair's.
   */
  saOf(dst: string, spi: number): SaOwner | undefined {
    for (const e of this.peers.values()) {
      if ((e.peer === dst && e.outSpi === spi) || (e.local === dst && e.inSpi === spi)) return { peerKey: e.key, role: 'current' };
      if ((e.peer === dst && e.pendingOut === spi) || (e.local === dst && e.retiring.has(spi))) return { peerKey: e.key, role: 'switching' };
    }
    for (const p of this.prepared.values()) {
      const e = this.peers.get(p.key);
      if (e && ((e.peer === dst && p.outSpi === spi) || (e.local === dst && p.inSpi === spi))) return { peerKey: e.key, role: 'prepared', callId: p.call.callId };
    }
    return undefined;
  }

  /**
   * docs/PROFILE.md §10, NAT rebinding: the NAT in front of the peer now
   * sends its ESP-in-UDP packets from port `newPort` (XFRM_MSG_MAPPING on our
   * inbound SA).  Both SAs get the port with UPDSA: the outbound SA's encap
   * dport (our packets follow the new mapping) and the inbound SA's sport (so
   * the kernel stops reporting it).  UPDSA needs a whole SA, so each is read
   * back with its keys, which are wiped after; the kernel keeps its own keys,
   * sequence numbers, counters and lifetimes' start (xfrm_state_update copies
   * only the encap and the lifetimes).  Returns the peer's snapshot, or
   * undefined if there was nothing to do (not ours, not encapsulated, or the
   * port is already the SAs').
   */
  async rebindPort(key: string, newPort: number): Promise<PeerSnapshot | undefined> {
    const e = this.peers.get(key);
    if (!e || e.inSpi === 0 || e.natPort === newPort) return undefined;
    const before = e.natPort;
    e.natPort = newPort;
    const done = await this.serial(e, () => this.rebindSas(e, newPort)).catch((err: unknown) => {
      if (e.natPort === newPort) e.natPort = before;
      throw err;
    });
    if (!done) return undefined;
    this.emit('event', { type: 'peer-nat-rebound', peerKey: e.key, peer: e.peer, calls: [...e.calls], port: newPort });
    return this.snapshotPeer(e);
  }

  private async rebindSas(e: PeerEntry, newPort: number): Promise<boolean> {
    const out = await this.kernel.getSa({ dst: e.peer, spi: e.outSpi, proto: 'esp' }, { withKeys: true });
    try {
      const inb = await this.kernel.getSa({ dst: e.local, spi: e.inSpi, proto: 'esp' }, { withKeys: true });
      try {
        if (!out.encap || !inb.encap || (out.encap.dport === newPort && inb.encap.sport === newPort)) return false;
        await this.kernel.updateSa({ ...specOf(out), encap: { sport: out.encap.sport, dport: newPort } });
        await this.kernel.updateSa({ ...specOf(inb), encap: { sport: newPort, dport: inb.encap.dport } });
        return true;
      } finally {
        wipeKeys(inb);
      }
    } finally {
      wipeKeys(out);
    }
  }

  peerSnapshots(): PeerSnapshot[] {
    return [...this.peers.values()].filter((e) => e.inSpi !== 0).map((e) => this.snapshotPeer(e));
  }

  callSnapshots(): CallSnapshot[] {
    return [...this.calls.values()].map((c) => ({ ...c }));
  }

  /** What `StateStore` saves as a snapshot: no keys, only whose SAs are whose.  Starts a new change set. */
  exportState(): Pick<PersistedState, 'peers' | 'calls'> {
    this.changedPeers.clear();
    this.changedCalls.clear();
    return {
      peers: [...this.peers.values()].filter((e) => e.inSpi !== 0).map(peerRecord),
      calls: this.callSnapshots(),
    };
  }

  /** The journal records of what changed since the last call (or `exportState`): each as it now is, or its removal. */
  takeChanges(): StateRecord[] {
    const out: StateRecord[] = [];
    for (const key of this.changedPeers) {
      const e = this.peers.get(key);
      out.push(e && e.inSpi !== 0 ? { t: 'peer', key, v: peerRecord(e) } : { t: 'peer-', key });
    }
    for (const callId of this.changedCalls) {
      const c = this.calls.get(callId);
      out.push(c ? { t: 'call', v: { ...c } } : { t: 'call-', callId });
    }
    this.changedPeers.clear();
    this.changedCalls.clear();
    return out;
  }

  /**
   * After a restart: take back the peers of the saved state whose SAs are
   * still in the kernel (their calls go on with no gap), let peers without
   * calls linger again, and delete SAs tagged as ours that nobody owns.
   */
  async restore(saved: Pick<PersistedState, 'peers' | 'calls'>, kernelSas: SaInfo[]): Promise<{ peers: number; orphans: number }> {
    const present = new Set(kernelSas.filter((s) => s.owned).map((s) => `${s.id.dst}|${s.id.spi}`));
    for (const p of saved.peers) {
      if (!present.has(`${p.peer}|${p.outSpi}`) || !present.has(`${p.local}|${p.inSpi}`)) continue;
      const key = peerKey(p.local, p.peer);
      this.reqids.reserve(p.reqid);
      const e: PeerEntry = { ...p, key, calls: new Set(), retiring: new Set(), chain: Promise.resolve() };
      this.peers.set(key, e);
      for (const spi of p.retiring) if (present.has(`${p.local}|${spi}`)) this.retire(e, spi);
    }
    for (const c of saved.calls) {
      const e = this.peers.get(c.peerKey);
      if (!e) continue;
      e.calls.add(c.callId);
      this.calls.set(c.callId, { ...c });
    }
    for (const e of this.peers.values()) if (e.calls.size === 0) this.startLinger(e);
    let orphans = 0;
    for (const s of kernelSas) {
      if (!s.owned || this.peerOfSa(s.id.dst, s.id.spi)) continue;
      await this.kernel.deleteSa(s.id).catch(() => undefined);
      orphans++;
    }
    return { peers: this.peers.size, orphans };
  }

  /**
   * After lost kernel events (ENOBUFS): compare with a fresh dump.  A peer
   * whose current SAs are gone from the kernel (an expiry we missed, or
   * someone deleted them) is removed; returns those peers and their calls.
   */
  async resync(kernelSas: SaInfo[]): Promise<{ peerKey: string; calls: string[] }[]> {
    const present = new Set(kernelSas.map((s) => `${s.id.dst}|${s.id.spi}`));
    const gone: { peerKey: string; calls: string[] }[] = [];
    for (const e of [...this.peers.values()]) {
      if (e.inSpi === 0) continue;
      if (present.has(`${e.peer}|${e.outSpi}`) && present.has(`${e.local}|${e.inSpi}`)) continue;
      gone.push({ peerKey: e.key, calls: [...e.calls] });
      await this.remove(e.key, 'expired');
    }
    return gone;
  }

  /** Stop all timers (daemon shutdown); SAs stay in the kernel for the next start. */
  close(): void {
    for (const e of this.peers.values()) this.stopLinger(e);
  }

  // ---- kernel transactions -------------------------------------------------

  private policies(e: PeerEntry, outSpi: number, selectors: readonly Selector[] = e.selectors): PolicySpec[] {
    const priority = this.opts.priority ?? 1000;
    const out: PolicySpec[] = [];
    for (const sel of selectors) {
      const tunnel = e.mode === 'tunnel';
      out.push({
        selector: sel,
        dir: 'out',
        action: 'allow',
        priority,
        reqid: e.reqid,
        template: { proto: 'esp', mode: e.mode, spi: outSpi, ...(tunnel ? { src: e.local, dst: e.peer } : {}) },
      });
      const rev: Selector = { ...sel, src: sel.dst, dst: sel.src, srcPort: sel.dstPort, dstPort: sel.srcPort };
      out.push({
        selector: rev,
        dir: 'in',
        action: 'allow',
        priority,
        reqid: e.reqid,
        template: { proto: 'esp', mode: e.mode, ...(tunnel ? { src: e.peer, dst: e.local } : {}) },
      });
    }
    return out;
  }

  private async installNew(e: PeerEntry, plan: PairPlan): Promise<void> {
    // All or nothing (installPeer): no half-installed pair, no orphan policy.
    await this.kernel.installPeer({ out: { ...plan.out, reqid: e.reqid }, in: { ...plan.in, reqid: e.reqid }, inViaUpdate: plan.inViaUpdate, policies: this.policies(e, plan.out.spi) });
    this.usePair(e, { inSpi: plan.in.spi, outSpi: plan.out.spi, suite: plan.out.suite });
  }

  /** The pair (inSpi, outSpi) is now the peer's current one, from the start (no pair before). */
  private usePair(e: PeerEntry, pair: Pick<Prepared, 'inSpi' | 'outSpi' | 'suite'>): void {
    e.inSpi = pair.inSpi;
    e.outSpi = pair.outSpi;
    e.suite = pair.suite;
    e.installedAt = this.now();
    e.natPort = undefined;
  }

  /**
   * Make-before-break: the new pair goes in next to the old one.  Inbound,
   * both SAs are accepted (the old one for the grace period).  Outbound, the
   * initiator switches at once (the responder installed its new inbound SA
   * before it answered); the responder switches when the first packet
   * arrives on its new inbound SA, proof that the initiator has its new SAs
   * (or after `switchTimeoutMs`), so no packet is sent under a key the peer
   * does not have yet.
   */
  private async replace(e: PeerEntry, plan: PairPlan): Promise<void> {
    await this.kernel.installPair({ ...plan.out, reqid: e.reqid }, { ...plan.in, reqid: e.reqid }, { inViaUpdate: plan.inViaUpdate });
    await this.adopt(e, { inSpi: plan.in.spi, outSpi: plan.out.spi, suite: plan.out.suite, role: plan.role ?? 'initiator' });
  }

  /** Make the installed pair (inSpi, outSpi) the peer's, make-before-break (see `replace`). */
  private async adopt(e: PeerEntry, pair: Pick<Prepared, 'inSpi' | 'outSpi' | 'suite' | 'role'>): Promise<void> {
    this.retire(e, e.inSpi);
    e.inSpi = pair.inSpi;
    e.suite = pair.suite;
    e.installedAt = this.now();
    e.natPort = undefined;
    if (pair.role === 'responder') this.switchOnFirstPacket(e, pair.outSpi, pair.inSpi);
    else await this.switchOut(e, pair.outSpi);
    this.emit('event', { type: 'peer-sas-replaced', peerKey: e.key, calls: [...e.calls], inSpi: e.inSpi, outSpi: pair.outSpi });
  }

  /** A peer without SAs takes a prepared pair: its policies go in (all or none); the SAs are already there. */
  private async addPolicies(e: PeerEntry, p: Prepared): Promise<void> {
    e.selectors = p.selectors;
    e.mode = p.mode;
    await this.addAllOrNone(this.policies(e, p.outSpi));
    this.usePair(e, p);
  }

  /** Add policies, all or none: a refusal (e.g. another program's policy on a selector) takes back those added. */
  private async addAllOrNone(policies: readonly PolicySpec[]): Promise<void> {
    const added: PolicySpec[] = [];
    try {
      for (const pol of policies) {
        await this.kernel.addPolicy(pol);
        added.push(pol);
      }
    } catch (err) {
      for (const pol of added) await this.kernel.deletePolicy(pol.selector, pol.dir).catch(() => undefined);
      throw err;
    }
  }

  /** Delete a prepared pair that is not (or no longer) to be used. */
  private async deletePair(e: PeerEntry, p: Prepared): Promise<void> {
    await this.kernel.deleteSa({ dst: e.peer, spi: p.outSpi, proto: 'esp' }).catch(() => undefined);
    await this.kernel.deleteSa({ dst: e.local, spi: p.inSpi, proto: 'esp' }).catch(() => undefined);
  }

  /** Point the OUT policies at `spi` and delete the old outbound SA. */
  private async switchOut(e: PeerEntry, spi: number): Promise<void> {
    if (e.pendingOut !== undefined && e.pendingOut !== spi) {
      // A newer exchange overtook a switch still waiting: its outbound SA is not needed.
      await this.kernel.deleteSa({ dst: e.peer, spi: e.pendingOut, proto: 'esp' }).catch(() => undefined);
    }
    e.pendingOut = undefined;
    for (const p of this.policies(e, spi)) if (p.dir === 'out') await this.kernel.updatePolicy(p);
    const oldOut = e.outSpi;
    e.outSpi = spi;
    await this.kernel.deleteSa({ dst: e.peer, spi: oldOut, proto: 'esp' }).catch(() => undefined);
  }

  private switchOnFirstPacket(e: PeerEntry, outSpi: number, inSpi: number): void {
    if (e.pendingOut !== undefined) void this.kernel.deleteSa({ dst: e.peer, spi: e.pendingOut, proto: 'esp' }).catch(() => undefined);
    e.pendingOut = outSpi;
    const deadline = this.now() + (this.opts.switchTimeoutMs ?? 3000);
    const poll = async (): Promise<void> => {
      if (e.pendingOut !== outSpi || e.inSpi !== inSpi) return;
      const used = await this.kernel
        .getSa({ dst: e.local, spi: inSpi, proto: 'esp' })
        .then((sa) => sa.counters.packets > 0n)
        .catch(() => false);
      if (used || this.now() >= deadline) {
        const switched = await this.serial(e, async () => {
          if (e.pendingOut !== outSpi) return false;
          await this.switchOut(e, outSpi);
          return true;
        }).catch(() => false);
        // No request is behind this switch: the event makes the daemon save the new outbound SPI.
        if (switched) this.emit('event', { type: 'peer-out-switched', peerKey: e.key, outSpi });
        return;
      }
      setTimeout(() => void poll(), 20).unref();
    };
    void poll();
  }

  /** Keep a replaced inbound SA for the grace period, then delete it. */
  private retire(e: PeerEntry, spi: number): void {
    e.retiring.add(spi);
    this.changedPeers.add(e.key);
    const grace = setTimeout(() => {
      if (!e.retiring.delete(spi)) return;
      void this.serial(e, () => this.kernel.deleteSa({ dst: e.local, spi, proto: 'esp' })).catch(() => undefined);
    }, this.opts.inboundGraceMs ?? 10_000);
    grace.unref();
  }

  /**
   * Scope `media`: the peer's policies are the union of its live calls'
   * selectors.  A call bringing new media flows adds their policies (same
   * reqid, on the current pair); a call that ended takes away the policies no
   * other live call needs.  A peer without calls (lingering) keeps all of its
   * policies until its SAs go, so a call during the linger finds them; the
   * call that revives it prunes what none of the live calls needs.  New
   * policies go in first and all or none of them (a refusal, e.g. another
   * program's policy on the same selector, takes back those added).
   */
  private async syncSelectors(e: PeerEntry): Promise<void> {
    if (e.inSpi === 0 || e.calls.size === 0) return;
    const want = new Map<string, Selector>();
    for (const id of e.calls) for (const sel of this.calls.get(id)?.selectors ?? e.selectors) want.set(selectorKey(sel), sel);
    const have = new Set(e.selectors.map(selectorKey));
    const add = [...want].filter(([k]) => !have.has(k)).map(([, sel]) => sel);
    const drop = e.selectors.filter((sel) => !want.has(selectorKey(sel)));
    if (add.length === 0 && drop.length === 0) return;
    await this.addAllOrNone(this.policies(e, e.outSpi, add));
    e.selectors = [...want.values()];
    for (const p of this.policies(e, e.outSpi, drop)) await this.kernel.deletePolicy(p.selector, p.dir).catch(() => undefined);
  }

  private async teardown(e: PeerEntry): Promise<void> {
    if (e.inSpi === 0) return;
    for (const p of this.policies(e, e.outSpi)) await this.kernel.deletePolicy(p.selector, p.dir).catch(() => undefined);
    await this.kernel.deleteSa({ dst: e.peer, spi: e.outSpi, proto: 'esp' }).catch(() => undefined);
    await this.kernel.deleteSa({ dst: e.local, spi: e.inSpi, proto: 'esp' }).catch(() => undefined);
    for (const spi of e.retiring) await this.kernel.deleteSa({ dst: e.local, spi, proto: 'esp' }).catch(() => undefined);
    e.retiring.clear();
    if (e.pendingOut !== undefined) await this.kernel.deleteSa({ dst: e.peer, spi: e.pendingOut, proto: 'esp' }).catch(() => undefined);
    e.pendingOut = undefined;
    e.inSpi = 0;
    e.outSpi = 0;
  }

  /**
   * Every change of a peer's SAs runs here, one at a time per peer.  Each
   * marks the peer changed (for the state journal) when it is queued and
   * again when it has run: a save made while it waited or ran takes the first
   * mark, and the change itself must reach the next save.
   */
  private serial<T>(e: PeerEntry, op: () => Promise<T>): Promise<T> {
    this.changedPeers.add(e.key);
    const run = e.chain.then(op, op).finally(() => this.changedPeers.add(e.key));
    e.chain = run.catch(() => undefined);
    return run;
  }

  private startLinger(e: PeerEntry): void {
    this.stopLinger(e);
    if (this.preparedOn(e)) return; // a ringing call will use or give back its pair first
    e.lingerUntil = this.now() + this.opts.lingerMs;
    e.lingerTimer = setTimeout(() => {
      if (e.calls.size === 0) void this.remove(e.key, 'linger').catch(() => undefined);
    }, this.opts.lingerMs);
    e.lingerTimer.unref();
  }

  private stopLinger(e: PeerEntry): void {
    if (e.lingerTimer) clearTimeout(e.lingerTimer);
    e.lingerTimer = undefined;
    e.lingerUntil = undefined;
  }

  private forget(e: PeerEntry): void {
    this.changedPeers.add(e.key);
    this.stopLinger(e);
    if (this.peers.get(e.key) !== e) return; // forgotten already: its reqid went back then
    this.peers.delete(e.key);
    this.reqids.give(e.reqid);
  }

  private snapshotPeer(e: PeerEntry): PeerSnapshot {
    return {
      key: e.key,
      local: e.local,
      peer: e.peer,
      reqid: e.reqid,
      inSpi: e.inSpi,
      outSpi: e.outSpi,
      suite: e.suite,
      calls: [...e.calls],
      ...(e.lingerUntil !== undefined ? { lingerUntil: e.lingerUntil } : {}),
      installedAt: e.installedAt,
      selectors: e.selectors.map((s) => ({ ...s })),
    };
  }
}
