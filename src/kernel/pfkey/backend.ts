/**
 * KernelIpsec over PF_KEY v2 (RFC 2367, Linux af_key).  `openPfkeyBackend({ netns })`
 * opens the request socket (and, on the first `events()` call, a registered
 * event socket) inside the given network namespace.  Selected by
 * `kernel.backend: pfkey`; XFRM stays the default because PF_KEY cannot do
 * AES-GCM or RFC 4868 hmac(sha256), marks, SPI-pinned templates or replay
 * windows above 32, tags ownership in a 1024-reqid sub-range, and broadcasts
 * every SA with its keys to every PF_KEY socket on the host (see ./messages.ts).
 *
 * The registered event socket is opened with the backend, not on the first
 * `events()`: its SADB_REGISTER makes Linux probe every algorithm
 * (xfrm_probe_algs, request_module for each missing one: 25 s in the UML lab)
 * while holding xfrm_cfg_mutex, which every other PF_KEY request then waits
 * for; paying it at open keeps that delay away from the first SA whose expire
 * someone is waiting for.  Events before the first `events()` are dropped.
 */
import { suiteByName } from '../algorithms.js';
import { KernelError, algorithmFailure } from '../errors.js';
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
import { EventQueue } from '../xfrm/backend.js';
import {
  decodeAcquire,
  decodeExpire,
  decodePolicyMessage,
  decodeSaMessage,
  decodeSpi,
  encodeAddSa,
  encodeBare,
  encodeGetSpi,
  encodeSaId,
  encodeSpdAdd,
  encodeSpdById,
  encodeSpdDelete,
} from './messages.js';
import { PfkeyEventSocket, PfkeyRequestSocket } from './socket.js';
import { SADB, type ParsedMessage } from './structs.js';

export interface PfkeyBackendOptions {
  /** Network namespace name (/run/netns/<name>) or path; default: the caller's. */
  netns?: string;
}

export class PfkeyBackend implements KernelIpsec {
  private readonly req: PfkeyRequestSocket;
  private readonly evSock: PfkeyEventSocket;
  private readonly queues = new Set<EventQueue>();
  private closed = false;

  constructor(opts: PfkeyBackendOptions = {}) {
    this.req = new PfkeyRequestSocket(opts.netns);
    try {
      this.evSock = new PfkeyEventSocket(opts.netns, (h) => encodeBare(SADB.REGISTER, h));
    } catch (e) {
      void this.req.close();
      throw e;
    }
    const resync = (): void => this.push({ type: 'resync' });
    this.evSock.start((m) => void this.onEvent(m).catch(resync), resync);
  }

  private push(e: KernelEvent): void {
    for (const q of this.queues) q.push(e);
  }

  private async onEvent(m: ParsedMessage): Promise<void> {
    if (m.type === SADB.EXPIRE) return this.push(decodeExpire(m));
    const a = decodeAcquire(m);
    this.push(await this.completeAcquire(a.policyIndex, a.event));
  }

  async allocSpi(r: AllocSpiRequest): Promise<number> {
    let spi = 0;
    await this.req.request('SADB_GETSPI', (h) => encodeGetSpi(r, h), (m) => (spi = decodeSpi(m)));
    if (!spi) throw new KernelError(71, 'SADB_GETSPI', 'no SA in the reply');
    return spi;
  }

  /** A refusal naming the suite when the kernel lacks one of its algorithms (KernelAlgorithmError). */
  async addSa(spec: SaSpec): Promise<void> {
    try {
      await this.req.request('SADB_ADD', (h) => encodeAddSa(spec, h));
    } catch (e) {
      throw algorithmFailure(e, suiteByName(spec.suite));
    }
  }

  async updateSa(spec: SaSpec): Promise<void> {
    try {
      await this.req.request('SADB_UPDATE', (h) => encodeAddSa(spec, h, true));
    } catch (e) {
      // The GETSPI placeholder expired (xfrm_acq_expires): install afresh.
      if (e instanceof KernelError && e.code === 'ESRCH') return this.addSa(spec);
      throw algorithmFailure(e, suiteByName(spec.suite));
    }
  }

  async deleteSa(id: SaId): Promise<void> {
    await this.req.request('SADB_DELETE', (h) => encodeSaId(SADB.DELETE, id, h));
  }

  async getSa(id: SaId, opts: { withKeys?: boolean } = {}): Promise<SaInfo> {
    let out: SaInfo | undefined;
    await this.req.request('SADB_GET', (h) => encodeSaId(SADB.GET, id, h), (m) => (out = decodeSaMessage(m, opts.withKeys === true)));
    if (!out) throw new KernelError(3, 'SADB_GET', 'no SA in the reply');
    return out;
  }

