/**
 * A simple media generator: RTP-like packets (RFC 3550 §5.1 fixed header,
 * payload type 0, 160 bytes of silence = 20 ms of PCMU) sent at a fixed
 * rate to the peer's SDP address and port, and a counter of what arrives.
 * Sequence numbers start at 0, so a receiver whose first packet has
 * sequence n lost n packets at the start of the call.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *   |                           timestamp                           |
 *   |           synchronization source (SSRC) identifier            |
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';

export interface MediaStats {
  readonly sent: number;
  readonly received: number;
  /** Sequence number of the first packet received (null: none arrived). */
  readonly firstSeq: number | null;
  /** Packets missing before the first one received. */
  readonly lostAtStart: number | null;
  /** Gaps between the first and the last packet received. */
  readonly lostInside: number;
}

export interface Media {
  /** Begin sending to the peer (its SDP c= address and m= port); when sending already, send there from now on (the peer moved). */
  start(peer: { address: string; port: number }): void;
  /** Receive and send on `address` from now on (our address changed), same port, same sequence. */
  rebind(address: string): Promise<void>;
  /** Stop sending; what arrives is still counted until `close`. */
  stop(): void;
  /**
   * Stop receiving `drainMs` from now and close the socket; the counts.  The
   * drain counts the peer's last packets, sent before it learned that the
   * call ended and still on their way or not yet read.
   */
  close(drainMs?: number): Promise<MediaStats>;
}

export type MediaFactory = (local: { address: string; port: number }) => Promise<Media>;

const HEADER = 12;
const PAYLOAD = 160;

/** Received-side bookkeeping, separate from I/O so it can be tested alone. */
export class MediaCounter {
  sent = 0;
  received = 0;
  first: number | null = null;
  #highest = -1;

  /** One datagram arrived; non-RTP data is ignored. */
  packet(data: Uint8Array): void {
    if (data.length < HEADER || data[0]! >> 6 !== 2) return;
    const seq = (data[2]! << 8) | data[3]!;
    this.received += 1;
    if (this.first === null) this.first = seq;
    if (seq > this.#highest) this.#highest = seq;
  }

  stats(): MediaStats {
    const span = this.first === null ? 0 : this.#highest - this.first + 1;
    return {
      sent: this.sent,
      received: this.received,
      firstSeq: this.first,
      lostAtStart: this.first,
      lostInside: Math.max(0, span - this.received),
    };
  }
}

export function rtpPacket(seq: number, ssrc: number): Uint8Array {
  const p = new Uint8Array(HEADER + PAYLOAD).fill(0xff, HEADER); // 0xff = PCMU silence
  const v = new DataView(p.buffer);
  v.setUint8(0, 0x80);
  v.setUint8(1, 0);
  v.setUint16(2, seq & 0xffff);
  v.setUint32(4, (seq * PAYLOAD) >>> 0);
  v.setUint32(8, ssrc);
  return p;
}

async function bindUdp(address: string, port: number): Promise<Socket> {
  const sock = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, address, () => resolve());
  });
  sock.on('error', () => {});
  return sock;
}

export function udpMedia(ratePerSecond: number): MediaFactory {
  return async (local) => {
    let sock = await bindUdp(local.address, local.port);
    const counter = new MediaCounter();
    const receive = (m: Buffer): void => counter.packet(m);
    sock.on('message', receive);
    const ssrc = randomBytes(4).readUInt32BE();
    let timer: NodeJS.Timeout | undefined;
    let target = { address: '', port: 0 };
    const stopSending = (): void => {
      if (timer) clearInterval(timer);
      timer = undefined;
    };
    return {
      start(peer) {
        target = { ...peer };
        if (timer) return;
        let seq = 0;
        const send = (): void => {
          sock.send(rtpPacket(seq++, ssrc), target.port, target.address, () => {});
          counter.sent += 1;
        };
        send();
        timer = setInterval(send, 1000 / ratePerSecond);
      },
      async rebind(address) {
        const next = await bindUdp(address, local.port);
        next.on('message', receive);
        const old = sock;
        sock = next;
        old.close();
      },
      stop: stopSending,
      async close(drainMs = 0) {
        stopSending();
        if (drainMs > 0) await new Promise((r) => setTimeout(r, drainMs));
        sock.close();
        return counter.stats();
      },
    };
  };
}
