/**
 * The ESP-in-UDP socket of RFC 3948 (docs/PROFILE.md §NAT).
 *
 * The kernel decapsulates UDP-encapsulated ESP only when it arrives on a UDP
 * socket that has the UDP_ENCAP option set to UDP_ENCAP_ESPINUDP; the XFRM
 * state's encap template alone is not enough.  So whoever installs SAs with
 * `encap` holds one such socket, bound to the NAT-T port (4500) in the
 * network namespace of those SAs, for as long as they exist.
 *
 * The socket bypasses the SPD both ways (`bypassPolicy`).
 *
 * The same socket sends the NAT keepalives of RFC 3948 §2.3: one byte 0xFF
 * from our port to the peer's, which the receiving kernel drops (esp4's
 * xfrm4_udp_encap_rcv), so that the NAT keeps its mapping.  Packets with a
 * zero non-ESP marker (IKE) are queued to the socket; nobody reads them, the
 * receive buffer fills and the kernel drops the rest.
 *
 * IPv4 only: the IPv6 encap socket (UDP_ENCAP on AF_INET6) is not opened.
 */
import { parseAddress } from './address.js';
import { KernelValidationError } from './errors.js';
import { AF_INET, IP_XFRM_POLICY, SOCK_DGRAM, SOL_IP, SOL_UDP, UDP_ENCAP, bindInet, close, sendToInet, setsockoptBytes, setsockoptInt, socket, withNetns } from './ffi.js';
import { netnsPath } from './xfrm/socket.js';
import { UDP_ENCAP_ESPINUDP, XFRM_POLICY_ACTION, XFRM_POLICY_DIR, encodeUserpolicyInfo, infiniteLifetime, zeroCur } from './xfrm/structs.js';

/** RFC 3948 §2.2: the NAT-keepalive packet, a single octet 0xFF. */
const NAT_KEEPALIVE = Uint8Array.of(0xff);
const IPPROTO_UDP = 17;

/**
 * A socket policy "allow, no template" (what IKE daemons put on their
 * sockets): udp_queue_rcv_one_skb checks the SPD *before* it hands a
 * datagram to the encap handler, so without it our own host policy (all
 * traffic with the peer, proto any) drops the still-encapsulated ESP as
 * unprotected UDP (XfrmInTmplMismatch); outbound, keepalives leave in clear.
 */
function bypassPolicy(dir: number): Uint8Array {
  const none = new Uint8Array(16);
  return encodeUserpolicyInfo({
    sel: { daddr: none, saddr: none, dport: 0, dportMask: 0, sport: 0, sportMask: 0, family: AF_INET, prefixlenD: 0, prefixlenS: 0, proto: 0, ifindex: 0, user: 0 },
    lft: infiniteLifetime(),
    curlft: zeroCur(),
    priority: 0,
    index: 0,
    dir,
    action: XFRM_POLICY_ACTION.ALLOW,
    flags: 0,
    share: 0,
  });
}

export class UdpEncapSocket {
  private fd: number | undefined;

  private constructor(
    fd: number,
    readonly port: number,
  ) {
    this.fd = fd;
  }

  /**
   * A UDP socket on 0.0.0.0:`port` with UDP_ENCAP_ESPINUDP, in network
   * namespace `netns` (name or path; default ours); throws KernelError.
   */
  static open(port: number, netns?: string): UdpEncapSocket {
    if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new KernelValidationError('port', `${port} is not a UDP port`);
    const make = (): number => {
      const fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
      try {
        setsockoptInt(fd, SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP);
        for (const dir of [XFRM_POLICY_DIR.IN, XFRM_POLICY_DIR.OUT]) setsockoptBytes(fd, SOL_IP, IP_XFRM_POLICY, bypassPolicy(dir));
        bindInet(fd, port);
      } catch (e) {
        close(fd);
        throw e;
      }
      return fd;
    };
    const path = netnsPath(netns);
    return new UdpEncapSocket(path ? withNetns(path, make) : make(), port);
  }

  /** One NAT keepalive to `peer`:`peerPort` (IPv4); throws KernelError. */
  sendKeepalive(peer: string, peerPort: number): void {
    if (this.fd === undefined) return;
    const a = parseAddress(peer, 'peer');
    if (a.family !== 4) throw new KernelValidationError('peer', `${peer}: NAT keepalives are IPv4 only`);
    sendToInet(this.fd, NAT_KEEPALIVE, a.bytes, peerPort);
  }

  close(): void {
    if (this.fd !== undefined) close(this.fd);
    this.fd = undefined;
  }
}
