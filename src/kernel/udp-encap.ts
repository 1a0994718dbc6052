/**
 * The ESP-in-UDP socket of RFC 3948 (docs/PROFILE.md §NAT).
 *
 * The kernel decapsulates UDP-encapsulated ESP only when it arrives on a UDP
 * socket that has the UDP_ENCAP option set to UDP_ENCAP_ESPINUDP; the XFRM
 * state's encap template alone is not enough.  So whoever installs SAs with
 * `encap` holds one such socket, bound to the NAT-T port (4500) in the
 * network namespace of those SAs, for as long as they exist.
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
import { AF_INET, SOCK_DGRAM, SOL_UDP, UDP_ENCAP, bindInet, close, sendToInet, setsockoptInt, socket } from './ffi.js';
import { UDP_ENCAP_ESPINUDP } from './xfrm/structs.js';

/** RFC 3948 §2.2: the NAT-keepalive packet, a single octet 0xFF. */
const NAT_KEEPALIVE = Uint8Array.of(0xff);
const IPPROTO_UDP = 17;

export class UdpEncapSocket {
  private fd: number | undefined;

  private constructor(
    fd: number,
    readonly port: number,
  ) {
    this.fd = fd;
  }

  /** A UDP socket on 0.0.0.0:`port` with UDP_ENCAP_ESPINUDP; throws KernelError. */
  static open(port: number): UdpEncapSocket {
    if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new KernelValidationError('port', `${port} is not a UDP port`);
    const fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    try {
      setsockoptInt(fd, SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP);
      bindInet(fd, port);
    } catch (e) {
      close(fd);
      throw e;
    }
    return new UdpEncapSocket(fd, port);
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
