/**
 * sipsecd's start-up and run loop: open the kernel backend, take back the
 * state of the previous run (calls and their SAs go on across a restart),
 * listen on the control socket, drop every capability but CAP_NET_ADMIN, and
 * turn kernel events into UA events (soft expire: rekey needed; hard expire:
 * SAs gone).
 */
import { randomBytes } from 'node:crypto';
import { openPfkeyBackend } from '../kernel/pfkey/backend.js';
import { openXfrmBackend } from '../kernel/xfrm/backend.js';
import { suiteByName, type SuiteName } from '../kernel/algorithms.js';
import { ownedReqid, type KernelEvent, type KernelIpsec } from '../kernel/types.js';
import { UdpEncapSocket } from '../kernel/udp-encap.js';
import { ReplayCache, type ReplayRecord } from '../mikey/replay.js';
import { authorizeCaller } from './authz.js';
import type { SipsecConfig } from './config.js';
import type { Logger } from './log.js';
import { NatKeepalives } from './nat.js';
import { PhaseStats } from './phases.js';
import { dropPrivileges } from './privileges.js';
import { PeerRegistry, type RegistryEvent } from './registry.js';
import { startServer, type SipsecServer } from './server.js';
import { SipsecService } from './service.js';
import { formatSpi } from './protocol.js';
import { StateStore, type PersistedState, type StateRecord } from './state.js';


export interface DaemonOptions {
  config: SipsecConfig;
  log: Logger;
  version: string;
  /** Run the kernel side in this network namespace (the lab's simulated hosts). */
  netns?: string;
  /** Drop capabilities after start-up (default true; off only for tests that run unprivileged). */
  dropPrivileges?: boolean;
  /** Time every request's phases for `stats` (phases.ts); off by default. */
  phases?: boolean;
}

export interface Daemon {
  readonly server: SipsecServer;
  readonly service: SipsecService;
  readonly registry: PeerRegistry;
  close(): Promise<void>;
}

/** XFRM is the default; PF_KEY (RFC 2367) for compatibility, with its Linux limits (README). */
function openKernel(config: SipsecConfig, netns: string | undefined): KernelIpsec {
  const opts = netns ? { netns } : {};
  return config.kernel.backend === 'pfkey' ? openPfkeyBackend(opts) : openXfrmBackend(opts);
}

/**
 * The ESP-in-UDP socket (port `nat.port`, UDP_ENCAP) in the SAs' namespace,
 * and the keepalives sent from it.  Without it (nat.traversal off, or the
 * port taken, e.g. by an IKE daemon) we neither offer nor accept NAT-T.
 */
function openNat(config: SipsecConfig, netns: string | undefined, log: Logger): { port: number; socket: UdpEncapSocket; keepalives: NatKeepalives } | undefined {
  if (config.nat.traversal === 'off') return undefined;
  let socket: UdpEncapSocket;
  try {
    socket = UdpEncapSocket.open(config.nat.port, netns);
  } catch (e) {
    log.error('NAT traversal off: cannot open the ESP-in-UDP socket', { port: config.nat.port, error: e });
    return undefined;
  }
  return { port: config.nat.port, socket, keepalives: new NatKeepalives(socket, config.nat.keepaliveSeconds * 1000, log) };
}

/**
 * The first SA of a cipher suite makes the kernel load its modules and run
 * its crypto self-tests (seconds in the lab, and the syscall blocks): pay that
 * at start-up, with one throw-away SA of the suite we offer (the first
 * preference) between two documentation addresses (RFC 5737), not on a
 * caller's first call.
 */
