/**
 * SIP transports (RFC 3261 §18): UDP and TCP on one local port.
 *
 * Requests go over UDP unless the target says TCP or the message is larger
 * than 1300 bytes (MTU 1500 - 200, §18.1.1): then TCP.  A response goes back
 * the way its request came: on the same TCP connection, or over UDP to the
 * request's source address and port (as RFC 3581 rport would).  TCP framing
 * is Content-Length based (§18.3, frameFromStream); connections, inbound or
 * outbound, are kept per remote address:port and reused in both directions.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer, isIPv6, type Server, type Socket } from 'node:net';
import { SipError } from '../errors.js';
import { frameFromStream, parseSipMessage, type SipMessage } from '../message.js';

export type TransportName = 'udp' | 'tcp';

/** Where a message goes to or came from. */
export interface Target {
  readonly transport: TransportName;
  readonly address: string;
  readonly port: number;
}

/** RFC 3261 §18.1.1: above this a request must not go over UDP. */
export const UDP_SIZE_LIMIT = 1300;

export interface Transport {
  /** Our address and port, for Via sent-by and Contact. */
  readonly local: { readonly address: string; readonly port: number };
  send(target: Target, data: Uint8Array): void;
  /** Set by the transaction layer. */
  onMessage: (msg: SipMessage, from: Target) => void;
  /** A message that would not parse or a send that failed; logged by the UA. */
  onError: (detail: string) => void;
  close(): Promise<void>;
}

export const targetKey = (t: Target): string => `${t.transport}:${t.address}:${t.port}`;

export function formatHostPort(address: string, port: number): string {
  return `${isIPv6(address) ? `[${address}]` : address}:${port}`;
}

/** A TCP listener and a UDP socket on `address:port` (port 0: the TCP listener picks one, the UDP socket takes the same). */
async function bindBoth(address: string, port: number): Promise<{ udp: UdpSocket; tcp: Server; bound: number }> {
  const tcp = createServer();
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen({ host: address, port }, () => resolve());
  });
  const bound = (tcp.address() as { port: number }).port;
  const udp = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(bound, address, () => resolve());
  });
  return { udp, tcp, bound };
}

/** UDP socket and TCP listener on `address:port` (port 0: pick one, the same for both). */
export class NodeTransport implements Transport {
  onMessage: (msg: SipMessage, from: Target) => void = () => {};
  onError: (detail: string) => void = () => {};
  #udp: UdpSocket;
  #tcp: Server;
  readonly #conns = new Map<string, Socket>();
  #local: { address: string; port: number };

  private constructor(udp: UdpSocket, tcp: Server, local: { address: string; port: number }) {
    this.#udp = udp;
    this.#tcp = tcp;
    this.#local = local;
    this.#attach();
  }