  async listSas(): Promise<SaInfo[]> {
    const out: SaInfo[] = [];
    await this.req.dump('SADB_DUMP', SADB.DUMP, (h) => encodeBare(SADB.DUMP, h), (m) => out.push(decodeSaMessage(m, false)));
    return out;
  }

  async addPolicy(spec: PolicySpec): Promise<void> {
    await this.req.request('SADB_X_SPDADD', (h) => encodeSpdAdd(spec, h));
  }

  async updatePolicy(spec: PolicySpec): Promise<void> {
    await this.req.request('SADB_X_SPDUPDATE', (h) => encodeSpdAdd(spec, h, true));
  }

  async deletePolicy(selector: Selector, dir: PolicyDir, mark?: XfrmMark): Promise<void> {
    await this.req.request('SADB_X_SPDDELETE', (h) => encodeSpdDelete(selector, dir, mark, h));
  }

  async listPolicies(): Promise<PolicyInfo[]> {
    const out: PolicyInfo[] = [];
    await this.req.dump('SADB_X_SPDDUMP', SADB.X_SPDDUMP, (h) => encodeBare(SADB.X_SPDDUMP, h), (m) => out.push(decodePolicyMessage(m)));
    return out;
  }

  async installPair(out: SaSpec, inb: SaSpec, opts: { inViaUpdate?: boolean } = {}): Promise<void> {
    if (opts.inViaUpdate) {
      try {
        await this.updateSa(inb);
      } catch (e) {
        // Nor a reserved SPI (the ALLOCSPI placeholder) behind a refused inbound SA.
        await this.deleteSa({ dst: inb.dst, spi: inb.spi, proto: inb.proto }).catch(() => undefined);
        throw e;
      }
    } else await this.addSa(inb);
    try {
      await this.addSa(out);
    } catch (e) {
      await this.deleteSa({ dst: inb.dst, spi: inb.spi, proto: inb.proto }).catch(() => undefined);
      throw e;
    }
  }

  /** PF_KEY has no batches: the pair, then each policy; a refused policy takes back the ones before it and the pair. */
  async installPeer(set: PeerInstall): Promise<void> {
    await this.installPair(set.out, set.in, { inViaUpdate: set.inViaUpdate === true });
    const added: PolicySpec[] = [];
    try {
      for (const p of set.policies) {
        await this.addPolicy(p);
        added.push(p);
      }
    } catch (e) {
      for (const p of added) await this.deletePolicy(p.selector, p.dir, p.mark).catch(() => undefined);
      for (const s of [set.out, set.in]) await this.deleteSa({ dst: s.dst, spi: s.spi, proto: s.proto, ...(s.mark ? { mark: s.mark } : {}) }).catch(() => undefined);
      throw e;
    }
  }

  /** Deletes our policies by index (SADB_X_SPDDELETE2) and our SAs; never SADB_FLUSH. */
  async flushOwned(): Promise<{ sas: number; policies: number }> {
    let policies = 0;
    for (const p of await this.listPolicies()) {
      if (!p.owned) continue;
      await this.req.request('SADB_X_SPDDELETE2', (h) => encodeSpdById(SADB.X_SPDDELETE2, p.index, h));
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

  /** The owning reqid of an ACQUIRE comes from its policy (SADB_X_SPDGET by index). */
  private async completeAcquire(policyIndex: number, e: Extract<KernelEvent, { type: 'acquire' }>): Promise<KernelEvent> {
    try {
      await this.req.request('SADB_X_SPDGET', (h) => encodeSpdById(SADB.X_SPDGET, policyIndex, h), (m) => {
        const p = decodePolicyMessage(m);
        e.reqid = p.templates[0]?.reqid ?? 0;
        e.owned = p.owned;
      });
    } catch {
      // The policy went away meanwhile: report the acquire as not ours.
    }
    return e;
  }

  events(): AsyncIterableIterator<KernelEvent> {
    const q = new EventQueue((x) => this.queues.delete(x));
    if (this.closed) q.end();
    else this.queues.add(q);
    return q;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const q of this.queues) q.end();
    this.queues.clear();
    await this.evSock.close();
    await this.req.close();
  }
}

export function openPfkeyBackend(opts: PfkeyBackendOptions = {}): PfkeyBackend {
  return new PfkeyBackend(opts);
}