async function warmUp(kernel: KernelIpsec, suites: readonly SuiteName[], log: Logger): Promise<void> {
  for (const [i, name] of suites.entries()) {
    const suite = suiteByName(name);
    const id = { dst: '192.0.2.2', spi: 0x5eed0000 + i, proto: 'esp' as const };
    const keys = { encKey: randomBytes(suite.encKeyBytes), ...(suite.authKeyBytes ? { authKey: randomBytes(suite.authKeyBytes) } : {}) };
    const t0 = Date.now();
    try {
      await kernel.addSa({ ...id, src: '192.0.2.1', mode: 'transport', reqid: ownedReqid(0), suite: name, keys });
      await kernel.deleteSa(id);
      log.debug('suite warmed up', { suite: name, ms: Date.now() - t0 });
    } catch (e) {
      log.warn('cannot install an SA of a configured suite', { suite: name, error: e });
    } finally {
      keys.encKey.fill(0);
      keys.authKey?.fill(0);
    }
  }
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { config, log } = opts;
  const kernel = openKernel(config, opts.netns);
  await warmUp(kernel, config.algorithms.suites.slice(0, 1), log);
  const store = new StateStore(config.stateDir);
  const saved = store.load();
  const skewWindowMs = config.replay.clockSkew * 1000;
  /** Replay-cache commits not yet in the journal. */
  let replayCommits: ReplayRecord[] = [];
  const onCommit = (r: ReplayRecord) => void replayCommits.push(r);
  let replay: ReplayCache;
  if (saved?.replay !== undefined) {
    replay = ReplayCache.restore(String(saved.replay), { skewWindowMs, onCommit }, saved.replayAfter);
  } else {
    // A state file without a replay cache (or an unreadable one) means the cache was lost:
    // refuse every offer for one skew interval (RFC 3830 §5.4).  A first start has no file.
    replay = new ReplayCache({ skewWindowMs, onCommit, coldStart: store.lastError !== undefined });
  }
  if (store.lastError) log.warn('previous state unreadable: replay cache cold for one skew interval', { error: store.lastError });

  const registry = new PeerRegistry(kernel, { lingerMs: config.linger * 1000 });
  if (saved) {
    const r = await registry.restore(saved, await kernel.listSas());
    log.info('state restored', { peers: r.peers, calls: saved.calls.length, orphanSasRemoved: r.orphans });
  }
  const snapshot = (): PersistedState => {
    replayCommits = [];
    return { version: 1, savedAt: Date.now(), ...registry.exportState(), replay: replay.serialize() };
  };
  /** Make every change so far durable (a journal append, or now and then a snapshot) before anyone is answered. */
  const save = () => {
    const records: StateRecord[] = registry.takeChanges();
    for (const v of replayCommits) records.push({ t: 'replay', v });
    replayCommits = [];
    if (!store.commit(records, snapshot)) log.error('cannot save state; serving on', { error: store.lastError });
  };
  // A new generation from the start: the restored state, with orphans gone, as one snapshot.
  if (!store.save(snapshot())) log.error('cannot save state; serving on', { error: store.lastError });
  // The server exists only once the service's handlers are known; events wait for it.
  let server: SipsecServer | undefined;
  const toOwners = (calls: readonly string[]) => (s: { caller: { uid: number }; admin: boolean }) =>
    s.admin || calls.some((c) => service.owners.owner(c) === s.caller.uid);
  const rekeyNeeded = (calls: readonly string[], spi: number) => {
    for (const callId of calls) server?.publish('rekey-needed', { callId, spi: formatSpi(spi) }, toOwners([callId]));
  };
  const stateError = () => store.lastError;
  const nat = openNat(config, opts.netns, log);
  const service = new SipsecService({ config, kernel, registry, replay, log, save, stateError, rekeyNeeded, ...(nat ? { nat } : {}), version: opts.version });
  server = await startServer({
    path: config.socket.path,
    mode: config.socket.mode,
    ...(config.socket.gid !== undefined ? { group: config.socket.gid } : {}),
    handlers: service.handlers(),
    authorize: (c) => authorizeCaller(config.access, c),
    limits: { maxConnections: config.socket.maxConnections },
    log,
    phases: new PhaseStats(opts.phases ?? false),
  });
  if (opts.dropPrivileges !== false) {
    const caps = dropPrivileges(config.runAs ? { runAs: config.runAs } : {});
    log.info('privileges dropped', { effective: '0x' + caps.effective.toString(16) });
  }

  const srv = server;
  /** Per peer: the address:port a NAT moved it to, for which a rekey was asked. */
  const movedTo = new Map<string, string>();
  registry.on('event', (e: RegistryEvent) => {
    if (e.type === 'peer-removed') {
      nat?.keepalives.untrack(e.peerKey);
      movedTo.delete(e.peerKey);
    }
    if (e.type === 'peer-nat-rebound') {
      nat?.keepalives.retarget(e.peerKey, e.port);
      for (const callId of e.calls) srv.publish('nat-rebound', { callId, peerAddress: e.peer, port: e.port }, toOwners([callId]));
    }
    if (e.type === 'peer-sas-replaced') {
      for (const callId of e.calls) srv.publish('peer-sas-replaced', { callId, peerUri: service.calls.get(callId)?.peerUri ?? '' }, toOwners([callId]));
    }
    save();
  });

  const onKernel = async (ev: KernelEvent) => {
    if (ev.type === 'resync') {
      const gone = await registry.resync(await kernel.listSas());
      log.warn('kernel events lost (ENOBUFS): resynchronised by dump', { peersGone: gone.length });
      for (const g of gone) for (const callId of g.calls) srv.publish('sa-expired', { callId, spi: 'unknown' }, toOwners([callId]));
      return;
    }
    if (ev.type === 'mapping') return onMapping(ev);
    if (ev.type !== 'expire' || !ev.owned) return;
    const sa = registry.saOf(ev.sa.dst, ev.sa.spi);
    if (!sa) return;
    const spi = formatSpi(ev.sa.spi);
    // An SA on its way out (retiring, or an outbound SA not switched to yet) is replaced already.
    if (sa.role === 'switching') return log.info('expiry of an SA being replaced: nothing to do', { peer: sa.peerKey, spi, hard: ev.hard });
    if (sa.role === 'prepared') {
      // A call ringing that long: its pair is unusable, the call ends (the peer's live pair is not touched).
      if (!ev.hard) return;
      const owner = service.owners.owner(sa.callId); // dropping the call forgets it
      await service.calls.drop(sa.callId);
      srv.publish('sa-expired', { callId: sa.callId, spi }, (s) => s.admin || s.caller.uid === owner);
      return log.warn('hard expiry of a prepared SA: the ringing call ends', { peer: sa.peerKey, callId: sa.callId, spi });
    }
    const key = sa.peerKey;
    const calls = registry.peerSnapshots().find((p) => p.key === key)?.calls ?? [];
    if (!ev.hard) {
      rekeyNeeded(calls, ev.sa.spi);
      log.info('soft expiry: rekey needed', { peer: key, spi });
      return;
    }
    await registry.remove(key, 'expired');
    for (const callId of calls) srv.publish('sa-expired', { callId, spi }, toOwners([callId]));
    log.warn('hard expiry without rekey: SAs removed', { peer: key, spi });
  };
  // docs/PROFILE.md §10: the kernel reports every ESP-in-UDP packet that comes from another address
  // or port than its SA's, until the SA is updated.  A new port: update both SAs in place.  A new
  // address changes the selectors too: that is a move, done by a new exchange (a rekey), asked once.
  const onMapping = async (ev: Extract<KernelEvent, { type: 'mapping' }>) => {
    const key = ev.owned ? registry.peerOfSa(ev.sa.dst, ev.sa.spi) : undefined;
    if (!key) return;
    if (ev.newSrc !== ev.oldSrc) {
      if (movedTo.get(key) === `${ev.newSrc}:${ev.newPort}`) return;
      movedTo.set(key, `${ev.newSrc}:${ev.newPort}`);
      const calls = registry.peerSnapshots().find((p) => p.key === key)?.calls ?? [];
      rekeyNeeded(calls, ev.sa.spi);
      log.warn('NAT mapping moved to a new address: rekey needed', { peer: key, from: ev.oldSrc, to: ev.newSrc, port: ev.newPort });
      return;
    }
    const snap = await registry.rebindPort(key, ev.newPort);
    if (snap) log.info('NAT rebinding: ESP-in-UDP SAs follow the new port', { peer: key, from: ev.oldPort, to: ev.newPort });
  };
  const events = kernel.events();
  const pump = (async () => {
    for await (const ev of events) await onKernel(ev).catch((e: unknown) => log.error('kernel event failed', { error: e }));
  })();

  return {
    server: srv,
    service,
    registry,
    async close() {
      await server.close();
      service.close();
      registry.close();
      save();
      store.closeJournal();
      await events.return?.();
      await pump;
      await kernel.close();
      nat?.keepalives.close();
      nat?.socket.close();
    },
  };
}
