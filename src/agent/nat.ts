/**
 * NAT keepalives (RFC 3948 §2.3): while sipsecd holds a UDP-encapsulated SA
 * pair with a peer, it sends that peer one 0xFF byte from the ESP-in-UDP
 * socket every `intervalMs`, so that a NAT between the two keeps its mapping
 * when the call is silent.  One is sent at once when a peer is tracked, so
 * the mapping exists before the responder's first ESP-in-UDP packet.
 *
 * The peers are tracked by registry key: the service tracks a pair installed
 * with `encap`, the daemon untracks it when the registry removes the peer.
 */
import type { Logger } from './log.js';

export interface KeepaliveSender {
  sendKeepalive(peer: string, peerPort: number): void;
}

export class NatKeepalives {
  private readonly peers = new Map<string, { addr: string; port: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: KeepaliveSender,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** Keep the NAT mapping towards `addr`:`port` (the pair `key`) alive; sends one keepalive now. */
  track(key: string, addr: string, port: number): void {
    this.peers.set(key, { addr, port });
    this.send(key);
    this.timer ??= setInterval(() => {
      for (const k of this.peers.keys()) this.send(k);
    }, this.intervalMs).unref();
  }

  /** The peer's NAT mapping moved to `port`: keepalives to `key`, if we send any, follow it. */
  retarget(key: string, port: number): void {
    const p = this.peers.get(key);
    if (p) p.port = port;
  }

  untrack(key: string): void {
    if (!this.peers.delete(key) || this.peers.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.peers.clear();
  }

  private send(key: string): void {
    const p = this.peers.get(key)!;
    try {
      this.socket.sendKeepalive(p.addr, p.port);
    } catch (e) {
      this.log.warn('NAT keepalive failed', { peer: key, error: e });
    }
  }
}