  #attach(): void {
    this.#udp.on('message', (data, rinfo) => this.#receive(data, { transport: 'udp', address: rinfo.address, port: rinfo.port }));
    this.#udp.on('error', (e) => this.onError(`udp: ${e.message}`));
    this.#tcp.on('connection', (s) => this.#adopt(s, { transport: 'tcp', address: s.remoteAddress ?? '', port: s.remotePort ?? 0 }));
  }

  static async listen(address: string, port: number): Promise<NodeTransport> {
    const { udp, tcp, bound } = await bindBoth(address, port);
    return new NodeTransport(udp, tcp, { address, port: bound });
  }

  /**
   * Our address changed (mobility): listen on `address`, same port, and drop
   * the old sockets and connections.  Via, Contact and SDP use the new
   * address from now on.
   */
  async rebind(address: string): Promise<void> {
    const { udp, tcp } = await bindBoth(address, this.#local.port);
    const [oldUdp, oldTcp] = [this.#udp, this.#tcp];
    this.#udp = udp;
    this.#tcp = tcp;
    this.#local = { address, port: this.#local.port };
    this.#attach();
    for (const c of this.#conns.values()) c.destroy();
    this.#conns.clear();
    oldUdp.close();
    oldTcp.close();
  }

  get local(): { address: string; port: number } {
    return this.#local;
  }

  send(target: Target, data: Uint8Array): void {
    if (target.transport === 'udp') {
      this.#udp.send(data, target.port, target.address, (e) => {
        if (e) this.onError(`udp send to ${formatHostPort(target.address, target.port)}: ${e.message}`);
      });
      return;
    }
    let sock = this.#conns.get(targetKey(target));
    if (sock === undefined || sock.destroyed) {
      sock = createConnection({ host: target.address, port: target.port });
      this.#adopt(sock, target);
    }
    sock.write(data);
  }

  #adopt(sock: Socket, remote: Target): void {
    const key = targetKey(remote);
    this.#conns.set(key, sock);
    let buf: Uint8Array = new Uint8Array();
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? Uint8Array.from(chunk) : Uint8Array.from(Buffer.concat([buf, chunk]));
      try {
        for (;;) {
          const r = frameFromStream(buf);
          buf = Uint8Array.from(r.rest);
          if ('needMore' in r) break;
          this.onMessage(r.message, remote);
        }
      } catch (e) {
        this.onError(`tcp from ${key}: ${e instanceof SipError ? e.message : String(e)}`);
        sock.destroy();
      }
    });
    sock.on('error', (e) => this.onError(`tcp ${key}: ${e.message}`));
    sock.on('close', () => {
      if (this.#conns.get(key) === sock) this.#conns.delete(key);
    });
  }

  #receive(data: Buffer, from: Target): void {
    // CRLF keep-alives (RFC 5626 §3.5.1) carry nothing.
    if (data.every((b) => b === 0x0d || b === 0x0a)) return;
    let msg: SipMessage;
    try {
      msg = parseSipMessage(Uint8Array.from(data));
    } catch (e) {
      this.onError(`udp from ${formatHostPort(from.address, from.port)}: ${e instanceof SipError ? e.message : String(e)}`);
      return;
    }
    this.onMessage(msg, from);
  }

  async close(): Promise<void> {
    for (const s of this.#conns.values()) s.destroy();
    await new Promise<void>((r) => this.#udp.close(() => r()));
    await new Promise<void>((r) => this.#tcp.close(() => r()));
  }
}

/** Transports joined in memory, for tests: `net.attach('10.0.0.1', 5060)`. */
export class MemoryNetwork {
  readonly #ends = new Map<string, MemoryTransport>();
  /** Every datagram or stream message sent, in order (tests read it). */
  readonly sent: { from: Target; to: Target; data: Uint8Array }[] = [];
  /** Drop a message when this returns true (loss for retransmission tests). */
  drop: (to: Target, data: Uint8Array) => boolean = () => false;

  attach(address: string, port: number): MemoryTransport {
    const t = new MemoryTransport(this, { address, port });
    this.#ends.set(`${address}:${port}`, t);
    return t;
  }

  /** `t` is reachable at `address` (same port) instead of its old address. */
  move(t: MemoryTransport, address: string): void {
    this.#ends.delete(`${t.local.address}:${t.local.port}`);
    this.#ends.set(`${address}:${t.local.port}`, t);
  }

  deliver(from: Target, to: Target, data: Uint8Array): void {
    this.sent.push({ from, to, data });
    if (this.drop(to, data)) return;
    const dest = this.#ends.get(`${to.address}:${to.port}`);
    if (dest === undefined) return;
    queueMicrotask(() => {
      try {
        dest.onMessage(parseSipMessage(data), from);
      } catch (e) {
        dest.onError(String(e));
      }
    });
  }
}

export class MemoryTransport implements Transport {
  onMessage: (msg: SipMessage, from: Target) => void = () => {};
  onError: (detail: string) => void = () => {};
  #local: { readonly address: string; readonly port: number };
  constructor(
    readonly net: MemoryNetwork,
    local: { readonly address: string; readonly port: number },
  ) {
    this.#local = local;
  }

  get local(): { readonly address: string; readonly port: number } {
    return this.#local;
  }

  /** As NodeTransport.rebind: our address changed. */
  async rebind(address: string): Promise<void> {
    this.net.move(this, address);
    this.#local = { address, port: this.#local.port };
  }

  send(target: Target, data: Uint8Array): void {
    this.net.deliver({ transport: target.transport, ...this.local }, target, data);
  }

  async close(): Promise<void> {}
}
