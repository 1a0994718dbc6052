/**
 * KernelIpsec over XFRM netlink.  `openXfrmBackend({ netns })` opens the
 * request socket (and, on the first `events()` call, the event socket) inside
 * the given network namespace; one process can drive several namespaces.
 */
import { suiteByName } from '../algorithms.js';
import { KernelError, algorithmFailure, batchFailure } from '../errors.js';
import type {
  AllocSpiRequest,
  KernelEvent,
  KernelIpsec,
  PeerInstall,
  PolicyDir,
  PolicyInfo,
  PolicySpec,
  SaId,
  SaInfo,
  SaSpec,
  Selector,
  XfrmMark,
} from '../types.js';
import {
  decodeEvent,
  decodePolicyMessage,
  decodeSaMessage,
  encodeAllocSpi,
  encodeDelPolicy,
  encodeDelSa,
  encodeDumpPolicy,
  encodeDumpSa,
  encodeGetSa,
  encodeNewPolicy,
  encodeNewSa,
} from './messages.js';
import { EventSocket, RequestSocket, type BatchPart } from './socket.js';
import { XFRM_MSG } from './structs.js';

export interface XfrmBackendOptions {
  /** Network namespace name (/run/netns/<name>) or path; default: the caller's. */
  netns?: string;
}

export class EventQueue implements AsyncIterableIterator<KernelEvent> {
  private readonly items: KernelEvent[] = [];
  private waiter: ((r: IteratorResult<KernelEvent>) => void) | undefined;
  private done = false;
  constructor(private readonly onReturn: (q: EventQueue) => void) {}

