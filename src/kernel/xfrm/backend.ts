/**
 * KernelIpsec over XFRM netlink.  `openXfrmBackend({ netns })` opens the
 * request socket (and, on the first `events()` call, the event socket) inside
 * the given network namespace; one process can drive several namespaces.
 */
import { KernelError } from '../errors.js';
import type {
  AllocSpiRequest,
  KernelEvent,
  KernelIpsec,
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
import { EventSocket, RequestSocket } from './socket.js';
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

export class XfrmBackend implements KernelIpsec {
  private readonly req: RequestSocket;
  private evSock: EventSocket | undefined;
  private readonly queues = new Set<EventQueue>();

  constructor(private readonly opts: XfrmBackendOptions = {}) {
    this.req = new RequestSocket(opts.netns);
  }

  async allocSpi(r: AllocSpiRequest): Promise<number> {
    let spi = 0;
    this.req.request('ALLOCSPI', (seq) => encodeAllocSpi(r, seq), (m) => {
      if (m.type === XFRM_MSG.NEWSA) spi = decodeSaMessage(m, false).id.spi;
    });
    if (!spi) throw new KernelError(71, 'ALLOCSPI', 'no SA in the reply');
    return spi;
  }

  async addSa(spec: SaSpec): Promise<void> {
    this.req.request('NEWSA', (seq) => encodeNewSa(spec, seq));
  }

  async updateSa(spec: SaSpec): Promise<void> {
    try {
      this.req.request('UPDSA', (seq) => encodeNewSa(spec, seq, true));
    } catch (e) {
      // The ALLOCSPI placeholder expired (xfrm_acq_expires): install afresh.
      if (e instanceof KernelError && e.code === 'ESRCH') return this.addSa(spec);
      throw e;
    }
  }

  async deleteSa(id: SaId): Promise<void> {
    this.req.request('DELSA', (seq) => encodeDelSa(id, seq));
  }

  async getSa(id: SaId, opts: { withKeys?: boolean } = {}): Promise<SaInfo> {
    let out: SaInfo | undefined;
    this.req.request('GETSA', (seq) => encodeGetSa(id, seq), (m) => {
      if (m.type === XFRM_MSG.NEWSA) out = decodeSaMessage(m, opts.withKeys === true);
    });
    if (!out) throw new KernelError(3, 'GETSA', 'no SA in the reply');
    return out;
  }

  async listSas(): Promise<SaInfo[]> {
    const out: SaInfo[] = [];
    this.req.dump('GETSA dump', encodeDumpSa, (m) => {
      if (m.type === XFRM_MSG.NEWSA) out.push(decodeSaMessage(m, false));
    });
    return out;
  }

  async addPolicy(spec: PolicySpec): Promise<void> {
    this.req.request('NEWPOLICY', (seq) => encodeNewPolicy(spec, seq));
  }

  async updatePolicy(spec: PolicySpec): Promise<void> {
    this.req.request('UPDPOLICY', (seq) => encodeNewPolicy(spec, seq, true));
  }

  async deletePolicy(selector: Selector, dir: PolicyDir, mark?: XfrmMark): Promise<void> {
    this.req.request('DELPOLICY', (seq) => encodeDelPolicy(selector, dir, mark, seq));
  }

  async listPolicies(): Promise<PolicyInfo[]> {
    const out: PolicyInfo[] = [];
    this.req.dump('GETPOLICY dump', encodeDumpPolicy, (m) => {
      if (m.type === XFRM_MSG.NEWPOLICY) out.push(decodePolicyMessage(m));
    });
    return out;
  }

  async installPair(out: SaSpec, inb: SaSpec, opts: { inViaUpdate?: boolean } = {}): Promise<void> {
    if (opts.inViaUpdate) await this.updateSa(inb);
    else await this.addSa(inb);
    try {
      await this.addSa(out);
    } catch (e) {
      await this.deleteSa({ dst: inb.dst, spi: inb.spi, proto: inb.proto, ...(inb.mark ? { mark: inb.mark } : {}) }).catch(() => undefined);
      throw e;
    }
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
        () => {
          for (const q of this.queues) q.push({ type: 'resync' });
        },
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
    this.req.close();
    await this.evSock?.close();
    this.evSock = undefined;
  }
}

export function openXfrmBackend(opts: XfrmBackendOptions = {}): XfrmBackend {
  return new XfrmBackend(opts);
}