  push(e: KernelEvent): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: e, done: false });
    } else this.items.push(e);
  }

  end(): void {
    this.done = true;
    this.waiter?.({ value: undefined, done: true });
    this.waiter = undefined;
  }

  next(): Promise<IteratorResult<KernelEvent>> {
    const e = this.items.shift();
    if (e) return Promise.resolve({ value: e, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  return(): Promise<IteratorResult<KernelEvent>> {
    this.end();
    this.onReturn(this);
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<KernelEvent> {
    return this;
  }
}

/**
 * Algorithm sets (suite, address family, mode, UDP encapsulation) the kernel
 * has instantiated for an SA of this process: their modules are loaded and
 * crypto templates self-tested, kernel-wide, so later SAs of the set are fast.
 */
const warmSets = new Set<string>();
const algorithmSet = (s: SaSpec): string => `${s.suite} ${s.dst.includes(':') ? 6 : 4} ${s.mode}${s.encap ? ' udp' : ''}`;

export class XfrmBackend implements KernelIpsec {
  private readonly req: RequestSocket;
  private evSock: EventSocket | undefined;
  private readonly queues = new Set<EventQueue>();

  constructor(private readonly opts: XfrmBackendOptions = {}) {
    this.req = new RequestSocket(opts.netns);
  }

  async allocSpi(r: AllocSpiRequest): Promise<number> {
    let spi = 0;
    await this.req.request('ALLOCSPI', (seq, b) => encodeAllocSpi(r, seq, b), (m) => {
      if (m.type === XFRM_MSG.NEWSA) spi = decodeSaMessage(m, false).id.spi;
    });
    if (!spi) throw new KernelError(71, 'ALLOCSPI', 'no SA in the reply');
    return spi;
  }

  async addSa(spec: SaSpec): Promise<void> {
    await this.installSa('NEWSA', spec, false);
  }

  async updateSa(spec: SaSpec): Promise<void> {
    try {
      await this.installSa('UPDSA', spec, true);
    } catch (e) {
      // The ALLOCSPI placeholder expired (xfrm_acq_expires): install afresh.
      if (e instanceof KernelError && e.code === 'ESRCH') return this.addSa(spec);
      throw e;
    }
  }

  /** NEWSA / UPDSA: from the worker thread while the SA's algorithm set is cold (see RequestSocket). */
  /** A refusal naming the suite when the kernel lacks one of its algorithms (KernelAlgorithmError). */
  private async installSa(op: string, spec: SaSpec, update: boolean): Promise<void> {
    const set = algorithmSet(spec);
    try {
      await this.req.request(op, (seq, b) => encodeNewSa(spec, seq, update, b), undefined, !warmSets.has(set));
    } catch (e) {
      throw algorithmFailure(e, suiteByName(spec.suite));
    }
    warmSets.add(set);
  }

  async deleteSa(id: SaId): Promise<void> {
    await this.req.request('DELSA', (seq, b) => encodeDelSa(id, seq, b));
  }

  async getSa(id: SaId, opts: { withKeys?: boolean } = {}): Promise<SaInfo> {
    let out: SaInfo | undefined;
    await this.req.request('GETSA', (seq, b) => encodeGetSa(id, seq, b), (m) => {
      if (m.type === XFRM_MSG.NEWSA) out = decodeSaMessage(m, opts.withKeys === true);
    });
    if (!out) throw new KernelError(3, 'GETSA', 'no SA in the reply');
    return out;
  }

  async listSas(): Promise<SaInfo[]> {
    const out: SaInfo[] = [];
    await this.req.dump('GETSA dump', encodeDumpSa, (m) => {
      if (m.type === XFRM_MSG.NEWSA) out.push(decodeSaMessage(m, false));
    });
    return out;
  }

  async addPolicy(spec: PolicySpec): Promise<void> {
    await this.req.request('NEWPOLICY', (seq, b) => encodeNewPolicy(spec, seq, false, b));
  }

  async updatePolicy(spec: PolicySpec): Promise<void> {
    await this.req.request('UPDPOLICY', (seq, b) => encodeNewPolicy(spec, seq, true, b));
  }

  async deletePolicy(selector: Selector, dir: PolicyDir, mark?: XfrmMark): Promise<void> {
    await this.req.request('DELPOLICY', (seq, b) => encodeDelPolicy(selector, dir, mark, seq, b));
  }

  async listPolicies(): Promise<PolicyInfo[]> {
    const out: PolicyInfo[] = [];
    await this.req.dump('GETPOLICY dump', encodeDumpPolicy, (m) => {
      if (m.type === XFRM_MSG.NEWPOLICY) out.push(decodePolicyMessage(m));
    });
    return out;
  }

  async installPair(out: SaSpec, inb: SaSpec, opts: { inViaUpdate?: boolean } = {}): Promise<void> {
    if (opts.inViaUpdate) {
      try {
        await this.updateSa(inb);
      } catch (e) {
        // Nor a reserved SPI (the ALLOCSPI placeholder) behind a refused inbound SA.
        await this.deleteSa({ dst: inb.dst, spi: inb.spi, proto: inb.proto, ...(inb.mark ? { mark: inb.mark } : {}) }).catch(() => undefined);
        throw e;
      }
    } else await this.addSa(inb);
    try {
      await this.addSa(out);
    } catch (e) {
      await this.deleteSa({ dst: inb.dst, spi: inb.spi, proto: inb.proto, ...(inb.mark ? { mark: inb.mark } : {}) }).catch(() => undefined);
      throw e;
    }
  }

  /**
   * One datagram: UPDSA/NEWSA (in), NEWSA (out), NEWPOLICY each, every one
   * ACKed (RequestSocket.batch).  Refusals are undone with one more datagram
   * of DELSA/DELPOLICY for the parts that went in (and the inbound SA when its
   * SPI was reserved: the reservation is ours).  An expired reservation (ESRCH)
   * is completed with NEWSA, as updateSa does.
   */
  async installPeer(set: PeerInstall): Promise<void> {
    const { out, in: inb, policies } = set;
    const update = set.inViaUpdate === true;
    const parts: BatchPart[] = [
      { op: update ? 'UPDSA' : 'NEWSA', build: (seq, b) => encodeNewSa(inb, seq, update, b) },
      { op: 'NEWSA', build: (seq, b) => encodeNewSa(out, seq, false, b) },
      ...policies.map((p): BatchPart => ({ op: 'NEWPOLICY', build: (seq, b) => encodeNewPolicy(p, seq, false, b) })),
    ];
    const cold = !warmSets.has(algorithmSet(inb)) || !warmSets.has(algorithmSet(out));
    const saId = (s: SaSpec): SaId => ({ dst: s.dst, spi: s.spi, proto: s.proto, ...(s.mark ? { mark: s.mark } : {}) });
    let refused: (KernelError | undefined)[];
    try {
      refused = await this.req.batch(parts, cold);
    } catch (e) {
      // No answer for every part (timeout, overrun): which went in is unknown, so undo all of them.
      const all: BatchPart[] = [
        ...policies.map((p): BatchPart => ({ op: 'DELPOLICY', build: (seq, b) => encodeDelPolicy(p.selector, p.dir, p.mark, seq, b) })),
        { op: 'DELSA', build: (seq, b) => encodeDelSa(saId(out), seq, b) },
        { op: 'DELSA', build: (seq, b) => encodeDelSa(saId(inb), seq, b) },
      ];
      await this.req.batch(all).catch(() => undefined);
      throw e;
    }
    const failures: (unknown | undefined)[] = refused.map((e, i) => (e && i < 2 ? algorithmFailure(e, suiteByName((i === 0 ? inb : out).suite)) : e));
    if (update && refused[0]?.code === 'ESRCH' && failures.every((f, i) => i === 0 || !f)) {
      failures[0] = await this.addSa(inb).then(
        () => undefined,
        (e: unknown) => e,
      );
    }
    if (!failures[0]) warmSets.add(algorithmSet(inb));
    if (!failures[1]) warmSets.add(algorithmSet(out));
    if (failures.every((f) => !f)) return;
    const undo: BatchPart[] = [];
    policies.forEach((p, i) => {
      if (!failures[i + 2]) undo.push({ op: 'DELPOLICY', build: (seq, b) => encodeDelPolicy(p.selector, p.dir, p.mark, seq, b) });
    });
    if (!failures[1]) undo.push({ op: 'DELSA', build: (seq, b) => encodeDelSa(saId(out), seq, b) });
    if (!failures[0] || update) undo.push({ op: 'DELSA', build: (seq, b) => encodeDelSa(saId(inb), seq, b) });
    if (undo.length) await this.req.batch(undo).catch(() => undefined);
    const errs = failures.filter((f): f is unknown => f !== undefined);
    throw errs.every((f) => f instanceof KernelError) ? batchFailure(errs as KernelError[]) : errs[0];
  }

  async flushOwned(): Promise<{ sas: number; policies: number }> {
    let policies = 0;
    for (const p of await this.listPolicies()) {
      if (!p.owned) continue;
      await this.deletePolicy(p.selector, p.dir, p.mark);
      policies++;
    }
    let sas = 0;
    for (const s of await this.listSas()) {
      if (!s.owned) continue;
      await this.deleteSa(s.id);
      sas++;
    }
    return { sas, policies };
  }

  events(): AsyncIterableIterator<KernelEvent> {
    if (!this.evSock) {
      this.evSock = new EventSocket(this.opts.netns);
      this.evSock.start(
        (m) => {
          const e = decodeEvent(m);
          if (e) for (const q of this.queues) q.push(e);
        },
        // Events lost (ENOBUFS) or unreadable: the consumers re-read the kernel state.
        () => {
          for (const q of this.queues) q.push({ type: 'resync' });
        },
      );
    }
    const q = new EventQueue((x) => this.queues.delete(x));
    this.queues.add(q);
    return q;
  }

  async close(): Promise<void> {
    for (const q of this.queues) q.end();
    this.queues.clear();
    await this.req.close();
    await this.evSock?.close();
    this.evSock = undefined;
  }
}

export function openXfrmBackend(opts: XfrmBackendOptions = {}): XfrmBackend {
  return new XfrmBackend(opts);
}
